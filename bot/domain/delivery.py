"""What the delivery worker needs from a messaging channel, and how sending can fail."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # handed to the channel; a crash here is the documented window
    SENT = "sent"
    BLOCKED = "blocked"  # 403: the person blocked the bot or is gone; never retried
    FAILED = "failed"  # 400, or transient errors past the last attempt


class Purpose(StrEnum):
    BROADCAST = "broadcast"
    REMINDER = "reminder"
    REPORT = "report"
    SELF_CHECK = "self_check"  # LTSI invitations and reminders
    PLAN = "plan"  # plan prompts, milestone check-ins and offers
    REFLECTION = "reflection"  # reflection prompts and the comments on reflections
    CASE = "case"  # case-library consent requests and their outcome for the proposer
    MENTORING = "mentoring"  # mentor introductions and rematch requests
    SCENARIO = "scenario"  # role-play pushes, answers to the mentor and their comments


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    id: int
    chat_id: int
    is_group: bool
    method: str  # text | photo | document | edit
    payload: dict[str, Any]
    attempts: int


class DeliveryError(Exception):
    """Base of what a Messenger raises."""


class RetryAfter(DeliveryError):
    """Flood control (429): nobody may send for `seconds`."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds} s")
        self.seconds = seconds


class Blocked(DeliveryError):
    """The recipient cannot be reached any more (403)."""


class Rejected(DeliveryError):
    """The channel refused this message (400): retrying would fail the same way."""


class Transient(DeliveryError):
    """Network trouble or a server error (5xx): worth another try later."""


class Messenger(Protocol):
    async def deliver(self, message: OutgoingMessage) -> int | None:
        """Send; return the channel's message id. Raises a DeliveryError subclass."""
        ...


def inline_keyboard(rows: list[list[tuple[str, str]]]) -> dict[str, Any]:
    """A channel-neutral inline keyboard: rows of (label, action data)."""
    return {"inline_keyboard": [[{"text": t, "callback_data": d} for t, d in row] for row in rows]}


def ack_action(broadcast_id: int) -> str:
    """Action data of a broadcast's "received" button (handlers.callbacks.AckCB packs the same)."""
    return f"ack:{broadcast_id}"
