"""Unit of work: one database transaction and the repositories that share it."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.broadcasts import BroadcastRepository
from bot.db.ltsi import LtsiRepository
from bot.db.queue import DueItemRepository, OutboxRepository
from bot.db.repositories import (
    AuditRepository,
    CohortRepository,
    EnrolmentRepository,
    InviteRepository,
    MentorProfileRepository,
    UserRepository,
)


class UnitOfWork:
    session: AsyncSession
    users: UserRepository
    cohorts: CohortRepository
    invites: InviteRepository
    enrolments: EnrolmentRepository
    mentors: MentorProfileRepository
    audit: AuditRepository
    due: DueItemRepository
    outbox: OutboxRepository
    broadcasts: BroadcastRepository
    ltsi: LtsiRepository

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory

    async def __aenter__(self) -> UnitOfWork:
        self.session = self._session_factory()
        self.users = UserRepository(self.session)
        self.cohorts = CohortRepository(self.session)
        self.invites = InviteRepository(self.session)
        self.enrolments = EnrolmentRepository(self.session)
        self.mentors = MentorProfileRepository(self.session)
        self.audit = AuditRepository(self.session)
        self.due = DueItemRepository(self.session)
        self.outbox = OutboxRepository(self.session)
        self.broadcasts = BroadcastRepository(self.session)
        self.ltsi = LtsiRepository(self.session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is not None:
                await self.session.rollback()
        finally:
            await self.session.close()

    async def commit(self) -> None:
        await self.session.commit()

    async def rollback(self) -> None:
        await self.session.rollback()


UowFactory = Callable[[], UnitOfWork]


def uow_factory(session_factory: async_sessionmaker[AsyncSession]) -> UowFactory:
    return lambda: UnitOfWork(session_factory)
