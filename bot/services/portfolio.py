"""The growth portfolio (成长档案): one person's whole record, gathered from every feature,
shown as a chat summary and exported as a document (bot.services.portfolio_document) and as
JSON (PrivacyService.export, the PIPL copy; `scenario_plays_json` gives its role-plays)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from bot.content import Texts, Translator
from bot.content.ltsi import LtsiBank
from bot.db.models import ScenarioAnswer, ScenarioRun, User
from bot.db.scenarios import FINISHED
from bot.domain.model import Role
from bot.domain.ports import Clock
from bot.domain.scenarios import FIRST_LOCALE, LocaleTexts, NodeKind, Scenario, pick
from bot.domain.schedule import QuietHours
from bot.services.ltsi import Diagnosis, LtsiService, Refusal
from bot.services.portfolio_document import PortfolioDocument, PortfolioRenderer
from bot.services.reflections import QUESTIONS
from bot.services.scenarios import ScenarioService
from bot.services.uow import UnitOfWork, UowFactory


class ExportRefusal(StrEnum):
    """Why an export button made nothing (the handler shows a toast)."""

    GONE = "gone"  # we hold nothing about the person any more
    BUSY = "busy"  # their document is being made already


@dataclass(frozen=True, slots=True)
class EnrolmentEntry:
    cohort: str
    course: str
    status: str
    since: datetime
    ends_on: date
    timezone: str


@dataclass(frozen=True, slots=True)
class MilestoneEntry:
    id: int
    position: int
    title: str
    due_on: date
    status: str  # bot.domain.practice.MilestoneStatus
    note: str | None
    moved_from: date | None
    move_reason: str | None
    checked_at: datetime | None


@dataclass(frozen=True, slots=True)
class PlanEntry:
    cohort: str
    timezone: str
    area: str
    area_other: str | None
    goal: str | None
    success: str | None
    support: str | None
    created_at: datetime
    updated_at: datetime
    milestones: tuple[MilestoneEntry, ...]


@dataclass(frozen=True, slots=True)
class AnswerEntry:
    question: str  # the question's id in content
    kind: str  # text | voice | photo
    text: str | None  # the answer, or a voice message's / photo's caption


@dataclass(frozen=True, slots=True)
class CommentEntry:
    author_name: str | None
    author_role: str  # mentor | organiser
    text: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ReflectionEntry:
    cohort: str
    timezone: str
    done: bool  # False: a draft, some questions unanswered
    prompt_number: int | None
    milestone: str | None  # the title of the milestone it is about
    created_at: datetime
    completed_at: datetime | None
    answers: tuple[AnswerEntry, ...]
    comments: tuple[CommentEntry, ...]


@dataclass(frozen=True, slots=True)
class CaseEntry:
    cohort: str
    timezone: str
    area: str
    title: str
    body: str | None
    pseudonym: str
    published_at: datetime | None


@dataclass(frozen=True, slots=True)
class DimensionScore:
    """A finished play's score on one competency dimension."""

    dimension: str  # its id in content/competencies.yaml
    names: LocaleTexts
    raw: int  # the points the choices collected
    percent: int | None  # 0–100 on what the role can reach; None: the role does not test it

    def name(self, locale: str | None) -> str:
        return pick(self.names, locale)


@dataclass(frozen=True, slots=True)
class PlayAnswerEntry:
    """A free-text answer written during a play, with the mentor's comment if any."""

    prompts: LocaleTexts  # the question the play asked (empty: no longer in the scenario)
    text: str
    created_at: datetime
    comment: str | None
    commenter: str | None  # the mentor's name (None: not given, or erased)
    commented_at: datetime | None

    def prompt(self, locale: str | None) -> str | None:
        return pick(self.prompts, locale) if self.prompts else None


@dataclass(frozen=True, slots=True)
class ScenarioEntry:
    """A finished scenario role-play. Texts in every locale: the chat summary and the
    document pick the reader's."""

    run_id: int
    cohort: str
    timezone: str
    scenario_id: str
    titles: LocaleTexts
    roles: LocaleTexts  # the role's name
    endings: LocaleTexts  # the ending's title
    finished_at: datetime
    scores: tuple[DimensionScore, ...]  # in content order
    total: int | None  # the mean of the dimensions the role tests
    recommended: int  # decisions where the recommended choice was taken
    decisions: int
    answers: tuple[PlayAnswerEntry, ...]

    def title(self, locale: str | None) -> str:
        return pick(self.titles, locale)

    def role(self, locale: str | None) -> str:
        return pick(self.roles, locale)

    def ending(self, locale: str | None) -> str:
        return pick(self.endings, locale)

    @property
    def comment_count(self) -> int:
        return sum(1 for a in self.answers if a.comment)


@dataclass(frozen=True, slots=True)
class Portfolio:
    """Everything /portfolio shows. Only trainee enrolments count as the portfolio's."""

    name: str | None
    unit_name: str | None
    position: str | None
    timezone: str  # of the first cohort, else the bot's default
    generated_at: datetime
    enrolments: tuple[EnrolmentEntry, ...]
    waves: tuple[Diagnosis, ...]  # finished self-checks, oldest first
    plans: tuple[PlanEntry, ...]
    reflections: tuple[ReflectionEntry, ...]
    cases: tuple[CaseEntry, ...]  # published ones
    plays: tuple[ScenarioEntry, ...] = ()  # finished role-plays, oldest first

    @property
    def is_empty(self) -> bool:
        return not (self.waves or self.plans or self.reflections or self.cases or self.plays)

    @property
    def comment_count(self) -> int:
        return sum(len(r.comments) for r in self.reflections)


class PortfolioService:
    def __init__(
        self,
        uow: UowFactory,
        clock: Clock,
        texts: Texts,
        *,
        ltsi: LtsiService,
        scenarios: ScenarioService,
        content_dir: Path,
        quiet_hours: QuietHours,
        nudge: Callable[[], None],
        default_timezone: str,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._texts = texts
        self._ltsi = ltsi
        self._scenarios = scenarios
        self._quiet = quiet_hours
        self._nudge = nudge
        self._default_timezone = default_timezone
        # Loaded (and checked) now: a broken template stops the bot at start, not at export.
        self._renderer = PortfolioRenderer(content_dir, ltsi.bank)
        self._rendering: set[int] = set()  # telegram ids whose document is being made

    async def portfolio(self, telegram_id: int) -> Portfolio | None:
        """The person's record, or None when we hold nothing about them (no consent)."""
        async with self._uow() as uow:
            user = await uow.users.by_telegram_id(telegram_id)
            if user is None or user.consent_at is None:
                return None
            enrolments = [
                e for e in await uow.enrolments.for_user(user.id) if e.role == Role.TRAINEE.value
            ]
            zones = {e.cohort_id: e.cohort.timezone for e in enrolments}
            timezone = enrolments[0].cohort.timezone if enrolments else self._default_timezone
            done_ids = [
                r.id for r in await uow.ltsi.responses_of_user(user.id) if r.status == "done"
            ]
            plans = []
            titles: dict[int, str] = {}
            for plan, cohort in await uow.portfolio.plans_of(user.id):
                if plan.status == "erased":
                    continue
                milestones = tuple(
                    MilestoneEntry(
                        id=m.id,
                        position=m.position,
                        title=m.title,
                        due_on=m.due_on,
                        status=m.status,
                        note=m.note,
                        moved_from=m.moved_from,
                        move_reason=m.move_reason,
                        checked_at=m.checked_at,
                    )
                    for m in plan.milestones
                )
                titles.update({m.id: m.title for m in milestones})
                plans.append(
                    PlanEntry(
                        cohort=cohort.name,
                        timezone=cohort.timezone,
                        area=plan.area,
                        area_other=plan.area_other,
                        goal=plan.goal,
                        success=plan.success,
                        support=plan.support,
                        created_at=plan.created_at,
                        updated_at=plan.updated_at,
                        milestones=milestones,
                    )
                )
            kept = [
                r
                for r in await uow.portfolio.reflections_of(user.id)
                if r.status != "erased" and r.answers
            ]
            comments: dict[int, list[CommentEntry]] = {}
            for row in await uow.portfolio.comments_on([r.id for r in kept]):
                if not row.comment.text:
                    continue  # erased by its author
                comments.setdefault(row.comment.reflection_id, []).append(
                    CommentEntry(
                        author_name=row.author_name,
                        author_role=row.comment.author_role,
                        text=row.comment.text,
                        created_at=row.comment.created_at,
                    )
                )
            cohort_names = {e.cohort_id: e.cohort.name for e in enrolments}
            reflections = tuple(
                ReflectionEntry(
                    cohort=cohort_names.get(r.cohort_id, ""),
                    timezone=zones.get(r.cohort_id, timezone),
                    done=r.status == "done",
                    prompt_number=r.prompt_number,
                    milestone=titles.get(r.milestone_id) if r.milestone_id else None,
                    created_at=r.created_at,
                    completed_at=r.completed_at,
                    answers=_answers(r.answers),
                    comments=tuple(comments.get(r.id, ())),
                )
                for r in kept
            )
            cases = tuple(
                CaseEntry(
                    cohort=cohort.name,
                    timezone=cohort.timezone,
                    area=case.area,
                    title=case.title,
                    body=case.body,
                    pseudonym=case.pseudonym,
                    published_at=case.decided_at,
                )
                for case, cohort in await uow.portfolio.cases_of(user.id)
                if case.status == "published"
            )
            name, unit_name, position = user.full_name, user.unit_name, user.position
            enrolment_entries = tuple(
                EnrolmentEntry(
                    cohort=e.cohort.name,
                    course=e.cohort.course_title,
                    status=e.status,
                    since=e.created_at,
                    ends_on=e.cohort.ends_on,
                    timezone=e.cohort.timezone,
                )
                for e in enrolments
            )
            plays = await self._plays(uow, user.id, cohort_names, zones, timezone)
        waves = []
        for response_id in done_ids:
            shown = await self._ltsi.diagnosis(telegram_id, response_id)
            if not isinstance(shown, Refusal):
                waves.append(shown)
        return Portfolio(
            name=name,
            unit_name=unit_name,
            position=position,
            timezone=timezone,
            generated_at=self._clock.now(),
            enrolments=enrolment_entries,
            waves=tuple(waves),
            plans=tuple(plans),
            reflections=reflections,
            cases=cases,
            plays=plays,
        )

    async def _plays(
        self,
        uow: UnitOfWork,
        user_id: int,
        cohort_names: Mapping[int, str],
        zones: Mapping[int, str],
        timezone: str,
    ) -> tuple[ScenarioEntry, ...]:
        """Finished role-plays whose scenario and role are still in content, oldest first."""
        runs = [r for r in await uow.scenarios.runs_of(user_id) if r.status == FINISHED]
        if not runs:
            return ()
        answers: dict[int, list[ScenarioAnswer]] = {}
        for answer in await uow.scenarios.answers_of(user_id):
            answers.setdefault(answer.run_id, []).append(answer)
        commenters: dict[int, str | None] = {}
        for answer in (a for found in answers.values() for a in found):
            mentor_id = answer.mentor_user_id
            if answer.comment and mentor_id is not None and mentor_id not in commenters:
                mentor = await uow.session.get(User, mentor_id)
                commenters[mentor_id] = mentor.full_name if mentor else None
        names = {d.id: d.names for d in self._scenarios.dimensions}
        out = []
        for run in sorted(runs, key=lambda r: (r.finished_at or r.updated_at, r.id)):
            scenario = self._scenarios.scenario(run.scenario_id)
            result = self._scenarios.result(run, None)
            role = scenario.role(run.role) if scenario else None
            if scenario is None or role is None or result is None or run.ending is None:
                continue  # its scenario left the content: only the JSON copy keeps it
            recommended, decisions = _followed(scenario, run.path or [])
            out.append(
                ScenarioEntry(
                    run_id=run.id,
                    cohort=cohort_names.get(run.cohort_id, ""),
                    timezone=zones.get(run.cohort_id, timezone),
                    scenario_id=scenario.id,
                    titles=scenario.titles,
                    roles=role.names,
                    endings=scenario.node(run.ending).text,
                    finished_at=result.finished_at,
                    scores=tuple(
                        DimensionScore(
                            dimension=d,
                            names=names.get(d, {FIRST_LOCALE: d}),
                            raw=result.raw.get(d, 0),
                            percent=result.percents.get(d),
                        )
                        for d in scenario.dimensions
                    ),
                    total=result.total,
                    recommended=recommended,
                    decisions=decisions,
                    answers=tuple(
                        PlayAnswerEntry(
                            prompts=_prompt(scenario, a.node),
                            text=a.text,
                            created_at=a.created_at,
                            comment=a.comment or None,
                            commenter=(
                                commenters.get(a.mentor_user_id)
                                if a.comment and a.mentor_user_id is not None
                                else None
                            ),
                            commented_at=a.commented_at if a.comment else None,
                        )
                        for a in answers.get(run.id, [])
                    ),
                )
            )
        return tuple(out)

    @property
    def bank(self) -> LtsiBank:
        return self._ltsi.bank

    async def document(
        self,
        telegram_id: int,
        locale: str | None,
        on_start: Callable[[Portfolio], Awaitable[None]] | None = None,
    ) -> PortfolioDocument | ExportRefusal:
        """The portfolio as a self-contained HTML file. Charts take ~0.3 s each, so
        `on_start` hears of the portfolio first (to show progress), and a second tap while
        one is being made is refused instead of making another."""
        if telegram_id in self._rendering:
            return ExportRefusal.BUSY
        self._rendering.add(telegram_id)
        try:
            found = await self.portfolio(telegram_id)
            if found is None:
                return ExportRefusal.GONE
            if on_start is not None:
                await on_start(found)
            return await self._renderer.render(found, Translator(self._texts, locale))
        finally:
            self._rendering.discard(telegram_id)


def _answers(raw: Mapping[str, Any]) -> tuple[AnswerEntry, ...]:
    """Stored answers (question id → {"kind", "text", "file_id"}) in the questions' order;
    an id the questions no longer have comes last rather than not at all."""
    out = []
    order = {q: n for n, q in enumerate(QUESTIONS)}
    for question, answer in sorted(raw.items(), key=lambda qa: order.get(qa[0], len(order))):
        if isinstance(answer, Mapping):
            kind = str(answer.get("kind") or "text")
            text = answer.get("text")
        else:  # a bare string: text
            kind, text = "text", answer
        out.append(AnswerEntry(question=question, kind=kind, text=str(text) if text else None))
    return tuple(out)


def _prompt(scenario: Scenario, node_id: str) -> LocaleTexts:
    node = scenario.nodes.get(node_id)
    return node.text if node is not None and node.kind is NodeKind.FREE_TEXT else {}


def _followed(scenario: Scenario, path: Sequence[Any]) -> tuple[int, int]:
    """(decisions where the recommended choice was taken, decisions) of a stored path; a
    decision the scenario no longer has counts as not followed."""
    followed = 0
    for entry in path:
        node = scenario.nodes.get(str(entry[0])) if len(entry) == 2 else None
        if node is not None and node.kind is NodeKind.DECISION and node.recommended() == entry[1]:
            followed += 1
    return followed, len(path)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def scenario_plays_json(uow: UnitOfWork, user_id: int) -> list[dict[str, Any]]:
    """Every role-play of the person as stored (the PIPL copy; unfinished and replaced
    plays too): the scenario, role and ending ids, the raw points per dimension, the path
    of decisions ([node, choice index]) and the free-text answers with the mentors'
    comments."""
    runs: Sequence[ScenarioRun] = await uow.scenarios.runs_of(user_id)
    if not runs:
        return []
    cohorts = {e.cohort_id: e.cohort.name for e in await uow.enrolments.for_user(user_id)}
    answers: dict[int, list[dict[str, Any]]] = {}
    for a in await uow.scenarios.answers_of(user_id):
        answers.setdefault(a.run_id, []).append(
            {
                "node": a.node,
                "text": a.text,
                "created_at": _iso(a.created_at),
                "comment": a.comment,
                "commented_at": _iso(a.commented_at),
            }
        )
    return [
        {
            "cohort": cohorts.get(run.cohort_id),
            "scenario": run.scenario_id,
            "role": run.role,
            "status": run.status,
            "ending": run.ending,
            "points": dict(run.scores or {}),
            "path": [list(entry) for entry in run.path or []],
            "started_at": _iso(run.started_at),
            "finished_at": _iso(run.finished_at),
            "answers": answers.get(run.id, []),
        }
        for run in runs
    ]
