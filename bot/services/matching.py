"""Mentor matching (导师跟踪制): an organiser's /match, its review and confirmation, the
introductions, and a trainee's once-per-cohort request for another mentor.

/match gathers the trainees' needs (plan area, LTSI barriers, district, unit) and the
mentors' offers (areas, strengths, free capacity), asks `bot.domain.matching.propose` for the
optimal assignment and stores it as an open MatchProposal with "proposed" MentorMatch rows.
The organiser swaps, assigns or removes pairs — capacity and the unit rule are checked again
here on every change — and confirms: in one transaction the proposal is confirmed, its pairs
become active and both sides' introductions go to the outbox. A proposal's buttons work only
while it is open; a new /match discards the cohort's open proposal.

What other features read (through the unit of work, `uow.matches`): `active_mentees(mentor,
cohort=None)`, `active_mentor_of(trainee, cohort)` and `active_match(trainee, cohort,
mentor_user_id=...)` — a mentor sees a mentee only while their match is active (the one
rule: `bot.db.matching.active_match_where`).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from bot.content import Texts
from bot.content.ltsi import LtsiBank
from bot.db.matching import ACTIVE, DROPPED, ENDED, PROPOSED, Person
from bot.db.models import Cohort, MatchProposal, MentorMatch, MentorProfile, User
from bot.domain.delivery import Purpose, inline_keyboard
from bot.domain.ltsi import WavePlan
from bot.domain.matching import (
    MentorOffer,
    Prefer,
    Reason,
    TraineeNeed,
    Weights,
    allowed,
    district_key,
    propose,
    score,
    unit_key,
)
from bot.domain.ports import Clock
from bot.domain.practice import REASON_LIMIT, check_text
from bot.domain.schedule import QuietHours
from bot.services.outbox import outbox_row
from bot.services.uow import UnitOfWork, UowFactory

OTHER_AREA = "other"  # "其他" says nothing about fit: it never counts as the same area


class MatchRefusal(StrEnum):
    """Why a request changed nothing (the handler says it in words)."""

    NOT_ORGANISER = "not_organiser"
    NOT_FOUND = "not_found"  # a forged or foreign button
    STALE = "stale"  # the proposal is no longer open (confirmed, replaced) or already decided
    NOBODY = "nobody"  # no trainee in the cohort needs a mentor
    NO_MENTORS = "no_mentors"
    FULL = "full"  # the mentor has no free place
    SAME_UNIT = "same_unit"  # a mentor never guides someone from their own unit
    SAME = "same"  # that mentor is already the one proposed
    NOT_MENTOR = "not_mentor"  # no longer an active mentor of the cohort
    NOT_TRAINEE = "not_trainee"  # no longer an active trainee of the cohort
    TAKEN = "taken"  # a trainee of the proposal got a mentor meanwhile
    EMPTY = "empty"  # nothing to confirm
    NO_MENTOR = "no_mentor"  # a rematch without a mentor
    ONCE = "once"  # a rematch was already requested in this cohort
    BAD_TEXT = "bad_text"


@dataclass(frozen=True, slots=True)
class PersonView:
    user_id: int
    telegram_id: int
    name: str | None
    unit: str | None
    position: str | None
    district: str | None


@dataclass(frozen=True, slots=True)
class PairView:
    match_id: int
    trainee: PersonView
    mentor: PersonView
    score: int
    reasons: tuple[Reason, ...]
    mentor_strengths: tuple[str, ...]  # to name the strengths that cover a barrier


@dataclass(frozen=True, slots=True)
class ProposalView:
    id: int
    cohort_id: int
    cohort_name: str
    status: str  # open | confirmed | discarded
    prefer: Prefer
    pairs: tuple[PairView, ...]
    unmatched: tuple[PersonView, ...]
    mentors: int  # mentors of the cohort offering places

    @property
    def trainees(self) -> int:
        return len(self.pairs) + len(self.unmatched)

    @property
    def total(self) -> int:
        return sum(p.score for p in self.pairs)

    def pair_of(self, trainee_id: int) -> PairView | None:
        return next((p for p in self.pairs if p.trainee.user_id == trainee_id), None)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A mentor the organiser may pick for a trainee: allowed, with a free place."""

    mentor: PersonView
    score: int
    free: int  # places left after this pick's proposal (before picking)


@dataclass(frozen=True, slots=True)
class Picker:
    proposal_id: int
    trainee: PersonView
    current_mentor_id: int | None
    candidates: tuple[Candidate, ...]


@dataclass(frozen=True, slots=True)
class Confirmed:
    proposal_id: int
    cohort_name: str
    pairs: int


@dataclass(frozen=True, slots=True)
class MyMentor:
    """A trainee's mentor in one cohort, for /mentor."""

    cohort_id: int
    cohort_name: str
    mentor: PersonView | None
    areas: tuple[str, ...]
    strengths: tuple[str, ...]
    bio: str | None
    rematch: str | None  # the request's status (pending | approved | declined), if any

    @property
    def may_ask_rematch(self) -> bool:
        return self.mentor is not None and self.rematch is None


@dataclass(frozen=True, slots=True)
class RematchDecision:
    request_id: int
    approved: bool
    trainee: PersonView | None
    proposal: ProposalView | None  # approved: the new pair to confirm (or nobody found)


@dataclass
class _Pool:
    """The cohort's needs and offers, with the people behind them."""

    cohort: Cohort
    needs: dict[int, TraineeNeed]
    trainees: dict[int, Person]
    offers: dict[int, MentorOffer]  # capacity = free places (active mentees subtracted)
    mentors: dict[int, tuple[Person, MentorProfile | None]]


def _person(p: Person) -> PersonView:
    return PersonView(p.user_id, p.telegram_id, p.full_name, p.unit_name, p.position, p.district)


def _reasons_json(reasons: Sequence[Reason]) -> list[dict[str, Any]]:
    return [{"code": r.code, "points": r.points, "detail": list(r.detail)} for r in reasons]


def _reasons(stored: Sequence[dict[str, Any]] | None) -> tuple[Reason, ...]:
    return tuple(
        Reason(str(r.get("code", "")), int(r.get("points", 0)), tuple(r.get("detail") or ()))
        for r in stored or ()
    )


def rematch_action(request_id: int, approve: bool) -> str:
    """Action data of the organiser's approve / decline buttons (handlers.callbacks.RematchCB
    packs the same)."""
    return f"mtrm:{'y' if approve else 'n'}:{request_id}"


class MatchService:
    def __init__(
        self,
        uow: UowFactory,
        clock: Clock,
        texts: Texts,
        bank: LtsiBank,
        *,
        weights: Weights,
        prefer: Prefer,
        quiet_hours: QuietHours,
        nudge: Callable[[], None],
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._texts = texts
        self._bank = bank
        self.weights = weights
        self.prefer = prefer
        self._quiet = quiet_hours
        self._nudge = nudge

    # -- gathering needs and offers --------------------------------------------------------

    def strength_factors(self, strength_ids: Sequence[str]) -> frozenset[str]:
        """The LTSI factor ids a mentor's strengths cover (content/mentoring.yaml)."""
        return self._texts.strength_factors(strength_ids)

    def _barrier_below(self, cohort: Cohort) -> float:
        plan = WavePlan.from_settings(cohort.settings.get("ltsi"))
        t = self._bank.thresholds
        return plan.thresholds(t.barrier_below, t.catalyst_at_least)[0]

    async def _pool(
        self, uow: UnitOfWork, cohort: Cohort, trainees: Sequence[Person] | None = None
    ) -> _Pool:
        """Needs of `trainees` (default: the cohort's trainees without an active match) and
        the offers of the cohort's mentors."""
        people = (
            list(trainees)
            if trainees is not None
            else await uow.matches.unmatched_trainees(cohort.id)
        )
        plans = await uow.matches.active_plans(cohort.id)
        scores = await uow.matches.latest_scores(cohort.id)
        low = self._barrier_below(cohort)
        needs: dict[int, TraineeNeed] = {}
        for p in people:
            plan = plans.get(p.user_id)
            factors = (scores.get(p.user_id) or {}).get("factors") or {}
            needs[p.user_id] = TraineeNeed(
                user_id=p.user_id,
                unit=unit_key(p.unit_name),
                unit_type=p.unit_type,
                district=district_key(p.district),
                area=plan.area if plan is not None and plan.area != OTHER_AREA else None,
                barriers=frozenset(
                    f for f, v in factors.items() if isinstance(v, int | float) and v < low
                ),
            )
        mentors = await uow.matches.mentors(cohort.id)
        load = await uow.matches.active_counts([m.user_id for m, _ in mentors])
        offers: dict[int, MentorOffer] = {}
        for m, profile in mentors:
            capacity = (profile.capacity or 0) if profile is not None else 0
            offers[m.user_id] = MentorOffer(
                user_id=m.user_id,
                unit=unit_key(m.unit_name),
                unit_type=m.unit_type,
                district=district_key(m.district),
                areas=frozenset(profile.areas or ()) if profile is not None else frozenset(),
                covers=self.strength_factors(list(profile.strengths or ()) if profile else []),
                capacity=max(0, capacity - load.get(m.user_id, 0)),
            )
        return _Pool(
            cohort=cohort,
            needs=needs,
            trainees={p.user_id: p for p in people},
            offers=offers,
            mentors={m.user_id: (m, profile) for m, profile in mentors},
        )

    async def gather(self, cohort_id: int) -> tuple[list[TraineeNeed], list[MentorOffer]]:
        """What /match hands to the solver for the cohort (by user id): the needs of the
        trainees without an active match, the offers of the mentors (free places)."""
        async with self._uow() as uow:
            cohort = await uow.cohorts.get(cohort_id)
            if cohort is None:
                return [], []
            pool = await self._pool(uow, cohort)
            return sorted(pool.needs.values(), key=lambda n: n.user_id), sorted(
                pool.offers.values(), key=lambda o: o.user_id
            )

    # -- who may ---------------------------------------------------------------------------

    async def organised(self, telegram_id: int) -> list[tuple[int, str]] | None:
        """(id, name) of the cohorts this person organises; None: none."""
        async with self._uow() as uow:
            user = await uow.users.by_telegram_id(telegram_id)
            if user is None:
                return None
            cohorts = await uow.broadcasts.organised_cohorts(user.id)
            return [(c.id, c.name) for c in cohorts] or None

    async def _organiser(
        self, uow: UnitOfWork, telegram_id: int, cohort_id: int
    ) -> tuple[User, Cohort] | None:
        user = await uow.users.by_telegram_id(telegram_id)
        if user is None or not user.is_active:
            return None
        for cohort in await uow.broadcasts.organised_cohorts(user.id):
            if cohort.id == cohort_id:
                return user, cohort
        return None

    async def _open_proposal(
        self, uow: UnitOfWork, telegram_id: int, proposal_id: int
    ) -> tuple[User, Cohort, MatchProposal] | MatchRefusal:
        proposal = await uow.matches.proposal(proposal_id)
        if proposal is None:
            return MatchRefusal.NOT_FOUND
        found = await self._organiser(uow, telegram_id, proposal.cohort_id)
        if found is None:
            return MatchRefusal.NOT_ORGANISER
        if proposal.status != "open":
            return MatchRefusal.STALE
        return found[0], found[1], proposal

    # -- proposing ---------------------------------------------------------------------------

    async def propose(
        self, telegram_id: int, cohort_id: int, prefer: Prefer | None = None
    ) -> ProposalView | MatchRefusal:
        """A new proposal for the cohort; the open one it replaces is discarded."""
        prefer = prefer or self.prefer
        now = self._clock.now()
        async with self._uow() as uow:
            found = await self._organiser(uow, telegram_id, cohort_id)
            if found is None:
                return MatchRefusal.NOT_ORGANISER
            organiser, cohort = found
            pool = await self._pool(uow, cohort)
            if not pool.needs:
                return MatchRefusal.NOBODY
            if not pool.offers:
                return MatchRefusal.NO_MENTORS
            assignment = propose(
                list(pool.needs.values()), list(pool.offers.values()), self.weights, prefer
            )
            await self._discard_open(uow, cohort.id, now)
            proposal = await uow.matches.add_proposal(
                MatchProposal(
                    cohort_id=cohort.id,
                    organiser_user_id=organiser.id,
                    prefer=prefer.value,
                    status="open",
                    unmatched=list(assignment.unmatched),
                    created_at=now,
                )
            )
            for pair in assignment.pairs:
                await uow.matches.add_match(
                    MentorMatch(
                        cohort_id=cohort.id,
                        proposal_id=proposal.id,
                        trainee_user_id=pair.trainee_id,
                        mentor_user_id=pair.mentor_id,
                        status=PROPOSED,
                        score=pair.score,
                        reasons=_reasons_json(pair.reasons),
                        created_at=now,
                    )
                )
            await uow.audit.record(
                now,
                "match_proposed",
                actor_user_id=organiser.id,
                target_type="match_proposal",
                target_id=proposal.id,
                details={
                    "cohort_id": cohort.id,
                    "prefer": prefer.value,
                    "pairs": len(assignment.pairs),
                    "unmatched": len(assignment.unmatched),
                    "total": sum(p.score for p in assignment.pairs),
                },
            )
            await uow.commit()
            return await self._view(uow, proposal, cohort)

    async def repropose(
        self, telegram_id: int, proposal_id: int, prefer: Prefer
    ) -> ProposalView | MatchRefusal:
        """From an open proposal's summary: propose again with the other preference."""
        async with self._uow() as uow:
            found = await self._open_proposal(uow, telegram_id, proposal_id)
            if isinstance(found, MatchRefusal):
                return found
            cohort_id = found[1].id
        return await self.propose(telegram_id, cohort_id, prefer)

    async def _discard_open(self, uow: UnitOfWork, cohort_id: int, now: datetime) -> None:
        for old in await uow.matches.open_proposals(cohort_id):
            if await uow.matches.decide_proposal(old.id, "discarded", now):
                for m in await uow.matches.pairs(old.id):
                    m.status, m.ended_at, m.end_reason = DROPPED, now, "discarded"

    async def view(self, telegram_id: int, proposal_id: int) -> ProposalView | MatchRefusal:
        """An open proposal as it stands (paging through it)."""
        async with self._uow() as uow:
            found = await self._open_proposal(uow, telegram_id, proposal_id)
            if isinstance(found, MatchRefusal):
                return found
            _, cohort, proposal = found
            return await self._view(uow, proposal, cohort)

    async def _view(self, uow: UnitOfWork, proposal: MatchProposal, cohort: Cohort) -> ProposalView:
        pairs = await uow.matches.pairs(proposal.id)
        ids = {m.trainee_user_id for m in pairs} | {m.mentor_user_id for m in pairs}
        ids |= set(proposal.unmatched or ())
        people = await uow.matches.people(sorted(ids))
        mentors = await uow.matches.mentors(cohort.id)
        strengths = {
            m.user_id: tuple(p.strengths or ()) if p is not None else () for m, p in mentors
        }

        def view_of(user_id: int) -> PersonView:
            p = people.get(user_id)
            return _person(p) if p else PersonView(user_id, 0, None, None, None, None)

        return ProposalView(
            id=proposal.id,
            cohort_id=cohort.id,
            cohort_name=cohort.name,
            status=proposal.status,
            prefer=Prefer(proposal.prefer),
            pairs=tuple(
                PairView(
                    match_id=m.id,
                    trainee=view_of(m.trainee_user_id),
                    mentor=view_of(m.mentor_user_id),
                    score=m.score,
                    reasons=_reasons(m.reasons),
                    mentor_strengths=strengths.get(m.mentor_user_id, ()),
                )
                for m in pairs
            ),
            unmatched=tuple(view_of(u) for u in proposal.unmatched or ()),
            mentors=sum(1 for _, p in mentors if p is not None and (p.capacity or 0) > 0),
        )

    # -- reviewing -------------------------------------------------------------------------

    async def picker(
        self, telegram_id: int, proposal_id: int, trainee_id: int
    ) -> Picker | MatchRefusal:
        """The mentors the organiser may pick for a trainee of the proposal: allowed by the
        unit rule, with a free place, best score first."""
        async with self._uow() as uow:
            found = await self._open_proposal(uow, telegram_id, proposal_id)
            if isinstance(found, MatchRefusal):
                return found
            _, cohort, proposal = found
            pairs = await uow.matches.pairs(proposal.id)
            current = next((m for m in pairs if m.trainee_user_id == trainee_id), None)
            if current is None and trainee_id not in (proposal.unmatched or ()):
                return MatchRefusal.NOT_FOUND
            person = await uow.matches.trainee(cohort.id, trainee_id)
            if person is None:
                return MatchRefusal.NOT_TRAINEE
            pool = await self._pool(uow, cohort, [person])
            need = pool.needs[trainee_id]
            taken = self._taken(pairs, exclude=current)
            candidates = []
            for mentor_id, offer in pool.offers.items():
                free = offer.capacity - taken.get(mentor_id, 0)
                if mentor_id == (current.mentor_user_id if current else None):
                    continue
                if free <= 0 or not allowed(need, offer):
                    continue
                points, _ = score(need, offer, self.weights)
                candidates.append(Candidate(_person(pool.mentors[mentor_id][0]), points, free))
            candidates.sort(key=lambda c: (-c.score, -c.free, c.mentor.user_id))
            return Picker(
                proposal_id=proposal.id,
                trainee=_person(person),
                current_mentor_id=current.mentor_user_id if current else None,
                candidates=tuple(candidates),
            )

    @staticmethod
    def _taken(pairs: Sequence[MentorMatch], exclude: MentorMatch | None = None) -> dict[int, int]:
        """mentor id → places the proposal's pairs take (but `exclude`)."""
        taken: dict[int, int] = {}
        for m in pairs:
            if m is not exclude:
                taken[m.mentor_user_id] = taken.get(m.mentor_user_id, 0) + 1
        return taken

    async def assign(
        self, telegram_id: int, proposal_id: int, trainee_id: int, mentor_id: int
    ) -> ProposalView | MatchRefusal:
        """Swap a pair's mentor, or give an unmatched trainee one. Capacity and the unit rule
        are checked again here, whatever the picker showed."""
        now = self._clock.now()
        async with self._uow() as uow:
            found = await self._open_proposal(uow, telegram_id, proposal_id)
            if isinstance(found, MatchRefusal):
                return found
            organiser, cohort, proposal = found
            pairs = await uow.matches.pairs(proposal.id)
            current = next((m for m in pairs if m.trainee_user_id == trainee_id), None)
            if current is None and trainee_id not in (proposal.unmatched or ()):
                return MatchRefusal.NOT_FOUND
            if current is not None and current.mentor_user_id == mentor_id:
                return MatchRefusal.SAME
            person = await uow.matches.trainee(cohort.id, trainee_id)
            if person is None:
                return MatchRefusal.NOT_TRAINEE
            pool = await self._pool(uow, cohort, [person])
            offer = pool.offers.get(mentor_id)
            if offer is None:
                return MatchRefusal.NOT_MENTOR
            need = pool.needs[trainee_id]
            if not allowed(need, offer):
                return MatchRefusal.SAME_UNIT
            if self._taken(pairs, exclude=current).get(mentor_id, 0) >= offer.capacity:
                return MatchRefusal.FULL
            points, reasons = score(need, offer, self.weights)
            if current is not None:
                before = current.mentor_user_id
                current.mentor_user_id = mentor_id
                current.score = points
                current.reasons = _reasons_json(reasons)
                action, details = "match_swapped", {"from": before, "to": mentor_id}
            else:
                await uow.matches.add_match(
                    MentorMatch(
                        cohort_id=cohort.id,
                        proposal_id=proposal.id,
                        trainee_user_id=trainee_id,
                        mentor_user_id=mentor_id,
                        status=PROPOSED,
                        score=points,
                        reasons=_reasons_json(reasons),
                        created_at=now,
                    )
                )
                proposal.unmatched = [u for u in proposal.unmatched or () if u != trainee_id]
                action, details = "match_assigned", {"to": mentor_id}
            await uow.audit.record(
                now,
                action,
                actor_user_id=organiser.id,
                target_type="match_proposal",
                target_id=proposal.id,
                details={"trainee": trainee_id, **details},
            )
            await uow.commit()
            return await self._view(uow, proposal, cohort)

    async def remove(
        self, telegram_id: int, proposal_id: int, match_id: int
    ) -> ProposalView | MatchRefusal:
        """Take a pair out of the proposal: the trainee goes back to the unmatched."""
        now = self._clock.now()
        async with self._uow() as uow:
            found = await self._open_proposal(uow, telegram_id, proposal_id)
            if isinstance(found, MatchRefusal):
                return found
            organiser, cohort, proposal = found
            match = await uow.matches.match(match_id)
            if match is None or match.proposal_id != proposal.id:
                return MatchRefusal.NOT_FOUND
            if match.status != PROPOSED:
                return MatchRefusal.STALE
            match.status, match.ended_at, match.end_reason = DROPPED, now, "organiser"
            proposal.unmatched = [*(proposal.unmatched or ()), match.trainee_user_id]
            await uow.audit.record(
                now,
                "match_removed",
                actor_user_id=organiser.id,
                target_type="match_proposal",
                target_id=proposal.id,
                details={"trainee": match.trainee_user_id, "mentor": match.mentor_user_id},
            )
            await uow.commit()
            return await self._view(uow, proposal, cohort)

    # -- confirming --------------------------------------------------------------------------

    async def confirm(self, telegram_id: int, proposal_id: int) -> Confirmed | MatchRefusal:
        """All or nothing, once: the proposal confirmed, its pairs active, both sides of
        every pair introduced (through the outbox)."""
        now = self._clock.now()
        async with self._uow() as uow:
            found = await self._open_proposal(uow, telegram_id, proposal_id)
            if isinstance(found, MatchRefusal):
                return found
            organiser, cohort, proposal = found
            pairs = await uow.matches.pairs(proposal.id)
            if not pairs:
                return MatchRefusal.EMPTY
            trainees = {m.trainee_user_id for m in pairs}
            if await uow.matches.active_trainees(cohort.id, sorted(trainees)):
                return MatchRefusal.TAKEN
            pool = await self._pool(uow, cohort, [])
            still = {p.user_id for p in await uow.matches.unmatched_trainees(cohort.id)}
            if trainees - still:
                return MatchRefusal.NOT_TRAINEE
            for mentor_id, n in self._taken(pairs).items():
                offer = pool.offers.get(mentor_id)
                if offer is None:
                    return MatchRefusal.NOT_MENTOR
                if n > offer.capacity:
                    return MatchRefusal.FULL
            if not await uow.matches.decide_proposal(proposal.id, "confirmed", now):
                return MatchRefusal.STALE
            for m in pairs:
                m.status, m.confirmed_at = ACTIVE, now
            await self._introduce(uow, cohort, pairs, now)
            await uow.audit.record(
                now,
                "match_confirmed",
                actor_user_id=organiser.id,
                target_type="match_proposal",
                target_id=proposal.id,
                details={"cohort_id": cohort.id, "pairs": len(pairs)},
            )
            await uow.commit()
        self._nudge()
        return Confirmed(proposal.id, cohort.name, len(pairs))

    async def _introduce(
        self, uow: UnitOfWork, cohort: Cohort, pairs: Sequence[MentorMatch], now: datetime
    ) -> None:
        ids = {m.trainee_user_id for m in pairs} | {m.mentor_user_id for m in pairs}
        people = await uow.matches.people(sorted(ids))
        plans = await uow.matches.active_plans(cohort.id)
        scores = await uow.matches.latest_scores(cohort.id)
        profiles = {m.user_id: p for m, p in await uow.matches.mentors(cohort.id)}
        low = self._barrier_below(cohort)
        not_before = self._quiet.next_allowed(now, cohort.timezone)
        rows = []
        for m in pairs:
            trainee, mentor = people.get(m.trainee_user_id), people.get(m.mentor_user_id)
            if trainee is None or mentor is None:
                continue
            plan = plans.get(trainee.user_id)
            factors = (scores.get(trainee.user_id) or {}).get("factors") or {}
            barriers = sorted(
                (v, f) for f, v in factors.items() if isinstance(v, int | float) and v < low
            )
            profile = profiles.get(mentor.user_id)
            loc = mentor.locale
            text = self._texts.render(
                loc,
                "match.intro.to_mentor",
                cohort=cohort.name,
                telegram_id=trainee.telegram_id,
                name=trainee.full_name or "—",
                unit=trainee.unit_name,
                position=trainee.position,
                goal=plan.goal if plan else None,
                area=self._area(loc, plan.area, plan.area_other) if plan else None,
                barriers=[self._bank.factor(f).name(loc) for _, f in barriers[:3]],
            )
            rows.append(self._row(f"match:intro:{m.id}:mentor", mentor, text, now, not_before))
            loc = trainee.locale
            text = self._texts.render(
                loc,
                "match.intro.to_trainee",
                cohort=cohort.name,
                telegram_id=mentor.telegram_id,
                name=mentor.full_name or "—",
                unit=mentor.unit_name,
                position=mentor.position,
                areas=[self._texts.area_label(loc, a) for a in (profile.areas if profile else ())],
                strengths=[
                    self._texts.strength_label(loc, s)
                    for s in (profile.strengths if profile else ())
                ],
                bio=profile.bio if profile else None,
            )
            rows.append(self._row(f"match:intro:{m.id}:trainee", trainee, text, now, not_before))
        await uow.outbox.enqueue(rows)

    async def deliver_mentor_notes(self) -> None:
        """After a sweep: a self-check that found low leader support or feedback told the
        trainee their mentor would hear of it (the LTSI follow-up "mentor_note"); it goes
        once the trainee has an active mentor, and waits until then."""
        now = self._clock.now()
        async with self._uow() as uow:
            due = await uow.matches.mentor_notes_due()
            if not due:
                return
            people = await uow.matches.people(
                sorted({f.user_id for f, _ in due} | {m for _, m in due})
            )
            rows = []
            for follow_up, mentor_id in due:
                follow_up.status, follow_up.done_at = "done", now
                trainee, mentor = people.get(follow_up.user_id), people.get(mentor_id)
                cohort = await uow.cohorts.get(follow_up.cohort_id)
                if trainee is None or mentor is None or cohort is None:
                    continue
                loc = mentor.locale
                text = self._texts.render(
                    loc,
                    "match.mentor_note",
                    name=trainee.full_name or "—",
                    cohort=cohort.name,
                    factors=[self._bank.factor(f).name(loc) for f in follow_up.factors],
                    suggestions=[self._bank.factor(f).suggestion(loc) for f in follow_up.factors],
                )
                rows.append(
                    self._row(
                        f"match:note:{follow_up.id}",
                        mentor,
                        text,
                        now,
                        self._quiet.next_allowed(now, cohort.timezone),
                    )
                )
            await uow.outbox.enqueue(rows)
            await uow.commit()

    def _area(self, locale: str | None, area: str, other: str | None) -> str:
        return other if area == OTHER_AREA and other else self._texts.area_label(locale, area)

    def _row(
        self,
        key: str,
        to: Person,
        text: str,
        now: datetime,
        not_before: datetime | None,
        buttons: list[list[tuple[str, str]]] | None = None,
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {"text": text}
        if buttons:
            payload["reply_markup"] = inline_keyboard(buttons)
        return outbox_row(
            key,
            to.telegram_id,
            "text",
            payload,
            purpose=Purpose.MENTORING,
            now=now,
            not_before=not_before,
            user_id=to.user_id,
        )

    # -- reasons in words ------------------------------------------------------------------

    def reason_text(self, locale: str | None, pair: PairView) -> str:
        """ "同领域·加装电梯；同区；导师擅长争取领导支持（覆盖阻碍：领导的支持）"."""
        parts = []
        for r in pair.reasons:
            if r.code == "area":
                areas = [self._texts.area_label(locale, a) for a in r.detail]
                parts.append(self._texts.plain(locale, "match.reason.area", areas=areas))
            elif r.code == "barrier":
                covered = set(r.detail)
                strengths = [
                    self._texts.strength_label(locale, s)
                    for s in pair.mentor_strengths
                    if self._texts.strength_factors([s]) & covered
                ]
                barriers = [self._bank.factor(f).name(locale) for f in r.detail]
                parts.append(
                    self._texts.plain(
                        locale, "match.reason.barrier", strengths=strengths, barriers=barriers
                    )
                )
            elif r.code in ("district", "unit_type"):
                parts.append(self._texts.plain(locale, f"match.reason.{r.code}"))
        if not parts:
            return self._texts.plain(locale, "match.reason.none")
        separator = html.unescape(self._texts.render_exact(locale, "match.reason.separator"))
        return separator.join(parts)

    # -- a trainee's mentor and rematch ----------------------------------------------------

    async def my_mentors(self, telegram_id: int) -> list[MyMentor] | None:
        """The trainee's mentor in each of their cohorts; None: not a consenting trainee."""
        async with self._uow() as uow:
            user = await uow.users.by_telegram_id(telegram_id)
            if user is None or user.consent_at is None:
                return None
            cohorts = await uow.enrolments.trainee_cohorts(user.id)
            if not cohorts:
                return None
            out = []
            for cohort in cohorts:
                ref = await uow.matches.active_mentor_of(user.id, cohort.id)
                request = await uow.matches.rematch_of(user.id, cohort.id)
                mentor: PersonView | None = None
                profile: MentorProfile | None = None
                if ref is not None:
                    found = (await uow.matches.people([ref.mentor_user_id])).get(ref.mentor_user_id)
                    mentor = _person(found) if found else None
                    profile = await uow.mentors.get(ref.mentor_user_id)
                out.append(
                    MyMentor(
                        cohort_id=cohort.id,
                        cohort_name=cohort.name,
                        mentor=mentor,
                        areas=tuple(profile.areas or ()) if profile else (),
                        strengths=tuple(profile.strengths or ()) if profile else (),
                        bio=profile.bio if profile else None,
                        rematch=request.status if request else None,
                    )
                )
            return out

    async def may_ask_rematch(self, telegram_id: int, cohort_id: int) -> MatchRefusal | None:
        """None if the trainee may ask for another mentor in the cohort now."""
        async with self._uow() as uow:
            found = await self._rematchable(uow, telegram_id, cohort_id)
            return found if isinstance(found, MatchRefusal) else None

    async def _rematchable(
        self, uow: UnitOfWork, telegram_id: int, cohort_id: int
    ) -> tuple[User, Cohort, MentorMatch] | MatchRefusal:
        user = await uow.users.by_telegram_id(telegram_id)
        if user is None or await uow.matches.trainee(cohort_id, user.id) is None:
            return MatchRefusal.NOT_TRAINEE
        cohort = await uow.cohorts.get(cohort_id)
        if cohort is None:
            return MatchRefusal.NOT_TRAINEE
        if await uow.matches.rematch_of(user.id, cohort_id) is not None:
            return MatchRefusal.ONCE
        match = await uow.matches.active_match(user.id, cohort_id)
        if match is None:
            return MatchRefusal.NO_MENTOR
        return user, cohort, match

    async def request_rematch(
        self, telegram_id: int, cohort_id: int, reason: str
    ) -> int | MatchRefusal:
        """Once per cohort, with a reason: the cohort's organisers get it with approve /
        decline buttons. Returns the request's id."""
        checked = check_text(reason, REASON_LIMIT)
        if checked.value is None:
            return MatchRefusal.BAD_TEXT
        now = self._clock.now()
        async with self._uow() as uow:
            found = await self._rematchable(uow, telegram_id, cohort_id)
            if isinstance(found, MatchRefusal):
                return found
            user, cohort, match = found
            request_id = await uow.matches.add_rematch(
                {
                    "match_id": match.id,
                    "cohort_id": cohort.id,
                    "trainee_user_id": user.id,
                    "reason": checked.value,
                    "status": "pending",
                    "created_at": now,
                }
            )
            if request_id is None:
                return MatchRefusal.ONCE
            mentor = (await uow.matches.people([match.mentor_user_id])).get(match.mentor_user_id)
            rows = []
            for organiser in await uow.matches.organisers(cohort.id):
                loc = organiser.locale
                text = self._texts.render(
                    loc,
                    "match.rematch.to_organiser",
                    cohort=cohort.name,
                    name=user.full_name or "—",
                    unit=user.unit_name,
                    mentor=mentor.full_name if mentor else "—",
                    reason=checked.value,
                )
                buttons = [
                    [
                        (
                            self._texts.plain(loc, "match.rematch.approve_button"),
                            rematch_action(request_id, True),
                        ),
                        (
                            self._texts.plain(loc, "match.rematch.decline_button"),
                            rematch_action(request_id, False),
                        ),
                    ]
                ]
                rows.append(
                    self._row(
                        f"match:rematch:{request_id}:{organiser.user_id}",
                        organiser,
                        text,
                        now,
                        None,
                        buttons,
                    )
                )
            await uow.outbox.enqueue(rows)
            await uow.audit.record(
                now,
                "rematch_requested",
                actor_user_id=user.id,
                target_type="rematch_request",
                target_id=request_id,
                details={"cohort_id": cohort.id, "match_id": match.id},
            )
            await uow.commit()
        self._nudge()
        return request_id

    async def decide_rematch(
        self, telegram_id: int, request_id: int, approve: bool
    ) -> RematchDecision | MatchRefusal:
        """An organiser of the cohort decides, once. Approved: the match ends and a new
        mentor is proposed for that trainee alone (the best allowed one with a free place,
        not the previous one), to confirm like any proposal. Declined: the trainee is told."""
        now = self._clock.now()
        async with self._uow() as uow:
            request = await uow.matches.rematch(request_id)
            if request is None:
                return MatchRefusal.NOT_FOUND
            found = await self._organiser(uow, telegram_id, request.cohort_id)
            if found is None:
                return MatchRefusal.NOT_ORGANISER
            organiser, cohort = found
            status = "approved" if approve else "declined"
            if not await uow.matches.decide_rematch(request.id, status, organiser.id, now):
                return MatchRefusal.STALE
            people = await uow.matches.people([request.trainee_user_id])
            trainee = people.get(request.trainee_user_id)
            match = await uow.matches.match(request.match_id)
            proposal_view: ProposalView | None = None
            rows = []
            if approve and match is not None:
                previous = match.mentor_user_id
                if match.status == ACTIVE:
                    match.status, match.ended_at, match.end_reason = ENDED, now, "rematch"
                    old = (await uow.matches.people([previous])).get(previous)
                    if old is not None and trainee is not None:
                        text = self._texts.render(
                            old.locale,
                            "match.rematch.to_old_mentor",
                            cohort=cohort.name,
                            name=trainee.full_name or "—",
                        )
                        rows.append(
                            self._row(f"match:rematch:{request.id}:old", old, text, now, None)
                        )
                await uow.session.flush()
                proposal = await self._propose_one(
                    uow, organiser, cohort, request.trainee_user_id, previous, now
                )
                if proposal is not None:
                    proposal_view = await self._view(uow, proposal, cohort)
            if trainee is not None:
                text = self._texts.render(
                    trainee.locale, f"match.rematch.{status}", cohort=cohort.name
                )
                rows.append(self._row(f"match:rematch:{request.id}:told", trainee, text, now, None))
            await uow.outbox.enqueue(rows)
            await uow.audit.record(
                now,
                f"rematch_{status}",
                actor_user_id=organiser.id,
                target_type="rematch_request",
                target_id=request.id,
                details={"cohort_id": cohort.id, "match_id": request.match_id},
            )
            await uow.commit()
        self._nudge()
        return RematchDecision(
            request_id=request_id,
            approved=approve,
            trainee=_person(trainee) if trainee else None,
            proposal=proposal_view,
        )

    async def _propose_one(
        self,
        uow: UnitOfWork,
        organiser: User,
        cohort: Cohort,
        trainee_id: int,
        previous_mentor: int,
        now: datetime,
    ) -> MatchProposal | None:
        """A proposal for one trainee: the best allowed mentor with a free place, not the
        previous one (or none: the trainee stays unmatched, to assign by hand)."""
        person = await uow.matches.trainee(cohort.id, trainee_id)
        if person is None:
            return None
        pool = await self._pool(uow, cohort, [person])
        need = pool.needs[trainee_id]
        best: tuple[int, int, int] | None = None  # (-score, -free, mentor id)
        reasons: tuple[Reason, ...] = ()
        for mentor_id, offer in pool.offers.items():
            if mentor_id == previous_mentor or offer.capacity <= 0 or not allowed(need, offer):
                continue
            points, why = score(need, offer, self.weights)
            key = (-points, -offer.capacity, mentor_id)
            if best is None or key < best:
                best, reasons = key, why
        proposal = await uow.matches.add_proposal(
            MatchProposal(
                cohort_id=cohort.id,
                organiser_user_id=organiser.id,
                prefer=Prefer.COVERAGE.value,
                status="open",
                unmatched=[] if best is not None else [trainee_id],
                created_at=now,
            )
        )
        if best is not None:
            await uow.matches.add_match(
                MentorMatch(
                    cohort_id=cohort.id,
                    proposal_id=proposal.id,
                    trainee_user_id=trainee_id,
                    mentor_user_id=best[2],
                    status=PROPOSED,
                    score=-best[0],
                    reasons=_reasons_json(reasons),
                    created_at=now,
                )
            )
        await uow.audit.record(
            now,
            "match_proposed",
            actor_user_id=organiser.id,
            target_type="match_proposal",
            target_id=proposal.id,
            details={
                "cohort_id": cohort.id,
                "rematch_of": trainee_id,
                "pairs": 1 if best is not None else 0,
            },
        )
        return proposal
