"""Durable scheduling: due items in the database, swept by one periodic job.

Each item is handled and marked done in one transaction, so a crash either leaves it
pending (it runs again, whole) or done (it never runs again): nothing lost, nothing twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot import failpoints
from bot.db.models import Cohort
from bot.domain.ports import Clock
from bot.domain.schedule import retry_delay
from bot.services.uow import UnitOfWork, UowFactory

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Due:
    id: int
    kind: str
    key: str
    due_at: datetime
    payload: dict[str, Any]
    cohort_id: int | None


DueHandler = Callable[[UnitOfWork, Due, datetime], Awaitable[None]]
CohortFinder = Callable[[UnitOfWork], Awaitable[Sequence[Cohort]]]
CohortPlanner = Callable[[UnitOfWork, Cohort, datetime], Awaitable[None]]


class LegacyCohorts:
    """Once per process: plan what a feature schedules for the cohorts created before it
    existed (those `find` returns), all in one transaction; then, if any were planned, nudge
    the sweeper. Call it after each sweep: after the first success it does nothing."""

    def __init__(
        self,
        uow: UowFactory,
        clock: Clock,
        find: CohortFinder,
        plan: CohortPlanner,
        *,
        nudge: Callable[[], None] | None = None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._find = find
        self._plan = plan
        self._nudge = nudge
        self.done = False

    async def __call__(self) -> None:
        if self.done:
            return
        now = self._clock.now()
        async with self._uow() as uow:
            cohorts = await self._find(uow)
            for cohort in cohorts:
                await self._plan(uow, cohort, now)
            await uow.commit()
        self.done = True
        if cohorts and self._nudge is not None:
            self._nudge()


@dataclass(frozen=True, slots=True)
class SweepReport:
    done: int
    retried: int
    failed: int
    seconds: float


def due_row(
    kind: str,
    key: str,
    due_at: datetime,
    now: datetime,
    *,
    payload: dict[str, Any] | None = None,
    cohort_id: int | None = None,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "dedupe_key": key,
        "due_at": due_at,
        "status": "pending",
        "attempts": 0,
        "payload": payload or {},
        "cohort_id": cohort_id,
        "created_at": now,
    }


class Sweeper:
    def __init__(
        self,
        uow: UowFactory,
        clock: Clock,
        *,
        batch: int = 200,
        max_attempts: int = 5,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._batch = batch
        self._max_attempts = max_attempts
        self._handlers: dict[str, DueHandler] = {}
        self._after_sweep: list[Callable[[], Awaitable[None]]] = []

    def register(self, kind: str, handler: DueHandler) -> None:
        if kind in self._handlers:
            raise ValueError(f"a handler for {kind!r} is registered already")
        self._handlers[kind] = handler

    def after_sweep(self, hook: Callable[[], Awaitable[None]]) -> None:
        self._after_sweep.append(hook)

    async def sweep(self) -> SweepReport:
        started = time.perf_counter()
        now = self._clock.now()
        done = retried = failed = 0
        while True:
            async with self._uow() as uow:
                ids = await uow.due.due_ids(now, self._batch)
            for item_id in ids:
                outcome = await self._process(item_id, now)
                done += outcome == "done"
                retried += outcome == "retried"
                failed += outcome == "failed"
            if len(ids) < self._batch:
                break
        for hook in self._after_sweep:
            await hook()
        return SweepReport(done, retried, failed, time.perf_counter() - started)

    async def _process(self, item_id: int, now: datetime) -> str:
        async with self._uow() as uow:
            item = await uow.due.get_pending(item_id)
            if item is None:
                return "gone"
            due = Due(
                item.id, item.kind, item.dedupe_key, item.due_at, dict(item.payload), item.cohort_id
            )
            handler = self._handlers.get(item.kind)
            try:
                if handler is None:
                    raise LookupError(f"no handler for due items of kind {item.kind!r}")
                await handler(uow, due, now)
                item.status = "done"
                item.done_at = now
                await uow.commit()
                failpoints.hit("sweep.item")
                return "done"
            except Exception as exc:
                log.exception("due item %s (%s) failed", item_id, due.kind)
                error = f"{type(exc).__name__}: {exc}"[:500]
        async with self._uow() as uow:
            item = await uow.due.get_pending(item_id)
            if item is None:
                return "gone"
            item.attempts += 1
            item.last_error = error
            if item.attempts >= self._max_attempts:
                item.status = "failed"
                outcome = "failed"
            else:
                item.due_at = now + retry_delay(item.attempts)
                outcome = "retried"
            await uow.commit()
            return outcome
