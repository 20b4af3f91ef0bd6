"""Scenario role-plays: /practice, the moves of a play, pushes, answers to the mentor.

A play is a row from its first screen on (status "playing"); every move is a compare-and-set
on the row's `step`, so a doubled or stale press changes nothing and a restart resumes where
the play stood. The scenario files decide what each choice is worth; a finished play stores
its raw points per dimension, the ending and the path.

Due items: `scenario_push` (one per cohort and number, on PracticeSettings.scenario_days at
scenario_time) offers every active trainee a role-play: the first they have not finished,
else the one with their lowest overall score. An LTSI diagnosis whose follow-up is
`roleplay` offers one at the next sweep (the scenario of the trainee's plan area first).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from bot.content import Texts
from bot.db.models import Cohort, ScenarioAnswer, ScenarioRun, User
from bot.db.scenarios import FINISHED, PLAYING
from bot.domain.delivery import Purpose, inline_keyboard
from bot.domain.ports import Clock
from bot.domain.practice import COMMENT_LIMIT, PracticeSettings, TextProblem, check_text
from bot.domain.scenarios import (
    FREE_TEXT_LIMIT,
    Dimension,
    Node,
    NodeKind,
    PathEntry,
    Role,
    Scenario,
    Step,
    compare_path,
    overall,
    percents,
    raw_scores,
)
from bot.domain.schedule import QuietHours
from bot.services.outbox import outbox_row
from bot.services.scheduling import Due, LegacyCohorts, due_row
from bot.services.uow import UnitOfWork, UowFactory

PUSH_KIND = "scenario_push"
FOLLOW_UP_KIND = "roleplay"  # bot.services.ltsi.FollowUpKind.ROLEPLAY


def start_data(scenario_id: str, role: str = "") -> str:
    """Callback data of a "start this role-play" button (handlers.callbacks.PracticeCB packs
    the same: action "o", open)."""
    return f"prc:o:{scenario_id}:{role}:0:0:0"


class Refusal(StrEnum):
    NOT_TRAINEE = "not_trainee"
    UNKNOWN = "unknown"  # no such scenario or role (content changed, or forged data)
    STALE = "stale"  # an older screen than the one the play is at
    NOT_YOURS = "not_yours"
    FINISHED = "finished"


class CommentRefusal(StrEnum):
    NOT_YOURS = "not_yours"  # not the trainee's active mentor (any more), or forged
    ALREADY = "already"
    EMPTY = "empty"
    TOO_LONG = "too_long"


@dataclass(frozen=True, slots=True)
class Result:
    """A finished play, as lists and reports show it."""

    run_id: int
    user_id: int
    cohort_id: int
    scenario_id: str
    title: str
    role: str  # the role's name
    ending: str  # the ending's title
    raw: Mapping[str, int]
    percents: Mapping[str, int | None]
    total: int | None
    finished_at: datetime


@dataclass(frozen=True, slots=True)
class ListEntry:
    number: int
    scenario: Scenario
    played: int
    last: Result | None
    playing_run: int | None  # an unfinished play of it


@dataclass(frozen=True, slots=True)
class Overview:
    entries: tuple[ListEntry, ...]


@dataclass(frozen=True, slots=True)
class ChooseRole:
    scenario: Scenario


@dataclass(frozen=True, slots=True)
class OpenPlay:
    """An unfinished play of the scenario exists: go on with it or start over."""

    run_id: int
    scenario: Scenario
    step: int


@dataclass(frozen=True, slots=True)
class Intro:
    run_id: int
    scenario: Scenario
    role: Role
    many_roles: bool


@dataclass(frozen=True, slots=True)
class Screen:
    """The node on screen: what to show and the step its buttons carry."""

    run_id: int
    step: int
    scenario: Scenario
    role: Role
    node: Node
    decision_number: int  # this decision's number (decisions taken so far + 1)
    mentor: str | None  # free text: who will read it


@dataclass(frozen=True, slots=True)
class Debrief:
    run_id: int
    scenario: Scenario
    role: Role
    ending: Node
    raw: Mapping[str, int]
    percents: Mapping[str, int | None]
    total: int | None
    path: tuple[PathEntry, ...]


@dataclass(frozen=True, slots=True)
class Moved:
    """A decision taken: its feedback, then the next screen or the debrief."""

    scenario: Scenario
    decision: Node
    decision_number: int
    choice: int
    then: Screen | Debrief


@dataclass(frozen=True, slots=True)
class Answered:
    mentor: str | None  # the answer went to this mentor
    then: Screen | Debrief


@dataclass(frozen=True, slots=True)
class TextRefusal:
    problem: TextProblem
    length: int = 0
    limit: int = 0


@dataclass(frozen=True, slots=True)
class AnswerForMentor:
    answer_id: int
    trainee: str
    locale: str | None
    text: str


@dataclass(frozen=True, slots=True)
class Commented:
    trainee: str


class ScenarioService:
    def __init__(
        self,
        uow: UowFactory,
        clock: Clock,
        texts: Texts,
        dimensions: tuple[Dimension, ...],
        scenarios: tuple[Scenario, ...],
        *,
        quiet_hours: QuietHours,
        nudge: Callable[[], None],
        default_timezone: str,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._texts = texts
        self.dimensions = dimensions
        self.scenarios = scenarios
        self._by_id = {s.id: s for s in scenarios}
        self._quiet = quiet_hours
        self._nudge = nudge
        self._default_timezone = default_timezone
        self._legacy = LegacyCohorts(
            uow, clock, lambda u: u.due.cohorts_without(PUSH_KIND), self.plan_pushes, nudge=nudge
        )

    def scenario(self, scenario_id: str) -> Scenario | None:
        return self._by_id.get(scenario_id)

    # -- results -------------------------------------------------------------------------

    def result(self, run: ScenarioRun, locale: str | None) -> Result | None:
        """A finished play as shown (None when its scenario or role left the content)."""
        scenario = self._by_id.get(run.scenario_id)
        role = scenario.role(run.role) if scenario else None
        if scenario is None or role is None or run.ending is None:
            return None
        if run.ending not in scenario.nodes:
            return None
        raw = {d: int(run.scores.get(d, 0)) for d in scenario.dimensions}
        shown = percents(scenario, role.id, raw)
        return Result(
            run.id,
            run.user_id,
            run.cohort_id,
            scenario.id,
            scenario.title(locale),
            role.name(locale),
            scenario.node(run.ending).text.get(locale or "zh-CN") or "",
            raw,
            shown,
            overall(shown),
            run.finished_at or run.updated_at,
        )

    async def results_of(self, user_id: int, locale: str | None) -> list[Result]:
        async with self._uow() as uow:
            runs = await uow.scenarios.runs_of(user_id)
        return [r for run in runs if run.status == FINISHED and (r := self.result(run, locale))]

    # -- cadence -------------------------------------------------------------------------

    async def plan_pushes(self, uow: UnitOfWork, cohort: Cohort, now: datetime) -> None:
        """At a cohort's creation: a due item for each role-play push still to come."""
        settings = PracticeSettings.from_settings(cohort.settings.get("practice"))
        zone = ZoneInfo(cohort.timezone)
        rows = []
        for number, day in enumerate(settings.scenario_days(cohort.ends_on), start=1):
            at = datetime.combine(day, settings.scenario_time, zone).astimezone(UTC)
            if at > now:
                rows.append(
                    due_row(
                        PUSH_KIND,
                        f"scenario:{cohort.id}:push:{number}",
                        at,
                        now,
                        payload={"number": number},
                        cohort_id=cohort.id,
                    )
                )
        if rows:
            await uow.due.schedule(rows)

    async def plan_legacy_cohorts(self) -> None:
        await self._legacy()

    async def push_due(self, uow: UnitOfWork, due: Due, now: datetime) -> None:
        """A push's moment: each active trainee is offered a role-play (quiet hours wait).
        A push found more than one interval late (the bot was down) is dropped."""
        cohort = await uow.cohorts.get(due.cohort_id or 0)
        if cohort is None or not self.scenarios:
            return
        settings = PracticeSettings.from_settings(cohort.settings.get("practice"))
        if now - due.due_at >= timedelta(days=settings.scenario_every_days):
            return
        number = int(due.payload["number"])
        not_before = self._quiet.next_allowed(now, cohort.timezone)
        rows = []
        for r in await uow.reflections.reflectors(cohort.id):
            scenario = self._pick(await uow.scenarios.runs_of(r.user_id), None)
            rows.append(
                self._offer_row(
                    f"scenario:{cohort.id}:push:{number}:{r.user_id}",
                    r.chat_id,
                    r.user_id,
                    r.locale,
                    cohort,
                    scenario,
                    suggested=False,
                    now=now,
                    not_before=not_before,
                )
            )
        await uow.outbox.enqueue(rows)

    async def offer_suggested(self) -> None:
        """After a sweep: a diagnosis that suggests a role-play (the LTSI `roleplay` follow-up)
        offers one, the scenario of the trainee's plan area first."""
        if not self.scenarios:
            return
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
                area = plan.area if plan is not None else None
                scenario = self._pick(await uow.scenarios.runs_of(user.id), area)
                rows.append(
                    self._offer_row(
                        f"scenario:suggest:{f.id}",
                        user.telegram_id,
                        user.id,
                        user.locale,
                        cohort,
                        scenario,
                        suggested=True,
                        now=now,
                        not_before=self._quiet.next_allowed(now, cohort.timezone),
                    )
                )
            await uow.outbox.enqueue(rows)
            await uow.commit()

    def _pick(self, runs: Sequence[ScenarioRun], area: str | None) -> Scenario:
        """The first scenario (of `area` first) the person has not finished; else the one
        with their lowest latest overall score."""
        finished: dict[str, int | None] = {}
        for run in runs:
            if run.status == FINISHED:
                result = self.result(run, None)
                finished[run.scenario_id] = result.total if result else None
        ordered = sorted(self.scenarios, key=lambda s: area is None or s.area != area)
        for scenario in ordered:
            if scenario.id not in finished:
                return scenario
        return min(ordered, key=lambda s: finished.get(s.id) or 0)

    def _offer_row(
        self,
        key: str,
        chat_id: int,
        user_id: int,
        locale: str | None,
        cohort: Cohort,
        scenario: Scenario,
        *,
        suggested: bool,
        now: datetime,
        not_before: datetime | None,
    ) -> dict[str, object]:
        text = self._texts.render(
            locale,
            "practice.push",
            cohort=cohort.name,
            title=scenario.title(locale),
            summary=scenario.summary(locale),
            suggested=suggested,
        )
        label = self._texts.plain(locale, "practice.push_button")
        return outbox_row(
            key,
            chat_id,
            "text",
            {"text": text, "reply_markup": inline_keyboard([[(label, start_data(scenario.id))]])},
            purpose=Purpose.SCENARIO,
            now=now,
            not_before=not_before,
            user_id=user_id,
        )

    # -- /practice -----------------------------------------------------------------------

    async def _trainee(self, uow: UnitOfWork, telegram_id: int) -> tuple[User, Cohort] | None:
        user = await uow.users.by_telegram_id(telegram_id)
        if user is None or user.consent_at is None or not user.is_active:
            return None
        cohorts = await uow.enrolments.trainee_cohorts(user.id)
        return (user, cohorts[0]) if cohorts else None

    async def overview(self, telegram_id: int) -> Overview | Refusal:
        async with self._uow() as uow:
            found = await self._trainee(uow, telegram_id)
            if found is None:
                return Refusal.NOT_TRAINEE
            user, _ = found
            runs = await uow.scenarios.runs_of(user.id)
        entries = []
        for number, scenario in enumerate(self.scenarios, start=1):
            mine = [r for r in runs if r.scenario_id == scenario.id]
            done = [r for r in mine if r.status == FINISHED]
            playing = [r for r in mine if r.status == PLAYING]
            last = self.result(done[-1], user.locale) if done else None
            entries.append(
                ListEntry(number, scenario, len(done), last, playing[-1].id if playing else None)
            )
        return Overview(tuple(entries))

    async def open(
        self, telegram_id: int, scenario_id: str, role_id: str | None, *, restart: bool = False
    ) -> ChooseRole | OpenPlay | Intro | Refusal:
        """Open a scenario: ask for the role, offer the unfinished play, or start a new one."""
        scenario = self._by_id.get(scenario_id)
        if scenario is None or (role_id and scenario.role(role_id) is None):
            return Refusal.UNKNOWN
        now = self._clock.now()
        async with self._uow() as uow:
            found = await self._trainee(uow, telegram_id)
            if found is None:
                return Refusal.NOT_TRAINEE
            user, cohort = found
            playing = await uow.scenarios.playing(user.id, scenario.id)
            if playing is not None and not restart:
                return OpenPlay(playing.id, scenario, playing.step)
            if not role_id:
                if len(scenario.roles) > 1:
                    return ChooseRole(scenario)
                role_id = scenario.roles[0].id
            role = scenario.role(role_id)
            assert role is not None
            await uow.scenarios.abandon_playing(user.id, scenario.id, now)
            run = ScenarioRun(
                user_id=user.id,
                cohort_id=cohort.id,
                scenario_id=scenario.id,
                role=role.id,
                node=role.start,
                step=0,
                path=[],
                scores={},
                status=PLAYING,
                started_at=now,
                updated_at=now,
            )
            uow.scenarios.add(run)
            await uow.commit()
            return Intro(run.id, scenario, role, len(scenario.roles) > 1)

    async def _mine(
        self, uow: UnitOfWork, telegram_id: int, run_id: int
    ) -> tuple[User, ScenarioRun, Scenario, Role] | Refusal:
        user = await uow.users.by_telegram_id(telegram_id)
        if user is None or user.consent_at is None:
            return Refusal.NOT_TRAINEE
        run = await uow.scenarios.get(run_id)
        if run is None or run.user_id != user.id:
            return Refusal.NOT_YOURS
        scenario = self._by_id.get(run.scenario_id)
        role = scenario.role(run.role) if scenario else None
        if scenario is None or role is None or run.node not in scenario.nodes:
            return Refusal.UNKNOWN
        if run.status != PLAYING:
            return Refusal.FINISHED
        return user, run, scenario, role

    async def _screen(
        self, uow: UnitOfWork, user: User, run: ScenarioRun, scenario: Scenario, role: Role
    ) -> Screen:
        node = scenario.node(run.node)
        mentor = None
        if node.kind is NodeKind.FREE_TEXT:
            ref = await uow.matches.active_mentor_of(user.id, run.cohort_id)
            mentor = ref.full_name if ref else None
        return Screen(run.id, run.step, scenario, role, node, len(run.path or []) + 1, mentor)

    async def current(self, telegram_id: int, run_id: int) -> Screen | Refusal:
        """The node the play stands at (to start, or to resume after a pause or a restart)."""
        async with self._uow() as uow:
            found = await self._mine(uow, telegram_id, run_id)
            if isinstance(found, Refusal):
                return found
            return await self._screen(uow, *found)

    async def advance(self, telegram_id: int, run_id: int, step: int) -> Screen | Refusal:
        """Past a narration or a character's line."""
        now = self._clock.now()
        async with self._uow() as uow:
            found = await self._mine(uow, telegram_id, run_id)
            if isinstance(found, Refusal):
                return found
            user, run, scenario, role = found
            node = scenario.node(run.node)
            if run.step != step or node.kind not in (NodeKind.NARRATION, NodeKind.LINE):
                return Refusal.STALE
            assert node.next is not None
            if not await uow.scenarios.move(run.id, step, {"node": node.next, "updated_at": now}):
                return Refusal.STALE
            await uow.commit()
            await uow.session.refresh(run)
            return await self._screen(uow, user, run, scenario, role)

    async def choose(self, telegram_id: int, run_id: int, step: int, index: int) -> Moved | Refusal:
        now = self._clock.now()
        async with self._uow() as uow:
            found = await self._mine(uow, telegram_id, run_id)
            if isinstance(found, Refusal):
                return found
            user, run, scenario, role = found
            node = scenario.node(run.node)
            if run.step != step or node.kind is not NodeKind.DECISION:
                return Refusal.STALE
            if not 0 <= index < len(node.choices):
                return Refusal.NOT_YOURS  # made-up data
            choice = node.choices[index]
            path = [*(run.path or []), [node.id, index]]
            number = len(path)
            values: dict[str, object] = {"node": choice.next, "path": path, "updated_at": now}
            then = scenario.node(choice.next)
            steps = [Step(n, i) for n, i in path]
            if then.kind is NodeKind.ENDING:
                values |= {
                    "status": FINISHED,
                    "ending": then.id,
                    "finished_at": now,
                    "scores": raw_scores(scenario, steps),
                }
            if not await uow.scenarios.move(run.id, step, values):
                return Refusal.STALE
            await uow.commit()
            if then.kind is NodeKind.ENDING:
                result: Screen | Debrief = self._debrief(run.id, scenario, role, then, steps)
            else:
                await uow.session.refresh(run)
                result = await self._screen(uow, user, run, scenario, role)
            return Moved(scenario, node, number, index, result)

    def _debrief(
        self, run_id: int, scenario: Scenario, role: Role, ending: Node, steps: Sequence[Step]
    ) -> Debrief:
        raw = raw_scores(scenario, steps)
        shown = percents(scenario, role.id, raw)
        return Debrief(
            run_id,
            scenario,
            role,
            ending,
            raw,
            shown,
            overall(shown),
            compare_path(scenario, steps),
        )

    async def debrief(self, telegram_id: int, run_id: int) -> Debrief | Refusal:
        """A finished play's debrief again (from the list or the portfolio)."""
        async with self._uow() as uow:
            user = await uow.users.by_telegram_id(telegram_id)
            run = await uow.scenarios.get(run_id)
            if user is None or run is None or run.user_id != user.id:
                return Refusal.NOT_YOURS
            if run.status != FINISHED:
                return Refusal.STALE
        scenario = self._by_id.get(run.scenario_id)
        role = scenario.role(run.role) if scenario else None
        if scenario is None or role is None or run.ending not in scenario.nodes:
            return Refusal.UNKNOWN
        steps = [Step(n, i) for n, i in run.path]
        return self._debrief(run.id, scenario, role, scenario.node(run.ending or ""), steps)

    async def answer(
        self, telegram_id: int, run_id: int, step: int, text: str | None
    ) -> Answered | TextRefusal | Refusal:
        """A free-text answer: stored, sent to the mentor, and the play goes on."""
        checked = check_text(text, FREE_TEXT_LIMIT)
        if checked.value is None:
            assert checked.problem is not None
            return TextRefusal(checked.problem, checked.length, checked.limit)
        now = self._clock.now()
        async with self._uow() as uow:
            found = await self._mine(uow, telegram_id, run_id)
            if isinstance(found, Refusal):
                return found
            user, run, scenario, role = found
            node = scenario.node(run.node)
            if run.step != step or node.kind is not NodeKind.FREE_TEXT:
                return Refusal.STALE
            assert node.next is not None
            if not await uow.scenarios.move(run.id, step, {"node": node.next, "updated_at": now}):
                return Refusal.STALE
            mentor = await uow.matches.active_mentor_of(user.id, run.cohort_id)
            answer = ScenarioAnswer(
                run_id=run.id,
                user_id=user.id,
                node=node.id,
                text=checked.value,
                created_at=now,
                mentor_user_id=mentor.mentor_user_id if mentor else None,
            )
            uow.scenarios.add_answer(answer)
            await uow.session.flush()
            if mentor is not None:
                locale = mentor.locale
                label = self._texts.plain(locale, "practice.mentor.comment_button")
                await uow.outbox.enqueue(
                    [
                        outbox_row(
                            f"scenario:answer:{answer.id}",
                            mentor.telegram_id,
                            "text",
                            {
                                "text": self._texts.render(
                                    locale,
                                    "practice.mentor.answer",
                                    trainee=user.full_name or "",
                                    title=scenario.title(locale),
                                    role=role.name(locale),
                                    prompt=node.text.get(locale or "zh-CN") or "",
                                    answer=checked.value,
                                ),
                                "reply_markup": inline_keyboard(
                                    [[(label, f"prc:m:::{answer.id}:0:0")]]
                                ),
                            },
                            purpose=Purpose.SCENARIO,
                            now=now,
                            user_id=mentor.mentor_user_id,
                        )
                    ]
                )
            await uow.commit()
            await uow.session.refresh(run)
            then: Screen | Debrief = await self._screen(uow, user, run, scenario, role)
        if mentor is not None:
            self._nudge()
        return Answered(mentor.full_name if mentor else None, then)

    async def pause(self, telegram_id: int, run_id: int) -> Scenario | Refusal:
        async with self._uow() as uow:
            found = await self._mine(uow, telegram_id, run_id)
        return found if isinstance(found, Refusal) else found[2]

    # -- the mentor's comment on a free-text answer ------------------------------------------

    async def answer_for_mentor(
        self, mentor_telegram_id: int, answer_id: int
    ) -> AnswerForMentor | CommentRefusal:
        async with self._uow() as uow:
            found = await self._mentor_answer(uow, mentor_telegram_id, answer_id)
            if isinstance(found, CommentRefusal):
                return found
            _, answer, trainee = found
            return AnswerForMentor(answer.id, trainee.full_name or "", trainee.locale, answer.text)

    async def _mentor_answer(
        self, uow: UnitOfWork, mentor_telegram_id: int, answer_id: int
    ) -> tuple[User, ScenarioAnswer, User] | CommentRefusal:
        mentor = await uow.users.by_telegram_id(mentor_telegram_id)
        answer = await uow.scenarios.answer(answer_id)
        if mentor is None or answer is None:
            return CommentRefusal.NOT_YOURS
        run = await uow.scenarios.get(answer.run_id)
        trainee = await uow.session.get(User, answer.user_id)
        if run is None or trainee is None:
            return CommentRefusal.NOT_YOURS
        ref = await uow.matches.active_mentor_of(trainee.id, run.cohort_id)
        if ref is None or ref.mentor_user_id != mentor.id:
            return CommentRefusal.NOT_YOURS
        if answer.comment is not None:
            return CommentRefusal.ALREADY
        return mentor, answer, trainee

    async def comment(
        self, mentor_telegram_id: int, answer_id: int, text: str | None
    ) -> Commented | CommentRefusal | TextRefusal:
        checked = check_text(text, COMMENT_LIMIT)
        if checked.value is None:
            assert checked.problem is not None
            return TextRefusal(checked.problem, checked.length, checked.limit)
        now = self._clock.now()
        async with self._uow() as uow:
            found = await self._mentor_answer(uow, mentor_telegram_id, answer_id)
            if isinstance(found, CommentRefusal):
                return found
            mentor, answer, trainee = found
            answer.comment, answer.commented_at = checked.value, now
            answer.mentor_user_id = mentor.id
            run = await uow.scenarios.get(answer.run_id)
            assert run is not None
            scenario = self._by_id.get(run.scenario_id)
            locale = trainee.locale
            title = scenario.title(locale) if scenario else run.scenario_id
            await uow.outbox.enqueue(
                [
                    outbox_row(
                        f"scenario:comment:{answer.id}",
                        trainee.telegram_id,
                        "text",
                        {
                            "text": self._texts.render(
                                locale,
                                "practice.comment_to_trainee",
                                mentor=mentor.full_name or "",
                                title=title,
                                comment=checked.value,
                            )
                        },
                        purpose=Purpose.SCENARIO,
                        now=now,
                        user_id=trainee.id,
                    )
                ]
            )
            await uow.commit()
        self._nudge()
        return Commented(trainee.full_name or "")

    # -- the organiser's report ----------------------------------------------------------

    async def cohort_averages(self, cohort_id: int) -> list[CohortScenarioStats]:
        """Per scenario: plays, trainees, and the mean 0–100 score per dimension and overall
        over the cohort's finished plays."""
        async with self._uow() as uow:
            runs = await uow.scenarios.finished_in(cohort_id)
        out = []
        for scenario in self.scenarios:
            results = [
                r
                for run in runs
                if run.scenario_id == scenario.id and (r := self.result(run, None)) is not None
            ]
            if not results:
                continue
            means: dict[str, float | None] = {}
            for d in scenario.dimensions:
                values = [r.percents[d] for r in results if r.percents.get(d) is not None]
                means[d] = sum(v for v in values if v is not None) / len(values) if values else None
            totals = [r.total for r in results if r.total is not None]
            out.append(
                CohortScenarioStats(
                    scenario,
                    len(results),
                    len({r.user_id for r in results}),
                    means,
                    sum(totals) / len(totals) if totals else None,
                )
            )
        return out


@dataclass(frozen=True, slots=True)
class CohortScenarioStats:
    scenario: Scenario
    plays: int
    trainees: int
    means: Mapping[str, float | None]  # dimension → mean 0–100 (None: not tested)
    total: float | None
