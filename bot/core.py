"""Everything but Telegram: settings, clock, database, content and services.

The command line builds only this (importing aiogram costs seconds); `bot.app` adds the Bot
and the Dispatcher on top.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings
from bot.content import Texts, load_texts
from bot.db.engine import create_engine, create_session_factory
from bot.db.migrate import upgrade_to_head
from bot.domain.ports import Clock, SystemClock
from bot.services.cohorts import CohortService
from bot.services.enrolment import EnrolmentService
from bot.services.privacy import PrivacyService
from bot.services.uow import UowFactory, uow_factory
from bot.services.users import UserService


@dataclass
class Services:
    users: UserService
    enrolment: EnrolmentService
    cohorts: CohortService
    privacy: PrivacyService

    def as_workflow_data(self) -> dict[str, object]:
        return {
            "users": self.users,
            "enrolment": self.enrolment,
            "cohorts": self.cohorts,
            "privacy": self.privacy,
        }


@dataclass
class Core:
    """What every entry point needs: settings, clock, database, content, services."""

    settings: Settings
    clock: Clock
    engine: AsyncEngine
    texts: Texts
    uow: UowFactory
    services: Services

    async def migrate(self) -> None:
        await upgrade_to_head(self.engine)

    async def close(self) -> None:
        await self.engine.dispose()


def build_core(settings: Settings, *, clock: Clock | None = None) -> Core:
    clock = clock or SystemClock()
    texts = load_texts(settings.content_dir, settings.default_locale)
    engine = create_engine(settings.database_url)
    uow = uow_factory(create_session_factory(engine))
    organisers = settings.organiser_ids
    services = Services(
        users=UserService(uow, clock, organisers),
        enrolment=EnrolmentService(uow, clock, organisers),
        cohorts=CohortService(
            uow, clock, invite_days_after_end=settings.invite_valid_days_after_end
        ),
        privacy=PrivacyService(uow, clock),
    )
    return Core(settings, clock, engine, texts, uow, services)
