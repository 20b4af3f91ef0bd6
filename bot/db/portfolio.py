"""Read queries for one person's whole record (the growth portfolio, the PIPL copy and
erasure): plans, reflections, comments and cases, across every cohort."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.db.models import (
    Case,
    Cohort,
    GuidanceSession,
    Plan,
    Reflection,
    ReflectionComment,
    User,
)


@dataclass(frozen=True, slots=True)
class CommentRow:
    comment: ReflectionComment
    author_name: str | None  # None when the author erased their data or is gone


class PortfolioRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def plans_of(self, user_id: int) -> Sequence[tuple[Plan, Cohort]]:
        """The user's plans (milestones loaded, in order) with their cohorts, oldest first."""
        result = await self.session.execute(
            select(Plan, Cohort)
            .join(Cohort, Cohort.id == Plan.cohort_id)
            .where(Plan.user_id == user_id)
            .order_by(Plan.created_at, Plan.id)
        )
        return [(plan, cohort) for plan, cohort in result.all()]

    async def reflections_of(self, user_id: int) -> Sequence[Reflection]:
        """The user's reflections (drafts too, not the ones they started over), oldest
        first."""
        result = await self.session.execute(
            select(Reflection)
            .where(Reflection.user_id == user_id, Reflection.status != "discarded")
            .order_by(Reflection.created_at, Reflection.id)
        )
        return result.scalars().all()

    async def comments_on(self, reflection_ids: Sequence[int]) -> Sequence[CommentRow]:
        """Comments received on these reflections, oldest first, with the author's name."""
        if not reflection_ids:
            return []
        author = aliased(User)
        result = await self.session.execute(
            select(ReflectionComment, author.full_name)
            .outerjoin(author, author.id == ReflectionComment.author_user_id)
            .where(ReflectionComment.reflection_id.in_(reflection_ids))
            .order_by(ReflectionComment.created_at, ReflectionComment.id)
        )
        return [CommentRow(comment, name) for comment, name in result.all()]

    async def comments_by(self, user_id: int) -> Sequence[ReflectionComment]:
        """Comments the user wrote (as a mentor or organiser), oldest first."""
        result = await self.session.execute(
            select(ReflectionComment)
            .where(ReflectionComment.author_user_id == user_id)
            .order_by(ReflectionComment.created_at, ReflectionComment.id)
        )
        return result.scalars().all()

    async def cases_of(self, user_id: int) -> Sequence[tuple[Case, Cohort]]:
        """Cases made from the user's reflections, whatever their status, oldest first."""
        result = await self.session.execute(
            select(Case, Cohort)
            .join(Reflection, Reflection.id == Case.reflection_id)
            .join(Cohort, Cohort.id == Case.cohort_id)
            .where(Reflection.user_id == user_id)
            .order_by(Case.created_at, Case.id)
        )
        return [(case, cohort) for case, cohort in result.all()]

    async def guidance_sessions_of(self, user_id: int) -> Sequence[GuidanceSession]:
        """Guidance sessions the person logged as a mentor or had as a mentee."""
        result = await self.session.execute(
            select(GuidanceSession)
            .where(
                or_(
                    GuidanceSession.mentor_user_id == user_id,
                    GuidanceSession.trainee_user_id == user_id,
                )
            )
            .order_by(GuidanceSession.held_on, GuidanceSession.id)
        )
        return result.scalars().all()
