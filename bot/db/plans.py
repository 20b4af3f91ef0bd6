"""Queries of practice-transfer plans and their milestones."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from bot.db.models import Plan, PlanMilestone, User
from bot.db.repositories import active_members


@dataclass(frozen=True, slots=True)
class PlanTarget:
    """A trainee a plan prompt goes to."""

    user_id: int
    chat_id: int
    locale: str | None


class PlanRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def of(self, user_id: int, cohort_id: int) -> Plan | None:
        result = await self.session.execute(
            select(Plan).where(Plan.user_id == user_id, Plan.cohort_id == cohort_id)
        )
        return result.scalar_one_or_none()

    async def get(self, plan_id: int) -> Plan | None:
        return await self.session.get(Plan, plan_id)

    async def add(self, plan: Plan) -> Plan:
        self.session.add(plan)
        await self.session.flush()
        return plan

    async def milestone(self, milestone_id: int) -> PlanMilestone | None:
        """The milestone with its plan and all the plan's milestones loaded."""
        result = await self.session.execute(
            select(PlanMilestone)
            .where(PlanMilestone.id == milestone_id)
            .options(joinedload(PlanMilestone.plan).selectinload(Plan.milestones))
        )
        return result.scalar_one_or_none()

    async def set_milestone_status(
        self, milestone_id: int, expected: str, status: str, now: datetime
    ) -> bool:
        """Compare-and-set: a second tap on the same check-in changes nothing."""
        result = await self.session.execute(
            update(PlanMilestone)
            .where(PlanMilestone.id == milestone_id, PlanMilestone.status == expected)
            .values(status=status, checked_at=now)
        )
        return bool(getattr(result, "rowcount", 0))

    async def without_plan(self, cohort_id: int) -> list[PlanTarget]:
        """Active, consenting trainees of the cohort with no confirmed plan."""
        confirmed = exists().where(
            Plan.user_id == User.id, Plan.cohort_id == cohort_id, Plan.status == "active"
        )
        result = await self.session.execute(
            active_members(cohort_id, "trainee", User.id, User.telegram_id, User.locale)
            .where(~confirmed)
            .order_by(User.id)
        )
        return [PlanTarget(u, c, loc) for u, c, loc in result.tuples()]
