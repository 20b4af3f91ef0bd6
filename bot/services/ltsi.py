"""LTSI self-checks: waves on their days, one question at a time, diagnosis and follow-ups.

Every answer is saved in its own short transaction the moment it is given, and the
response's `position` is moved with a compare-and-set, so a double tap, an old message or
a second device never records an answer twice or skips a question; the database alone
says where a trainee is, so a check resumes after a restart with nothing lost.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import hmac
import io
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from bot.content import Texts
from bot.content.ltsi import LtsiBank
from bot.db.ltsi import Participant
from bot.db.models import Cohort, LtsiResponse, LtsiWave, User
from bot.db.repositories import cohort_dto
from bot.domain.delivery import Purpose, inline_keyboard
from bot.domain.ltsi import (
    WAVE_FORMS,
    FactorScore,
    LtsiAction,
    Scores,
    WaveKind,
    WavePlan,
    check_answer,
    classify,
    score,
)
from bot.domain.model import CohortDTO
from bot.domain.ports import Clock
from bot.domain.schedule import QuietHours
from bot.services.outbox import outbox_row
from bot.services.scheduling import Due, LegacyCohorts, due_row
from bot.services.uow import UnitOfWork, UowFactory

OPEN_KIND = "ltsi_open"
REMIND_KIND = "ltsi_remind"
CLOSE_KIND = "ltsi_close"

UNFINISHED = ("invited", "answering", "paused")
SECONDS_PER_ITEM = 10  # the time estimate shown in the invitation


class FollowUpKind(StrEnum):
    """What a diagnosis starts. `leader_draft` is sent at once; the others wait (status
    pending) for the feature that carries them out: mentor matching picks up
    `mentor_note`, the practice plan `plan_milestone`, the scenarios `roleplay`."""

    LEADER_DRAFT = "leader_draft"
    MENTOR_NOTE = "mentor_note"
    PLAN_MILESTONE = "plan_milestone"
    ROLEPLAY = "roleplay"


FOLLOW_UPS: Mapping[LtsiAction, tuple[FollowUpKind, ...]] = {
    LtsiAction.NONE: (),
    LtsiAction.ASK_LEADER_AND_TELL_MENTOR: (FollowUpKind.LEADER_DRAFT, FollowUpKind.MENTOR_NOTE),
    LtsiAction.OFFER_PLAN_MILESTONE: (FollowUpKind.PLAN_MILESTONE,),
    LtsiAction.OFFER_ROLEPLAY: (FollowUpKind.ROLEPLAY,),
}


class Refusal(StrEnum):
    """Why a button press changed nothing (the handler shows a toast)."""

    NOT_YOURS = "not_yours"  # another user's check, or made-up data
    STALE = "stale"  # an older question than the one on screen
    CLOSED = "closed"  # the wave has closed
    DONE = "done"  # the check is finished already


@dataclass(frozen=True, slots=True)
class Question:
    response_id: int
    wave: WaveKind
    position: int  # 0-based
    total: int
    item_id: str
    chosen: int | None  # the answer given before, when coming back to a question
    closes_at: datetime
    timezone: str


@dataclass(frozen=True, slots=True)
class Paused:
    response_id: int
    wave: WaveKind
    position: int
    answered: int
    total: int
    closes_at: datetime
    timezone: str


@dataclass(frozen=True, slots=True)
class Diagnosis:
    response_id: int
    wave: WaveKind
    cohort: CohortDTO
    trainee_name: str | None
    factors: Mapping[str, float | None]  # in the bank's factor order
    groups: Mapping[str, float | None]
    previous_wave: WaveKind | None
    previous_factors: Mapping[str, float | None] | None
    previous_groups: Mapping[str, float | None] | None
    barriers: tuple[FactorScore, ...]  # lowest first
    catalysts: tuple[FactorScore, ...]  # highest first
    thresholds: tuple[float, float]
    follow_ups: Mapping[FollowUpKind, tuple[str, ...]]  # kind → the factors behind it
    completed_at: datetime


@dataclass(frozen=True, slots=True)
class OpenCheck:
    response_id: int
    wave: WaveKind
    answered: int
    total: int
    closes_at: datetime
    timezone: str


@dataclass(frozen=True, slots=True)
class Overview:
    """What /check shows: unfinished checks, the next wave, the latest result."""

    is_trainee: bool
    open: tuple[OpenCheck, ...]
    next_wave: WaveKind | None
    next_at: datetime | None
    timezone: str
    latest_done: int | None  # a response id


@dataclass(frozen=True, slots=True)
class WaveStats:
    wave: WaveKind
    status: str
    opens_at: datetime
    closes_at: datetime
    invited: int
    started: int  # unfinished, with at least one answer
    done: int


@dataclass(frozen=True, slots=True)
class CohortReport:
    cohort: CohortDTO
    waves: tuple[WaveStats, ...]
    factor_means: Mapping[WaveKind, Mapping[str, float | None]]  # waves with results
    group_means: Mapping[WaveKind, Mapping[str, float | None]]
    barrier_counts: Mapping[WaveKind, Mapping[str, int]]  # how many had it as a barrier
    change: Mapping[str, float | None]  # group → mean day60 - day30 of those who did both
    paired: int  # how many did both day 30 and day 60
    thresholds: tuple[float, float]


@dataclass(frozen=True, slots=True)
class CsvExport:
    filename: str
    data: bytes
    rows: int
    with_names: bool


def _scores_json(scores: Scores) -> dict[str, Any]:
    return {
        "factors": dict(scores.factors),
        "groups": dict(scores.groups),
        "counts": dict(scores.counts),
    }


def _scored(stored: Iterable[Mapping[str, Any]], section: str, key: str) -> list[float]:
    """The `section` ("factors" / "groups") score `key` of each stored result that has one."""
    return [v for s in stored if (v := s.get(section, {}).get(key)) is not None]


def _refusal(
    status: str,
    at: int,
    shown_in: int | None,
    wave_status: str,
    closes_at: datetime,
    now: datetime,
    *,
    position: int | None,
    message_id: int | None,
) -> Refusal | None:
    """Why a press must change nothing, if it must: a response with `status`, at question
    `at`, shown in message `shown_in`, of a wave with `wave_status` closing at `closes_at`;
    the press was on question `position` in message `message_id` (None: not checked)."""
    if status == "done":
        return Refusal.DONE
    if wave_status != "open" or now >= closes_at or status == "expired":
        return Refusal.CLOSED
    if position is not None and position != at:
        return Refusal.STALE
    if message_id is not None and shown_in is not None and message_id != shown_in:
        return Refusal.STALE
    return None


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


class LtsiService:
    def __init__(
        self,
        uow: UowFactory,
        clock: Clock,
        texts: Texts,
        bank: LtsiBank,
        *,
        quiet_hours: QuietHours,
        nudge: Callable[[], None] = lambda: None,
        default_timezone: str = "Asia/Shanghai",
    ) -> None:
        self._default_timezone = default_timezone
        self._uow = uow
        self._clock = clock
        self._texts = texts
        self.bank = bank
        self._quiet = quiet_hours
        self._nudge = nudge
        self._legacy = LegacyCohorts(
            uow, clock, lambda u: u.ltsi.cohorts_without_waves(), self.plan_waves, nudge=nudge
        )

    # -- planning ------------------------------------------------------------------------

    async def plan_waves(self, uow: UnitOfWork, cohort: Cohort, now: datetime) -> None:
        """Create the cohort's three waves and the due items that open them.

        A wave whose whole window has passed already (a cohort created long after its
        end) is recorded as closed and never sent.
        """
        plan = WavePlan.from_settings(cohort.settings.get("ltsi"))
        plan.thresholds(self.bank.thresholds.barrier_below, self.bank.thresholds.catalyst_at_least)
        existing = {w.kind for w in await uow.ltsi.waves_of(cohort.id)}
        for kind in WaveKind:
            if kind.value in existing:
                continue
            opens = plan.opens_at(kind, cohort.ends_on, cohort.timezone)
            closes = plan.closes_at(opens)
            form = WAVE_FORMS[kind]
            wave = await uow.ltsi.add_wave(
                LtsiWave(
                    cohort_id=cohort.id,
                    kind=kind.value,
                    form=form,
                    items=[item.id for item in self.bank.form(form)],
                    opens_at=opens,
                    closes_at=closes,
                    status="closed" if closes <= now else "scheduled",
                    created_at=now,
                )
            )
            if closes > now:
                await uow.due.schedule(
                    [
                        due_row(
                            OPEN_KIND,
                            f"ltsi:{wave.id}:open",
                            opens,
                            now,
                            payload={"wave_id": wave.id},
                            cohort_id=cohort.id,
                        )
                    ]
                )

    async def plan_legacy_cohorts(self) -> None:
        """Once per process: plan the waves of cohorts created before this feature existed."""
        await self._legacy()

    # -- due items -----------------------------------------------------------------------

    async def open_due(self, uow: UnitOfWork, due: Due, now: datetime) -> None:
        """The wave's day: a response row and an invitation for every active trainee."""
        wave = await uow.ltsi.wave(int(due.payload["wave_id"]))
        if wave is None or wave.status != "scheduled":
            return
        cohort = await uow.cohorts.get(wave.cohort_id)
        if cohort is None:
            return
        wave.status = "open"
        plan = WavePlan.from_settings(cohort.settings.get("ltsi"))
        participants = await uow.ltsi.participants(cohort.id)
        await uow.ltsi.invite(
            [
                {
                    "wave_id": wave.id,
                    "user_id": p.user_id,
                    "status": "invited",
                    "position": 0,
                    "invited_at": now,
                    "updated_at": now,
                }
                for p in participants
            ]
        )
        response_ids = await uow.ltsi.responses_by_user(wave.id)
        not_before = self._quiet.next_allowed(now, cohort.timezone)
        rows = [
            self._invitation_row(wave, cohort, response_ids[p.user_id], p, now, not_before)
            for p in participants
        ]
        await uow.outbox.enqueue(rows)
        later = [
            due_row(
                REMIND_KIND,
                f"ltsi:{wave.id}:remind:{days}",
                now + timedelta(days=days),
                now,
                payload={"wave_id": wave.id, "days": days},
                cohort_id=cohort.id,
            )
            for days in plan.reminder_days
        ]
        later.append(
            due_row(
                CLOSE_KIND,
                f"ltsi:{wave.id}:close",
                wave.closes_at,
                now,
                payload={"wave_id": wave.id},
                cohort_id=cohort.id,
            )
        )
        await uow.due.schedule(later)

    def _invitation_row(
        self,
        wave: LtsiWave,
        cohort: Cohort,
        response_id: int,
        p: Participant,
        now: datetime,
        not_before: datetime,
    ) -> dict[str, Any]:
        total = len(wave.items)
        text = self._texts.render(
            p.locale,
            f"ltsi.invitation.{wave.kind}",
            cohort=cohort.name,
            total=total,
            minutes=max(1, round(total * SECONDS_PER_ITEM / 60)),
            closes=self._texts.plain(
                p.locale, "format.date", d=wave.closes_at.astimezone(ZoneInfo(cohort.timezone))
            ),
            note=self.bank.thresholds.note(p.locale),
        )
        label = self._texts.plain(p.locale, "ltsi.start_button")
        return outbox_row(
            f"ltsi:{wave.id}:invite:{p.user_id}",
            p.chat_id,
            "text",
            {"text": text, "reply_markup": inline_keyboard([[(label, lq(response_id, 0, "s"))]])},
            purpose=Purpose.SELF_CHECK,
            now=now,
            not_before=not_before,
            user_id=p.user_id,
        )

    async def remind_due(self, uow: UnitOfWork, due: Due, now: datetime) -> None:
        wave = await uow.ltsi.wave(int(due.payload["wave_id"]))
        if wave is None or wave.status != "open":
            return
        cohort = await uow.cohorts.get(wave.cohort_id)
        if cohort is None:
            return
        days = int(due.payload["days"])
        not_before = self._quiet.next_allowed(now, cohort.timezone)
        total = len(wave.items)
        rows = []
        for u in await uow.ltsi.unfinished(wave.id):
            text = self._texts.render(
                u.locale,
                "ltsi.reminder",
                wave=self._texts.plain(u.locale, f"ltsi.wave.{wave.kind}"),
                answered=u.answered,
                total=total,
                left=total - u.answered,
                closes=self._texts.plain(
                    u.locale, "format.date", d=wave.closes_at.astimezone(ZoneInfo(cohort.timezone))
                ),
            )
            label = self._texts.plain(
                u.locale, "ltsi.continue_button" if u.answered else "ltsi.start_button"
            )
            rows.append(
                outbox_row(
                    f"ltsi:{wave.id}:remind{days}:{u.user_id}",
                    u.chat_id,
                    "text",
                    {
                        "text": text,
                        "reply_markup": inline_keyboard([[(label, lq(u.response_id, 0, "s"))]]),
                    },
                    purpose=Purpose.REMINDER,
                    now=now,
                    not_before=not_before,
                    user_id=u.user_id,
                )
            )
        await uow.outbox.enqueue(rows)

    async def close_due(self, uow: UnitOfWork, due: Due, now: datetime) -> None:
        wave = await uow.ltsi.wave(int(due.payload["wave_id"]))
        if wave is None or wave.status == "closed":
            return
        wave.status = "closed"
        await uow.ltsi.expire_unfinished(wave.id, now)

    # -- answering -----------------------------------------------------------------------

    async def _load(
        self,
        uow: UnitOfWork,
        telegram_id: int,
        response_id: int,
        now: datetime,
        *,
        position: int | None = None,
        message_id: int | None = None,
    ) -> tuple[LtsiResponse, Cohort] | Refusal:
        """The user's response and its cohort, or why the press must change nothing."""
        found = await uow.ltsi.response_for(response_id, telegram_id)
        if found is None:
            return Refusal.NOT_YOURS
        response, _ = found
        wave = response.wave
        refusal = _refusal(
            response.status,
            response.position,
            response.message_id,
            wave.status,
            wave.closes_at,
            now,
            position=position,
            message_id=message_id,
        )
        return found if refusal is None else refusal

    async def _question(
        self, uow: UnitOfWork, response: LtsiResponse, cohort: Cohort, position: int
    ) -> Question:
        wave = response.wave
        item_id = wave.items[position]
        return Question(
            response_id=response.id,
            wave=WaveKind(wave.kind),
            position=position,
            total=len(wave.items),
            item_id=item_id,
            chosen=await uow.ltsi.answer(response.id, item_id),
            closes_at=wave.closes_at,
            timezone=cohort.timezone,
        )

    async def peek(self, telegram_id: int, response_id: int) -> Question | Refusal:
        """The current question, changing nothing (to send it in a new message first)."""
        now = self._clock.now()
        async with self._uow() as uow:
            loaded = await self._load(uow, telegram_id, response_id, now)
            if isinstance(loaded, Refusal):
                return loaded
            response, cohort = loaded
            return await self._question(uow, response, cohort, response.position)

    async def start(
        self, telegram_id: int, response_id: int, message_id: int
    ) -> Question | Refusal:
        """Show the current question in `message_id` (the invitation, a reminder, /check's
        message). Any other message still showing a question goes stale."""
        now = self._clock.now()
        async with self._uow() as uow:
            loaded = await self._load(uow, telegram_id, response_id, now)
            if isinstance(loaded, Refusal):
                return loaded
            response, cohort = loaded
            position = response.position
            if not await uow.ltsi.move(
                response.id, position, position, "answering", now, message_id
            ):
                return Refusal.STALE
            question = await self._question(uow, response, cohort, position)
            await uow.commit()
            return question

    async def answer(
        self, telegram_id: int, response_id: int, position: int, value: int, message_id: int
    ) -> Question | Diagnosis | Refusal:
        now = self._clock.now()
        check_answer(f"#{position}", value)
        async with self._uow() as uow:
            # Every answer but the last: one read (the response, its wave and cohort, and
            # any earlier answer to the next question) and one compare-and-set write, with
            # plain rows instead of entities; the hottest path of the bot (bench.ltsi).
            state = await uow.ltsi.state(response_id, telegram_id, position + 1)
            if state is None:
                return Refusal.NOT_YOURS
            refusal = _refusal(
                state.status,
                state.position,
                state.message_id,
                state.wave_status,
                state.closes_at,
                now,
                position=position,
                message_id=message_id,
            )
            if refusal is not None:
                return refusal
            items = state.items
            if position + 1 < len(items):
                question = Question(
                    response_id=state.response_id,
                    wave=WaveKind(state.wave_kind),
                    position=position + 1,
                    total=len(items),
                    item_id=items[position + 1],
                    chosen=state.chosen,
                    closes_at=state.closes_at,
                    timezone=state.timezone,
                )
                # Read first, then write and commit at once: on SQLite the write lock is
                # held from the first write to the commit, so keep that stretch short.
                async with uow.writing():
                    if not await uow.ltsi.record_answer(
                        state.response_id, position, items[position], value, now
                    ):
                        await uow.rollback()
                        return Refusal.STALE
                    await uow.commit()
                return question
            # The last answer, once a check: the diagnosis works on the entities.
            loaded = await self._load(
                uow, telegram_id, response_id, now, position=position, message_id=message_id
            )
            if isinstance(loaded, Refusal):
                return loaded
            response, cohort = loaded
            items = response.wave.items
            await uow.ltsi.save_answer(response.id, items[position], value, now)
            answers = await uow.ltsi.answers(response.id)
            missing = [i for i, item in enumerate(items) if item not in answers]
            if missing:  # cannot happen by the buttons; never finish with a gap
                target = missing[0]
                if not await uow.ltsi.move(response.id, position, target, "answering", now):
                    await uow.rollback()
                    return Refusal.STALE
                question = await self._question(uow, response, cohort, target)
                await uow.commit()
                return question
            if not await uow.ltsi.move(response.id, position, len(items), "done", now):
                await uow.rollback()
                return Refusal.STALE
            diagnosis = await self._complete(uow, response, cohort, answers, now)
            await uow.commit()
            return diagnosis

    async def back(
        self, telegram_id: int, response_id: int, position: int, message_id: int
    ) -> Question | Refusal:
        now = self._clock.now()
        async with self._uow() as uow:
            loaded = await self._load(
                uow, telegram_id, response_id, now, position=position, message_id=message_id
            )
            if isinstance(loaded, Refusal):
                return loaded
            response, cohort = loaded
            target = max(0, position - 1)
            if not await uow.ltsi.move(response.id, position, target, "answering", now):
                return Refusal.STALE
            question = await self._question(uow, response, cohort, target)
            await uow.commit()
            return question

    async def pause(
        self, telegram_id: int, response_id: int, position: int, message_id: int
    ) -> Paused | Refusal:
        now = self._clock.now()
        async with self._uow() as uow:
            loaded = await self._load(
                uow, telegram_id, response_id, now, position=position, message_id=message_id
            )
            if isinstance(loaded, Refusal):
                return loaded
            response, cohort = loaded
            if not await uow.ltsi.move(response.id, position, position, "paused", now):
                return Refusal.STALE
            answers = await uow.ltsi.answers(response.id)
            await uow.commit()
            return Paused(
                response_id=response.id,
                wave=WaveKind(response.wave.kind),
                position=position,
                answered=sum(1 for i in response.wave.items if i in answers),
                total=len(response.wave.items),
                closes_at=response.wave.closes_at,
                timezone=cohort.timezone,
            )

    # -- diagnosis -----------------------------------------------------------------------

    def _thresholds(self, cohort: Cohort) -> tuple[float, float]:
        plan = WavePlan.from_settings(cohort.settings.get("ltsi"))
        t = self.bank.thresholds
        return plan.thresholds(t.barrier_below, t.catalyst_at_least)

    async def _complete(
        self,
        uow: UnitOfWork,
        response: LtsiResponse,
        cohort: Cohort,
        answers: dict[str, int],
        now: datetime,
    ) -> Diagnosis:
        specs = tuple(self.bank.item(i).spec() for i in response.wave.items)
        scores = score(answers, specs)
        response.scores = _scores_json(scores)
        response.completed_at = now
        low, high = self._thresholds(cohort)
        found = classify(scores, low, high)
        wanted: dict[FollowUpKind, list[str]] = {}
        for barrier in found.barriers:
            for kind in FOLLOW_UPS[self.bank.factor(barrier.factor).action]:
                wanted.setdefault(kind, []).append(barrier.factor)
        await uow.ltsi.add_follow_ups(
            [
                {
                    "response_id": response.id,
                    "user_id": response.user_id,
                    "cohort_id": cohort.id,
                    "kind": kind.value,
                    "factors": factors,
                    "status": "pending",
                    "created_at": now,
                }
                for kind, factors in wanted.items()
            ]
        )
        if FollowUpKind.PLAN_MILESTONE in wanted:
            self._nudge()  # the plan's offer of a milestone goes out with the next sweep
        await uow.session.flush()
        return await self._diagnosis(uow, response, cohort)

    async def _diagnosis(
        self, uow: UnitOfWork, response: LtsiResponse, cohort: Cohort
    ) -> Diagnosis:
        stored = response.scores or {}
        factors = {f.id: stored.get("factors", {}).get(f.id) for f in self.bank.factors}
        groups = {g.id: stored.get("groups", {}).get(g.id) for g in self.bank.groups}
        earlier = [
            r
            for r in await uow.ltsi.done_responses_of(response.user_id, cohort.id)
            if r.wave.opens_at < response.wave.opens_at
        ]
        previous = earlier[-1] if earlier else None
        prev_scores = (previous.scores or {}) if previous else None
        low, high = self._thresholds(cohort)
        found = classify(
            Scores(
                factors=factors,
                groups=groups,
                counts=stored.get("counts", {}),
                factor_groups={f.id: f.group for f in self.bank.factors},
            ),
            low,
            high,
        )
        follow_ups = {
            FollowUpKind(f.kind): tuple(f.factors) for f in await uow.ltsi.follow_ups(response.id)
        }
        user = await uow.session.get(User, response.user_id)
        return Diagnosis(
            response_id=response.id,
            wave=WaveKind(response.wave.kind),
            cohort=cohort_dto(cohort),
            trainee_name=user.full_name if user else None,
            factors=factors,
            groups=groups,
            previous_wave=WaveKind(previous.wave.kind) if previous else None,
            previous_factors=(
                {f.id: prev_scores.get("factors", {}).get(f.id) for f in self.bank.factors}
                if prev_scores is not None
                else None
            ),
            previous_groups=(
                {g.id: prev_scores.get("groups", {}).get(g.id) for g in self.bank.groups}
                if prev_scores is not None
                else None
            ),
            barriers=found.barriers,
            catalysts=found.catalysts,
            thresholds=(low, high),
            follow_ups=follow_ups,
            completed_at=response.completed_at or self._clock.now(),
        )

    async def diagnosis(self, telegram_id: int, response_id: int) -> Diagnosis | Refusal:
        """A finished check's diagnosis again (from /check)."""
        async with self._uow() as uow:
            found = await uow.ltsi.response_for(response_id, telegram_id)
            if found is None:
                return Refusal.NOT_YOURS
            response, cohort = found
            if response.status != "done":
                return Refusal.STALE
            return await self._diagnosis(uow, response, cohort)

    async def follow_up_done(self, response_id: int, kind: FollowUpKind) -> None:
        async with self._uow() as uow:
            for f in await uow.ltsi.follow_ups(response_id):
                if f.kind == kind.value and f.status == "pending":
                    f.status = "done"
                    f.done_at = self._clock.now()
            await uow.commit()

    # -- /check --------------------------------------------------------------------------

    async def overview(self, telegram_id: int) -> Overview:
        """Unfinished checks (inviting a trainee who joined after a wave opened), the next
        wave and the latest result."""
        now = self._clock.now()
        async with self._uow() as uow:
            user = await uow.users.by_telegram_id(telegram_id)
            timezone = self._default_timezone
            if user is None or user.consent_at is None:
                return Overview(False, (), None, None, timezone, None)
            cohorts = [
                e.cohort
                for e in await uow.enrolments.for_user(user.id)
                if e.role == "trainee" and e.status == "active"
            ]
            if not cohorts:
                return Overview(False, (), None, None, timezone, None)
            timezone = cohorts[0].timezone
            next_wave: LtsiWave | None = None
            late = []
            for cohort in cohorts:
                for wave in await uow.ltsi.waves_of(cohort.id):
                    if wave.status == "scheduled" and (
                        next_wave is None or wave.opens_at < next_wave.opens_at
                    ):
                        next_wave, timezone = wave, cohort.timezone
                    if wave.status == "open" and now < wave.closes_at:
                        late.append(
                            {
                                "wave_id": wave.id,
                                "user_id": user.id,
                                "status": "invited",
                                "position": 0,
                                "invited_at": now,
                                "updated_at": now,
                            }
                        )
            await uow.ltsi.invite(late)
            await uow.commit()
            open_checks = []
            for response in await uow.ltsi.open_responses_of(telegram_id):
                if now >= response.wave.closes_at:
                    continue
                answers = await uow.ltsi.answers(response.id)
                cohort_tz = next(
                    (c.timezone for c in cohorts if c.id == response.wave.cohort_id), timezone
                )
                open_checks.append(
                    OpenCheck(
                        response_id=response.id,
                        wave=WaveKind(response.wave.kind),
                        answered=sum(1 for i in response.wave.items if i in answers),
                        total=len(response.wave.items),
                        closes_at=response.wave.closes_at,
                        timezone=cohort_tz,
                    )
                )
            latest = await uow.ltsi.latest_done_of(telegram_id)
            return Overview(
                is_trainee=True,
                open=tuple(open_checks),
                next_wave=WaveKind(next_wave.kind) if next_wave else None,
                next_at=next_wave.opens_at if next_wave else None,
                timezone=timezone,
                latest_done=latest.id if latest else None,
            )

    # -- organisers ----------------------------------------------------------------------

    async def organised(self, telegram_id: int) -> list[CohortDTO] | None:
        """The cohorts this person organises (None: not an organiser of any)."""
        async with self._uow() as uow:
            user = await uow.users.by_telegram_id(telegram_id)
            if user is None:
                return None
            cohorts = await uow.broadcasts.organised_cohorts(user.id)
            return [cohort_dto(c) for c in cohorts] or None

    async def _organised_cohort(
        self, uow: UnitOfWork, telegram_id: int, cohort_id: int
    ) -> Cohort | None:
        user = await uow.users.by_telegram_id(telegram_id)
        if user is None:
            return None
        for cohort in await uow.broadcasts.organised_cohorts(user.id):
            if cohort.id == cohort_id:
                return cohort
        return None

    async def report(self, telegram_id: int, cohort_id: int) -> CohortReport | None:
        """The cohort's LTSI report; None unless `telegram_id` organises the cohort."""
        async with self._uow() as uow:
            cohort = await self._organised_cohort(uow, telegram_id, cohort_id)
            if cohort is None:
                return None
            waves = list(await uow.ltsi.waves_of(cohort.id))
            ids = [w.id for w in waves]
            counts = await uow.ltsi.wave_counts(ids)
            started = await uow.ltsi.started_counts(ids)
            low, high = self._thresholds(cohort)
            stats = []
            factor_means: dict[WaveKind, dict[str, float | None]] = {}
            group_means: dict[WaveKind, dict[str, float | None]] = {}
            barrier_counts: dict[WaveKind, dict[str, int]] = {}
            by_wave: dict[WaveKind, dict[int, dict[str, Any]]] = {}
            for wave in waves:
                kind = WaveKind(wave.kind)
                invited = sum(n for (w, _), n in counts.items() if w == wave.id)
                done = counts.get((wave.id, "done"), 0)
                stats.append(
                    WaveStats(
                        kind,
                        wave.status,
                        wave.opens_at,
                        wave.closes_at,
                        invited,
                        started.get(wave.id, 0),
                        done,
                    )
                )
                results = dict(await uow.ltsi.done_scores(wave.id))
                if not results:
                    continue
                by_wave[kind] = results
                factor_means[kind] = {
                    f.id: _mean(_scored(results.values(), "factors", f.id))
                    for f in self.bank.factors
                }
                group_means[kind] = {
                    g.id: _mean(_scored(results.values(), "groups", g.id)) for g in self.bank.groups
                }
                barrier_counts[kind] = {
                    f.id: sum(v < low for v in _scored(results.values(), "factors", f.id))
                    for f in self.bank.factors
                }
            day30, day60 = by_wave.get(WaveKind.DAY30, {}), by_wave.get(WaveKind.DAY60, {})
            both = sorted(set(day30) & set(day60))
            change: dict[str, float | None] = {}
            for g in self.bank.groups:
                deltas = [
                    b - a
                    for u in both
                    if (a := day30[u].get("groups", {}).get(g.id)) is not None
                    and (b := day60[u].get("groups", {}).get(g.id)) is not None
                ]
                change[g.id] = _mean(deltas)
            organiser = await uow.users.by_telegram_id(telegram_id)
            await uow.audit.record(
                self._clock.now(),
                "ltsi_report_viewed",
                actor_user_id=organiser.id if organiser else None,
                target_type="cohort",
                target_id=cohort.id,
            )
            await uow.commit()
            return CohortReport(
                cohort=cohort_dto(cohort),
                waves=tuple(stats),
                factor_means=factor_means,
                group_means=group_means,
                barrier_counts=barrier_counts,
                change=change,
                paired=len(both),
                thresholds=(low, high),
            )

    async def export_csv(
        self, telegram_id: int, cohort_id: int, *, with_names: bool
    ) -> CsvExport | None:
        """Every answer of the cohort, one row each (UTF-8 with BOM, for Excel/WPS).

        People appear under a pseudonym that is stable within the cohort (an HMAC of the
        user id with a key kept in the cohort's settings) unless `with_names`; exporting
        names is recorded in the audit log.
        """
        now = self._clock.now()
        async with self._uow() as uow:
            cohort = await self._organised_cohort(uow, telegram_id, cohort_id)
            organiser = await uow.users.by_telegram_id(telegram_id)
            if cohort is None or organiser is None:
                return None
            key = cohort.settings.get("pseudonym_key")
            if not isinstance(key, str):
                key = secrets.token_hex(16)
                cohort.settings = {**cohort.settings, "pseudonym_key": key}
            rows = await uow.ltsi.cohort_answers(cohort.id)
            data = await asyncio.to_thread(self._csv, rows, key, cohort, with_names)
            await uow.audit.record(
                now,
                "ltsi_answers_exported",
                actor_user_id=organiser.id,
                target_type="cohort",
                target_id=cohort.id,
                details={"rows": len(rows), "with_names": with_names},
            )
            await uow.commit()
        stamp = now.astimezone(ZoneInfo(cohort.timezone)).strftime("%Y%m%d-%H%M")
        suffix = "names" if with_names else "pseudonymised"
        return CsvExport(
            filename=f"ltsi-cohort{cohort.id}-{stamp}-{suffix}.csv",
            data=data,
            rows=len(rows),
            with_names=with_names,
        )

    def _csv(self, rows: Sequence[Any], key: str, cohort: Cohort, with_names: bool) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out)
        header = ["participant"]
        if with_names:
            header += ["name", "unit_type", "unit_name"]
        header += ["wave", "item", "factor", "group", "reverse", "answer", "scored", "answered_at"]
        writer.writerow(header)
        zone = ZoneInfo(cohort.timezone)
        for r in rows:
            digest = hmac.new(key.encode(), str(r.user_id).encode(), hashlib.sha256).hexdigest()
            line: list[Any] = [f"P{digest[:8].upper()}"]
            if with_names:
                line += [r.full_name or "", r.unit_type or "", r.unit_name or ""]
            try:
                item = self.bank.item(r.item_id)
                factor, group, reverse = item.factor, item.group, item.reverse
            except KeyError:  # an item retired from content since
                factor, group, reverse = "", "", False
            scored = 6 - r.value if reverse else r.value
            line += [
                r.wave_kind,
                r.item_id,
                factor,
                group,
                int(reverse),
                r.value,
                scored,
                r.answered_at.astimezone(zone).isoformat(timespec="seconds"),
            ]
            writer.writerow(line)
        return ("\ufeff" + out.getvalue()).encode("utf-8")


def lq(response_id: int, position: int, action: str) -> str:
    """Callback data of the self-check buttons; handlers.callbacks.LtsiCB packs the same."""
    return f"lq:{response_id}:{position}:{action}"
