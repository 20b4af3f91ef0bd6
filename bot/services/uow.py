"""Unit of work: one database transaction and the repositories that share it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.broadcasts import BroadcastRepository
from bot.db.cases import CaseRepository
from bot.db.ltsi import LtsiRepository
from bot.db.matching import MatchRepository
from bot.db.mentoring import MentoringRepository
from bot.db.plans import PlanRepository
from bot.db.portfolio import PortfolioRepository
from bot.db.queue import DueItemRepository, OutboxRepository
from bot.db.reflections import ReflectionRepository
from bot.db.repositories import (
    AuditRepository,
    CohortRepository,
    EnrolmentRepository,
    InviteRepository,
    MentorProfileRepository,
    UserRepository,
)
from bot.db.scenarios import ScenarioRepository


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
    plans: PlanRepository
    reflections: ReflectionRepository
    cases: CaseRepository
    portfolio: PortfolioRepository
    matches: MatchRepository
    mentoring: MentoringRepository
    scenarios: ScenarioRepository

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        write_lock: asyncio.Lock | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._write_lock = write_lock

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
        self.plans = PlanRepository(self.session)
        self.reflections = ReflectionRepository(self.session)
        self.cases = CaseRepository(self.session)
        self.portfolio = PortfolioRepository(self.session)
        self.matches = MatchRepository(self.session)
        self.mentoring = MentoringRepository(self.session)
        self.scenarios = ScenarioRepository(self.session)
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

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[None]:
        """Around a burst of writes and its commit on a hot path. On SQLite (one writer at a
        time) the process's writers take turns here, in order, instead of waiting inside
        SQLite, where a long queue ends in "database is locked"; elsewhere it does nothing."""
        if self._write_lock is None:
            yield
            return
        async with self._write_lock:
            yield


UowFactory = Callable[[], UnitOfWork]


def uow_factory(
    session_factory: async_sessionmaker[AsyncSession], *, serialise_writes: bool = False
) -> UowFactory:
    lock = asyncio.Lock() if serialise_writes else None
    return lambda: UnitOfWork(session_factory, lock)
