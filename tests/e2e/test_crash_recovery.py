"""SIGKILL the real bot process while it delivers, start it again: nothing lost, nothing
repeated beyond the documented window (the rows in flight at the instant of the kill)."""

from __future__ import annotations

import asyncio
import signal
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bench.seed import seed_trainees
from bot.config import load_settings
from bot.core import Core, build_core
from bot.db.models import DueItem, OutboxMessage
from bot.domain.notices import Audience
from bot.sandbox.emulator import BotAPIEmulator
from bot.sandbox.limits import TelegramLimits
from bot.services.broadcasts import Notice
from tests.conftest import Backend
from tests.e2e.harness import TOKEN, process_env, spawn_bot

pytestmark = pytest.mark.e2e
ORGANISER = 77
FIRST = 500_000
USERS = 150
CONCURRENCY = 8
NOTICE = "【通知】周五下午两点在党校报告厅举行结业典礼。"


def delivered(emulator: BotAPIEmulator) -> int:
    return sum(1 for i in range(USERS) if emulator.delivered_count(FIRST + i) > 0)


async def until(condition: object, timeout: float = 60) -> None:
    """Wait for an emulator-side condition, on the emulator's own events."""
    assert callable(condition)
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.02)  # the bot is another process: poll its visible effect


async def overdue_broadcast(core: Core) -> int:
    """A notice that fell due an hour ago, while the bot was down."""
    created = await core.services.cohorts.create(
        name="结业班",
        course_title="基层治理",
        ends_on=date(2026, 12, 1),
        timezone="Asia/Shanghai",
        organiser_telegram_ids=(ORGANISER,),
    )
    await seed_trainees(core, created.cohort.id, FIRST, USERS)
    draft = await core.services.broadcasts.create_draft(
        ORGANISER, created.cohort.id, Audience.TRAINEES, Notice(NOTICE)
    )
    assert draft is not None
    now = core.clock.now()
    result = await core.services.broadcasts.confirm(ORGANISER, draft.id, now + timedelta(minutes=1))
    assert result.recipients == USERS
    async with core.uow() as uow:  # move it into the past: an hour of downtime
        item = await uow.session.scalar(select(DueItem).where(DueItem.kind == "broadcast_send"))
        assert item is not None
        item.due_at = now - timedelta(hours=1)
        await uow.commit()
    return draft.id


async def test_sigkill_during_delivery_loses_nothing(backend: Backend, tmp_path: Path) -> None:
    emulator = BotAPIEmulator(TOKEN)
    emulator.limiter = TelegramLimits(global_per_second=120)
    await emulator.start()
    emulator.add_user(ORGANISER, "组织者")
    for i in range(USERS):
        emulator.add_user(FIRST + i, f"学员{i}")
    core = build_core(load_settings(DATABASE_URL=backend.database_url))
    await core.migrate()
    try:
        broadcast_id = await overdue_broadcast(core)
        env = process_env(
            backend,
            emulator,
            DELIVERY_RATE="100",
            DELIVERY_CONCURRENCY=str(CONCURRENCY),
            QUIET_HOURS="off",
            SWEEP_INTERVAL="0.5",
            POLLING_TIMEOUT="1",
        )
        bot = await spawn_bot(env, log=tmp_path / "bot.log")
        await until(lambda: delivered(emulator) >= USERS // 3)
        bot.send_signal(signal.SIGKILL)
        await bot.wait()
        at_kill = delivered(emulator)
        assert at_kill < USERS, "the kill came too late to test anything"

        bot = await spawn_bot(env, log=tmp_path / "bot.log")
        try:
            await until(lambda: delivered(emulator) == USERS)
            # The report reaches its final state once everything is resolved.
            await until(
                lambda: any(
                    "（已完成）" in (m.get("text") or "") for m in emulator.messages(ORGANISER)
                ),
            )
        finally:
            bot.send_signal(signal.SIGTERM)
            await asyncio.wait_for(bot.wait(), 30)

        repeats = emulator.duplicates(lambda m: m.text if m.text == NOTICE else None)
        assert len(repeats) <= CONCURRENCY, f"more repeats than rows in flight: {repeats}"
        async with core.uow() as uow:
            items = (
                await uow.session.scalars(select(DueItem).where(DueItem.kind == "broadcast_send"))
            ).all()
            rows = (
                await uow.session.scalars(
                    select(OutboxMessage).where(OutboxMessage.purpose == "broadcast")
                )
            ).all()
        assert [(i.kind, i.status) for i in items] == [("broadcast_send", "done")]
        assert len(rows) == USERS and {r.status for r in rows} == {"sent"}
        assert {r.broadcast_id for r in rows} == {broadcast_id}
    finally:
        await core.close()
        await emulator.stop()
