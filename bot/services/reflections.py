"""Reflections: cadence prompts, four questions answered one at a time, comments.

A reflection is a row from its first question on (status "draft"); every answer is written
to it the moment it arrives, so nothing typed, spoken or photographed is lost to a restart,
and `/reflect` offers to go on with it. A skipped question is not stored: a resumed draft
goes on after the last answered question. Finishing needs at least one answer.

Due items: `reflect_prompt` (one per cohort and number, at the cohort's reflection time on
each day of PracticeSettings.reflection_days) sends every active trainee a prompt with a
"start" button (ReflectStartCB).
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from bot.content import Texts
from bot.db.models import Cohort, PlanMilestone, Reflection, ReflectionComment, User
from bot.db.repositories import cohort_dto
from bot.domain.delivery import Purpose, inline_keyboard
from bot.domain.model import CohortDTO
from bot.domain.notices import excerpt
from bot.domain.ports import Clock
from bot.domain.practice import COMMENT_LIMIT, PracticeSettings, TextProblem, check_text
from bot.domain.schedule import QuietHours
from bot.services.outbox import outbox_row
from bot.services.scheduling import Due, LegacyCohorts, due_row
from bot.services.uow import UnitOfWork, UowFactory

PROMPT_KIND = "reflect_prompt"
# The structured questions, in order; their wording is content (reflect.question.<id>).
QUESTIONS: tuple[str, ...] = ("did", "happened", "learned", "next")
EXCERPT_LIMIT = 60


class AnswerKind(StrEnum):
    TEXT = "text"
    VOICE = "voice"  # a voice message, kept by its Telegram file id; text = its caption
    PHOTO = "photo"  # the largest size of a photo; text = its caption


@dataclass(frozen=True, slots=True)
class Answer:
    kind: AnswerKind
    text: str | None = None
    file_id: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "text": self.text, "file_id": self.file_id}

    @classmethod
    def from_json(cls, raw: Any) -> Answer | None:
        if not isinstance(raw, Mapping) or raw.get("kind") not in set(AnswerKind):
            return None
        return cls(AnswerKind(raw["kind"]), raw.get("text"), raw.get("file_id"))


def stored_answers(raw: Mapping[str, Any] | None) -> dict[str, Answer]:
    """A reflection's `answers` column read back, in question order."""
    raw = raw or {}
    out = {}
    for qid in QUESTIONS:
        answer = Answer.from_json(raw.get(qid))
        if answer is not None:
            out[qid] = answer
    return out


def resume_index(answered: Sequence[str]) -> int:
    """Where a draft goes on: after the last answered question (skips are not stored)."""
    last = max((QUESTIONS.index(q) for q in answered if q in QUESTIONS), default=-1)
    return last + 1


def rs(milestone: int, prompt: int) -> str:
    """Callback data of a "start reflecting" button; handlers.callbacks.ReflectStartCB packs
    the same."""
    return f"rs:{milestone}:{prompt}"


class Refusal(StrEnum):
    """Why a press or an answer changed nothing (the handler says so)."""

    NOT_TRAINEE = "not_trainee"  # no active trainee enrolment
    NOT_YOURS = "not_yours"  # someone else's reflection or milestone, or made-up data
    STALE = "stale"  # an older question than the one being answered
    DONE = "done"  # the reflection is finished already
    NEED_ONE = "need_one"  # finishing without a single answer


class CommentRefusal(StrEnum):
    NOT_FOUND = "not_found"  # no such finished reflection
    NOT_ALLOWED = "not_allowed"  # the author may not comment on it
    EMPTY = "empty"
    TOO_LONG = "too_long"  # over COMMENT_LIMIT


@dataclass(frozen=True, slots=True)
class MilestoneChoice:
    id: int
    title: str
    due_on: date
    status: str


@dataclass(frozen=True, slots=True)
class QuestionView:
    reflection_id: int
    qid: str
    number: int  # 1-based
    total: int
    cohort: CohortDTO
    prompt_number: int | None
    milestone: MilestoneChoice | None
    answered: int
    can_skip: bool  # not on the last question while nothing is answered


@dataclass(frozen=True, slots=True)
class ChooseCohort:
    cohorts: tuple[CohortDTO, ...]


@dataclass(frozen=True, slots=True)
class ChooseMilestone:
    cohort: CohortDTO
    milestones: tuple[MilestoneChoice, ...]


@dataclass(frozen=True, slots=True)
class OpenDraft:
    reflection_id: int
    cohort: CohortDTO
    answered: int
    total: int
    started_at: datetime
    milestone: MilestoneChoice | None


@dataclass(frozen=True, slots=True)
class Summary:
    reflection_id: int
    cohort: CohortDTO
    prompt_number: int | None
    milestone: MilestoneChoice | None
    answers: tuple[tuple[str, Answer | None], ...]  # every question; None = skipped
    completed_at: datetime


@dataclass(frozen=True, slots=True)
class CommentDTO:
    id: int
    reflection_id: int
    author_role: str  # organiser | mentor
    text: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ReflectionDTO:
    id: int
    user_id: int
    trainee_name: str | None
    cohort_id: int
    milestone_id: int | None
    prompt_number: int | None
    answers: Mapping[str, Answer]  # answered questions only, in question order
    status: str
    created_at: datetime
    completed_at: datetime | None
    comments: tuple[CommentDTO, ...]


Started = QuestionView | ChooseCohort | ChooseMilestone | OpenDraft | Refusal


def _milestone_choice(m: PlanMilestone | None) -> MilestoneChoice | None:
    return None if m is None else MilestoneChoice(m.id, m.title, m.due_on, m.status)


def _comment_dto(c: ReflectionComment) -> CommentDTO:
    return CommentDTO(c.id, c.reflection_id, c.author_role, c.text, c.created_at)


class ReflectionService:
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
            uow,
            clock,
            lambda u: u.due.cohorts_without(PROMPT_KIND),
            self.plan_prompts,
            nudge=nudge,
        )
        self._turns: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    @contextlib.asynccontextmanager
    async def turn(self, telegram_id: int) -> AsyncIterator[None]:
        """One answer of a person at a time (in this process): two messages sent at once are
        two answers, in order, instead of both landing on the same question."""
        lock = self._turns.get(telegram_id)
        if lock is None:
            lock = self._turns[telegram_id] = asyncio.Lock()
        async with lock:
            yield

    # -- cadence -------------------------------------------------------------------------

    async def plan_prompts(self, uow: UnitOfWork, cohort: Cohort, now: datetime) -> None:
        """At a cohort's creation: a due item for each prompt still to come."""
        settings = PracticeSettings.from_settings(cohort.settings.get("practice"))
        zone = ZoneInfo(cohort.timezone)
        rows = []
        for number, day in enumerate(settings.reflection_days(cohort.ends_on), start=1):
            at = datetime.combine(day, settings.reflection_time, zone).astimezone(UTC)
            if at <= now:
                continue
            rows.append(
                due_row(
                    PROMPT_KIND,
                    f"reflect:{cohort.id}:prompt:{number}",
                    at,
                    now,
                    payload={"number": number},
                    cohort_id=cohort.id,
                )
            )
        if rows:
            await uow.due.schedule(rows)

    async def plan_legacy_cohorts(self) -> None:
        """Once per process: the prompts of cohorts created before reflections existed."""
        await self._legacy()

    async def prompt_due(self, uow: UnitOfWork, due: Due, now: datetime) -> None:
        """A prompt's moment: every active, consenting trainee gets it (quiet hours wait).

        A prompt found more than one interval late (the bot was down) is dropped: the next
        one is near, and two prompts at once would only nag."""
        cohort = await uow.cohorts.get(due.cohort_id or 0)
        if cohort is None:
            return
        settings = PracticeSettings.from_settings(cohort.settings.get("practice"))
        if now - due.due_at >= timedelta(days=settings.reflection_every_days):
            return
        number = int(due.payload["number"])
        not_before = self._quiet.next_allowed(now, cohort.timezone)
        rows = []
        for r in await uow.reflections.reflectors(cohort.id):
            questions = [self._texts.plain(r.locale, f"reflect.question.{q}") for q in QUESTIONS]
            text = self._texts.render(
                r.locale,
                "reflect.prompt",
                cohort=cohort.name,
                number=number,
                total=settings.reflection_count,
                questions=questions,
            )
            label = self._texts.plain(r.locale, "reflect.start_button")
            rows.append(
                outbox_row(
                    f"reflect:{cohort.id}:prompt:{number}:{r.user_id}",
                    r.chat_id,
                    "text",
                    {"text": text, "reply_markup": inline_keyboard([[(label, rs(0, number))]])},
                    purpose=Purpose.REFLECTION,
                    now=now,
                    not_before=not_before,
                    user_id=r.user_id,
                )
            )
        await uow.outbox.enqueue(rows)

    # -- starting ------------------------------------------------------------------------

    async def begin(
        self,
        telegram_id: int,
        *,
        cohort_id: int | None = None,
        prompt: int | None = None,
        milestone: int | None = None,
    ) -> Started:
        """Start a reflection, or say what must be chosen first.

        `milestone`: None = not decided (offer the plan's milestones, if any), 0 = tied to
        none, an id = tied to that milestone (refused unless it is the trainee's own).
        An open draft with answers is offered first (OpenDraft); one without any answer is
        simply replaced.
        """
        now = self._clock.now()
        async with self._uow() as uow:
            user = await uow.users.by_telegram_id(telegram_id)
            if user is None or user.consent_at is None:
                return Refusal.NOT_TRAINEE
            cohorts = list(await uow.enrolments.trainee_cohorts(user.id))
            if not cohorts:
                return Refusal.NOT_TRAINEE
            tie: PlanMilestone | None = None
            if milestone:
                found = await uow.reflections.milestone_of(user.id, milestone)
                if found is None or (cohort_id and cohort_id != found[1]):
                    return Refusal.NOT_YOURS
                tie, cohort_id = found
            cohort: Cohort | None = None
            if cohort_id:
                cohort = next((c for c in cohorts if c.id == cohort_id), None)
                if cohort is None:
                    return Refusal.NOT_YOURS
            draft = await uow.reflections.draft_of(user.id)
            if draft is not None:
                if stored_answers(draft.answers):
                    return await self._open_draft(uow, draft)
                await uow.reflections.discard(draft)
                await uow.commit()
            if cohort is None:
                if len(cohorts) > 1:
                    return ChooseCohort(tuple(cohort_dto(c) for c in cohorts))
                cohort = cohorts[0]
            if milestone is None:
                options = await uow.reflections.milestones_of(user.id, cohort.id)
                if options:
                    return ChooseMilestone(
                        cohort_dto(cohort),
                        tuple(c for m in options if (c := _milestone_choice(m)) is not None),
                    )
            reflection = await uow.reflections.add(
                Reflection(
                    user_id=user.id,
                    cohort_id=cohort.id,
                    milestone_id=tie.id if tie else None,
                    prompt_number=prompt or None,
                    answers={},
                    status="draft",
                    created_at=now,
                )
            )
            await uow.commit()
            return await self._question(uow, reflection, cohort, 0)

    async def restart(
        self,
        telegram_id: int,
        reflection_id: int,
        *,
        cohort_id: int | None = None,
        prompt: int | None = None,
        milestone: int | None = None,
    ) -> Started:
        """ "Start over": the open draft goes, then `begin` with the same wishes."""
        async with self._uow() as uow:
            loaded = await self._load(uow, telegram_id, reflection_id)
            if isinstance(loaded, Refusal):
                return Refusal.STALE if loaded is Refusal.DONE else loaded
            await uow.reflections.discard(loaded[0])
            await uow.commit()
        return await self.begin(
            telegram_id, cohort_id=cohort_id, prompt=prompt, milestone=milestone
        )

    async def resume(
        self, telegram_id: int, reflection_id: int, at: str | None = None
    ) -> QuestionView | Summary | Refusal:
        """Go on with a draft: at question `at` (where the conversation was, if known), else
        after the last answered question."""
        async with self._uow() as uow:
            loaded = await self._load(uow, telegram_id, reflection_id)
            if isinstance(loaded, Refusal):
                return loaded
            reflection, cohort = loaded
            answered = list(stored_answers(reflection.answers))
            index = resume_index(answered)
            if at in QUESTIONS and QUESTIONS.index(at) >= index:
                index = QUESTIONS.index(at)
            if index < len(QUESTIONS):
                return await self._question(uow, reflection, cohort, index)
            summary = await self._finish(uow, reflection, cohort)
            await uow.commit()
            return summary

    # -- answering -----------------------------------------------------------------------

    async def answer(
        self, telegram_id: int, reflection_id: int, qid: str, answer: Answer
    ) -> QuestionView | Summary | Refusal:
        """Save the answer to `qid` at once; the next question, or the summary after the
        last one."""
        if qid not in QUESTIONS:
            return Refusal.NOT_YOURS
        async with self._uow() as uow:
            loaded = await self._load(uow, telegram_id, reflection_id)
            if isinstance(loaded, Refusal):
                return loaded
            reflection, cohort = loaded
            index = QUESTIONS.index(qid)
            async with uow.writing():
                reflection.answers = {**(reflection.answers or {}), qid: answer.as_json()}
                if index + 1 < len(QUESTIONS):
                    await uow.commit()
                    return await self._question(uow, reflection, cohort, index + 1)
                summary = await self._finish(uow, reflection, cohort)
                await uow.commit()
                return summary

    async def skip(
        self, telegram_id: int, reflection_id: int, qid: str
    ) -> QuestionView | Summary | Refusal:
        """Leave `qid` unanswered; at the last question this finishes, if anything was
        answered at all."""
        if qid not in QUESTIONS:
            return Refusal.NOT_YOURS
        async with self._uow() as uow:
            loaded = await self._load(uow, telegram_id, reflection_id)
            if isinstance(loaded, Refusal):
                return loaded
            reflection, cohort = loaded
            index = QUESTIONS.index(qid)
            answered = stored_answers(reflection.answers)
            if any(QUESTIONS.index(q) > index for q in answered):
                return Refusal.STALE
            if index + 1 < len(QUESTIONS):
                return await self._question(uow, reflection, cohort, index + 1)
            if not answered:
                return Refusal.NEED_ONE
            summary = await self._finish(uow, reflection, cohort)
            await uow.commit()
            return summary

    async def _load(
        self, uow: UnitOfWork, telegram_id: int, reflection_id: int
    ) -> tuple[Reflection, Cohort] | Refusal:
        user = await uow.users.by_telegram_id(telegram_id)
        reflection = await uow.reflections.get(reflection_id)
        if user is None or reflection is None or reflection.user_id != user.id:
            return Refusal.NOT_YOURS
        if reflection.status == "done":
            return Refusal.DONE
        if reflection.status != "draft":
            return Refusal.NOT_YOURS
        cohort = await uow.cohorts.get(reflection.cohort_id)
        if cohort is None:
            return Refusal.NOT_YOURS
        return reflection, cohort

    async def _tied(self, uow: UnitOfWork, reflection: Reflection) -> MilestoneChoice | None:
        if reflection.milestone_id is None:
            return None
        return _milestone_choice(await uow.reflections.milestone(reflection.milestone_id))

    async def _question(
        self, uow: UnitOfWork, reflection: Reflection, cohort: Cohort, index: int
    ) -> QuestionView:
        answered = len(stored_answers(reflection.answers))
        return QuestionView(
            reflection_id=reflection.id,
            qid=QUESTIONS[index],
            number=index + 1,
            total=len(QUESTIONS),
            cohort=cohort_dto(cohort),
            prompt_number=reflection.prompt_number,
            milestone=await self._tied(uow, reflection),
            answered=answered,
            can_skip=index + 1 < len(QUESTIONS) or answered > 0,
        )

    async def _open_draft(self, uow: UnitOfWork, draft: Reflection) -> OpenDraft:
        cohort = await uow.cohorts.get(draft.cohort_id)
        assert cohort is not None  # the row cascades with its cohort
        return OpenDraft(
            reflection_id=draft.id,
            cohort=cohort_dto(cohort),
            answered=len(stored_answers(draft.answers)),
            total=len(QUESTIONS),
            started_at=draft.created_at,
            milestone=await self._tied(uow, draft),
        )

    async def _finish(self, uow: UnitOfWork, reflection: Reflection, cohort: Cohort) -> Summary:
        now = self._clock.now()
        reflection.status = "done"
        reflection.completed_at = now
        answers = stored_answers(reflection.answers)
        return Summary(
            reflection_id=reflection.id,
            cohort=cohort_dto(cohort),
            prompt_number=reflection.prompt_number,
            milestone=await self._tied(uow, reflection),
            answers=tuple((q, answers.get(q)) for q in QUESTIONS),
            completed_at=now,
        )

    # -- comments ------------------------------------------------------------------------

    async def commenter_role(
        self, uow: UnitOfWork, author: User, reflection: Reflection
    ) -> str | None:
        """The role in which `author` may comment on `reflection` (None: may not).

        An organiser attached to the reflection's cohort, or the author's mentor while their
        match in that cohort is active."""
        if await uow.reflections.has_role(author.id, reflection.cohort_id, "organiser"):
            return "organiser"
        if await uow.matches.active_match(
            reflection.user_id, reflection.cohort_id, mentor_user_id=author.id
        ):
            return "mentor"
        return None

    async def add_comment(
        self, author_telegram_id: int, reflection_id: int, text: str
    ) -> CommentDTO | CommentRefusal:
        """Store a comment and push it to the trainee (through the outbox, after quiet
        hours), with the reflection's date and an excerpt."""
        check = check_text(text, COMMENT_LIMIT)
        if check.problem is not None or check.value is None:
            too_long = check.problem is TextProblem.TOO_LONG
            return CommentRefusal.TOO_LONG if too_long else CommentRefusal.EMPTY
        now = self._clock.now()
        async with self._uow() as uow:
            author = await uow.users.by_telegram_id(author_telegram_id)
            reflection = await uow.reflections.get(reflection_id)
            if reflection is None or reflection.status != "done":
                return CommentRefusal.NOT_FOUND
            role = await self.commenter_role(uow, author, reflection) if author else None
            if author is None or role is None:
                return CommentRefusal.NOT_ALLOWED
            comment = await uow.reflections.add_comment(
                ReflectionComment(
                    reflection_id=reflection.id,
                    author_user_id=author.id,
                    author_role=role,
                    text=check.value,
                    created_at=now,
                )
            )
            trainee = await uow.session.get(User, reflection.user_id)
            cohort = await uow.cohorts.get(reflection.cohort_id)
            if (
                trainee is not None
                and cohort is not None
                and trainee.is_active
                and trainee.consent_at is not None
            ):
                await uow.outbox.enqueue(
                    [self._comment_row(comment, reflection, trainee, cohort, role, now)]
                )
            await uow.audit.record(
                now,
                "reflection_commented",
                actor_user_id=author.id,
                target_type="reflection",
                target_id=reflection.id,
            )
            await uow.commit()
            self._nudge()
            return _comment_dto(comment)

    def _comment_row(
        self,
        comment: ReflectionComment,
        reflection: Reflection,
        trainee: User,
        cohort: Cohort,
        role: str,
        now: datetime,
    ) -> dict[str, Any]:
        locale = trainee.locale
        when = (reflection.completed_at or reflection.created_at).astimezone(
            ZoneInfo(cohort.timezone)
        )
        text = self._texts.render(
            locale,
            "reflect.comment_push",
            author=self._texts.plain(locale, f"role.{role}"),
            date=self._texts.plain(locale, "format.date", d=when),
            excerpt=self._excerpt(locale, stored_answers(reflection.answers)),
            comment=comment.text,
        )
        return outbox_row(
            f"reflect:comment:{comment.id}",
            trainee.telegram_id,
            "text",
            {"text": text},
            purpose=Purpose.REFLECTION,
            now=now,
            not_before=self._quiet.next_allowed(now, cohort.timezone),
            user_id=trainee.id,
        )

    def _excerpt(self, locale: str | None, answers: Mapping[str, Answer]) -> str:
        for answer in answers.values():
            if answer.text:
                return excerpt(answer.text, EXCERPT_LIMIT)
        first = next(iter(answers.values()), None)
        if first is None:
            return ""
        return self._texts.plain(locale, f"reflect.kind.{first.kind.value}")

    # -- reading (for the portfolio, the case library, mentors) --------------------------

    async def recent_for_cohort(
        self, viewer_telegram_id: int, cohort_id: int, limit: int = 20
    ) -> list[ReflectionDTO] | None:
        """The cohort's latest finished reflections, newest first, with their comments;
        None unless the viewer organises the cohort."""
        async with self._uow() as uow:
            viewer = await uow.users.by_telegram_id(viewer_telegram_id)
            if viewer is None or not await uow.reflections.has_role(
                viewer.id, cohort_id, "organiser"
            ):
                return None
            rows = await uow.reflections.done_of_cohort(cohort_id, limit)
            return await self._dtos(uow, [(r, u) for r, u in rows])

    async def of_trainee(self, telegram_id: int) -> list[ReflectionDTO]:
        """The trainee's own finished reflections, oldest first, with comments."""
        async with self._uow() as uow:
            user = await uow.users.by_telegram_id(telegram_id)
            if user is None:
                return []
            rows = await uow.reflections.done_of_user(user.id)
            return await self._dtos(uow, [(r, user) for r in rows])

    async def _dtos(
        self, uow: UnitOfWork, rows: Sequence[tuple[Reflection, User]]
    ) -> list[ReflectionDTO]:
        comments: dict[int, list[CommentDTO]] = {}
        for c in await uow.reflections.comments_of([r.id for r, _ in rows]):
            comments.setdefault(c.reflection_id, []).append(_comment_dto(c))
        return [
            ReflectionDTO(
                id=r.id,
                user_id=r.user_id,
                trainee_name=u.full_name,
                cohort_id=r.cohort_id,
                milestone_id=r.milestone_id,
                prompt_number=r.prompt_number,
                answers=stored_answers(r.answers),
                status=r.status,
                created_at=r.created_at,
                completed_at=r.completed_at,
                comments=tuple(comments.get(r.id, ())),
            )
            for r, u in rows
        ]
