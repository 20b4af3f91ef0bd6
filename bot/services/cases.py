"""The case library (案例库): proposal, consent, publication, browsing, withdrawal.

An organiser (in issue 7 also a trainee's matched mentor) proposes a finished reflection;
the case row is written with the text that would be published, and the trainee is asked,
through the outbox, whether it may be. Only the trainee answers, once: the status moves by
compare-and-set, so a double tap or a second device changes nothing. The library shows
only published cases that still have their text, under a pseudonym stable in the cohort.

Outbox keys: case:<id>:consent:<n> (the request, n from 0), case:<id>:outcome (the proposer
told).
"""

from __future__ import annotations

import html
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from bot.content import Texts
from bot.db.models import Case, Cohort, Reflection, User
from bot.domain.cases import (
    CASES_PAGE_SIZE,
    PAGE_SIZE,
    TITLE_LIMIT,
    CaseStatus,
    choose_pseudonym,
    compose_body,
    fit,
    media_answers,
    page_count,
    paragraphs,
    text_answers,
)
from bot.domain.delivery import Purpose, inline_keyboard
from bot.domain.ltsi import split_messages
from bot.domain.notices import TEXT_LIMIT, excerpt
from bot.domain.ports import Clock
from bot.domain.practice import check_text
from bot.domain.schedule import QuietHours
from bot.services.outbox import outbox_row
from bot.services.reflections import QUESTIONS
from bot.services.uow import UnitOfWork, UowFactory

EXCERPT_LIMIT = 60


class Refusal(StrEnum):
    """Why nothing was shown or changed (the handler says so, or shows a toast)."""

    NOT_MEMBER = "not_member"  # not an active member of the cohort
    NOT_ALLOWED = "not_allowed"  # may not propose cases (from) here
    NOT_YOURS = "not_yours"  # someone else's consent request or case
    STALE = "stale"  # unknown or made-up ids
    DECIDED = "decided"  # the consent request was answered already
    GONE = "gone"  # the case is not published (any more)
    PROPOSED_ALREADY = "proposed_already"  # this reflection was proposed before
    NO_TEXT = "no_text"  # nothing typed in the reflection: nothing to publish


@dataclass(frozen=True, slots=True)
class CohortChoice:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class Library:
    cohort: CohortChoice
    areas: tuple[tuple[str, int], ...]  # (area id, published cases), in content's order
    may_propose: bool  # shows "从学员反思中推荐案例"
    has_own: bool  # shows "我的案例"

    @property
    def total(self) -> int:
        return sum(n for _, n in self.areas)


@dataclass(frozen=True, slots=True)
class CaseSummary:
    id: int
    title: str
    area: str
    pseudonym: str  # the code, e.g. "A7"; content says "学员 A7"
    published_on: date | None


@dataclass(frozen=True, slots=True)
class AreaPage:
    cohort: CohortChoice
    area: str
    cases: tuple[CaseSummary, ...]
    page: int  # 0-based
    pages: int
    total: int


@dataclass(frozen=True, slots=True)
class CaseView:
    id: int
    cohort: CohortChoice
    title: str
    area: str
    pseudonym: str
    body: str
    published_on: date | None
    is_author: bool


@dataclass(frozen=True, slots=True)
class OwnCase:
    id: int
    title: str
    area: str
    status: CaseStatus
    on: date  # proposed on, or decided on


@dataclass(frozen=True, slots=True)
class ReflectionSummary:
    id: int
    on: date
    area: str | None  # the author's plan area
    excerpt: str
    proposed: bool


@dataclass(frozen=True, slots=True)
class ReflectionPage:
    cohort: CohortChoice
    items: tuple[ReflectionSummary, ...]
    page: int
    pages: int
    total: int


@dataclass(frozen=True, slots=True)
class Answer:
    question: str
    heading: str | None  # the question as content names it, when it does
    kind: str  # text | voice | photo
    text: str | None  # the answer, or the caption
    file_id: str | None


@dataclass(frozen=True, slots=True)
class ReflectionView:
    id: int
    cohort: CohortChoice
    author_name: str | None
    on: date
    area: str | None
    answers: tuple[Answer, ...]
    proposed: bool


@dataclass(frozen=True, slots=True)
class ProposalStart:
    reflection_id: int
    default_area: str | None  # the author's plan area, when they have a plan


@dataclass(frozen=True, slots=True)
class Proposed:
    case_id: int
    title: str
    area: str
    pseudonym: str
    author_name: str | None


@dataclass(frozen=True, slots=True)
class Decision:
    case_id: int
    published: bool
    title: str
    cohort: CohortChoice


@dataclass(frozen=True, slots=True)
class OutgoingText:
    """One message: HTML text and channel-neutral keyboard rows (label, action data)."""

    text: str
    buttons: tuple[tuple[tuple[str, str], ...], ...] = ()


def case_action(a: str, c: int = 0, i: int = 0, v: str = "") -> str:
    """Action data of a case-library button; handlers.callbacks.CaseCB packs the same."""
    return f"cas:{a}:{c}:{i}:{v}"


def _escaped_length(text: str) -> int:
    return len(html.escape(text, quote=False))


def body_parts(body: str, limit: int = TEXT_LIMIT) -> list[str]:
    """The body as HTML-escaped pieces that each fit a message: whole paragraphs where
    they fit, a longer paragraph cut between lines or sentences; nothing is dropped."""
    return [
        html.escape(piece, quote=False)
        for paragraph in paragraphs(body)
        for piece in fit(paragraph, limit, _escaped_length)
    ]


def _in_order(answers: Mapping[str, Any] | None) -> dict[str, Any]:
    """A reflection's answers in the order its questions are asked (unknown ids last)."""
    raw = dict(answers or {})
    known = [q for q in QUESTIONS if q in raw]
    return {q: raw[q] for q in [*known, *(q for q in raw if q not in QUESTIONS)]}


def _choice(cohort: Cohort) -> CohortChoice:
    return CohortChoice(cohort.id, cohort.name)


class CaseService:
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

    # -- who may do what -----------------------------------------------------------------

    async def _member(self, uow: UnitOfWork, user: User | None, cohort_id: int) -> Cohort | None:
        """The cohort, if `user` is an active member of it (trainee, mentor or organiser)."""
        if user is None:
            return None
        enrolment = await uow.enrolments.find(user.id, cohort_id)
        if enrolment is None or enrolment.status != "active":
            return None
        return enrolment.cohort

    async def _organises(self, uow: UnitOfWork, user: User, cohort_id: int) -> bool:
        return any(c.id == cohort_id for c in await uow.broadcasts.organised_cohorts(user.id))

    async def _may_recommend_in(self, uow: UnitOfWork, user: User, cohort_id: int) -> bool:
        """Whether /cases offers this person the cohort's reflections to choose from."""
        return await self._organises(uow, user, cohort_id)

    async def _may_propose(self, uow: UnitOfWork, actor: User, reflection: Reflection) -> bool:
        """The one rule of who may see a reflection to propose it, and propose it: a
        finished reflection, and an organiser of its cohort or the author's mentor while
        their match in that cohort is active."""
        if reflection.status != "done":
            return False
        if await self._organises(uow, actor, reflection.cohort_id):
            return True
        match = await uow.matches.active_match(
            reflection.user_id, reflection.cohort_id, mentor_user_id=actor.id
        )
        return match is not None

    # -- dates and words -----------------------------------------------------------------

    @staticmethod
    def _local_day(moment: datetime | None, timezone: str) -> date | None:
        return moment.astimezone(ZoneInfo(timezone)).date() if moment else None

    def _headings(self, locale: str | None, questions: Sequence[str]) -> dict[str, str | None]:
        """The reflection questions as /reflect asks them (reflect.question.<id>), for
        those content knows."""
        out: dict[str, str | None] = {}
        for question in questions:
            try:
                out[question] = self._texts.plain(locale, f"reflect.question.{question}")
            except KeyError:
                out[question] = None
        return out

    def pseudonym_label(self, locale: str | None, code: str) -> str:
        return self._texts.plain(locale, "cases.pseudonym", code=code)

    # -- browsing ------------------------------------------------------------------------

    async def cohorts(self, telegram_id: int) -> list[CohortChoice]:
        """The cohorts whose library this person may read (active memberships)."""
        async with self._uow() as uow:
            user = await uow.users.by_telegram_id(telegram_id)
            if user is None:
                return []
            return [
                _choice(e.cohort)
                for e in await uow.enrolments.for_user(user.id)
                if e.status == "active"
            ]

    async def library(self, telegram_id: int, cohort_id: int) -> Library | Refusal:
        async with self._uow() as uow:
            user = await uow.users.by_telegram_id(telegram_id)
            cohort = await self._member(uow, user, cohort_id)
            if user is None or cohort is None:
                return Refusal.NOT_MEMBER
            counts = await uow.cases.area_counts(cohort.id)
            known = self._texts.area_ids()
            order = [a for a in known if a in counts] + sorted(set(counts) - set(known))
            return Library(
                cohort=_choice(cohort),
                areas=tuple((a, counts[a]) for a in order),
                may_propose=await self._may_recommend_in(uow, user, cohort.id),
                has_own=await uow.cases.has_own(user.id, cohort.id),
            )

    async def area(
        self, telegram_id: int, cohort_id: int, area: str, page: int = 0
    ) -> AreaPage | Refusal:
        async with self._uow() as uow:
            user = await uow.users.by_telegram_id(telegram_id)
            cohort = await self._member(uow, user, cohort_id)
            if cohort is None:
                return Refusal.NOT_MEMBER
            page = max(page, 0)
            cases, total = await uow.cases.published_in_area(
                cohort.id, area, page * CASES_PAGE_SIZE, CASES_PAGE_SIZE
            )
            if not cases and page > 0:
                return Refusal.STALE
            return AreaPage(
                cohort=_choice(cohort),
                area=area,
                cases=tuple(
                    CaseSummary(
                        c.id,
                        c.title,
                        c.area,
                        c.pseudonym,
                        self._local_day(c.decided_at, cohort.timezone),
                    )
                    for c in cases
                ),
                page=page,
                pages=page_count(total, CASES_PAGE_SIZE),
                total=total,
            )

    async def case(self, telegram_id: int, case_id: int) -> CaseView | Refusal:
        async with self._uow() as uow:
            found = await uow.cases.with_author(case_id)
            if found is None:
                return Refusal.STALE
            case, author_id = found
            user = await uow.users.by_telegram_id(telegram_id)
            cohort = await self._member(uow, user, case.cohort_id)
            if user is None or cohort is None:
                return Refusal.NOT_MEMBER
            if case.status != CaseStatus.PUBLISHED or case.body is None:
                return Refusal.GONE
            return CaseView(
                id=case.id,
                cohort=_choice(cohort),
                title=case.title,
                area=case.area,
                pseudonym=case.pseudonym,
                body=case.body,
                published_on=self._local_day(case.decided_at, cohort.timezone),
                is_author=author_id is not None and author_id == user.id,
            )

    async def mine(self, telegram_id: int, cohort_id: int) -> tuple[OwnCase, ...] | Refusal:
        """The cases made of this person's reflections in the cohort, whatever their status."""
        async with self._uow() as uow:
            user = await uow.users.by_telegram_id(telegram_id)
            cohort = await self._member(uow, user, cohort_id)
            if user is None or cohort is None:
                return Refusal.NOT_MEMBER
            out = []
            for c in await uow.cases.of_author(user.id, cohort.id):
                on = self._local_day(c.decided_at or c.created_at, cohort.timezone)
                assert on is not None
                out.append(OwnCase(c.id, c.title, c.area, CaseStatus(c.status), on))
            return tuple(out)

    # -- proposing -----------------------------------------------------------------------

    async def reflections(
        self, telegram_id: int, cohort_id: int, page: int = 0
    ) -> ReflectionPage | Refusal:
        """A page of the cohort's finished reflections, newest first, to choose a case from."""
        async with self._uow() as uow:
            user = await uow.users.by_telegram_id(telegram_id)
            cohort = await self._member(uow, user, cohort_id)
            if user is None or cohort is None:
                return Refusal.NOT_MEMBER
            if not await self._may_recommend_in(uow, user, cohort.id):
                return Refusal.NOT_ALLOWED
            page = max(page, 0)
            found, total = await uow.cases.done_reflections(cohort.id, page * PAGE_SIZE, PAGE_SIZE)
            if not found and page > 0:
                return Refusal.STALE
            items = []
            for reflection, area, proposed in found:
                texts = text_answers(_in_order(reflection.answers))
                first = texts[0][1] if texts else ""
                on = self._local_day(
                    reflection.completed_at or reflection.created_at, cohort.timezone
                )
                assert on is not None
                items.append(
                    ReflectionSummary(
                        reflection.id, on, area, excerpt(first, EXCERPT_LIMIT), proposed
                    )
                )
            return ReflectionPage(
                cohort=_choice(cohort),
                items=tuple(items),
                page=page,
                pages=page_count(total, PAGE_SIZE),
                total=total,
            )

    async def _proposable(
        self, uow: UnitOfWork, telegram_id: int, reflection_id: int
    ) -> tuple[User, Reflection, User, Cohort] | Refusal:
        """The proposer, the reflection, its author and cohort; or why not."""
        actor = await uow.users.by_telegram_id(telegram_id)
        found = await uow.cases.reflection(reflection_id)
        if actor is None or found is None:
            return Refusal.STALE
        reflection, author = found
        if not await self._may_propose(uow, actor, reflection):
            return Refusal.NOT_ALLOWED
        cohort = await uow.cohorts.get(reflection.cohort_id)
        if cohort is None:
            return Refusal.STALE
        return actor, reflection, author, cohort

    async def reflection(self, telegram_id: int, reflection_id: int) -> ReflectionView | Refusal:
        """A reflection in full, for deciding whether to propose it."""
        async with self._uow() as uow:
            found = await self._proposable(uow, telegram_id, reflection_id)
            if isinstance(found, Refusal):
                return found
            _, reflection, author, cohort = found
            answers = _in_order(reflection.answers)
            headings = self._headings(None, list(answers))
            out = []
            for question, answer in answers.items():
                if not isinstance(answer, Mapping):
                    continue
                kind = str(answer.get("kind") or "text")
                out.append(
                    Answer(
                        question,
                        headings.get(question),
                        kind,
                        answer.get("text"),
                        answer.get("file_id"),
                    )
                )
            on = self._local_day(reflection.completed_at or reflection.created_at, cohort.timezone)
            assert on is not None
            return ReflectionView(
                id=reflection.id,
                cohort=_choice(cohort),
                author_name=author.full_name,
                on=on,
                area=await uow.cases.plan_area(author.id, cohort.id),
                answers=tuple(out),
                proposed=await uow.cases.for_reflection(reflection.id) is not None,
            )

    async def start_proposal(self, telegram_id: int, reflection_id: int) -> ProposalStart | Refusal:
        """Before asking for a title: may this reflection be proposed at all?"""
        async with self._uow() as uow:
            found = await self._proposable(uow, telegram_id, reflection_id)
            if isinstance(found, Refusal):
                return found
            _, reflection, author, cohort = found
            if await uow.cases.for_reflection(reflection.id) is not None:
                return Refusal.PROPOSED_ALREADY
            if not text_answers(_in_order(reflection.answers)):
                return Refusal.NO_TEXT
            area = await uow.cases.plan_area(author.id, cohort.id)
            return ProposalStart(reflection.id, area if area in self._texts.area_ids() else None)

    async def propose(
        self, telegram_id: int, reflection_id: int, title: str, area: str
    ) -> Proposed | Refusal:
        """Write the case (status proposed) and ask its author, through the outbox."""
        checked = check_text(title, TITLE_LIMIT)
        if checked.value is None:
            raise ValueError(f"a case title must be checked first: {checked.problem}")
        if area not in self._texts.area_ids():
            return Refusal.STALE
        now = self._clock.now()
        async with self._uow() as uow:
            found = await self._proposable(uow, telegram_id, reflection_id)
            if isinstance(found, Refusal):
                return found
            actor, reflection, author, cohort = found
            body = compose_body(
                _in_order(reflection.answers),
                self._headings(author.locale, list(_in_order(reflection.answers))),
            )
            if body is None:
                return Refusal.NO_TEXT
            pseudonym = await self._pseudonym(uow, cohort, author.id)
            case = await uow.cases.add(
                {
                    "reflection_id": reflection.id,
                    "cohort_id": cohort.id,
                    "area": area,
                    "title": checked.value,
                    "body": body,
                    "pseudonym": pseudonym,
                    "proposed_by": actor.id,
                    "status": CaseStatus.PROPOSED.value,
                    "created_at": now,
                }
            )
            if case is None:
                return Refusal.PROPOSED_ALREADY
            await uow.audit.record(
                now,
                "case_proposed",
                actor_user_id=actor.id,
                target_type="case",
                target_id=case.id,
                details={"reflection_id": reflection.id, "cohort_id": cohort.id, "area": area},
            )
            not_before = self._quiet.next_allowed(now, cohort.timezone)
            messages = self.consent_messages(author.locale, case, cohort, reflection)
            await uow.outbox.enqueue(
                [
                    outbox_row(
                        f"case:{case.id}:consent:{n}",
                        author.telegram_id,
                        "text",
                        {
                            "text": m.text,
                            "reply_markup": (
                                inline_keyboard([list(row) for row in m.buttons])
                                if m.buttons
                                else None
                            ),
                        },
                        purpose=Purpose.CASE,
                        now=now,
                        not_before=not_before,
                        user_id=author.id,
                    )
                    for n, m in enumerate(messages)
                ]
            )
            await uow.commit()
        self._nudge()
        return Proposed(case.id, checked.value, area, pseudonym, author.full_name)

    async def _pseudonym(self, uow: UnitOfWork, cohort: Cohort, author_id: int) -> str:
        """The author's code in this cohort: the one their earlier cases carry, else a new
        one no one else in the cohort has (from the cohort's secret pseudonym key, the one
        the LTSI export uses, created here when the cohort has none yet)."""
        key = cohort.settings.get("pseudonym_key")
        if not isinstance(key, str):
            key = secrets.token_hex(16)
            cohort.settings = {**cohort.settings, "pseudonym_key": key}
        existing = await uow.cases.pseudonyms(cohort.id)
        own = next((p for p, u in existing if u == author_id), None)
        taken = {p for p, u in existing if u != author_id}
        return choose_pseudonym(key, author_id, own, taken)

    def consent_messages(
        self,
        locale: str | None,
        case: Case,
        cohort: Cohort,
        reflection: Reflection | None,
        proposer_role: str = "organiser",
    ) -> list[OutgoingText]:
        """The consent request: exactly what would be published, then the two buttons
        (on the last message when it takes more than one). `proposer_role`: organiser, or
        (issue 7) mentor."""
        answers = _in_order(reflection.answers) if reflection is not None else {}
        written = self._local_day(
            reflection.completed_at or reflection.created_at if reflection else None,
            cohort.timezone,
        )
        intro = self._texts.render(
            locale,
            "cases.consent.request",
            cohort=cohort.name,
            proposer=self._texts.plain(locale, f"role.{proposer_role}"),
            written=self._texts.plain(locale, "format.date", d=written) if written else "",
            title=case.title,
            area=self._texts.area_label(locale, case.area),
            pseudonym=self.pseudonym_label(locale, case.pseudonym),
        )
        notes = self._texts.render(
            locale, "cases.consent.notes", has_media=bool(media_answers(answers))
        )
        parts = [intro, *body_parts(case.body or ""), notes]
        texts = split_messages(parts, TEXT_LIMIT)
        buttons = (
            (
                (
                    self._texts.plain(locale, "cases.consent.agree_button"),
                    case_action("ok", i=case.id),
                ),
                (
                    self._texts.plain(locale, "cases.consent.decline_button"),
                    case_action("no", i=case.id),
                ),
            ),
        )
        return [
            OutgoingText(text, buttons if n == len(texts) - 1 else ())
            for n, text in enumerate(texts)
        ]

    async def pending_request(self, telegram_id: int, case_id: int) -> list[OutgoingText] | Refusal:
        """The consent request again (from "我的案例"), while it is unanswered."""
        async with self._uow() as uow:
            found = await uow.cases.with_author(case_id)
            user = await uow.users.by_telegram_id(telegram_id)
            if found is None or user is None:
                return Refusal.STALE
            case, author_id = found
            if author_id != user.id:
                return Refusal.NOT_YOURS
            if case.status != CaseStatus.PROPOSED:
                return Refusal.DECIDED
            cohort = await uow.cohorts.get(case.cohort_id)
            reflection = await uow.reflections.get(case.reflection_id or 0)
            if cohort is None:
                return Refusal.STALE
            return self.consent_messages(user.locale, case, cohort, reflection)

    # -- the author's answer -------------------------------------------------------------

    async def answer(self, telegram_id: int, case_id: int, agree: bool) -> Decision | Refusal:
        """The author's yes or no. Only they may answer, and only once."""
        now = self._clock.now()
        async with self._uow() as uow:
            found = await uow.cases.with_author(case_id)
            if found is None:
                return Refusal.STALE
            case, author_id = found
            user = await uow.users.by_telegram_id(telegram_id)
            if user is None or author_id is None or user.id != author_id:
                return Refusal.NOT_YOURS
            status = CaseStatus.PUBLISHED if agree else CaseStatus.DECLINED
            moved = await uow.cases.move(
                case.id, CaseStatus.PROPOSED.value, status.value, now, clear_body=not agree
            )
            if not moved:
                return Refusal.DECIDED
            cohort = await uow.cohorts.get(case.cohort_id)
            assert cohort is not None
            await uow.audit.record(
                now,
                "case_published" if agree else "case_declined",
                actor_user_id=user.id,
                target_type="case",
                target_id=case.id,
                details={"cohort_id": cohort.id},
            )
            proposer = await uow.session.get(User, case.proposed_by) if case.proposed_by else None
            if proposer is not None:
                locale = proposer.locale
                text = self._texts.render(
                    locale,
                    "cases.outcome.published" if agree else "cases.outcome.declined",
                    title=case.title,
                    cohort=cohort.name,
                    area=self._texts.area_label(locale, case.area),
                    pseudonym=self.pseudonym_label(locale, case.pseudonym),
                )
                await uow.outbox.enqueue(
                    [
                        outbox_row(
                            f"case:{case.id}:outcome",
                            proposer.telegram_id,
                            "text",
                            {"text": text},
                            purpose=Purpose.CASE,
                            now=now,
                            not_before=self._quiet.next_allowed(now, cohort.timezone),
                            user_id=proposer.id,
                        )
                    ]
                )
            title = case.title
            await uow.commit()
        if proposer is not None:
            self._nudge()
        return Decision(case_id, agree, title, _choice(cohort))

    async def withdraw(self, telegram_id: int, case_id: int) -> CaseSummary | Refusal:
        """The author takes a published case back: it leaves the library, its text goes."""
        now = self._clock.now()
        async with self._uow() as uow:
            found = await uow.cases.with_author(case_id)
            if found is None:
                return Refusal.STALE
            case, author_id = found
            user = await uow.users.by_telegram_id(telegram_id)
            if user is None or author_id is None or user.id != author_id:
                return Refusal.NOT_YOURS
            summary = CaseSummary(case.id, case.title, case.area, case.pseudonym, None)
            moved = await uow.cases.move(
                case.id,
                CaseStatus.PUBLISHED.value,
                CaseStatus.WITHDRAWN.value,
                now,
                clear_body=True,
            )
            if not moved:
                return Refusal.GONE
            await uow.audit.record(
                now,
                "case_withdrawn",
                actor_user_id=user.id,
                target_type="case",
                target_id=case.id,
                details={"cohort_id": case.cohort_id},
            )
            await uow.commit()
            return summary
