"""Cohorts and their invite codes (organiser side)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.db.models import Cohort, Enrolment, Invite
from bot.db.repositories import cohort_dto, invite_dto
from bot.domain.digest import MentoringSettings
from bot.domain.invites import generate_code
from bot.domain.ltsi import WavePlan
from bot.domain.model import CohortDTO, EnrolmentStatus, InviteDTO, Role
from bot.domain.ports import Clock
from bot.domain.practice import PracticeSettings
from bot.services.uow import UnitOfWork, UowFactory

NAME_MAX = 100
COURSE_MAX = 200


@dataclass(frozen=True, slots=True)
class CohortCreated:
    cohort: CohortDTO
    trainee_invite: InviteDTO
    mentor_invite: InviteDTO


@dataclass(frozen=True, slots=True)
class CohortSummary:
    cohort: CohortDTO
    trainees: int
    mentors: int
    pending: int
    invites: tuple[InviteDTO, ...]


CohortHook = Callable[[UnitOfWork, Cohort, datetime], Awaitable[None]]


class CohortService:
    def __init__(
        self,
        uow: UowFactory,
        clock: Clock,
        *,
        invite_days_after_end: int,
        on_created: tuple[CohortHook, ...] = (),
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._invite_days_after_end = invite_days_after_end
        self._on_created = on_created

    async def create(
        self,
        *,
        name: str,
        course_title: str,
        ends_on: date,
        timezone: str,
        trainee_limit: int | None = None,
        mentor_limit: int | None = None,
        invites_expire: datetime | None = None,
        organiser_telegram_ids: tuple[int, ...] = (),
        ltsi: dict[str, object] | None = None,
        practice: dict[str, object] | None = None,
        mentoring: dict[str, object] | None = None,
        actor: str = "cli",
    ) -> CohortCreated:
        """A cohort with its two invites; `ltsi` overrides the self-check timetable (see
        bot.domain.ltsi.WavePlan), `practice` the plan and reflection cadence (see
        bot.domain.practice.PracticeSettings), `mentoring` the digest's weekday and time
        (bot.domain.digest.MentoringSettings); ValueError names a bad setting."""
        name, course_title = name.strip(), course_title.strip()
        WavePlan.from_settings(ltsi)
        PracticeSettings.from_settings(practice)
        MentoringSettings.from_settings(mentoring)
        if not name or len(name) > NAME_MAX:
            raise ValueError(f"cohort name must be 1-{NAME_MAX} characters")
        if not course_title or len(course_title) > COURSE_MAX:
            raise ValueError(f"course title must be 1-{COURSE_MAX} characters")
        zone = ZoneInfo(timezone)
        for limit in (trainee_limit, mentor_limit):
            if limit is not None and limit < 1:
                raise ValueError("an invite limit must be at least 1")
        now = self._clock.now()
        if invites_expire is None:
            last_day = ends_on + timedelta(days=self._invite_days_after_end)
            invites_expire = datetime.combine(last_day + timedelta(days=1), time(0), zone)
        if invites_expire <= now:
            raise ValueError("the invites would already be expired")
        async with self._uow() as uow:
            cohort = await uow.cohorts.add(
                Cohort(
                    name=name,
                    course_title=course_title,
                    ends_on=ends_on,
                    timezone=timezone,
                    settings={
                        key: value
                        for key, value in (
                            ("ltsi", ltsi),
                            ("practice", practice),
                            ("mentoring", mentoring),
                        )
                        if value
                    },
                    created_at=now,
                )
            )
            for hook in self._on_created:
                await hook(uow, cohort, now)
            invites = []
            for role, limit in ((Role.TRAINEE, trainee_limit), (Role.MENTOR, mentor_limit)):
                invites.append(await self._new_invite(uow, cohort, role, limit, invites_expire))
            for telegram_id in organiser_telegram_ids:
                await self._attach_organiser(uow, cohort, telegram_id, now)
            await uow.audit.record(
                now,
                "cohort_created",
                actor_kind=actor,
                target_type="cohort",
                target_id=cohort.id,
                details={"name": name, "organisers": list(organiser_telegram_ids)},
            )
            await uow.commit()
            return CohortCreated(cohort_dto(cohort), invites[0], invites[1])

    async def add_organiser(self, cohort_id: int, telegram_id: int, *, actor: str = "cli") -> bool:
        """Make someone an organiser of a cohort; False when they were one already."""
        now = self._clock.now()
        async with self._uow() as uow:
            cohort = await uow.cohorts.get(cohort_id)
            if cohort is None:
                raise ValueError(f"no cohort #{cohort_id}")
            added = await self._attach_organiser(uow, cohort, telegram_id, now)
            if added:
                await uow.audit.record(
                    now,
                    "cohort_organiser_added",
                    actor_kind=actor,
                    target_type="cohort",
                    target_id=cohort_id,
                    details={"telegram_id": telegram_id},
                )
            await uow.commit()
            return added

    async def _attach_organiser(
        self, uow: UnitOfWork, cohort: Cohort, telegram_id: int, now: datetime
    ) -> bool:
        user = await uow.users.by_telegram_id(telegram_id)
        if user is None:
            user = await uow.users.add(telegram_id, now)
        await uow.users.grant_role(user, Role.ORGANISER, now)
        existing = await uow.enrolments.find(user.id, cohort.id)
        if existing is not None:
            if existing.role == Role.ORGANISER.value and existing.status == "active":
                return False
            raise ValueError("this person is already a member of the cohort in another role")
        await uow.enrolments.add(
            Enrolment(
                user_id=user.id,
                cohort_id=cohort.id,
                role=Role.ORGANISER.value,
                status=EnrolmentStatus.ACTIVE.value,
                created_at=now,
                completed_at=now,
                cohort=cohort,
            )
        )
        return True

    async def _new_invite(
        self,
        uow: UnitOfWork,
        cohort: Cohort,
        role: Role,
        limit: int | None,
        expires_at: datetime,
    ) -> InviteDTO:
        code = generate_code()
        while await uow.invites.by_code(code) is not None:
            code = generate_code()
        invite = await uow.invites.add(
            Invite(
                code=code,
                cohort_id=cohort.id,
                role=role.value,
                max_uses=limit,
                uses=0,
                expires_at=expires_at.astimezone(UTC),
                created_at=self._clock.now(),
                cohort=cohort,
            )
        )
        return invite_dto(invite)

    async def list(self) -> list[CohortSummary]:
        async with self._uow() as uow:
            counts = await uow.cohorts.member_counts()
            summaries = []
            for cohort in await uow.cohorts.all():
                active = EnrolmentStatus.ACTIVE.value
                summaries.append(
                    CohortSummary(
                        cohort=cohort_dto(cohort),
                        trainees=counts.get((cohort.id, Role.TRAINEE.value, active), 0),
                        mentors=counts.get((cohort.id, Role.MENTOR.value, active), 0),
                        pending=sum(
                            n
                            for (c, _r, s), n in counts.items()
                            if c == cohort.id and s == EnrolmentStatus.PENDING.value
                        ),
                        invites=tuple(
                            invite_dto(i) for i in await uow.invites.for_cohort(cohort.id)
                        ),
                    )
                )
            return summaries
