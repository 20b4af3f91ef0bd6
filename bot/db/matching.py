"""Queries of mentor matching (导师跟踪制): who needs a mentor, who offers guidance, the
proposals and pairs, rematch requests. Also what the digest and the guidance log read:
a mentor's active mentees and a trainee's active mentor."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.engine import insert_for
from bot.db.models import (
    Enrolment,
    LtsiFollowUp,
    LtsiResponse,
    LtsiWave,
    MatchProposal,
    MentorMatch,
    MentorProfile,
    Plan,
    RematchRequest,
    User,
)
from bot.db.repositories import active_members

ACTIVE = "active"
PROPOSED = "proposed"
ENDED = "ended"
DROPPED = "dropped"


@dataclass(frozen=True, slots=True)
class Person:
    """A trainee or a mentor as matching sees them."""

    user_id: int
    telegram_id: int
    locale: str | None
    full_name: str | None
    unit_type: str | None
    unit_name: str | None
    position: str | None
    district: str | None


@dataclass(frozen=True, slots=True)
class MenteeRef:
    """One of a mentor's active mentees (what matching, the digest and /log read)."""

    match_id: int
    cohort_id: int
    trainee_user_id: int
    telegram_id: int
    full_name: str | None
    locale: str | None
    since: datetime | None  # when the match was confirmed
    is_active: bool
    consent_at: datetime | None
    joined_at: datetime | None  # the trainee's enrolment in the cohort completed


@dataclass(frozen=True, slots=True)
class MentorRef:
    """A trainee's active mentor in a cohort."""

    match_id: int
    cohort_id: int
    mentor_user_id: int
    telegram_id: int
    full_name: str | None
    locale: str | None
    since: datetime | None


_PERSON = (
    User.id,
    User.telegram_id,
    User.locale,
    User.full_name,
    User.unit_type,
    User.unit_name,
    User.position,
    User.district,
)


def active_match_where(
    *, mentor_user_id: Any = None, trainee_user_id: Any = None, cohort_id: Any = None
) -> ColumnElement[bool]:
    """THE rule of an active mentor–mentee match, narrowed to the given mentor, trainee and
    cohort (ids, or columns for a correlated subquery). Every query of "a mentor's mentees",
    "a trainee's mentor" or "who has a match" filters with this."""
    conditions: list[ColumnElement[bool]] = [MentorMatch.status == ACTIVE]
    if mentor_user_id is not None:
        conditions.append(MentorMatch.mentor_user_id == mentor_user_id)
    if trainee_user_id is not None:
        conditions.append(MentorMatch.trainee_user_id == trainee_user_id)
    if cohort_id is not None:
        conditions.append(MentorMatch.cohort_id == cohort_id)
    return and_(*conditions)


def _members(cohort_id: int, role: str) -> Any:
    return active_members(cohort_id, role, *_PERSON)


class MatchRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- needs and offers ----------------------------------------------------------------

    async def unmatched_trainees(self, cohort_id: int) -> list[Person]:
        """Active, consenting trainees of the cohort without an active match in it."""
        matched = exists().where(active_match_where(trainee_user_id=User.id, cohort_id=cohort_id))
        result = await self.session.execute(
            _members(cohort_id, "trainee").where(~matched).order_by(User.id)
        )
        return [Person(*row) for row in result.tuples()]

    async def trainee(self, cohort_id: int, user_id: int) -> Person | None:
        """The person, if an active, consenting trainee of the cohort."""
        result = await self.session.execute(
            _members(cohort_id, "trainee").where(User.id == user_id)
        )
        row = result.first()
        return Person(*row) if row else None

    async def mentors(self, cohort_id: int) -> list[tuple[Person, MentorProfile | None]]:
        """Active, consenting mentors enrolled in the cohort, with their profiles."""
        result = await self.session.execute(_members(cohort_id, "mentor").order_by(User.id))
        people = [Person(*row) for row in result.tuples()]
        if not people:
            return []
        profiles = await self.session.scalars(
            select(MentorProfile).where(MentorProfile.user_id.in_([p.user_id for p in people]))
        )
        by_user = {p.user_id: p for p in profiles}
        return [(p, by_user.get(p.user_id)) for p in people]

    async def active_plans(self, cohort_id: int) -> dict[int, Plan]:
        """user id → the confirmed plan in the cohort."""
        rows = await self.session.scalars(
            select(Plan).where(Plan.cohort_id == cohort_id, Plan.status == "active")
        )
        return {p.user_id: p for p in rows}

    async def latest_scores(self, cohort_id: int) -> dict[int, dict[str, Any]]:
        """user id → the scores of their latest finished self-check of the cohort."""
        result = await self.session.execute(
            select(LtsiResponse.user_id, LtsiResponse.scores)
            .join(LtsiWave, LtsiWave.id == LtsiResponse.wave_id)
            .where(LtsiWave.cohort_id == cohort_id, LtsiResponse.status == "done")
            .order_by(LtsiWave.opens_at, LtsiResponse.id)
        )
        out: dict[int, dict[str, Any]] = {}
        for user_id, scores in result.tuples():
            out[user_id] = scores or {}  # later waves overwrite earlier ones
        return out

    async def active_counts(self, mentor_ids: Sequence[int]) -> dict[int, int]:
        """mentor id → active mentees, in any cohort."""
        if not mentor_ids:
            return {}
        result = await self.session.execute(
            select(MentorMatch.mentor_user_id, func.count())
            .where(active_match_where(), MentorMatch.mentor_user_id.in_(list(mentor_ids)))
            .group_by(MentorMatch.mentor_user_id)
        )
        return {m: n for m, n in result.tuples()}

    async def organisers(self, cohort_id: int) -> list[Person]:
        """The cohort's active organisers (created by the command line: no consent step)."""
        result = await self.session.execute(
            select(*_PERSON)
            .join(Enrolment, Enrolment.user_id == User.id)
            .where(
                Enrolment.cohort_id == cohort_id,
                Enrolment.role == "organiser",
                Enrolment.status == "active",
                User.is_active.is_(True),
            )
            .order_by(User.id)
        )
        return [Person(*row) for row in result.tuples()]

    async def people(self, user_ids: Sequence[int]) -> dict[int, Person]:
        if not user_ids:
            return {}
        result = await self.session.execute(select(*_PERSON).where(User.id.in_(list(user_ids))))
        return {row[0]: Person(*row) for row in result.tuples()}

    # -- proposals and pairs -------------------------------------------------------------

    async def add_proposal(self, proposal: MatchProposal) -> MatchProposal:
        self.session.add(proposal)
        await self.session.flush()
        return proposal

    async def proposal(self, proposal_id: int) -> MatchProposal | None:
        return await self.session.get(MatchProposal, proposal_id)

    async def open_proposals(self, cohort_id: int) -> Sequence[MatchProposal]:
        rows = await self.session.scalars(
            select(MatchProposal)
            .where(MatchProposal.cohort_id == cohort_id, MatchProposal.status == "open")
            .order_by(MatchProposal.id)
        )
        return rows.all()

    async def decide_proposal(
        self, proposal_id: int, status: str, now: datetime, *, expected: str = "open"
    ) -> bool:
        """Compare-and-set of the proposal's status: a second confirm changes nothing."""
        result = await self.session.execute(
            update(MatchProposal)
            .where(MatchProposal.id == proposal_id, MatchProposal.status == expected)
            .values(status=status, decided_at=now)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    async def pairs(self, proposal_id: int, status: str = PROPOSED) -> list[MentorMatch]:
        rows = await self.session.scalars(
            select(MentorMatch)
            .where(MentorMatch.proposal_id == proposal_id, MentorMatch.status == status)
            .order_by(MentorMatch.id)
        )
        return list(rows)

    async def add_match(self, match: MentorMatch) -> MentorMatch:
        self.session.add(match)
        await self.session.flush()
        return match

    async def match(self, match_id: int) -> MentorMatch | None:
        return await self.session.get(MentorMatch, match_id)

    async def active_match(
        self, trainee_user_id: int, cohort_id: int, *, mentor_user_id: int | None = None
    ) -> MentorMatch | None:
        """The trainee's active match in the cohort (with this mentor, if given)."""
        rows = await self.session.scalars(
            select(MentorMatch)
            .where(
                active_match_where(
                    mentor_user_id=mentor_user_id,
                    trainee_user_id=trainee_user_id,
                    cohort_id=cohort_id,
                )
            )
            .order_by(MentorMatch.id.desc())
            .limit(1)
        )
        return rows.first()

    async def active_trainees(self, cohort_id: int, trainee_ids: Sequence[int]) -> set[int]:
        """Those of `trainee_ids` who already have an active match in the cohort."""
        if not trainee_ids:
            return set()
        rows = await self.session.scalars(
            select(MentorMatch.trainee_user_id).where(
                active_match_where(cohort_id=cohort_id),
                MentorMatch.trainee_user_id.in_(list(trainee_ids)),
            )
        )
        return set(rows)

    # -- what other features read ----------------------------------------------------------

    async def active_mentees(
        self, mentor_user_id: int, cohort_id: int | None = None
    ) -> list[MenteeRef]:
        """The mentor's mentees while the match is active (in one cohort, or all), by
        cohort, then name."""
        result = await self.session.execute(
            select(
                MentorMatch.id,
                MentorMatch.cohort_id,
                User.id,
                User.telegram_id,
                User.full_name,
                User.locale,
                MentorMatch.confirmed_at,
                User.is_active,
                User.consent_at,
                Enrolment.completed_at,
            )
            .join(User, User.id == MentorMatch.trainee_user_id)
            .outerjoin(
                Enrolment,
                and_(
                    Enrolment.user_id == MentorMatch.trainee_user_id,
                    Enrolment.cohort_id == MentorMatch.cohort_id,
                ),
            )
            .where(active_match_where(mentor_user_id=mentor_user_id, cohort_id=cohort_id))
            .order_by(MentorMatch.cohort_id, User.full_name, User.id)
        )
        return [MenteeRef(*row) for row in result.tuples()]

    async def active_mentor_of(self, trainee_user_id: int, cohort_id: int) -> MentorRef | None:
        """The trainee's mentor in the cohort while the match is active."""
        result = await self.session.execute(
            select(
                MentorMatch.id,
                MentorMatch.cohort_id,
                User.id,
                User.telegram_id,
                User.full_name,
                User.locale,
                MentorMatch.confirmed_at,
            )
            .join(User, User.id == MentorMatch.mentor_user_id)
            .where(active_match_where(trainee_user_id=trainee_user_id, cohort_id=cohort_id))
            .order_by(MentorMatch.id.desc())
            .limit(1)
        )
        row = result.first()
        return MentorRef(*row) if row else None

    async def end_matches_of(self, user_id: int, now: datetime, reason: str) -> int:
        """The person's active matches end and their proposed ones drop (as mentor or
        trainee), e.g. when they erase their data. Returns how many changed."""
        mine = or_(MentorMatch.trainee_user_id == user_id, MentorMatch.mentor_user_id == user_id)
        changed = 0
        for before, after in ((ACTIVE, ENDED), (PROPOSED, DROPPED)):
            result = await self.session.execute(
                update(MentorMatch)
                .where(mine, MentorMatch.status == before)
                .values(status=after, ended_at=now, end_reason=reason)
                .execution_options(synchronize_session=False)
            )
            changed += int(getattr(result, "rowcount", 0) or 0)
        return changed

    # -- rematch requests ----------------------------------------------------------------

    async def rematch_of(self, trainee_user_id: int, cohort_id: int) -> RematchRequest | None:
        rows = await self.session.scalars(
            select(RematchRequest).where(
                RematchRequest.trainee_user_id == trainee_user_id,
                RematchRequest.cohort_id == cohort_id,
            )
        )
        return rows.first()

    async def rematch(self, request_id: int) -> RematchRequest | None:
        return await self.session.get(RematchRequest, request_id)

    async def add_rematch(self, row: dict[str, Any]) -> int | None:
        """The request's id; None if the trainee already asked in this cohort (once)."""
        result = await self.session.execute(
            insert_for(self.session, RematchRequest)
            .values(**row)
            .on_conflict_do_nothing(index_elements=["trainee_user_id", "cohort_id"])
            .returning(RematchRequest.id)
        )
        return result.scalar_one_or_none()

    async def decide_rematch(
        self, request_id: int, status: str, decided_by: int, now: datetime
    ) -> bool:
        result = await self.session.execute(
            update(RematchRequest)
            .where(RematchRequest.id == request_id, RematchRequest.status == "pending")
            .values(status=status, decided_by=decided_by, decided_at=now)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    # -- the self-check's note for the mentor ----------------------------------------------

    async def mentor_notes_due(self, limit: int = 200) -> list[tuple[LtsiFollowUp, int]]:
        """Pending LTSI "mentor_note" follow-ups whose trainee now has an active mentor in
        that cohort: (follow-up, mentor user id). Those still without a mentor wait."""
        result = await self.session.execute(
            select(LtsiFollowUp, MentorMatch.mentor_user_id)
            .join(
                MentorMatch,
                active_match_where(
                    trainee_user_id=LtsiFollowUp.user_id, cohort_id=LtsiFollowUp.cohort_id
                ),
            )
            .where(LtsiFollowUp.kind == "mentor_note", LtsiFollowUp.status == "pending")
            .order_by(LtsiFollowUp.id)
            .limit(limit)
        )
        return [(f, mentor_id) for f, mentor_id in result.tuples()]
