"""Queries of reflections and the comments on them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    Enrolment,
    Plan,
    PlanMilestone,
    Reflection,
    ReflectionComment,
    User,
)
from bot.db.repositories import active_members


@dataclass(frozen=True, slots=True)
class Reflector:
    """A trainee a reflection prompt goes to."""

    user_id: int
    chat_id: int
    locale: str | None


class ReflectionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- who -----------------------------------------------------------------------------

    async def reflectors(self, cohort_id: int) -> list[Reflector]:
        """Active, consenting trainees of the cohort."""
        result = await self.session.execute(
            active_members(cohort_id, "trainee", User.id, User.telegram_id, User.locale).order_by(
                User.id
            )
        )
        return [Reflector(u, c, loc) for u, c, loc in result.tuples()]

    async def has_role(self, user_id: int, cohort_id: int, role: str) -> bool:
        """An active enrolment of `user_id` in the cohort with this role."""
        result = await self.session.execute(
            select(Enrolment.id).where(
                Enrolment.user_id == user_id,
                Enrolment.cohort_id == cohort_id,
                Enrolment.role == role,
                Enrolment.status == "active",
            )
        )
        return result.first() is not None

    # -- plan milestones -----------------------------------------------------------------

    async def milestones_of(self, user_id: int, cohort_id: int) -> Sequence[PlanMilestone]:
        """The milestones of the trainee's confirmed plan in the cohort, by date."""
        result = await self.session.execute(
            select(PlanMilestone)
            .join(Plan, Plan.id == PlanMilestone.plan_id)
            .where(Plan.user_id == user_id, Plan.cohort_id == cohort_id, Plan.status == "active")
            .order_by(PlanMilestone.due_on, PlanMilestone.position)
        )
        return result.scalars().all()

    async def milestone_of(
        self, user_id: int, milestone_id: int
    ) -> tuple[PlanMilestone, int] | None:
        """The milestone and its plan's cohort id, if it is in a plan of `user_id`."""
        result = await self.session.execute(
            select(PlanMilestone, Plan.cohort_id)
            .join(Plan, Plan.id == PlanMilestone.plan_id)
            .where(
                PlanMilestone.id == milestone_id,
                Plan.user_id == user_id,
                Plan.status != "erased",
            )
        )
        row = result.tuples().first()
        return None if row is None else (row[0], row[1])

    async def milestone(self, milestone_id: int) -> PlanMilestone | None:
        return await self.session.get(PlanMilestone, milestone_id)

    # -- reflections ---------------------------------------------------------------------

    async def add(self, reflection: Reflection) -> Reflection:
        self.session.add(reflection)
        await self.session.flush()
        return reflection

    async def get(self, reflection_id: int) -> Reflection | None:
        return await self.session.get(Reflection, reflection_id)

    async def discard(self, reflection: Reflection) -> None:
        """A draft given up ("start over"): its answers go, the row stays as "discarded" so
        that its id is never used again (an old button of it stays stale)."""
        reflection.status = "discarded"
        reflection.answers = {}
        await self.session.flush()

    async def draft_of(self, user_id: int) -> Reflection | None:
        """The trainee's latest unfinished reflection."""
        result = await self.session.execute(
            select(Reflection)
            .where(Reflection.user_id == user_id, Reflection.status == "draft")
            .order_by(Reflection.id.desc())
            .limit(1)
        )
        return result.scalar_one_or_none()

    async def done_of_user(self, user_id: int) -> Sequence[Reflection]:
        """The trainee's finished reflections, oldest first."""
        result = await self.session.execute(
            select(Reflection)
            .where(Reflection.user_id == user_id, Reflection.status == "done")
            .order_by(Reflection.completed_at, Reflection.id)
        )
        return result.scalars().all()

    async def done_of_cohort(self, cohort_id: int, limit: int) -> Sequence[tuple[Reflection, User]]:
        """The cohort's latest finished reflections, newest first, with their authors."""
        result = await self.session.execute(
            select(Reflection, User)
            .join(User, User.id == Reflection.user_id)
            .where(Reflection.cohort_id == cohort_id, Reflection.status == "done")
            .order_by(Reflection.completed_at.desc(), Reflection.id.desc())
            .limit(limit)
        )
        return [(r, u) for r, u in result.tuples()]

    # -- comments ------------------------------------------------------------------------

    async def add_comment(self, comment: ReflectionComment) -> ReflectionComment:
        self.session.add(comment)
        await self.session.flush()
        return comment

    async def comments_of(self, reflection_ids: Sequence[int]) -> Sequence[ReflectionComment]:
        """Comments on these reflections, oldest first."""
        if not reflection_ids:
            return []
        result = await self.session.execute(
            select(ReflectionComment)
            .where(ReflectionComment.reflection_id.in_(list(reflection_ids)))
            .order_by(ReflectionComment.created_at, ReflectionComment.id)
        )
        return result.scalars().all()
