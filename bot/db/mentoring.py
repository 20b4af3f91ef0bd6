"""Queries of the mentor's side after matching: guidance sessions, and what a digest reads
about each mentee (self-checks, milestones, reflections, role-plays, last activity). Who is
whose active mentee is asked of `bot.db.matching` (MatchRepository.active_mentees /
active_match and the `active_match_where` rule), never here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.matching import active_match_where
from bot.db.models import (
    Cohort,
    DueItem,
    Enrolment,
    GuidanceSession,
    LtsiAnswer,
    LtsiResponse,
    LtsiWave,
    MentorMatch,
    Plan,
    PlanMilestone,
    Reflection,
    ScenarioAnswer,
    ScenarioRun,
    User,
)
from bot.db.scenarios import ERASED, FINISHED

ACTIVE = "active"


@dataclass(frozen=True, slots=True)
class MentorRow:
    user_id: int
    telegram_id: int
    full_name: str | None
    locale: str | None
    is_active: bool


class MentoringRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- who -----------------------------------------------------------------------------

    async def mentors_with_mentees(self, cohort_id: int) -> list[MentorRow]:
        """Mentors with at least one active match in the cohort."""
        result = await self.session.execute(
            select(User.id, User.telegram_id, User.full_name, User.locale, User.is_active)
            .where(exists().where(active_match_where(mentor_user_id=User.id, cohort_id=cohort_id)))
            .order_by(User.id)
        )
        return [MentorRow(*row) for row in result.tuples()]

    async def cohort_mentors(self, cohort_id: int) -> list[MentorRow]:
        """Active mentors of the cohort, and anyone with an active match in it."""
        enrolled = exists().where(
            Enrolment.user_id == User.id,
            Enrolment.cohort_id == cohort_id,
            Enrolment.role == "mentor",
            Enrolment.status == ACTIVE,
        )
        matched = exists().where(active_match_where(mentor_user_id=User.id, cohort_id=cohort_id))
        result = await self.session.execute(
            select(User.id, User.telegram_id, User.full_name, User.locale, User.is_active)
            .where(enrolled | matched)
            .order_by(User.full_name, User.id)
        )
        return [MentorRow(*row) for row in result.tuples()]

    async def organised_cohorts(self, user_id: int) -> Sequence[Cohort]:
        result = await self.session.execute(
            select(Cohort)
            .join(Enrolment, Enrolment.cohort_id == Cohort.id)
            .where(
                Enrolment.user_id == user_id,
                Enrolment.role == "organiser",
                Enrolment.status == ACTIVE,
            )
            .order_by(Cohort.id)
        )
        return result.scalars().all()

    async def last_done(self, kind: str, cohort_id: int) -> datetime | None:
        """When the cohort's latest due item of `kind` was carried out."""
        result = await self.session.execute(
            select(func.max(DueItem.done_at)).where(
                DueItem.kind == kind, DueItem.cohort_id == cohort_id, DueItem.status == "done"
            )
        )
        return result.scalar_one_or_none()

    # -- guidance sessions ---------------------------------------------------------------

    async def add_session(self, row: GuidanceSession) -> GuidanceSession:
        self.session.add(row)
        await self.session.flush()
        return row

    async def last_sessions(
        self, mentor_user_id: int, trainee_ids: Sequence[int], cohort_id: int
    ) -> dict[int, GuidanceSession]:
        """Each trainee's latest session with this mentor (by the day it was held)."""
        if not trainee_ids:
            return {}
        result = await self.session.execute(
            select(GuidanceSession)
            .where(
                GuidanceSession.mentor_user_id == mentor_user_id,
                GuidanceSession.cohort_id == cohort_id,
                GuidanceSession.trainee_user_id.in_(list(trainee_ids)),
            )
            .order_by(GuidanceSession.held_on, GuidanceSession.id)
        )
        return {s.trainee_user_id: s for s in result.scalars().all()}

    async def held_between(self, cohort_id: int, first: date, last: date) -> set[tuple[int, int]]:
        """(mentor, trainee) pairs of the cohort with a session held in [first, last]."""
        result = await self.session.execute(
            select(GuidanceSession.mentor_user_id, GuidanceSession.trainee_user_id).where(
                GuidanceSession.cohort_id == cohort_id,
                GuidanceSession.held_on >= first,
                GuidanceSession.held_on <= last,
            )
        )
        return {(m, t) for m, t in result.tuples() if m is not None}

    async def active_matches(self, cohort_id: int) -> Sequence[MentorMatch]:
        result = await self.session.execute(
            select(MentorMatch)
            .where(active_match_where(cohort_id=cohort_id))
            .order_by(MentorMatch.mentor_user_id, MentorMatch.trainee_user_id)
        )
        return result.scalars().all()

    # -- what a digest reads -------------------------------------------------------------

    async def done_checks(
        self, trainee_ids: Sequence[int], cohort_id: int
    ) -> dict[int, list[LtsiResponse]]:
        """Each trainee's finished self-checks in the cohort, oldest wave first."""
        if not trainee_ids:
            return {}
        result = await self.session.execute(
            select(LtsiResponse)
            .join(LtsiWave, LtsiWave.id == LtsiResponse.wave_id)
            .where(
                LtsiResponse.user_id.in_(list(trainee_ids)),
                LtsiWave.cohort_id == cohort_id,
                LtsiResponse.status == "done",
            )
            .order_by(LtsiWave.opens_at, LtsiResponse.id)
        )
        out: dict[int, list[LtsiResponse]] = {}
        for r in result.scalars().all():
            out.setdefault(r.user_id, []).append(r)
        return out

    async def milestones(
        self, trainee_ids: Sequence[int], cohort_id: int
    ) -> dict[int, list[PlanMilestone]]:
        """The milestones of each trainee's confirmed plan in the cohort, by date."""
        if not trainee_ids:
            return {}
        result = await self.session.execute(
            select(Plan.user_id, PlanMilestone)
            .join(Plan, Plan.id == PlanMilestone.plan_id)
            .where(
                Plan.user_id.in_(list(trainee_ids)),
                Plan.cohort_id == cohort_id,
                Plan.status == ACTIVE,
            )
            .order_by(PlanMilestone.due_on, PlanMilestone.position)
        )
        out: dict[int, list[PlanMilestone]] = {}
        for user_id, m in result.tuples():
            out.setdefault(user_id, []).append(m)
        return out

    async def reflections_since(
        self, trainee_ids: Sequence[int], cohort_id: int, since: datetime | None
    ) -> dict[int, list[Reflection]]:
        """Finished reflections in the cohort completed after `since` (all when None)."""
        if not trainee_ids:
            return {}
        query = select(Reflection).where(
            Reflection.user_id.in_(list(trainee_ids)),
            Reflection.cohort_id == cohort_id,
            Reflection.status == "done",
        )
        if since is not None:
            query = query.where(Reflection.completed_at > since)
        result = await self.session.execute(query.order_by(Reflection.completed_at, Reflection.id))
        out: dict[int, list[Reflection]] = {}
        for r in result.scalars().all():
            out.setdefault(r.user_id, []).append(r)
        return out

    async def plays_since(
        self, trainee_ids: Sequence[int], cohort_id: int, since: datetime | None
    ) -> dict[int, list[ScenarioRun]]:
        """Role-plays in the cohort finished after `since` (all when None), oldest first."""
        if not trainee_ids:
            return {}
        query = select(ScenarioRun).where(
            ScenarioRun.user_id.in_(list(trainee_ids)),
            ScenarioRun.cohort_id == cohort_id,
            ScenarioRun.status == FINISHED,
        )
        if since is not None:
            query = query.where(ScenarioRun.finished_at > since)
        result = await self.session.execute(query.order_by(ScenarioRun.finished_at, ScenarioRun.id))
        out: dict[int, list[ScenarioRun]] = {}
        for run in result.scalars().all():
            out.setdefault(run.user_id, []).append(run)
        return out

    async def uncommented_answers(
        self, trainee_ids: Sequence[int], cohort_id: int
    ) -> dict[int, list[tuple[ScenarioAnswer, str]]]:
        """Free-text answers written in the cohort's role-plays that have no comment yet,
        with their scenario's id, oldest first."""
        if not trainee_ids:
            return {}
        result = await self.session.execute(
            select(ScenarioAnswer, ScenarioRun.scenario_id)
            .join(ScenarioRun, ScenarioRun.id == ScenarioAnswer.run_id)
            .where(
                ScenarioAnswer.user_id.in_(list(trainee_ids)),
                ScenarioAnswer.comment.is_(None),
                ScenarioRun.cohort_id == cohort_id,
                ScenarioRun.status != ERASED,
            )
            .order_by(ScenarioAnswer.created_at, ScenarioAnswer.id)
        )
        out: dict[int, list[tuple[ScenarioAnswer, str]]] = {}
        for answer, scenario_id in result.tuples():
            out.setdefault(answer.user_id, []).append((answer, scenario_id))
        return out

    async def last_activity(
        self, trainee_ids: Sequence[int], cohort_id: int
    ) -> dict[int, datetime]:
        """Each trainee's latest sign of life in the cohort: a reflection written, a
        milestone reported, a self-check answered, the plan changed, a role-play moved on
        (a play's updated_at follows its every move, its free-text answers included)."""
        if not trainee_ids:
            return {}
        ids = list(trainee_ids)
        queries: list[Select[Any]] = [
            select(Reflection.user_id, func.max(Reflection.created_at))
            .where(
                Reflection.user_id.in_(ids),
                Reflection.cohort_id == cohort_id,
                Reflection.status.in_(("draft", "done")),
            )
            .group_by(Reflection.user_id),
            select(Reflection.user_id, func.max(Reflection.completed_at))
            .where(
                Reflection.user_id.in_(ids),
                Reflection.cohort_id == cohort_id,
                Reflection.status == "done",
            )
            .group_by(Reflection.user_id),
            select(Plan.user_id, func.max(PlanMilestone.checked_at))
            .join(Plan, Plan.id == PlanMilestone.plan_id)
            .where(Plan.user_id.in_(ids), Plan.cohort_id == cohort_id)
            .group_by(Plan.user_id),
            select(Plan.user_id, func.max(Plan.updated_at))
            .where(Plan.user_id.in_(ids), Plan.cohort_id == cohort_id, Plan.status != "erased")
            .group_by(Plan.user_id),
            select(LtsiResponse.user_id, func.max(LtsiAnswer.answered_at))
            .join(LtsiAnswer, LtsiAnswer.response_id == LtsiResponse.id)
            .join(LtsiWave, LtsiWave.id == LtsiResponse.wave_id)
            .where(LtsiResponse.user_id.in_(ids), LtsiWave.cohort_id == cohort_id)
            .group_by(LtsiResponse.user_id),
            select(ScenarioRun.user_id, func.max(ScenarioRun.updated_at))
            .where(
                ScenarioRun.user_id.in_(ids),
                ScenarioRun.cohort_id == cohort_id,
                ScenarioRun.status != ERASED,
            )
            .group_by(ScenarioRun.user_id),
        ]
        latest: dict[int, datetime] = {}
        for query in queries:
            for user_id, at in (await self.session.execute(query)).tuples():
                if at is not None and (user_id not in latest or at > latest[user_id]):
                    latest[user_id] = at
        return latest
