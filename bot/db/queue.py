"""Repositories of the durable queues: due items and the outbox."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.engine import insert_for
from bot.db.models import Cohort, DueItem, OutboxMessage
from bot.domain.delivery import OutboxStatus, OutgoingMessage

# SQLite allows 32766 bound parameters per statement; ~10 columns a row.
INSERT_CHUNK = 1000


async def insert_ignoring_duplicates(
    session: AsyncSession, model: type[Any], rows: list[dict[str, Any]], key: str
) -> int:
    """INSERT ... ON CONFLICT (key) DO NOTHING, in chunks; returns the rows inserted."""
    if not rows:
        return 0
    inserted = 0
    for start in range(0, len(rows), INSERT_CHUNK):
        chunk = rows[start : start + INSERT_CHUNK]
        stmt = insert_for(session, model).values(chunk)
        result = await session.execute(stmt.on_conflict_do_nothing(index_elements=[key]))
        inserted += max(result.rowcount or 0, 0)  # type: ignore[attr-defined]
    return inserted


class DueItemRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def schedule(self, rows: list[dict[str, Any]]) -> int:
        return await insert_ignoring_duplicates(self.session, DueItem, rows, "dedupe_key")

    async def cohorts_without(self, kind: str) -> Sequence[Cohort]:
        """Cohorts with no due item of `kind`: created before the feature that plans it."""
        planned = exists().where(DueItem.cohort_id == Cohort.id, DueItem.kind == kind)
        result = await self.session.execute(select(Cohort).where(~planned).order_by(Cohort.id))
        return result.scalars().all()

    async def due_ids(self, now: datetime, limit: int) -> list[int]:
        result = await self.session.execute(
            select(DueItem.id)
            .where(DueItem.status == "pending", DueItem.due_at <= now)
            .order_by(DueItem.due_at, DueItem.id)
            .limit(limit)
        )
        return list(result.scalars())

    async def get_pending(self, item_id: int) -> DueItem | None:
        result = await self.session.execute(
            select(DueItem).where(DueItem.id == item_id, DueItem.status == "pending")
        )
        return result.scalar_one_or_none()

    async def next_due_at(self) -> datetime | None:
        result = await self.session.execute(
            select(func.min(DueItem.due_at)).where(DueItem.status == "pending")
        )
        return result.scalar_one_or_none()


class OutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def enqueue(self, rows: list[dict[str, Any]]) -> int:
        return await insert_ignoring_duplicates(self.session, OutboxMessage, rows, "dedupe_key")

    async def forget_recipient(self, user_id: int, now: datetime) -> int:
        """A person erased their data: what we sent them or meant to (its text may quote
        their own words, e.g. a case's consent request) goes; what was still waiting is not
        sent. The rows stay, without content, so delivery counts remain right."""
        await self.session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.user_id == user_id,
                OutboxMessage.status.in_((OutboxStatus.PENDING.value, OutboxStatus.SENDING.value)),
            )
            .values(status=OutboxStatus.FAILED.value, last_error="recipient erased their data")
        )
        result = await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.user_id == user_id)
            .values(payload={})
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def ready(self, now: datetime, limit: int) -> list[OutgoingMessage]:
        query = (
            select(OutboxMessage)
            .where(
                OutboxMessage.status == OutboxStatus.PENDING.value,
                OutboxMessage.next_attempt_at <= now,
            )
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
        )
        rows = (await self.session.execute(query)).scalars().all()
        return [
            OutgoingMessage(
                id=r.id,
                chat_id=r.chat_id,
                is_group=r.is_group,
                method=r.method,
                payload=dict(r.payload),
                attempts=r.attempts,
            )
            for r in rows
        ]

    async def mark_sending(self, row_id: int) -> bool:
        result = await self.session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == row_id,
                OutboxMessage.status == OutboxStatus.PENDING.value,
            )
            .values(status=OutboxStatus.SENDING.value, attempts=OutboxMessage.attempts + 1)
        )
        return (result.rowcount or 0) == 1  # type: ignore[attr-defined]

    async def finish(self, row_id: int, **values: Any) -> None:
        await self.session.execute(
            update(OutboxMessage).where(OutboxMessage.id == row_id).values(**values)
        )

    async def recover_in_flight(self) -> int:
        """After a crash: rows caught between "sending" and a result are sent again."""
        result = await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.SENDING.value)
            .values(status=OutboxStatus.PENDING.value)
        )
        return result.rowcount or 0  # type: ignore[attr-defined]

    async def depth(self, now: datetime) -> tuple[int, datetime | None]:
        """Rows waiting to be sent now, and the due time of the oldest."""
        result = await self.session.execute(
            select(func.count(), func.min(OutboxMessage.next_attempt_at)).where(
                OutboxMessage.status == OutboxStatus.PENDING.value,
                OutboxMessage.next_attempt_at <= now,
            )
        )
        count, oldest = result.one()
        return int(count), oldest
