"""Everything but Telegram: settings, clock, database, content and services.

The command line builds only this (importing aiogram costs seconds); `bot.app` adds the Bot
and the Dispatcher on top.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings
from bot.content import Texts, load_texts
from bot.content.guidance import load_topics
from bot.content.ltsi import load_ltsi
from bot.content.scenarios import load_scenarios
from bot.db.engine import create_engine, create_session_factory
from bot.db.migrate import upgrade_to_head
from bot.domain.matching import Prefer, Weights
from bot.domain.ports import Clock, SystemClock
from bot.domain.schedule import QuietHours
from bot.services.broadcasts import REMIND_KIND, SEND_KIND, BroadcastService
from bot.services.cases import CaseService
from bot.services.cohorts import CohortService
from bot.services.enrolment import EnrolmentService
from bot.services.ltsi import CLOSE_KIND, OPEN_KIND, LtsiService
from bot.services.ltsi import REMIND_KIND as LTSI_REMIND_KIND
from bot.services.matching import MatchService
from bot.services.mentoring import DIGEST_KIND as MENTORING_DIGEST_KIND
from bot.services.mentoring import REMIND_KIND as MENTORING_REMIND_KIND
from bot.services.mentoring import MentoringService
from bot.services.plans import MILESTONE_KIND as PLAN_MILESTONE_KIND
from bot.services.plans import PROMPT_KIND as PLAN_PROMPT_KIND
from bot.services.plans import REMIND_KIND as PLAN_REMIND_KIND
from bot.services.plans import PlanService
from bot.services.portfolio import PortfolioService
from bot.services.privacy import PrivacyService
from bot.services.reflections import PROMPT_KIND as REFLECT_PROMPT_KIND
from bot.services.reflections import ReflectionService
from bot.services.scenarios import PUSH_KIND as SCENARIO_PUSH_KIND
from bot.services.scenarios import ScenarioService
from bot.services.scheduling import Sweeper
from bot.services.uow import UowFactory, uow_factory
from bot.services.users import UserService


class Nudge:
    """ "Something is due now": services call it, the running app sweeps at once."""

    def __init__(self) -> None:
        self._target: Callable[[], None] | None = None

    def connect(self, target: Callable[[], None] | None) -> None:
        self._target = target

    def __call__(self) -> None:
        if self._target is not None:
            self._target()


@dataclass
class Services:
    users: UserService
    enrolment: EnrolmentService
    cohorts: CohortService
    privacy: PrivacyService
    broadcasts: BroadcastService
    ltsi: LtsiService
    plans: PlanService
    reflections: ReflectionService
    portfolio: PortfolioService
    cases: CaseService
    matching: MatchService
    mentoring: MentoringService
    scenarios: ScenarioService

    def as_workflow_data(self) -> dict[str, object]:
        return {
            "users": self.users,
            "enrolment": self.enrolment,
            "cohorts": self.cohorts,
            "privacy": self.privacy,
            "broadcasts": self.broadcasts,
            "ltsi": self.ltsi,
            "plans": self.plans,
            "reflections": self.reflections,
            "portfolio": self.portfolio,
            "cases": self.cases,
            "matching": self.matching,
            "mentoring": self.mentoring,
            "scenarios": self.scenarios,
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
    sweeper: Sweeper
    nudge: Nudge

    async def migrate(self) -> None:
        await upgrade_to_head(self.engine)

    async def close(self) -> None:
        await self.engine.dispose()


def build_core(settings: Settings, *, clock: Clock | None = None) -> Core:
    clock = clock or SystemClock()
    texts = load_texts(settings.content_dir, settings.default_locale)
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
    uow = uow_factory(
        create_session_factory(engine), serialise_writes=engine.dialect.name == "sqlite"
    )
    organisers = settings.organiser_ids
    nudge = Nudge()
    quiet_hours = QuietHours.parse(settings.quiet_hours)
    ltsi = LtsiService(
        uow,
        clock,
        texts,
        load_ltsi(settings.content_dir),
        quiet_hours=quiet_hours,
        nudge=nudge,
        default_timezone=settings.tz_name,
    )
    practice: dict[str, Any] = {
        "quiet_hours": quiet_hours,
        "nudge": nudge,
        "default_timezone": settings.tz_name,
    }
    plans = PlanService(uow, clock, texts, **practice)
    reflections = ReflectionService(uow, clock, texts, **practice)
    dimensions, scenario_list = load_scenarios(settings.content_dir, texts.area_ids())
    scenarios = ScenarioService(uow, clock, texts, dimensions, scenario_list, **practice)
    mentoring = MentoringService(
        uow,
        clock,
        texts,
        bank=ltsi.bank,
        topics=load_topics(settings.content_dir),
        scenarios=scenarios,
        **practice,
    )
    services = Services(
        users=UserService(uow, clock, organisers),
        enrolment=EnrolmentService(uow, clock, organisers),
        cohorts=CohortService(
            uow,
            clock,
            invite_days_after_end=settings.invite_valid_days_after_end,
            on_created=(
                ltsi.plan_waves,
                plans.plan_prompts,
                reflections.plan_prompts,
                mentoring.plan_cohort,
                scenarios.plan_pushes,
            ),
        ),
        privacy=PrivacyService(uow, clock),
        broadcasts=BroadcastService(
            uow,
            clock,
            texts,
            organiser_ids=organisers,
            quiet_hours=quiet_hours,
            reminder_hours=settings.broadcast_reminder_hours,
            nudge=nudge,
            default_timezone=settings.tz_name,
        ),
        ltsi=ltsi,
        plans=plans,
        reflections=reflections,
        portfolio=PortfolioService(
            uow,
            clock,
            texts,
            ltsi=ltsi,
            scenarios=scenarios,
            content_dir=settings.content_dir,
            **practice,
        ),
        cases=CaseService(uow, clock, texts, **practice),
        matching=MatchService(
            uow,
            clock,
            texts,
            ltsi.bank,
            weights=Weights.parse(settings.match_weights),
            prefer=Prefer(settings.match_prefer),
            quiet_hours=quiet_hours,
            nudge=nudge,
        ),
        mentoring=mentoring,
        scenarios=scenarios,
    )
    sweeper = Sweeper(uow, clock)
    sweeper.register(SEND_KIND, services.broadcasts.send_due)
    sweeper.register(REMIND_KIND, services.broadcasts.remind_due)
    sweeper.register(OPEN_KIND, ltsi.open_due)
    sweeper.register(LTSI_REMIND_KIND, ltsi.remind_due)
    sweeper.register(CLOSE_KIND, ltsi.close_due)
    sweeper.after_sweep(services.broadcasts.refresh_reports)
    sweeper.after_sweep(ltsi.plan_legacy_cohorts)
    sweeper.register(PLAN_PROMPT_KIND, plans.prompt_due)
    sweeper.register(PLAN_REMIND_KIND, plans.remind_due)
    sweeper.register(PLAN_MILESTONE_KIND, plans.milestone_due)
    sweeper.after_sweep(plans.plan_legacy_cohorts)
    sweeper.after_sweep(plans.offer_milestones)
    sweeper.after_sweep(services.matching.deliver_mentor_notes)
    sweeper.register(REFLECT_PROMPT_KIND, reflections.prompt_due)
    sweeper.after_sweep(reflections.plan_legacy_cohorts)
    sweeper.register(MENTORING_DIGEST_KIND, mentoring.digest_due)
    sweeper.register(MENTORING_REMIND_KIND, mentoring.remind_due)
    sweeper.after_sweep(mentoring.plan_legacy_cohorts)
    sweeper.register(SCENARIO_PUSH_KIND, scenarios.push_due)
    sweeper.after_sweep(scenarios.plan_legacy_cohorts)
    sweeper.after_sweep(scenarios.offer_suggested)
    return Core(settings, clock, engine, texts, uow, services, sweeper, nudge)
