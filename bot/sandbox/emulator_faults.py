"""Counters of what the emulator answered, and failures injected on purpose (for tests).

Both are O(1) per Bot API call: the stats are plain counters, and the failure plan is a
short list of rules a test added (usually empty).
"""

from __future__ import annotations

import http
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .emulator_state import JSON, APIError
from .limits import LIMITED_METHODS

__all__ = ["DROP_CONNECTION", "CallStats", "ConnectionDropped", "FailurePlan", "InjectedFailure"]

# The injected "status" that makes the server close the connection without answering.
DROP_CONNECTION = 0

_DESCRIPTIONS = {
    DROP_CONNECTION: "connection dropped",
    400: "Bad Request: injected failure",
    403: "Forbidden: injected failure",
    409: "Conflict: injected failure",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class ConnectionDropped(Exception):
    """An injected network failure: the HTTP layer closes the connection, answering nothing."""


@dataclass
class InjectedFailure:
    """The next ``remaining`` calls of ``method`` (to ``chat_id``, if set) fail with ``status``."""

    method: str  # a canonical method name, or "*" for any method
    chat_id: int | None
    status: int  # an HTTP error status, or DROP_CONNECTION
    remaining: int
    description: str
    retry_after: int | None = None  # for status 429

    def matches(self, method: str, chat_id: int | None) -> bool:
        if self.method != "*" and self.method != method:
            return False
        return self.chat_id is None or self.chat_id == chat_id

    def error(self) -> APIError:
        parameters = {"retry_after": self.retry_after} if self.retry_after else None
        return APIError(self.status, self.description, parameters)

    def to_json(self) -> JSON:
        return {
            "method": self.method,
            "chat_id": self.chat_id,
            "status": self.status,
            "remaining": self.remaining,
            "description": self.description,
            "retry_after": self.retry_after,
        }


def _chat_id(params: Mapping[str, Any]) -> int | None:
    value = params.get("chat_id")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


class FailurePlan:
    """The failures a test asked for, consumed by the matching calls in order."""

    def __init__(self) -> None:
        self._rules: list[InjectedFailure] = []

    def add(
        self,
        method: str,
        chat_id: int | None,
        status: int,
        count: int = 1,
        description: str | None = None,
        retry_after: int | None = None,
    ) -> InjectedFailure:
        if status != DROP_CONNECTION and not 400 <= status <= 599:
            raise ValueError("status must be an HTTP error status (400-599) or 0 (drop)")
        if count < 1:
            raise ValueError("count must be at least 1")
        if status == 429:
            retry_after = max(1, retry_after or 1)
            description = description or f"Too Many Requests: retry after {retry_after}"
        if description is None:
            description = _DESCRIPTIONS.get(status) or http.HTTPStatus(status).phrase
        rule = InjectedFailure(method, chat_id, status, count, description, retry_after)
        self._rules.append(rule)
        return rule

    def take(self, method: str, params: Mapping[str, Any]) -> InjectedFailure | None:
        """The first rule matching this call (one use of it is consumed), or None."""
        if not self._rules:
            return None
        chat_id = _chat_id(params)
        for rule in self._rules:
            if rule.matches(method, chat_id):
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self._rules.remove(rule)
                return rule
        return None

    def pending(self) -> list[JSON]:
        return [rule.to_json() for rule in self._rules]

    def clear(self) -> None:
        self._rules.clear()


class CallStats:
    """What the emulator answered: deliveries per method and per chat, errors by code."""

    def __init__(self) -> None:
        self.calls = 0
        self.delivered: Counter[str] = Counter()  # successful sends/edits, per method
        self.messages_per_chat: Counter[int] = Counter()  # new bot messages, per chat
        self.errors: Counter[int] = Counter()  # error answers (not injected), per code
        self.injected: Counter[int] = Counter()  # injected failures, per status

    def record_call(self, method: str, error_code: int | None, *, injected: bool) -> None:
        self.calls += 1
        if injected:
            self.injected[error_code or DROP_CONNECTION] += 1
        elif error_code is not None:
            self.errors[error_code] += 1
        elif method in LIMITED_METHODS:
            self.delivered[method] += 1

    def record_message(self, chat_id: int) -> None:
        self.messages_per_chat[chat_id] += 1

    def clear(self) -> None:
        self.calls = 0
        for counter in (self.delivered, self.messages_per_chat, self.errors, self.injected):
            counter.clear()

    def to_json(self) -> JSON:
        per_chat = self.messages_per_chat
        histogram = Counter(per_chat.values())
        return {
            "calls": self.calls,
            "delivered": dict(sorted(self.delivered.items())),
            "delivered_total": self.delivered.total(),
            "too_many_requests": self.errors[429],
            "forbidden": self.errors[403],
            "errors": {str(code): count for code, count in sorted(self.errors.items())},
            "injected_failures": self.injected.total(),
            "injected": {str(code): count for code, count in sorted(self.injected.items())},
            "delivered_per_chat": {
                "chats": len(per_chat),
                "messages": per_chat.total(),
                "max": max(per_chat.values(), default=0),
                # messages per chat -> number of chats that got that many
                "histogram": {str(n): chats for n, chats in sorted(histogram.items())},
            },
        }
