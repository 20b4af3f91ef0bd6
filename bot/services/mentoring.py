"""The mentor's side after matching (导师跟踪制): the weekly digest of their mentees, the
guidance log (/log) and its monthly reminder, reading a mentee's reflection to comment.

A mentor sees a mentee only while their match is active: every read and every write
checks the match again, so an old digest's buttons die with the match.

Due items: `mentoring_digest` (one per cohort and week, at the cohort's digest weekday and
time; each run schedules the next) sends every mentor with active mentees in the cohort
their digest, or a short note when nothing happened. `mentoring_remind` (one per cohort and
month, 10:00 cohort time seven days before the month ends; each run schedules the next)
reminds a mentor of the mentees without a session logged this month. "Since the last
digest" is the moment the cohort's previous digest went out (its due item's done_at).

A digest entry lists the mentee's role-plays finished since then (scenario, role, ending,
overall score and the weakest dimension) and their role-play answers still waiting for a
comment, with a button to comment on each (handled by handlers/practice.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from bot.content import Texts
from bot.content.ltsi import LtsiBank
from bot.content.texts import Choice
from bot.db.matching import MenteeRef
from bot.db.models import (
    Cohort,
    GuidanceSession,
    LtsiResponse,
    PlanMilestone,
    Reflection,
    ScenarioAnswer,
    ScenarioRun,
    User,
)
from bot.domain.delivery import Purpose, inline_keyboard
from bot.domain.digest import (
    DUE_SOON_DAYS,
    MAX_ANSWER_BUTTONS,
    MAX_PLAY_LINES,
    MAX_REFLECTION_BUTTONS,
    NEXT_STEP_LIMIT,
    NOTES_LIMIT,
    TOPIC_LIMIT,
    AnswerLine,
    MenteeDigest,
    MentoringSettings,
    MilestoneLine,
    PlayLine,
    ReflectionLine,
    SessionLine,
    Trend,
    group_changes,
    month_bounds,
    next_reminder_at,
    ordered,
    pack,
    risks_of,
    weakest,
)
from bot.domain.notices import excerpt
from bot.domain.ports import Clock
from bot.domain.practice import MAX_DAYS_BACK, MilestoneStatus, check_text
from bot.domain.scenarios import pick
from bot.domain.schedule import QuietHours
from bot.services.outbox import outbox_row
from bot.services.reflections import Answer, stored_answers
from bot.services.scenarios import ScenarioService
from bot.services.scheduling import Due, LegacyCohorts, due_row
from bot.services.uow import UnitOfWork, UowFactory

log = logging.getLogger(__name__)

DIGEST_KIND = "mentoring_digest"
REMIND_KIND = "mentoring_remind"
FIRST_LINE_LIMIT = 40
OTHER_TOPIC = "other"


def gd(action: str, cohort_id: int = 0, item: int = 0, value: str = "") -> str:
    """Action data of a mentoring button (handlers.callbacks.MentoringCB packs the same):
    rd read a reflection (item) | lg log a session with a mentee (cohort, item = trainee
    user id) | tp a topic (value) | sk skip the next step | od an organiser's pick of a
    mentor (cohort, item = mentor user id)."""
    return f"gd:{action}:{cohort_id}:{item}:{value}"


def comment_data(answer_id: int) -> str:
    """Action data of "comment on this role-play answer": handlers.callbacks.PracticeCB with
    action "m" (ScenarioService packs the same under the answer it sends the mentor)."""
    return f"prc:m:::{answer_id}:0:0"


class Refusal(StrEnum):
    NOT_MENTOR = "not_mentor"  # no mentor enrolment, no match, not an organiser either
    NO_MENTEES = "no_mentees"  # a mentor without an active match
    NOT_YOURS = "not_yours"  # not (or no longer) your mentee, or made-up data
    BAD_DATE = "bad_date"
    BAD_TEXT = "bad_text"


@dataclass(frozen=True, slots=True)
class MenteeChoice:
    cohort_id: int
    cohort_name: str
    trainee_user_id: int
    name: str


@dataclass(frozen=True, slots=True)
class DigestMessage:
    text: str
    buttons: tuple[tuple[str, str], ...]  # (label, action data), one button a row


@dataclass(frozen=True, slots=True)
class DigestView:
    cohort_id: int
    cohort_name: str
    mentor_user_id: int
    messages: tuple[DigestMessage, ...]
    news: bool  # False: the short "nothing new" note


@dataclass(frozen=True, slots=True)
class MentorChoice:
    cohort_id: int
    cohort_name: str
    mentor_user_id: int
    name: str


@dataclass(frozen=True, slots=True)
class SessionSaved:
    id: int
    trainee_name: str
    held_on: date
    topic: str
    next_step: str | None
    sent_to_trainee: bool


@dataclass(frozen=True, slots=True)
class ReflectionRead:
    id: int
    trainee_name: str
    cohort_name: str
    on: date
    answers: tuple[tuple[str, Answer], ...]  # answered questions, in order
    milestone: str | None


def _name(user_name: str | None, user_id: int) -> str:
    return user_name or f"#{user_id}"


def _local_day(moment: datetime, timezone: str) -> date:
    return moment.astimezone(ZoneInfo(timezone)).date()


class MentoringService:
    def __init__(
        self,
        uow: UowFactory,
        clock: Clock,
        texts: Texts,
        *,
        bank: LtsiBank,
        topics: tuple[Choice, ...],
        scenarios: ScenarioService | None = None,
        quiet_hours: QuietHours,
        nudge: Callable[[], None],
        default_timezone: str,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._texts = texts
        self._bank = bank
        self.topics = topics
        self._scenarios = scenarios  # None: the digest leaves role-plays out
        self._quiet = quiet_hours
        self._nudge = nudge
        self._default_timezone = default_timezone
        self._legacy = LegacyCohorts(
            uow, clock, lambda u: u.due.cohorts_without(DIGEST_KIND), self._plan_logging_errors
        )

    # -- scheduling ----------------------------------------------------------------------

    def _digest_row(self, cohort: Cohort, after: datetime, now: datetime) -> dict[str, Any]:
        settings = MentoringSettings.from_settings(cohort.settings.get("mentoring"))
        at = settings.next_digest_at(after, cohort.timezone)
        day = _local_day(at, cohort.timezone)
        return due_row(
            DIGEST_KIND,
            f"mentoring:{cohort.id}:digest:{day.isoformat()}",
            at,
            now,
            cohort_id=cohort.id,
        )

    def _remind_row(self, cohort: Cohort, after: datetime, now: datetime) -> dict[str, Any]:
        at = next_reminder_at(after, cohort.timezone)
        month = _local_day(at, cohort.timezone).strftime("%Y-%m")
        return due_row(
            REMIND_KIND, f"mentoring:{cohort.id}:remind:{month}", at, now, cohort_id=cohort.id
        )

    async def plan_cohort(self, uow: UnitOfWork, cohort: Cohort, now: datetime) -> None:
        """At a cohort's creation: its first digest and its first monthly reminder.
        ValueError (naming the setting) when its `mentoring` settings are wrong."""
        await uow.due.schedule(
            [self._digest_row(cohort, now, now), self._remind_row(cohort, now, now)]
        )

    async def plan_legacy_cohorts(self) -> None:
        """Once per process: digests and reminders of cohorts created before mentoring."""
        await self._legacy()

    async def _plan_logging_errors(self, uow: UnitOfWork, cohort: Cohort, now: datetime) -> None:
        """A legacy cohort whose mentoring settings do not parse is skipped, not retried."""
        try:
            await self.plan_cohort(uow, cohort, now)
        except ValueError as exc:
            log.error("cohort %s: mentoring not planned: %s", cohort.id, exc)

    async def digest_due(self, uow: UnitOfWork, due: Due, now: datetime) -> None:
        """The week's digest to every mentor with active mentees; then next week's."""
        cohort = await uow.cohorts.get(due.cohort_id or 0)
        if cohort is None:
            return
        since = await uow.mentoring.last_done(DIGEST_KIND, cohort.id)
        not_before = self._quiet.next_allowed(now, cohort.timezone)
        day = _local_day(due.due_at, cohort.timezone).isoformat()
        rows = []
        for mentor in await uow.mentoring.mentors_with_mentees(cohort.id):
            user = await uow.session.get(User, mentor.user_id)
            if user is None or not user.is_active or user.consent_at is None:
                continue
            view = await self._digest(uow, user, cohort, now, since, user.locale, buttons=True)
            for n, message in enumerate(view.messages):
                rows.append(
                    outbox_row(
                        f"mentoring:digest:{cohort.id}:{day}:{user.id}:{n}",
                        user.telegram_id,
                        "text",
                        self._payload(message),
                        purpose=Purpose.MENTORING,
                        now=now,
                        not_before=not_before,
                        user_id=user.id,
                    )
                )
        await uow.outbox.enqueue(rows)
        await uow.due.schedule([self._digest_row(cohort, max(now, due.due_at), now)])

    async def remind_due(self, uow: UnitOfWork, due: Due, now: datetime) -> None:
        """One reminder per mentor listing the mentees without a session logged this
        month (by the day it was held); then next month's reminder."""
        cohort = await uow.cohorts.get(due.cohort_id or 0)
        if cohort is None:
            return
        today = _local_day(now, cohort.timezone)
        first, last = month_bounds(today)
        held = await uow.mentoring.held_between(cohort.id, first, last)
        missing: dict[int, list[int]] = {}
        for match in await uow.mentoring.active_matches(cohort.id):
            if (match.mentor_user_id, match.trainee_user_id) not in held:
                missing.setdefault(match.mentor_user_id, []).append(match.trainee_user_id)
        not_before = self._quiet.next_allowed(now, cohort.timezone)
        rows = []
        for mentor_id, trainee_ids in missing.items():
            mentor = await uow.session.get(User, mentor_id)
            if mentor is None or not mentor.is_active or mentor.consent_at is None:
                continue
            names = []
            buttons = []
            for trainee_id in trainee_ids:
                trainee = await uow.session.get(User, trainee_id)
                name = _name(trainee.full_name if trainee else None, trainee_id)
                names.append(name)
                label = self._texts.plain(mentor.locale, "mentoring.log_button", name=name)
                buttons.append([(label, gd("lg", cohort.id, trainee_id))])
            text = self._texts.render(
                mentor.locale,
                "mentoring.reminder",
                cohort=cohort.name,
                month=today.month,
                year=today.year,
                names=names,
                last_day=self._texts.plain(mentor.locale, "format.date", d=last),
            )
            rows.append(
                outbox_row(
                    f"mentoring:remind:{cohort.id}:{today:%Y-%m}:{mentor_id}",
                    mentor.telegram_id,
                    "text",
                    {"text": text, "reply_markup": inline_keyboard(buttons)},
                    purpose=Purpose.MENTORING,
                    now=now,
                    not_before=not_before,
                    user_id=mentor_id,
                )
            )
        await uow.outbox.enqueue(rows)
        await uow.due.schedule([self._remind_row(cohort, max(now, due.due_at), now)])

    @staticmethod
    def _payload(message: DigestMessage) -> dict[str, Any]:
        payload: dict[str, Any] = {"text": message.text}
        if message.buttons:
            payload["reply_markup"] = inline_keyboard([[b] for b in message.buttons])
        return payload

    # -- the digest ----------------------------------------------------------------------

    async def _entries(
        self,
        uow: UnitOfWork,
        mentees: Sequence[MenteeRef],
        cohort: Cohort,
        mentor_user_id: int,
        now: datetime,
        since: datetime | None,
    ) -> list[MenteeDigest]:
        ids = [m.trainee_user_id for m in mentees]
        today = _local_day(now, cohort.timezone)
        checks = await uow.mentoring.done_checks(ids, cohort.id)
        milestones = await uow.mentoring.milestones(ids, cohort.id)
        reflections = await uow.mentoring.reflections_since(ids, cohort.id, since)
        activity = await uow.mentoring.last_activity(ids, cohort.id)
        sessions = await uow.mentoring.last_sessions(mentor_user_id, ids, cohort.id)
        plays: dict[int, list[ScenarioRun]] = {}
        waiting: dict[int, list[tuple[ScenarioAnswer, str]]] = {}
        if self._scenarios is not None:
            plays = await uow.mentoring.plays_since(ids, cohort.id, since)
            waiting = await uow.mentoring.uncommented_answers(ids, cohort.id)
        groups = [g.id for g in self._bank.groups]
        entries = []
        for m in mentees:
            done = checks.get(m.trainee_user_id, [])
            changes = (
                group_changes(
                    (done[-2].scores or {}).get("groups"),
                    (done[-1].scores or {}).get("groups"),
                    groups,
                )
                if len(done) >= 2
                else ()
            )
            new_check = bool(done) and _after(done[-1], since)
            ms = milestones.get(m.trainee_user_id, [])
            overdue = [x for x in ms if x.due_on < today and x.status != MilestoneStatus.DONE.value]
            due = [
                x
                for x in ms
                if today <= x.due_on <= today + timedelta(days=DUE_SOON_DAYS)
                and x.status != MilestoneStatus.DONE.value
            ]
            lately = [
                x
                for x in ms
                if x.status == MilestoneStatus.DONE.value
                and x.checked_at is not None
                and (since is None or x.checked_at > since)
            ]
            seen = [t for t in (activity.get(m.trainee_user_id), m.joined_at) if t is not None]
            last_activity = _local_day(max(seen), cohort.timezone) if seen else None
            session = sessions.get(m.trainee_user_id)
            entries.append(
                MenteeDigest(
                    trainee_user_id=m.trainee_user_id,
                    name=_name(m.full_name, m.trainee_user_id),
                    changes=changes,
                    new_check=new_check,
                    done=sum(1 for x in ms if x.status == MilestoneStatus.DONE.value),
                    total=len(ms),
                    done_lately=tuple(_line(x) for x in lately),
                    due=tuple(_line(x) for x in due),
                    overdue=tuple(_line(x) for x in overdue),
                    reflections=tuple(
                        self._reflection_line(r, cohort.timezone)
                        for r in reflections.get(m.trainee_user_id, [])
                    ),
                    last_session=(
                        SessionLine(session.held_on, session.topic, session.next_step)
                        if session
                        else None
                    ),
                    last_activity=last_activity,
                    risks=risks_of(
                        last_activity=last_activity,
                        today=today,
                        overdue=len(overdue),
                        changes=changes,
                    ),
                    plays=tuple(
                        line
                        for run in plays.get(m.trainee_user_id, [])
                        if (line := self._play_line(run, cohort.timezone)) is not None
                    ),
                    waiting=tuple(
                        AnswerLine(
                            a.id,
                            scenario_id,
                            _first_line(a.text),
                            _local_day(a.created_at, cohort.timezone),
                        )
                        for a, scenario_id in waiting.get(m.trainee_user_id, [])
                    ),
                )
            )
        return ordered(entries)

    def _play_line(self, run: ScenarioRun, timezone: str) -> PlayLine | None:
        """A finished play as the digest lists it (None: its scenario left the content)."""
        assert self._scenarios is not None
        result = self._scenarios.result(run, None)
        scenario = self._scenarios.scenario(run.scenario_id)
        if result is None or scenario is None or run.ending is None:
            return None
        return PlayLine(
            run.id,
            scenario.id,
            run.role,
            run.ending,
            result.total,
            weakest(result.percents, scenario.dimensions),
            _local_day(result.finished_at, timezone),
        )

    def _reflection_line(self, r: Reflection, timezone: str) -> ReflectionLine:
        first = ""
        for answer in stored_answers(r.answers).values():
            if answer.text and answer.text.strip():
                first = excerpt(answer.text.strip().splitlines()[0], FIRST_LINE_LIMIT)
                break
        if not first:
            kinds = [a.kind.value for a in stored_answers(r.answers).values()]
            first = self._texts.plain(None, f"reflect.kind.{kinds[0]}") if kinds else ""
        return ReflectionLine(r.id, first, _local_day(r.completed_at or r.created_at, timezone))

    async def _digest(
        self,
        uow: UnitOfWork,
        mentor: User,
        cohort: Cohort,
        now: datetime,
        since: datetime | None,
        locale: str | None,
        *,
        buttons: bool,
    ) -> DigestView:
        """THE digest of one mentor in one cohort, as the scheduled run and /digest show it;
        `buttons` False for an organiser's look (the buttons are the mentor's)."""
        mentees = await uow.matches.active_mentees(mentor.id, cohort.id)
        entries = await self._entries(uow, mentees, cohort, mentor.id, now, since)
        return self.render(
            entries,
            cohort,
            mentor,
            since,
            locale,
            today=_local_day(now, cohort.timezone),
            buttons=buttons,
            for_mentor=buttons,
        )

    def render(
        self,
        entries: Sequence[MenteeDigest],
        cohort: Cohort,
        mentor: User,
        since: datetime | None,
        locale: str | None,
        *,
        today: date,
        buttons: bool,
        for_mentor: bool,
    ) -> DigestView:
        """Entries (in order) → messages of at most DIGEST_LIMIT, an entry never cut; the
        buttons of an entry travel with it."""
        plain = self._texts.plain

        def log_button(e: MenteeDigest) -> tuple[str, str]:
            return (
                plain(locale, "mentoring.log_button", name=e.name),
                gd("lg", cohort.id, e.trainee_user_id),
            )

        mentor_name = _name(mentor.full_name, mentor.id)
        since_text = (
            plain(locale, "format.date", d=_local_day(since, cohort.timezone)) if since else None
        )
        if entries and not any(e.has_news for e in entries):
            text = self._texts.render(
                locale,
                "mentoring.digest.no_news",
                cohort=cohort.name,
                mentor=mentor_name,
                since=since_text,
                names=[e.name for e in entries],
                for_mentor=for_mentor,
            )
            rows = tuple(log_button(e) for e in entries) if buttons else ()
            return DigestView(
                cohort.id, cohort.name, mentor.id, (DigestMessage(text, rows),), news=False
            )
        header = self._texts.render(
            locale,
            "mentoring.digest.header",
            cohort=cohort.name,
            mentor=mentor_name,
            since=since_text,
            count=len(entries),
            at_risk=sum(1 for e in entries if e.at_risk),
            for_mentor=for_mentor,
        )
        parts = [header]
        part_buttons: list[tuple[tuple[str, str], ...]] = [()]
        for e in entries:
            parts.append(self._entry_text(e, locale, today))
            row: list[tuple[str, str]] = []
            if buttons:
                for number, r in enumerate(e.reflections[:MAX_REFLECTION_BUTTONS], 1):
                    row.append(
                        (
                            plain(
                                locale,
                                "mentoring.read_button",
                                name=e.name,
                                number=number,
                                many=len(e.reflections) > 1,
                            ),
                            gd("rd", cohort.id, r.id),
                        )
                    )
                for number, a in enumerate(e.waiting[:MAX_ANSWER_BUTTONS], 1):
                    row.append(
                        (
                            plain(
                                locale,
                                "mentoring.answer_button",
                                name=e.name,
                                number=number,
                                many=len(e.waiting) > 1,
                            ),
                            comment_data(a.id),
                        )
                    )
                row.append(log_button(e))
            part_buttons.append(tuple(row))
        messages = []
        for group in pack(parts):
            text = "\n\n".join(parts[i] for i in group)
            rows = tuple(b for i in group for b in part_buttons[i])
            messages.append(DigestMessage(text, rows))
        return DigestView(cohort.id, cohort.name, mentor.id, tuple(messages), news=True)

    def _entry_text(self, e: MenteeDigest, locale: str | None, today: date) -> str:
        plain = self._texts.plain

        def day(d: date) -> str:
            return plain(locale, "format.date", d=d)

        def lines(items: Sequence[MilestoneLine]) -> list[dict[str, str]]:
            return [{"title": m.title, "date": day(m.due_on)} for m in items]

        arrows = {Trend.UP: "↑", Trend.DOWN: "↓", Trend.SAME: "→"}
        risks = [
            plain(
                locale,
                f"mentoring.risk.{r.value}",
                days=(today - e.last_activity).days if e.last_activity else None,
                count=len(e.overdue),
            )
            for r in e.risks
        ]
        return self._texts.render(
            locale,
            "mentoring.digest.entry",
            name=e.name,
            risks=risks,
            changes=[
                {
                    "name": self._bank.group(c.group).name(locale),
                    "arrow": arrows[c.trend],
                    "trend": c.trend.value,
                    "before": f"{c.before:.1f}",
                    "after": f"{c.after:.1f}",
                }
                for c in e.changes
            ],
            new_check=e.new_check,
            done=e.done,
            total=e.total,
            done_lately=lines(e.done_lately),
            due=lines(e.due),
            overdue=lines(e.overdue),
            reflections=[
                {"first_line": r.first_line, "date": day(r.on)}
                for r in e.reflections[:MAX_REFLECTION_BUTTONS]
            ],
            more_reflections=max(0, len(e.reflections) - MAX_REFLECTION_BUTTONS),
            reflection_count=len(e.reflections),
            session=(
                {
                    "date": day(e.last_session.held_on),
                    "topic": e.last_session.topic,
                    "next_step": e.last_session.next_step,
                }
                if e.last_session
                else None
            ),
            plays=[self._play_view(p, locale) for p in e.plays[:MAX_PLAY_LINES]],
            more_plays=max(0, len(e.plays) - MAX_PLAY_LINES),
            play_count=len(e.plays),
            waiting=[
                {
                    "first_line": a.first_line,
                    "title": self._title(a.scenario_id, locale),
                    "date": day(a.on),
                }
                for a in e.waiting[:MAX_ANSWER_BUTTONS]
            ],
            more_waiting=max(0, len(e.waiting) - MAX_ANSWER_BUTTONS),
            waiting_count=len(e.waiting),
            quiet=not e.has_news,
        )

    def _title(self, scenario_id: str, locale: str | None) -> str:
        scenario = self._scenarios.scenario(scenario_id) if self._scenarios else None
        return scenario.title(locale) if scenario else scenario_id

    def _play_view(self, p: PlayLine, locale: str | None) -> dict[str, Any]:
        """A play's names in the mentor's language (ids a newer content no longer has are
        shown as they are)."""
        scenario = self._scenarios.scenario(p.scenario_id) if self._scenarios else None
        role = scenario.role(p.role) if scenario else None
        ending = scenario.nodes.get(p.ending) if scenario else None
        names = {d.id: d for d in self._scenarios.dimensions} if self._scenarios else {}
        low = None
        if p.weakest is not None:
            dimension = names.get(p.weakest[0])
            low = {
                "name": dimension.name(locale) if dimension else p.weakest[0],
                "score": p.weakest[1],
            }
        return {
            "title": scenario.title(locale) if scenario else p.scenario_id,
            "role": role.name(locale) if role else p.role,
            "ending": pick(ending.text, locale) if ending else p.ending,
            "total": "—" if p.total is None else p.total,
            "weakest": low,
            "date": self._texts.plain(locale, "format.date", d=p.on),
        }

    async def digest(self, telegram_id: int) -> list[DigestView] | Refusal:
        """/digest for a mentor: the current digest of each cohort where they have active
        mentees, since that cohort's last scheduled digest (the next one's content)."""
        now = self._clock.now()
        async with self._uow() as uow:
            user = await uow.users.by_telegram_id(telegram_id)
            if user is None or user.consent_at is None:
                return Refusal.NOT_MENTOR
            mentees = await uow.matches.active_mentees(user.id)
            if not mentees:
                mentor = any(
                    e.role == "mentor" and e.status == "active"
                    for e in await uow.enrolments.for_user(user.id)
                )
                return Refusal.NO_MENTEES if mentor else Refusal.NOT_MENTOR
            views = []
            for cohort_id in sorted({m.cohort_id for m in mentees}):
                cohort = await uow.cohorts.get(cohort_id)
                if cohort is None:
                    continue
                since = await uow.mentoring.last_done(DIGEST_KIND, cohort.id)
                views.append(
                    await self._digest(uow, user, cohort, now, since, user.locale, buttons=True)
                )
            return views

    async def mentors_to_view(self, telegram_id: int) -> list[MentorChoice] | None:
        """The mentors of the cohorts this person organises (None: organises none)."""
        async with self._uow() as uow:
            user = await uow.users.by_telegram_id(telegram_id)
            if user is None:
                return None
            cohorts = await uow.mentoring.organised_cohorts(user.id)
            if not cohorts:
                return None
            out = []
            for cohort in cohorts:
                for mentor in await uow.mentoring.cohort_mentors(cohort.id):
                    out.append(
                        MentorChoice(
                            cohort.id,
                            cohort.name,
                            mentor.user_id,
                            _name(mentor.full_name, mentor.user_id),
                        )
                    )
            return out

    async def digest_of(
        self, telegram_id: int, cohort_id: int, mentor_user_id: int, locale: str | None
    ) -> DigestView | Refusal:
        """An organiser's look at one mentor's current digest in a cohort they organise."""
        now = self._clock.now()
        async with self._uow() as uow:
            viewer = await uow.users.by_telegram_id(telegram_id)
            if viewer is None:
                return Refusal.NOT_YOURS
            if not await uow.reflections.has_role(viewer.id, cohort_id, "organiser"):
                return Refusal.NOT_YOURS
            cohort = await uow.cohorts.get(cohort_id)
            mentor = await uow.session.get(User, mentor_user_id)
            mentors = {m.user_id for m in await uow.mentoring.cohort_mentors(cohort_id)}
            if cohort is None or mentor is None or mentor.id not in mentors:
                return Refusal.NOT_YOURS
            since = await uow.mentoring.last_done(DIGEST_KIND, cohort.id)
            return await self._digest(uow, mentor, cohort, now, since, locale, buttons=False)

    # -- the guidance log ----------------------------------------------------------------

    async def _mentor(self, uow: UnitOfWork, telegram_id: int) -> User | Refusal:
        user = await uow.users.by_telegram_id(telegram_id)
        if user is None or user.consent_at is None:
            return Refusal.NOT_MENTOR
        return user

    async def mentees(self, telegram_id: int) -> list[MenteeChoice] | Refusal:
        """Whom /log can be about: the mentor's active mentees."""
        async with self._uow() as uow:
            user = await self._mentor(uow, telegram_id)
            if isinstance(user, Refusal):
                return user
            found = await uow.matches.active_mentees(user.id)
            if not found:
                mentor = any(
                    e.role == "mentor" and e.status == "active"
                    for e in await uow.enrolments.for_user(user.id)
                )
                return Refusal.NO_MENTEES if mentor else Refusal.NOT_MENTOR
            out = []
            for m in found:
                cohort = await uow.cohorts.get(m.cohort_id)
                out.append(
                    MenteeChoice(
                        m.cohort_id,
                        cohort.name if cohort else "",
                        m.trainee_user_id,
                        _name(m.full_name, m.trainee_user_id),
                    )
                )
            return out

    async def mentee(
        self, telegram_id: int, cohort_id: int, trainee_user_id: int
    ) -> MenteeChoice | Refusal:
        """One mentee, while the match is active (a digest's or reminder's button)."""
        async with self._uow() as uow:
            user = await self._mentor(uow, telegram_id)
            if isinstance(user, Refusal):
                return Refusal.NOT_YOURS
            if (
                await uow.matches.active_match(trainee_user_id, cohort_id, mentor_user_id=user.id)
                is None
            ):
                return Refusal.NOT_YOURS
            trainee = await uow.session.get(User, trainee_user_id)
            cohort = await uow.cohorts.get(cohort_id)
            return MenteeChoice(
                cohort_id,
                cohort.name if cohort else "",
                trainee_user_id,
                _name(trainee.full_name if trainee else None, trainee_user_id),
            )

    async def today(self, cohort_id: int) -> date:
        """Today in the cohort's zone: what "昨天" or "12/1" is read against."""
        async with self._uow() as uow:
            cohort = await uow.cohorts.get(cohort_id)
            zone = cohort.timezone if cohort else self._default_timezone
        return _local_day(self._clock.now(), zone)

    def topic_label(self, locale: str | None, topic_id: str) -> str | None:
        for topic in self.topics:
            if topic.id == topic_id:
                return topic.label(self._texts.locale_or_default(locale))
        return None

    async def log_session(
        self,
        telegram_id: int,
        cohort_id: int,
        trainee_user_id: int,
        *,
        held_on: date,
        topic: str,
        notes: str,
        next_step: str | None,
    ) -> SessionSaved | Refusal:
        """Save a guidance session; the mentee receives the next step (outbox, after quiet
        hours). Checked again here: the match is active, the day is not in the future nor
        over a year ago, the texts are within their limits."""
        checked_topic = check_text(topic, TOPIC_LIMIT)
        checked_notes = check_text(notes, NOTES_LIMIT)
        checked_next = check_text(next_step, NEXT_STEP_LIMIT) if next_step is not None else None
        if (
            checked_topic.value is None
            or checked_notes.value is None
            or (checked_next is not None and checked_next.value is None)
        ):
            return Refusal.BAD_TEXT
        now = self._clock.now()
        async with self._uow() as uow:
            mentor = await self._mentor(uow, telegram_id)
            if isinstance(mentor, Refusal):
                return Refusal.NOT_YOURS
            match = await uow.matches.active_match(
                trainee_user_id, cohort_id, mentor_user_id=mentor.id
            )
            cohort = await uow.cohorts.get(cohort_id)
            trainee = await uow.session.get(User, trainee_user_id)
            if match is None or cohort is None or trainee is None:
                return Refusal.NOT_YOURS
            today = _local_day(now, cohort.timezone)
            if held_on > today or held_on < today - timedelta(days=MAX_DAYS_BACK):
                return Refusal.BAD_DATE
            step = checked_next.value if checked_next is not None else None
            row = await uow.mentoring.add_session(
                GuidanceSession(
                    cohort_id=cohort.id,
                    mentor_user_id=mentor.id,
                    trainee_user_id=trainee.id,
                    held_on=held_on,
                    topic=checked_topic.value,
                    notes=checked_notes.value,
                    next_step=step,
                    created_at=now,
                )
            )
            sent = False
            if step and trainee.is_active and trainee.consent_at is not None:
                locale = trainee.locale
                text = self._texts.render(
                    locale,
                    "mentoring.next_step_push",
                    mentor=_name(mentor.full_name, mentor.id),
                    next_step=step,
                    topic=row.topic,
                    date=self._texts.plain(locale, "format.date", d=held_on),
                )
                await uow.outbox.enqueue(
                    [
                        outbox_row(
                            f"mentoring:next:{row.id}",
                            trainee.telegram_id,
                            "text",
                            {"text": text},
                            purpose=Purpose.MENTORING,
                            now=now,
                            not_before=self._quiet.next_allowed(now, cohort.timezone),
                            user_id=trainee.id,
                        )
                    ]
                )
                sent = True
            await uow.audit.record(
                now,
                "guidance_logged",
                actor_user_id=mentor.id,
                target_type="guidance_session",
                target_id=row.id,
                details={"trainee_user_id": trainee.id, "cohort_id": cohort.id},
            )
            await uow.commit()
        if sent:
            self._nudge()
        return SessionSaved(
            row.id,
            _name(trainee.full_name, trainee.id),
            held_on,
            checked_topic.value,
            step,
            sent,
        )

    # -- a mentee's reflection -------------------------------------------------------------

    async def reflection(self, telegram_id: int, reflection_id: int) -> ReflectionRead | Refusal:
        """A mentee's finished reflection in full, for the mentor to comment on."""
        async with self._uow() as uow:
            mentor = await self._mentor(uow, telegram_id)
            reflection = await uow.reflections.get(reflection_id)
            if isinstance(mentor, Refusal) or reflection is None or reflection.status != "done":
                return Refusal.NOT_YOURS
            if not await is_active_mentor(uow, mentor.id, reflection):
                return Refusal.NOT_YOURS
            trainee = await uow.session.get(User, reflection.user_id)
            cohort = await uow.cohorts.get(reflection.cohort_id)
            milestone: PlanMilestone | None = None
            if reflection.milestone_id is not None:
                milestone = await uow.reflections.milestone(reflection.milestone_id)
            zone = cohort.timezone if cohort else self._default_timezone
            return ReflectionRead(
                id=reflection.id,
                trainee_name=_name(trainee.full_name if trainee else None, reflection.user_id),
                cohort_name=cohort.name if cohort else "",
                on=_local_day(reflection.completed_at or reflection.created_at, zone),
                answers=tuple(stored_answers(reflection.answers).items()),
                milestone=milestone.title if milestone else None,
            )


async def is_active_mentor(uow: UnitOfWork, mentor_user_id: int, reflection: Reflection) -> bool:
    """The one rule for a mentor and a mentee's reflection: an active match with its author
    in the reflection's cohort. (ReflectionService.commenter_role and
    CaseService._may_propose ask the same `uow.matches.active_match`.)"""
    match = await uow.matches.active_match(
        reflection.user_id, reflection.cohort_id, mentor_user_id=mentor_user_id
    )
    return match is not None


def _after(response: LtsiResponse, since: datetime | None) -> bool:
    return since is None or (response.completed_at is not None and response.completed_at > since)


def _line(m: PlanMilestone) -> MilestoneLine:
    return MilestoneLine(m.title, m.due_on)


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return excerpt(lines[0], FIRST_LINE_LIMIT) if lines else ""
