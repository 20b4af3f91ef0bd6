"""Writing to the outbox: everything the bot sends on its own initiative goes this way."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.domain.delivery import OutboxStatus, Purpose


def outbox_row(
    key: str,
    chat_id: int,
    method: str,
    payload: dict[str, Any],
    *,
    purpose: Purpose,
    now: datetime,
    not_before: datetime | None = None,
    user_id: int | None = None,
    broadcast_id: int | None = None,
    is_group: bool = False,
) -> dict[str, Any]:
    """One row for OutboxRepository.enqueue. `key` makes a second enqueue a no-op."""
    return {
        "dedupe_key": key,
        "chat_id": chat_id,
        "is_group": is_group,
        "user_id": user_id,
        "method": method,
        "purpose": purpose.value,
        "payload": payload,
        "status": OutboxStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": not_before or now,
        "broadcast_id": broadcast_id,
        "created_at": now,
    }
