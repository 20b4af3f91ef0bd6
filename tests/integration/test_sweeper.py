"""Due items on a real database: each handled exactly once, failures retried with back-off."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.config import load_settings
from bot.core import Core, build_core
from bot.db.models import DueItem, OutboxMessage
from bot.domain.delivery import Purpose
from bot.domain.ports import MovableClock
from bot.services.outbox import outbox_row
from bot.services.scheduling import Due, due_row
from bot.services.uow import UnitOfWork
from tests.conftest import Backend

START = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


@pytest.fixture
async def core(backend: Backend) -> AsyncIterator[Core]:
    core = build_core(load_settings(DATABASE_URL=backend.database_url), clock=MovableClock(START))
    await core.migrate()
    try:
        yield core
    finally:
        await core.close()


async def schedule(core: Core, *rows: dict[str, object]) -> int:
    async with core.uow() as uow:
        n = await uow.due.schedule(list(rows))
        await uow.commit()
        return n


async def outbox_count(core: Core) -> int:
    async with core.uow() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)


async def test_each_due_item_runs_once_and_only_when_due(core: Core) -> None:
    calls: list[str] = []

    async def greet(uow: UnitOfWork, due: Due, now: datetime) -> None:
        calls.append(due.key)
        await uow.outbox.enqueue(
            [
                outbox_row(
                    f"greet:{due.key}", 1, "text", {"text": "hi"}, purpose=Purpose.REMINDER, now=now
                )
            ]
        )

    core.sweeper.register("greet", greet)
    assert isinstance(core.clock, MovableClock)
    now = core.clock.now()
    assert (
        await schedule(
            core,
            due_row("greet", "a", now, now),
            due_row("greet", "b", now + timedelta(days=30), now),
        )
        == 2
    )
    # Scheduling the same key again is a no-op, not a second item.
    assert await schedule(core, due_row("greet", "a", now, now)) == 0

    report = await core.sweeper.sweep()
    assert (report.done, calls) == (1, ["a"])
    assert (await core.sweeper.sweep()).done == 0
    core.clock.advance(timedelta(days=30))
    assert (await core.sweeper.sweep()).done == 1
    assert calls == ["a", "b"] and await outbox_count(core) == 2


async def test_a_failing_handler_leaves_no_trace_and_is_retried(core: Core) -> None:
    attempts: list[datetime] = []

    async def flaky(uow: UnitOfWork, due: Due, now: datetime) -> None:
        attempts.append(now)
        await uow.outbox.enqueue(
            [outbox_row("flaky:1", 1, "text", {"text": "x"}, purpose=Purpose.REMINDER, now=now)]
        )
        if len(attempts) < 3:
            raise ConnectionError("the database went away mid-way")

    core.sweeper.register("flaky", flaky)
    assert isinstance(core.clock, MovableClock)
    now = core.clock.now()
    await schedule(core, due_row("flaky", "f", now, now))
    assert (await core.sweeper.sweep()).retried == 1
    assert await outbox_count(core) == 0, "the half-done work was rolled back"
    assert (await core.sweeper.sweep()).done == 0, "not due again before its back-off"
    core.clock.advance(timedelta(seconds=5))
    assert (await core.sweeper.sweep()).retried == 1
    core.clock.advance(timedelta(seconds=10))
    assert (await core.sweeper.sweep()).done == 1
    assert await outbox_count(core) == 1 and len(attempts) == 3
    async with core.uow() as uow:
        item = await uow.session.scalar(select(DueItem))
        assert item is not None and item.status == "done" and item.attempts == 2
        assert item.last_error is not None and "went away" in item.last_error


async def test_unknown_kinds_fail_after_the_last_attempt(core: Core) -> None:
    assert isinstance(core.clock, MovableClock)
    now = core.clock.now()
    await schedule(core, due_row("no_such_kind", "x", now, now))
    for _ in range(5):
        await core.sweeper.sweep()
        core.clock.advance(timedelta(minutes=11))
    async with core.uow() as uow:
        item = await uow.session.scalar(select(DueItem))
        assert item is not None and item.status == "failed" and item.attempts == 5


async def test_a_sweep_reads_only_what_is_due(core: Core) -> None:
    """10,000 future items and 50 due ones: the sweep touches the 50 (by the index)."""
    assert isinstance(core.clock, MovableClock)
    now = core.clock.now()
    seen: list[int] = []

    async def count(uow: UnitOfWork, due: Due, now: datetime) -> None:
        seen.append(due.id)

    core.sweeper.register("count", count)
    later = [due_row("count", f"later:{i}", now + timedelta(days=1), now) for i in range(10_000)]
    await schedule(core, *later)
    await schedule(core, *[due_row("count", f"now:{i}", now, now) for i in range(50)])
    report = await core.sweeper.sweep()
    assert report.done == 50 and len(seen) == 50
