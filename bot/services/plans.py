"""Practice-transfer plans (实践转化计划书) and their milestones.

A plan is written in a guided conversation; every answer is saved to the plan row at once
(status "draft"), so the conversation resumes at the first missing answer after a restart
or an interruption. Confirming makes it "active" and schedules a check-in on each
milestone's date. One plan a trainee per cohort, edited in place.

Due items: `plan_prompt` (with the course-end self-check: "write your plan"),
`plan_remind` (a week later, to those still without one), `plan_milestone` (a milestone's
date: done / in progress / not done). The LTSI diagnosis's pending `plan_milestone`
follow-ups (low opportunity to use) become an offer to add a milestone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from bot.content import Texts
from bot.db.models import Cohort, Plan, PlanMilestone, User
from bot.domain.delivery import Purpose, inline_keyboard
from bot.domain.ltsi import WaveKind, WavePlan
from bot.domain.ports import Clock
from bot.domain.practice import (
    AREA_OTHER_LIMIT,
    GOAL_LIMIT,
    MAX_MILESTONES,
    MILESTONE_TITLE_LIMIT,
    NOTE_LIMIT,
    REASON_LIMIT,
    SUCCESS_LIMIT,
    SUPPORT_LIMIT,
    MilestoneStatus,
    PracticeSettings,
    check_text,
)
from bot.domain.schedule import QuietHours
from bot.services.outbox import outbox_row
from bot.services.scheduling import Due, LegacyCohorts, due_row
from bot.services.uow import UnitOfWork, UowFactory

PROMPT_KIND = "plan_prompt"
REMIND_KIND = "plan_remind"
MILESTONE_KIND = "plan_milestone"
FOLLOW_UP_KIND = "plan_milestone"  # services.ltsi.FollowUpKind.PLAN_MILESTONE

TEXT_FIELDS: dict[str, int] = {
    "area_other": AREA_OTHER_LIMIT,
    "goal": GOAL_LIMIT,
    "success": SUCCESS_LIMIT,
    "support": SUPPORT_LIMIT,
}


class PlanStep(StrEnum):
    """What the conversation asks next, in order."""

    AREA = "area"
    AREA_OTHER = "area_other"
    GOAL = "goal"
    SUCCESS = "success"
    SUPPORT = "support"
    MILESTONES = "milestones"
    REVIEW = "review"  # everything is there: show it back for confirmation


class PlanRefusal(StrEnum):
    NOT_TRAINEE = "not_trainee"
    NOT_YOURS = "not_yours"  # an old or forged button, or someone else's plan
    STALE = "stale"  # the button's moment has passed (already answered, moved, …)
    FULL = "full"  # five milestones already
    EMPTY = "empty"  # confirming without a milestone
    MOVED_ONCE = "moved_once"
    NOT_MISSED = "not_missed"  # moving a milestone whose date has not come
    BAD_DATE = "bad_date"  # in the past (the handler checks the format)
    BAD_TEXT = "bad_text"  # empty or over the limit (the handler says which)


@dataclass(frozen=True, slots=True)
class MilestoneView:
    id: int
    number: int  # 1-based
    title: str
    due_on: date
    status: MilestoneStatus
    note: str | None
    moved_from: date | None
    move_reason: str | None
    overdue: bool  # its date has passed and it is not done

    @property
    def may_move(self) -> bool:
        return self.moved_from is None and self.status is not MilestoneStatus.DONE


@dataclass(frozen=True, slots=True)
class PlanView:
    id: int
    cohort_id: int
    cohort_name: str
    timezone: str
    active: bool
    area: str | None
    area_other: str | None
    goal: str | None
    success: str | None
    support: str | None
    milestones: tuple[MilestoneView, ...]
    today: date  # in the cohort's zone

    @property
    def next_step(self) -> PlanStep:
        if not self.area:
            return PlanStep.AREA
        if self.area == "other" and not self.area_other:
            return PlanStep.AREA_OTHER
        for step in (PlanStep.GOAL, PlanStep.SUCCESS, PlanStep.SUPPORT):
            if not getattr(self, step.value):
                return step
        if not self.milestones:
            return PlanStep.MILESTONES
        return PlanStep.REVIEW

    @property
    def done(self) -> int:
        return sum(1 for m in self.milestones if m.status is MilestoneStatus.DONE)

    def milestone(self, milestone_id: int) -> MilestoneView | None:
        return next((m for m in self.milestones if m.id == milestone_id), None)


@dataclass(frozen=True, slots=True)
class CohortChoice:
    id: int
    name: str
    has_plan: bool


@dataclass(frozen=True, slots=True)
class CheckIn:
    """A milestone's status recorded; what the conversation offers next."""

    plan: PlanView
    milestone: MilestoneView


def pm(milestone_id: int, action: str) -> str:
    """Action data of a milestone check-in button (handlers.callbacks.MilestoneCB packs the
    same): d done | i in progress | n not done | m move."""
    return f"pm:{milestone_id}:{action}"


def plan_action(action: str, cohort_id: int = 0) -> str:
    """Action data of a plan button (handlers.callbacks.PlanCB packs the same)."""
    return f"pl:{action}:{cohort_id}:"


def _local_today(now: datetime, timezone: str) -> date:
    return now.astimezone(ZoneInfo(timezone)).date()


def _view(plan: Plan, cohort: Cohort, now: datetime) -> PlanView:
    today = _local_today(now, cohort.timezone)
    milestones = tuple(
        MilestoneView(
            id=m.id,
            number=number,
            title=m.title,
            due_on=m.due_on,
            status=MilestoneStatus(m.status),
            note=m.note,
            moved_from=m.moved_from,
            move_reason=m.move_reason,
            overdue=m.due_on < today and m.status != MilestoneStatus.DONE.value,
        )
        for number, m in enumerate(sorted(plan.milestones, key=lambda m: (m.due_on, m.id)), 1)
    )
    return PlanView(
        id=plan.id,
        cohort_id=cohort.id,
        cohort_name=cohort.name,
        timezone=cohort.timezone,
        active=plan.status == "active",
        area=plan.area or None,
        area_other=plan.area_other,
        goal=plan.goal,
        success=plan.success,
        support=plan.support,
        milestones=milestones,
        today=today,
    )


class PlanService:
    def __init__(
        self,
        uow: UowFactory,
        clock: Clock,
        texts: Texts,
        *,
        quiet_hours: QuietHours,
        nudge: Callable[[], None],
        default_timezone: str,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._texts = texts
        self._quiet = quiet_hours
        self._nudge = nudge
        self._default_timezone = default_timezone
        self._legacy = LegacyCohorts(
            uow, clock, lambda u: u.due.cohorts_without(REMIND_KIND), self.plan_prompts
        )

    # -- prompts and check-ins (due items) -------------------------------------------------

    async def plan_prompts(self, uow: UnitOfWork, cohort: Cohort, now: datetime) -> None:
        """At a cohort's creation: the prompt with the course-end check, and its reminder."""
        practice = PracticeSettings.from_settings(cohort.settings.get("practice"))
        waves = WavePlan.from_settings(cohort.settings.get("ltsi"))
        prompt_at = waves.opens_at(WaveKind.COURSE_END, cohort.ends_on, cohort.timezone)
        remind_at = prompt_at + timedelta(days=practice.plan_reminder_days)
        rows = [
            due_row(kind, f"plan:{cohort.id}:{kind}", at, now, cohort_id=cohort.id)
            for kind, at in ((PROMPT_KIND, prompt_at), (REMIND_KIND, remind_at))
            if at > now
        ]
        await uow.due.schedule(rows)

    async def plan_legacy_cohorts(self) -> None:
        """Once per process: the prompts of cohorts created before plans existed."""
        await self._legacy()

    async def prompt_due(self, uow: UnitOfWork, due: Due, now: datetime) -> None:
        await self._prompt(uow, due, now, "plan.prompt", "first")

    async def remind_due(self, uow: UnitOfWork, due: Due, now: datetime) -> None:
        await self._prompt(uow, due, now, "plan.reminder", "remind")

    async def _prompt(self, uow: UnitOfWork, due: Due, now: datetime, key: str, tag: str) -> None:
        cohort = await uow.cohorts.get(due.cohort_id or 0)
        if cohort is None:
            return
        not_before = self._quiet.next_allowed(now, cohort.timezone)
        rows = []
        for target in await uow.plans.without_plan(cohort.id):
            text = self._texts.render(
                target.locale,
                key,
                cohort=cohort.name,
                course=cohort.course_title,
                max=MAX_MILESTONES,
            )
            label = self._texts.plain(target.locale, "plan.start_button")
            rows.append(
                outbox_row(
                    f"plan:{cohort.id}:{tag}:{target.user_id}",
                    target.chat_id,
                    "text",
                    {
                        "text": text,
                        "reply_markup": inline_keyboard([[(label, plan_action("go", cohort.id))]]),
                    },
                    purpose=Purpose.PLAN,
                    now=now,
                    not_before=not_before,
                    user_id=target.user_id,
                )
            )
        await uow.outbox.enqueue(rows)

    def _milestone_due(self, cohort: Cohort, m: PlanMilestone, now: datetime) -> dict[str, Any]:
        practice = PracticeSettings.from_settings(cohort.settings.get("practice"))
        at = datetime.combine(m.due_on, practice.milestone_time, ZoneInfo(cohort.timezone))
        return due_row(
            MILESTONE_KIND,
            f"plan:ms:{m.id}:{m.due_on.isoformat()}",
            max(at, now),
            now,
            payload={"milestone_id": m.id, "due_on": m.due_on.isoformat()},
            cohort_id=cohort.id,
        )

    async def milestone_due(self, uow: UnitOfWork, due: Due, now: datetime) -> None:
        """A milestone's date: ask how it went, unless it moved, went, or was answered."""
        m = await uow.plans.milestone(int(due.payload["milestone_id"]))
        if m is None or m.due_on.isoformat() != due.payload.get("due_on"):
            return
        if m.status != MilestoneStatus.OPEN.value or m.plan.status != "active":
            return
        user = await uow.session.get(User, m.plan.user_id)
        cohort = await uow.cohorts.get(m.plan.cohort_id)
        if user is None or cohort is None or not user.is_active or user.consent_at is None:
            return
        locale = user.locale
        text = self._texts.render(
            locale,
            "plan.checkin.ask",
            title=m.title,
            date=self._texts.plain(locale, "format.date", d=m.due_on),
        )
        buttons = [
            [
                (self._texts.plain(locale, f"plan.status_button.{status.value}"), pm(m.id, code))
                for status, code in (
                    (MilestoneStatus.DONE, "d"),
                    (MilestoneStatus.IN_PROGRESS, "i"),
                    (MilestoneStatus.NOT_DONE, "n"),
                )
            ]
        ]
        await uow.outbox.enqueue(
            [
                outbox_row(
                    f"plan:ms:{m.id}:{m.due_on.isoformat()}",
                    user.telegram_id,
                    "text",
                    {"text": text, "reply_markup": inline_keyboard(buttons)},
                    purpose=Purpose.PLAN,
                    now=now,
                    not_before=self._quiet.next_allowed(now, cohort.timezone),
                    user_id=user.id,
                )
            ]
        )

    async def offer_milestones(self) -> None:
        """After a sweep: a diagnosis that found little opportunity to use the learning
        offers to add a milestone to the plan (the LTSI follow-up, picked up here)."""
        now = self._clock.now()
        async with self._uow() as uow:
            pending = await uow.ltsi.pending_follow_ups(FOLLOW_UP_KIND)
            if not pending:
                return
            rows = []
            for f in pending:
                f.status, f.done_at = "done", now
                user = await uow.session.get(User, f.user_id)
                cohort = await uow.cohorts.get(f.cohort_id)
                if user is None or cohort is None or not user.is_active or not user.consent_at:
                    continue
                plan = await uow.plans.of(user.id, cohort.id)
                full = plan is not None and len(plan.milestones) >= MAX_MILESTONES
                if full:
                    continue
                locale = user.locale
                label = self._texts.plain(locale, "plan.offer_button", has_plan=plan is not None)
                rows.append(
                    outbox_row(
                        f"plan:offer:{f.id}",
                        user.telegram_id,
                        "text",
                        {
                            "text": self._texts.render(
                                locale, "plan.offer_milestone", has_plan=plan is not None
                            ),
                            "reply_markup": inline_keyboard(
                                [[(label, plan_action("addms", cohort.id))]]
                            ),
                        },
                        purpose=Purpose.PLAN,
                        now=now,
                        not_before=self._quiet.next_allowed(now, cohort.timezone),
                        user_id=user.id,
                    )
                )
            await uow.outbox.enqueue(rows)
            await uow.commit()

    # -- the conversation ------------------------------------------------------------------

    async def cohorts(self, telegram_id: int) -> list[CohortChoice] | None:
        """The trainee's cohorts (None: not a consenting trainee anywhere)."""
        async with self._uow() as uow:
            user = await uow.users.by_telegram_id(telegram_id)
            if user is None or user.consent_at is None:
                return None
            cohorts = await uow.enrolments.trainee_cohorts(user.id)
            if not cohorts:
                return None
            choices = []
            for c in cohorts:
                plan = await uow.plans.of(user.id, c.id)
                choices.append(
                    CohortChoice(c.id, c.name, plan is not None and plan.status != "erased")
                )
            return choices

    async def _mine(
        self, uow: UnitOfWork, telegram_id: int, cohort_id: int
    ) -> tuple[Plan | None, Cohort] | PlanRefusal:
        user = await uow.users.by_telegram_id(telegram_id)
        if user is None or user.consent_at is None:
            return PlanRefusal.NOT_TRAINEE
        cohort = next(
            (c for c in await uow.enrolments.trainee_cohorts(user.id) if c.id == cohort_id), None
        )
        if cohort is None:
            return PlanRefusal.NOT_YOURS
        return await uow.plans.of(user.id, cohort.id), cohort

    async def current(self, telegram_id: int, cohort_id: int) -> PlanView | PlanRefusal | None:
        """The plan (draft or active), None when there is none yet."""
        async with self._uow() as uow:
            found = await self._mine(uow, telegram_id, cohort_id)
            if isinstance(found, PlanRefusal):
                return found
            plan, cohort = found
            if plan is None or plan.status == "erased":
                return None
            return _view(plan, cohort, self._clock.now())

    async def _edit(
        self,
        telegram_id: int,
        cohort_id: int,
        change: Callable[[UnitOfWork, Plan, Cohort, datetime], Any],
        *,
        create: bool = False,
    ) -> PlanView | PlanRefusal:
        """Load (or start) the plan, apply `change`, commit, and show the result. `change`
        may return a PlanRefusal, which rolls everything back."""
        now = self._clock.now()
        async with self._uow() as uow:
            found = await self._mine(uow, telegram_id, cohort_id)
            if isinstance(found, PlanRefusal):
                return found
            plan, cohort = found
            if plan is not None and plan.status == "erased":
                # Erased with the person's data (PIPL); they came back: start afresh.
                await uow.session.delete(plan)
                await uow.session.flush()
                plan = None
            if plan is None:
                if not create:
                    return PlanRefusal.STALE
                user = await uow.users.by_telegram_id(telegram_id)
                assert user is not None
                plan = await uow.plans.add(
                    Plan(
                        user_id=user.id,
                        cohort_id=cohort.id,
                        area="",
                        status="draft",
                        created_at=now,
                        updated_at=now,
                        milestones=[],
                    )
                )
            outcome = await change(uow, plan, cohort, now)
            if isinstance(outcome, PlanRefusal):
                await uow.rollback()
                return outcome
            plan.updated_at = now
            await uow.commit()
            await uow.session.refresh(plan, ["milestones"])
            return _view(plan, cohort, now)

    async def begin(self, telegram_id: int, cohort_id: int) -> PlanView | PlanRefusal:
        """The plan to work on: the existing one, or a new draft."""

        async def nothing(*_: Any) -> None:
            return None

        return await self._edit(telegram_id, cohort_id, nothing, create=True)

    async def set_area(self, telegram_id: int, cohort_id: int, area: str) -> PlanView | PlanRefusal:
        if area not in self._texts.area_ids():
            return PlanRefusal.NOT_YOURS

        async def change(uow: UnitOfWork, plan: Plan, cohort: Cohort, now: datetime) -> None:
            plan.area = area
            if area != "other":
                plan.area_other = None

        return await self._edit(telegram_id, cohort_id, change, create=True)

    async def set_text(
        self, telegram_id: int, cohort_id: int, field: str, value: str
    ) -> PlanView | PlanRefusal:
        """goal | success | support | area_other; checked again here (the handler says why)."""
        limit = TEXT_FIELDS.get(field)
        checked = check_text(value, limit or 0)
        if limit is None or checked.value is None:
            return PlanRefusal.BAD_TEXT

        async def change(uow: UnitOfWork, plan: Plan, cohort: Cohort, now: datetime) -> None:
            setattr(plan, field, checked.value)

        return await self._edit(telegram_id, cohort_id, change, create=True)

    async def add_milestone(
        self, telegram_id: int, cohort_id: int, title: str, due_on: date
    ) -> PlanView | PlanRefusal:
        """A new milestone; on an active plan its check-in is scheduled at once."""
        checked = check_text(title, MILESTONE_TITLE_LIMIT)
        if checked.value is None:
            return PlanRefusal.BAD_TEXT

        async def change(
            uow: UnitOfWork, plan: Plan, cohort: Cohort, now: datetime
        ) -> PlanRefusal | None:
            if len(plan.milestones) >= MAX_MILESTONES:
                return PlanRefusal.FULL
            if due_on < _local_today(now, cohort.timezone):
                return PlanRefusal.BAD_DATE
            m = PlanMilestone(
                position=max((x.position for x in plan.milestones), default=0) + 1,
                title=checked.value,
                due_on=due_on,
                status=MilestoneStatus.OPEN.value,
                created_at=now,
            )
            plan.milestones.append(m)
            await uow.session.flush()
            if plan.status == "active":
                await uow.due.schedule([self._milestone_due(cohort, m, now)])
            return None

        view = await self._edit(telegram_id, cohort_id, change, create=True)
        if isinstance(view, PlanView) and view.active:
            self._nudge()
        return view

    async def remove_milestone(
        self, telegram_id: int, cohort_id: int, milestone_id: int
    ) -> PlanView | PlanRefusal:
        """Only a milestone nobody has reported on yet (a check-in is part of the record)."""

        async def change(
            uow: UnitOfWork, plan: Plan, cohort: Cohort, now: datetime
        ) -> PlanRefusal | None:
            m = next((x for x in plan.milestones if x.id == milestone_id), None)
            if m is None:
                return PlanRefusal.NOT_YOURS
            if m.status != MilestoneStatus.OPEN.value:
                return PlanRefusal.STALE
            if plan.status == "active" and len(plan.milestones) == 1:
                return PlanRefusal.EMPTY
            plan.milestones.remove(m)
            return None

        return await self._edit(telegram_id, cohort_id, change)

    async def confirm(self, telegram_id: int, cohort_id: int) -> PlanView | PlanRefusal:
        """Draft → active: the check-ins are scheduled. Confirming twice changes nothing."""

        async def change(
            uow: UnitOfWork, plan: Plan, cohort: Cohort, now: datetime
        ) -> PlanRefusal | None:
            view = _view(plan, cohort, now)
            if view.next_step is not PlanStep.REVIEW:
                return PlanRefusal.EMPTY
            if plan.status == "active":
                return PlanRefusal.STALE
            plan.status = "active"
            await uow.due.schedule([self._milestone_due(cohort, m, now) for m in plan.milestones])
            await uow.audit.record(
                now,
                "plan_confirmed",
                actor_user_id=plan.user_id,
                target_type="plan",
                target_id=plan.id,
                details={"milestones": len(plan.milestones)},
            )
            return None

        view = await self._edit(telegram_id, cohort_id, change)
        if isinstance(view, PlanView):
            self._nudge()
        return view

    # -- milestone check-ins -----------------------------------------------------------------

    async def _milestone_of(
        self, uow: UnitOfWork, telegram_id: int, milestone_id: int
    ) -> tuple[PlanMilestone, Plan, Cohort] | PlanRefusal:
        user = await uow.users.by_telegram_id(telegram_id)
        m = await uow.plans.milestone(milestone_id)
        if user is None or m is None or m.plan.user_id != user.id:
            return PlanRefusal.NOT_YOURS
        cohort = await uow.cohorts.get(m.plan.cohort_id)
        if cohort is None or m.plan.status != "active":
            return PlanRefusal.STALE
        return m, m.plan, cohort

    async def check_in(
        self, telegram_id: int, milestone_id: int, status: MilestoneStatus
    ) -> CheckIn | PlanRefusal:
        """done / in progress / not done, once the date has come. A second tap on the same
        message changes nothing; a later change of mind goes through /plan."""
        now = self._clock.now()
        async with self._uow() as uow:
            found = await self._milestone_of(uow, telegram_id, milestone_id)
            if isinstance(found, PlanRefusal):
                return found
            m, plan, cohort = found
            if m.status == status.value:
                return PlanRefusal.STALE
            changed = await uow.plans.set_milestone_status(m.id, m.status, status.value, now)
            if not changed:
                return PlanRefusal.STALE
            await uow.commit()
            view = _view(plan, cohort, now)
            shown = view.milestone(m.id)
            assert shown is not None
            return CheckIn(view, shown)

    async def set_note(
        self, telegram_id: int, milestone_id: int, note: str
    ) -> MilestoneView | PlanRefusal:
        checked = check_text(note, NOTE_LIMIT)
        if checked.value is None:
            return PlanRefusal.BAD_TEXT
        now = self._clock.now()
        async with self._uow() as uow:
            found = await self._milestone_of(uow, telegram_id, milestone_id)
            if isinstance(found, PlanRefusal):
                return found
            m, plan, cohort = found
            m.note = checked.value
            await uow.commit()
            shown = _view(plan, cohort, now).milestone(m.id)
            assert shown is not None
            return shown

    async def may_move(self, telegram_id: int, milestone_id: int) -> MilestoneView | PlanRefusal:
        """Whether a milestone may move now: missed (its date came, not done) and never moved."""
        now = self._clock.now()
        async with self._uow() as uow:
            found = await self._milestone_of(uow, telegram_id, milestone_id)
            if isinstance(found, PlanRefusal):
                return found
            m, plan, cohort = found
            shown = _view(plan, cohort, now).milestone(m.id)
            assert shown is not None
            return self._movable(shown, _local_today(now, cohort.timezone))

    @staticmethod
    def _movable(m: MilestoneView, today: date) -> MilestoneView | PlanRefusal:
        if m.moved_from is not None:
            return PlanRefusal.MOVED_ONCE
        if m.status is MilestoneStatus.DONE or m.due_on > today:
            return PlanRefusal.NOT_MISSED
        return m

    async def move(
        self, telegram_id: int, milestone_id: int, reason: str, new_date: date
    ) -> PlanView | PlanRefusal:
        """Move a missed milestone, once, with a reason; its check-in moves with it."""
        checked = check_text(reason, REASON_LIMIT)
        if checked.value is None:
            return PlanRefusal.BAD_TEXT
        now = self._clock.now()
        async with self._uow() as uow:
            found = await self._milestone_of(uow, telegram_id, milestone_id)
            if isinstance(found, PlanRefusal):
                return found
            m, plan, cohort = found
            today = _local_today(now, cohort.timezone)
            shown = _view(plan, cohort, now).milestone(m.id)
            assert shown is not None
            movable = self._movable(shown, today)
            if isinstance(movable, PlanRefusal):
                return movable
            if new_date <= today:
                return PlanRefusal.BAD_DATE
            m.moved_from, m.due_on = m.due_on, new_date
            m.move_reason = checked.value
            m.status = MilestoneStatus.OPEN.value
            plan.updated_at = now
            await uow.due.schedule([self._milestone_due(cohort, m, now)])
            await uow.commit()
            return _view(plan, cohort, now)

    async def today(self, cohort_id: int) -> date:
        """Today in the cohort's zone: what "12/1" or "明天" is read against."""
        async with self._uow() as uow:
            cohort = await uow.cohorts.get(cohort_id)
            zone = cohort.timezone if cohort else self._default_timezone
        return _local_today(self._clock.now(), zone)
