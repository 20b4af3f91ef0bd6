"""Queries of the case library."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Case, Plan, Reflection, User
from bot.db.queue import insert_ignoring_duplicates

PUBLISHED = "published"


def _shown() -> Any:
    """What the library shows: published, with its text (erasure clears the body)."""
    return (Case.status == PUBLISHED) & Case.body.is_not(None)


class CaseRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- the library ---------------------------------------------------------------------

    async def area_counts(self, cohort_id: int) -> dict[str, int]:
        result = await self.session.execute(
            select(Case.area, func.count())
            .where(Case.cohort_id == cohort_id, _shown())
            .group_by(Case.area)
        )
        return {area: int(n) for area, n in result.tuples()}

    async def published_in_area(
        self, cohort_id: int, area: str, offset: int, limit: int
    ) -> tuple[list[Case], int]:
        """One page of an area's cases, newest first, and how many there are in all."""
        where = (Case.cohort_id == cohort_id, Case.area == area, _shown())
        total = await self.session.scalar(select(func.count()).select_from(Case).where(*where))
        result = await self.session.scalars(
            select(Case)
            .where(*where)
            .order_by(Case.decided_at.desc(), Case.id.desc())
            .offset(offset)
            .limit(limit)
        )
        return list(result.all()), int(total or 0)

    async def get(self, case_id: int) -> Case | None:
        return await self.session.get(Case, case_id)

    async def with_author(self, case_id: int) -> tuple[Case, int | None] | None:
        """The case and its author's user id (None once the reflection is gone)."""
        result = await self.session.execute(
            select(Case, Reflection.user_id)
            .outerjoin(Reflection, Reflection.id == Case.reflection_id)
            .where(Case.id == case_id)
        )
        row = result.first()
        return (row[0], row[1]) if row is not None else None

    async def of_author(self, user_id: int, cohort_id: int) -> list[Case]:
        result = await self.session.scalars(
            select(Case)
            .join(Reflection, Reflection.id == Case.reflection_id)
            .where(Reflection.user_id == user_id, Case.cohort_id == cohort_id)
            .order_by(Case.created_at.desc(), Case.id.desc())
        )
        return list(result.all())

    async def has_own(self, user_id: int, cohort_id: int) -> bool:
        result = await self.session.scalar(
            select(
                exists()
                .where(Case.cohort_id == cohort_id, Reflection.id == Case.reflection_id)
                .where(Reflection.user_id == user_id)
            )
        )
        return bool(result)

    # -- pseudonyms ----------------------------------------------------------------------

    async def pseudonyms(self, cohort_id: int) -> list[tuple[str, int | None]]:
        """(pseudonym, author user id) of every case of the cohort, whatever its status."""
        result = await self.session.execute(
            select(Case.pseudonym, Reflection.user_id)
            .outerjoin(Reflection, Reflection.id == Case.reflection_id)
            .where(Case.cohort_id == cohort_id)
            .order_by(Case.id)
        )
        return [(p, u) for p, u in result.tuples()]

    # -- proposing -----------------------------------------------------------------------

    async def done_reflections(
        self, cohort_id: int, offset: int, limit: int
    ) -> tuple[list[tuple[Reflection, str | None, bool]], int]:
        """A page of the cohort's finished reflections, newest first: each with its author's
        plan area (if they have a plan) and whether it was proposed as a case; and the total."""
        where = (Reflection.cohort_id == cohort_id, Reflection.status == "done")
        total = await self.session.scalar(
            select(func.count()).select_from(Reflection).where(*where)
        )
        proposed = exists().where(Case.reflection_id == Reflection.id)
        result = await self.session.execute(
            select(Reflection, Plan.area, proposed)
            .outerjoin(
                Plan,
                (Plan.user_id == Reflection.user_id)
                & (Plan.cohort_id == Reflection.cohort_id)
                & (Plan.status != "erased"),
            )
            .where(*where)
            .order_by(Reflection.completed_at.desc(), Reflection.id.desc())
            .offset(offset)
            .limit(limit)
        )
        return [(r, area, bool(p)) for r, area, p in result.tuples()], int(total or 0)

    async def reflection(self, reflection_id: int) -> tuple[Reflection, User] | None:
        result = await self.session.execute(
            select(Reflection, User)
            .join(User, User.id == Reflection.user_id)
            .where(Reflection.id == reflection_id)
        )
        row = result.first()
        return (row[0], row[1]) if row is not None else None

    async def plan_area(self, user_id: int, cohort_id: int) -> str | None:
        area: str | None = await self.session.scalar(
            select(Plan.area).where(
                Plan.user_id == user_id, Plan.cohort_id == cohort_id, Plan.status != "erased"
            )
        )
        return area

    async def for_reflection(self, reflection_id: int) -> Case | None:
        case: Case | None = await self.session.scalar(
            select(Case).where(Case.reflection_id == reflection_id)
        )
        return case

    async def add(self, row: dict[str, Any]) -> Case | None:
        """The new case; None when the reflection was proposed already (by anyone)."""
        inserted = await insert_ignoring_duplicates(self.session, Case, [row], "reflection_id")
        if not inserted:
            return None
        return await self.for_reflection(int(row["reflection_id"]))

    # -- decisions -----------------------------------------------------------------------

    async def move(
        self,
        case_id: int,
        from_status: str,
        to_status: str,
        now: datetime,
        *,
        clear_body: bool = False,
    ) -> bool:
        """Compare-and-set of the status: False when it was not `from_status` any more
        (a second tap, a second device), so nothing changes twice."""
        values: dict[str, Any] = {"status": to_status, "decided_at": now}
        if clear_body:
            values["body"] = None
        result = await self.session.execute(
            update(Case)
            .where(Case.id == case_id, Case.status == from_status)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return (result.rowcount or 0) == 1  # type: ignore[attr-defined]

    async def users(self, ids: Sequence[int]) -> dict[int, User]:
        result = await self.session.scalars(select(User).where(User.id.in_(list(ids))))
        return {u.id: u for u in result.all()}
