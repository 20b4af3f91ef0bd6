"""Scenario role-plays: plays (runs), free-text answers and the mentor's comments on them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import ScenarioAnswer, ScenarioRun

PLAYING = "playing"
FINISHED = "finished"
ABANDONED = "abandoned"  # a new play of the same scenario replaced it
ERASED = "erased"


class ScenarioRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, run_id: int) -> ScenarioRun | None:
        return await self.session.get(ScenarioRun, run_id)

    def add(self, run: ScenarioRun) -> None:
        self.session.add(run)

    async def runs_of(self, user_id: int) -> Sequence[ScenarioRun]:
        """The person's plays (not erased), oldest first."""
        result = await self.session.scalars(
            select(ScenarioRun)
            .where(ScenarioRun.user_id == user_id, ScenarioRun.status != ERASED)
            .order_by(ScenarioRun.id)
        )
        return result.all()

    async def playing(self, user_id: int, scenario_id: str) -> ScenarioRun | None:
        result = await self.session.scalars(
            select(ScenarioRun)
            .where(
                ScenarioRun.user_id == user_id,
                ScenarioRun.scenario_id == scenario_id,
                ScenarioRun.status == PLAYING,
            )
            .order_by(ScenarioRun.id.desc())
            .limit(1)
        )
        return result.first()

    async def abandon_playing(self, user_id: int, scenario_id: str, now: datetime) -> None:
        await self.session.execute(
            update(ScenarioRun)
            .where(
                ScenarioRun.user_id == user_id,
                ScenarioRun.scenario_id == scenario_id,
                ScenarioRun.status == PLAYING,
            )
            .values(status=ABANDONED, updated_at=now)
            .execution_options(synchronize_session=False)
        )

    async def move(self, run_id: int, step: int, values: dict[str, Any]) -> bool:
        """Compare-and-set: apply `values` and step + 1 only if the play is still at `step`
        and playing. False: a doubled or stale press (nothing changed)."""
        result = await self.session.execute(
            update(ScenarioRun)
            .where(
                ScenarioRun.id == run_id,
                ScenarioRun.step == step,
                ScenarioRun.status == PLAYING,
            )
            .values(step=step + 1, **values)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0) == 1

    async def finished_in(self, cohort_id: int) -> Sequence[ScenarioRun]:
        """Finished plays of the cohort's trainees (for the organiser's report)."""
        result = await self.session.scalars(
            select(ScenarioRun)
            .where(ScenarioRun.cohort_id == cohort_id, ScenarioRun.status == FINISHED)
            .order_by(ScenarioRun.id)
        )
        return result.all()

    async def finished_since(
        self, user_ids: Sequence[int], since: datetime
    ) -> Sequence[ScenarioRun]:
        if not user_ids:
            return []
        result = await self.session.scalars(
            select(ScenarioRun)
            .where(
                ScenarioRun.user_id.in_(user_ids),
                ScenarioRun.status == FINISHED,
                ScenarioRun.finished_at >= since,
            )
            .order_by(ScenarioRun.finished_at)
        )
        return result.all()

    # -- free-text answers -----------------------------------------------------------------

    def add_answer(self, answer: ScenarioAnswer) -> None:
        self.session.add(answer)

    async def answer(self, answer_id: int) -> ScenarioAnswer | None:
        return await self.session.get(ScenarioAnswer, answer_id)

    async def answers_of_run(self, run_id: int) -> Sequence[ScenarioAnswer]:
        result = await self.session.scalars(
            select(ScenarioAnswer)
            .where(ScenarioAnswer.run_id == run_id)
            .order_by(ScenarioAnswer.id)
        )
        return result.all()

    async def answers_of(self, user_id: int) -> Sequence[ScenarioAnswer]:
        result = await self.session.scalars(
            select(ScenarioAnswer)
            .where(ScenarioAnswer.user_id == user_id)
            .order_by(ScenarioAnswer.id)
        )
        return result.all()

    async def erase(self, user_id: int, now: datetime) -> int:
        """With the person's data: their free-text answers (and the comments on them) go, an
        unfinished play is dropped; finished plays keep only the scenario, the ending and the
        points, which count in the cohort report under no name. Returns the answers erased."""
        answers = await self.answers_of(user_id)
        for answer in answers:
            await self.session.delete(answer)
        await self.session.execute(
            update(ScenarioRun)
            .where(ScenarioRun.user_id == user_id, ScenarioRun.status == PLAYING)
            .values(status=ERASED, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return len(answers)
