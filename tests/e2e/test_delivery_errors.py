"""How the delivery worker meets Telegram's errors, through the emulator over HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.db.models import OutboxMessage, User
from bot.sandbox.client import EmulatorClient
from bot.sandbox.emulator import BotAPIEmulator
from tests.e2e.harness import Phone, RunningBot
from tests.e2e.test_broadcast import MENTOR, ORGANISER, TRAINEES, cohort_with_members, compose

pytestmark = pytest.mark.e2e


async def send_to_trainees(running: RunningBot, client: EmulatorClient, text: str) -> None:
    organiser = Phone(client, ORGANISER)
    await compose(organiser, "仅学员", text)
    await organiser.next_message()
    options = await organiser.next_message()
    await organiser.tap_then_read("立即发送", on=options)
    await running.sweep()


async def outbox(running: RunningBot) -> dict[int, OutboxMessage]:
    async with running.core.uow() as uow:
        rows = await uow.session.scalars(
            select(OutboxMessage).where(OutboxMessage.purpose == "broadcast")
        )
        return {r.chat_id: r for r in rows}


async def test_server_errors_and_dropped_connections_are_retried(
    running: RunningBot, client: EmulatorClient, emulator: BotAPIEmulator
) -> None:
    await cohort_with_members(running, client)
    emulator.inject_failures("sendMessage", TRAINEES[0], 502, count=1)
    emulator.inject_failures("sendMessage", TRAINEES[1], 0, count=1)  # connection dropped
    await send_to_trainees(running, client, "明早八点集合")
    # Delivered to the third at once; the other two wait for their back-off.
    assert (await Phone(client, TRAINEES[2]).next_message()).text == "明早八点集合"
    await running.delivered()
    rows = await outbox(running)
    assert rows[TRAINEES[0]].status == "pending" and rows[TRAINEES[0]].attempts == 1
    assert rows[TRAINEES[0]].last_error is not None
    running.advance(timedelta(seconds=6))  # past the first back-off (5 s)
    for telegram_id in TRAINEES[:2]:
        assert (await Phone(client, telegram_id).next_message()).text == "明早八点集合"
    await running.delivered()
    rows = await outbox(running)
    assert {r.status for r in rows.values()} == {"sent"}
    assert rows[TRAINEES[0]].attempts == 2


async def test_bad_request_fails_the_row_without_retry(
    running: RunningBot, client: EmulatorClient, emulator: BotAPIEmulator
) -> None:
    await cohort_with_members(running, client)
    emulator.inject_failures(
        "sendMessage", TRAINEES[0], 400, count=5, description="Bad Request: chat not found"
    )
    await send_to_trainees(running, client, "请填写问卷")
    await Phone(client, TRAINEES[1]).next_message()
    await Phone(client, TRAINEES[2]).next_message()
    await running.sweep()
    final = await Phone(client, ORGANISER).wait_for(
        lambda m: m.text is not None and "（已完成）" in m.text
    )
    assert final.text is not None and "发送失败 1" in final.text
    await running.delivered()
    row = (await outbox(running))[TRAINEES[0]]
    assert (row.status, row.error_code, row.attempts) == ("failed", 400, 1)
    assert row.last_error is not None and "chat not found" in row.last_error
    assert len(emulator.injected_failures()) == 1  # four of five left: it was not retried


async def test_flood_control_pauses_and_the_message_still_arrives(
    running: RunningBot, client: EmulatorClient, emulator: BotAPIEmulator
) -> None:
    await cohort_with_members(running, client)
    emulator.inject_failures("sendMessage", TRAINEES[0], 429, count=1, retry_after=1)
    await send_to_trainees(running, client, "下午停电，培训改到明天")
    got = await Phone(client, TRAINEES[0]).next_message(timeout=15)
    assert got.text == "下午停电，培训改到明天"
    await running.delivered()
    row = (await outbox(running))[TRAINEES[0]]
    # Flood control is not the message's fault: it does not count as a failed attempt.
    assert (row.status, row.attempts) == ("sent", 1)
    assert running.app is not None and running.app.background.worker.stats.rate_limited == 1


async def test_blocked_user_is_marked_inactive_and_left_out_next_time(
    running: RunningBot, client: EmulatorClient
) -> None:
    running.allowed_errors.add(403)
    await cohort_with_members(running, client)
    await client.block(TRAINEES[1])
    await send_to_trainees(running, client, "第一次通知")
    await Phone(client, TRAINEES[0]).next_message()
    await running.sweep()
    await Phone(client, ORGANISER).wait_for(lambda m: "（已完成）" in (m.text or ""))
    async with running.core.uow() as uow:
        user = await uow.session.scalar(select(User).where(User.telegram_id == TRAINEES[1]))
        assert user is not None and user.is_active is False
    organiser = Phone(client, ORGANISER)
    choose = await organiser.say("/broadcast")
    asked = await organiser.tap_then_read("仅学员", on=choose)
    assert asked.text is not None and asked.text.startswith("将发给 2 人")
    assert MENTOR not in (await outbox(running))
