"""The SIGKILL matrix: the real bot process (`python -m bot run`) killed at a named point
(bot/failpoints.py) during a conversation step, during a sweep, and between a send and its
commit, then started again on the same database (and Redis). Nothing is lost, nothing is
sent twice beyond the documented window, the conversation goes on where it was.
(Killed in the middle of a broadcast's delivery: tests/e2e/test_crash_recovery.py.)"""

from __future__ import annotations

import asyncio
import re
import signal
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bench.seed import seed_trainees
from bot.config import load_settings
from bot.core import Core, build_core
from bot.db.models import DueItem, InboxUpdate, OutboxMessage
from bot.domain.notices import Audience
from bot.failpoints import ENV as FAILPOINTS
from bot.sandbox.client import EmulatorClient
from bot.sandbox.emulator import BotAPIEmulator
from bot.services.broadcasts import Notice
from tests.conftest import Backend
from tests.e2e.harness import TOKEN, Phone, process_env, spawn_bot

pytestmark = pytest.mark.e2e
ORGANISER = 77
FIRST = 600_000
KILLED = -signal.SIGKILL


async def settled(core: Core, timeout: float = 10) -> None:
    """Every fetched update handled to the end (the inbox is empty)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with core.uow() as uow:
            if not (await uow.session.scalars(select(InboxUpdate.update_id))).all():
                return
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("updates still in the inbox")
        await asyncio.sleep(0.05)


class Runs:
    """Start the bot process, with or without an armed failpoint; stop what is left."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.process: asyncio.subprocess.Process | None = None

    async def start(self, failpoint: str | None = None) -> asyncio.subprocess.Process:
        env = dict(self.env)
        if failpoint:
            env[FAILPOINTS] = failpoint
        self.process = await spawn_bot(env, log=self.log)
        return self.process

    async def died(self, timeout: float = 60) -> int:
        """The exit status of a process expected to kill itself at its failpoint."""
        assert self.process is not None
        code = await asyncio.wait_for(self.process.wait(), timeout)
        assert code == KILLED, f"exit {code}, not SIGKILL:\n{self.log.read_text()[-3000:]}"
        return code

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(self.process.wait(), 30)
            assert code == 0, self.log.read_text()[-3000:]


@pytest.fixture
async def core(backend: Backend) -> AsyncIterator[Core]:
    core = build_core(load_settings(DATABASE_URL=backend.database_url))
    await core.migrate()
    try:
        yield core
    finally:
        await core.close()


async def a_cohort(core: Core, trainees: int) -> tuple[int, str]:
    created = await core.services.cohorts.create(
        name="结业班",
        course_title="基层治理",
        ends_on=date(2026, 12, 1),
        timezone="Asia/Shanghai",
        organiser_telegram_ids=(ORGANISER,),
    )
    await seed_trainees(core, created.cohort.id, FIRST, trainees)
    return created.cohort.id, created.trainee_invite.code


async def broadcasts_due_now(core: Core, cohort_id: int, notices: list[str]) -> None:
    """Notices confirmed for a minute from now, then moved an hour into the past: due items
    that fell due while the bot was down, all found by the first sweep."""
    now = core.clock.now()
    for text in notices:
        draft = await core.services.broadcasts.create_draft(
            ORGANISER, cohort_id, Audience.TRAINEES, Notice(text)
        )
        assert draft is not None
        await core.services.broadcasts.confirm(ORGANISER, draft.id, now + timedelta(minutes=1))
    async with core.uow() as uow:
        await uow.session.execute(
            update(DueItem)
            .where(DueItem.kind == "broadcast_send")
            .values(due_at=now - timedelta(hours=1))
        )
        await uow.commit()


def received(emulator: BotAPIEmulator, chat_id: int, text: str) -> int:
    return sum(1 for m in emulator.messages(chat_id) if m.get("text") == text)


async def outbox_and_due(core: Core) -> tuple[list[str], list[str]]:
    async with core.uow() as uow:
        rows = (
            await uow.session.scalars(
                select(OutboxMessage.status).where(OutboxMessage.purpose == "broadcast")
            )
        ).all()
        items = (
            await uow.session.scalars(
                select(DueItem.status).where(DueItem.kind == "broadcast_send")
            )
        ).all()
    return list(rows), list(items)


async def test_killed_during_a_conversation_step_the_message_is_handled_after_the_restart(
    backend: Backend,
    emulator: BotAPIEmulator,
    client: EmulatorClient,
    core: Core,
    tmp_path: Path,
) -> None:
    """Killed when the third update (the name, typed during enrolment) had been fetched and
    claimed but not handled: Telegram considers it delivered, yet after the restart the
    bot answers it — the trainee types nothing again — and enrolment goes on."""
    _, code = await a_cohort(core, 0)
    runs = Runs(process_env(backend, emulator, SWEEP_INTERVAL="3600"), tmp_path / "bot.log")
    await runs.start("update.start=3")
    try:
        phone = Phone(client, 4242)
        notice = await phone.say(f"/start {code}", timeout=30)
        await phone.tap("同意并继续", on=notice)
        ask_name = await phone.next_message()
        await settled(core)  # the consent press handled to the end, as a person's pause gives
        await phone.send("周九")
        await runs.died()
        assert emulator.delivered_count(4242) == 2  # the notice and the name question
        async with core.uow() as uow:  # kept, although the bot died before handling it
            left = (await uow.session.scalars(select(InboxUpdate.payload))).all()
        assert len(left) == 1 and "周九" in left[0]

        await runs.start()  # no failpoint: a plain restart
        ask_unit = await phone.next_message(timeout=30)  # the answer to "周九"
        assert ask_unit.text != ask_name.text and ask_unit.has_button("村"), ask_unit.text
        await phone.tap_then_read("村", on=ask_unit)
        await phone.say("李家村")
        await phone.say("东城区")
        welcome = await phone.say("村委会主任")
        assert welcome.text is not None and "报名完成" in welcome.text, welcome.text
    finally:
        await runs.stop()
    async with core.uow() as uow:
        user = await uow.users.by_telegram_id(4242)
        assert user is not None and user.full_name == "周九" and user.unit_name == "李家村"
        assert (await uow.session.scalars(select(InboxUpdate))).all() == []
    texts = [m.get("text") or "" for m in emulator.messages(4242)]
    assert len(texts) == len(set(texts)), texts  # no question asked twice
    assert emulator.errors() == []


async def test_killed_between_a_send_and_its_commit_only_that_message_repeats(
    backend: Backend, core: Core, tmp_path: Path
) -> None:
    """One message at a time; killed right after Telegram accepted the 10th, before its row
    said "sent". After the restart that row is sent again (Telegram has no idempotency key:
    this is the documented window, one message per row in flight) and nothing else is."""
    users, notice = 30, "【通知】结业典礼改在周五下午两点。"
    emulator = BotAPIEmulator(TOKEN)
    await emulator.start()
    try:
        for i in range(users):
            emulator.add_user(FIRST + i, f"学员{i}")
        emulator.add_user(ORGANISER, "组织者")
        cohort_id, _ = await a_cohort(core, users)
        await broadcasts_due_now(core, cohort_id, [notice])
        env = process_env(
            backend,
            emulator,
            DELIVERY_CONCURRENCY="1",
            DELIVERY_RATE="100",
            QUIET_HOURS="off",
            SWEEP_INTERVAL="0.5",
        )
        runs = Runs(env, tmp_path / "bot.log")
        await runs.start("delivery.sent=10")
        await runs.died()
        counts = [received(emulator, FIRST + i, notice) for i in range(users)]
        assert sorted(counts) == [0] * (users - 10) + [1] * 10
        async with core.uow() as uow:
            in_flight = (
                await uow.session.scalars(
                    select(OutboxMessage.chat_id).where(OutboxMessage.status == "sending")
                )
            ).all()
        assert len(in_flight) == 1 and received(emulator, in_flight[0], notice) == 1

        await runs.start()
        try:
            await until_sent(core, users)
        finally:
            await runs.stop()
        counts = {FIRST + i: received(emulator, FIRST + i, notice) for i in range(users)}
        assert [c for c, n in counts.items() if n != 1] == [in_flight[0]]
        assert counts[in_flight[0]] == 2
        rows, items = await outbox_and_due(core)
        assert rows == ["sent"] * users and items == ["done"]
    finally:
        await emulator.stop()


async def until_sent(core: Core, rows: int, timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        sent, _ = await outbox_and_due(core)
        if sent.count("sent") == rows:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"outbox: {sent}")
        await asyncio.sleep(0.1)


async def test_killed_during_a_sweep_every_notice_arrives_once(
    backend: Backend, core: Core, tmp_path: Path
) -> None:
    """Four broadcasts fell due together; killed right after the sweep committed the second
    (its outbox rows and its "done" in one transaction). The restarted sweep takes the other
    two; every trainee gets each notice once, apart from the one row that may have been in
    flight at the kill (one sender at a time)."""
    users = 20
    notices = [f"【通知】第{n}期学习材料已发布。" for n in range(1, 5)]
    emulator = BotAPIEmulator(TOKEN)
    await emulator.start()
    try:
        for i in range(users):
            emulator.add_user(FIRST + i, f"学员{i}")
        emulator.add_user(ORGANISER, "组织者")
        cohort_id, _ = await a_cohort(core, users)
        await broadcasts_due_now(core, cohort_id, notices)
        env = process_env(
            backend,
            emulator,
            DELIVERY_CONCURRENCY="1",
            DELIVERY_RATE="100",
            QUIET_HOURS="off",
            SWEEP_INTERVAL="0.5",
        )
        runs = Runs(env, tmp_path / "bot.log")
        await runs.start("sweep.item=2")
        await runs.died()
        rows, items = await outbox_and_due(core)
        assert len(rows) == 2 * users and sorted(items) == ["done", "done", "pending", "pending"]

        await runs.start()
        try:
            await until_sent(core, 4 * users)
        finally:
            await runs.stop()
        rows, items = await outbox_and_due(core)
        assert rows == ["sent"] * 4 * users and items == ["done"] * 4
        counts = [received(emulator, FIRST + i, n) for i in range(users) for n in notices]
        assert min(counts) == 1 and sum(counts) - len(counts) <= 1, counts
        log = (tmp_path / "bot.log").read_text()
        assert re.search(r"failpoint sweep.item #2: SIGKILL", log), log[-2000:]
    finally:
        await emulator.stop()
