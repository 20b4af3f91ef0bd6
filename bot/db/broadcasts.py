"""Queries about broadcasts: who receives one, and how its delivery is going."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Broadcast, BroadcastAck, Cohort, Enrolment, OutboxMessage, User
from bot.domain.delivery import Purpose


@dataclass(frozen=True, slots=True)
class Recipient:
    user_id: int
    chat_id: int
    timezone: str
    locale: str | None


class BroadcastRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, broadcast: Broadcast) -> Broadcast:
        self.session.add(broadcast)
        await self.session.flush()
        return broadcast

    async def get(self, broadcast_id: int) -> Broadcast | None:
        return await self.session.get(Broadcast, broadcast_id)

    async def organised_cohorts(self, user_id: int) -> Sequence[Cohort]:
        result = await self.session.execute(
            select(Cohort)
            .join(Enrolment, Enrolment.cohort_id == Cohort.id)
            .where(
                Enrolment.user_id == user_id,
                Enrolment.role == "organiser",
                Enrolment.status == "active",
            )
            .order_by(Cohort.id)
        )
        return result.scalars().all()

    async def recipients(self, cohort_ids: Sequence[int], roles: Sequence[str]) -> list[Recipient]:
        """Active, consenting members with one of `roles`; each person once."""
        result = await self.session.execute(
            select(User.id, User.telegram_id, Cohort.timezone, User.locale)
            .join(Enrolment, Enrolment.user_id == User.id)
            .join(Cohort, Cohort.id == Enrolment.cohort_id)
            .where(
                Enrolment.cohort_id.in_(list(cohort_ids)),
                Enrolment.role.in_(list(roles)),
                Enrolment.status == "active",
                User.is_active.is_(True),
                User.consent_at.is_not(None),
            )
            .order_by(User.id, Cohort.id)
        )
        seen: set[int] = set()
        out = []
        for user_id, chat_id, timezone, locale in result.tuples():
            if user_id not in seen:
                seen.add(user_id)
                out.append(Recipient(user_id, chat_id, timezone, locale))
        return out

    async def delivery_counts(self, broadcast_id: int) -> dict[str, int]:
        """Status → number of the notice's own messages (reminders and reports excluded)."""
        result = await self.session.execute(
            select(OutboxMessage.status, func.count())
            .where(
                OutboxMessage.broadcast_id == broadcast_id,
                OutboxMessage.purpose == Purpose.BROADCAST.value,
            )
            .group_by(OutboxMessage.status)
        )
        return {status: int(n) for status, n in result.tuples()}

    async def ack_count(self, broadcast_id: int) -> int:
        result = await self.session.execute(
            select(func.count()).where(BroadcastAck.broadcast_id == broadcast_id)
        )
        return int(result.scalar_one())

    async def was_recipient(self, broadcast_id: int, user_id: int) -> bool:
        result = await self.session.execute(
            select(OutboxMessage.id).where(
                OutboxMessage.broadcast_id == broadcast_id,
                OutboxMessage.user_id == user_id,
                OutboxMessage.purpose == Purpose.BROADCAST.value,
            )
        )
        return result.first() is not None

    async def unacknowledged_recipients(
        self, broadcast_id: int
    ) -> list[tuple[int, int, str | None]]:
        """(user_id, chat_id, locale) of those who got the notice and have not pressed
        "received", in one query."""
        acked = select(BroadcastAck.user_id).where(BroadcastAck.broadcast_id == broadcast_id)
        result = await self.session.execute(
            select(OutboxMessage.user_id, OutboxMessage.chat_id, User.locale)
            .join(User, User.id == OutboxMessage.user_id)
            .where(
                OutboxMessage.broadcast_id == broadcast_id,
                OutboxMessage.purpose == Purpose.BROADCAST.value,
                OutboxMessage.status == "sent",
                OutboxMessage.user_id.not_in(acked),
            )
        )
        return [(int(u), int(c), locale) for u, c, locale in result.tuples() if u is not None]

    async def in_progress(self) -> Sequence[Broadcast]:
        result = await self.session.execute(
            select(Broadcast).where(Broadcast.status == "sending").order_by(Broadcast.id)
        )
        return result.scalars().all()

    async def for_organiser(self, user_id: int, limit: int = 10) -> Sequence[Broadcast]:
        result = await self.session.execute(
            select(Broadcast)
            .where(Broadcast.organiser_user_id == user_id, Broadcast.status != "draft")
            .order_by(Broadcast.id.desc())
            .limit(limit)
        )
        return result.scalars().all()

    async def report_message_id(self, broadcast_id: int) -> int | None:
        result = await self.session.execute(
            select(OutboxMessage.message_id).where(
                OutboxMessage.broadcast_id == broadcast_id,
                OutboxMessage.purpose == Purpose.REPORT.value,
                OutboxMessage.method != "edit",
            )
        )
        value = result.scalar_one_or_none()
        return int(value) if value is not None else None
