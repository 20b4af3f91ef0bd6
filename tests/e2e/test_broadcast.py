"""Organiser broadcasts through the real bot: audience, preview, send once, receipts, report."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.db.models import Broadcast, OutboxMessage, User
from bot.sandbox.client import EmulatorClient
from tests.e2e.harness import Phone, RunningBot, enrol
from tests.e2e.test_enrolment import says

pytestmark = pytest.mark.e2e

ORGANISER = 9001
TRAINEES = (9101, 9102, 9103)
MENTOR = 9201


async def cohort_with_members(running: RunningBot, client: EmulatorClient) -> None:
    created = await running.core.services.cohorts.create(
        name="2026秋季社区书记班",
        course_title="基层治理能力提升专题培训",
        ends_on=date(2026, 12, 1),
        timezone="Asia/Shanghai",
        organiser_telegram_ids=(ORGANISER,),
    )
    for i, telegram_id in enumerate(TRAINEES):
        await client.add_user(telegram_id, f"学员{i}")
        await enrol(running.core, telegram_id, created.trainee_invite.code, f"学员{i}")
    await client.add_user(MENTOR, "导师")
    await enrol(running.core, MENTOR, created.mentor_invite.code, "王导师")
    await client.add_user(ORGANISER, "组织者")


async def rows(running: RunningBot, model: type, *where: Any) -> list[Any]:
    async with running.core.uow() as uow:
        return list((await uow.session.scalars(select(model).where(*where))).all())


async def compose(organiser: Phone, audience: str, text: str) -> None:
    choose = await organiser.say("/broadcast")
    assert choose.text == says("broadcast.choose_audience", cohort="2026秋季社区书记班")
    asked = await organiser.tap_then_read(audience, on=choose)
    assert asked.text is not None and asked.text.startswith("将发给")
    header = await organiser.say(text)
    assert header.text == says("broadcast.preview_header")


async def test_trainee_cannot_broadcast(running: RunningBot, client: EmulatorClient) -> None:
    await cohort_with_members(running, client)
    trainee = Phone(client, TRAINEES[0])
    assert (await trainee.say("/broadcast")).text == says("broadcast.not_organiser")
    assert (await trainee.say("/broadcasts")).text == says("broadcast.not_organiser")


async def test_notice_with_receipts_reaches_trainees_once(
    running: RunningBot, client: EmulatorClient
) -> None:
    running.allowed_errors.add(403)
    await cohort_with_members(running, client)
    await client.block(TRAINEES[2])  # this one has blocked the bot
    organiser = Phone(client, ORGANISER)
    notice = "明天上午 9:00 在党校三楼 <b>第二教室</b> 召开结业座谈会 & 交流"
    await compose(organiser, "仅学员", notice)
    preview = await organiser.next_message()
    options = await organiser.next_message()
    # What the organiser typed is shown literally, "<b>" and "&" included.
    assert preview.text == notice and not preview.buttons
    assert options.text is not None and "收件人：3 人" in options.text

    await organiser.tap("添加「收到」按钮", on=options)
    options = await organiser.wait_for(
        lambda m: m.message_id == options.message_id and m.has_button("去掉「收到」按钮")
    )
    # The preview follows: it now shows the button recipients will see.
    await organiser.wait_for(lambda m: m.message_id == preview.message_id and m.has_button("收到"))
    assert options.text is not None and "开启（24 小时后提醒" in options.text

    queued = await organiser.tap_then_read("立即发送", on=options)
    assert queued.text == says("broadcast.queued", count=3)
    # A second press on "send" (a stale button or a double tap) sends nothing more.
    toast = await organiser.tap_for_toast(
        on=options, data=options.button("立即发送").callback_data, forge=True
    )
    assert toast == says("broadcast.already")

    first, second = Phone(client, TRAINEES[0]), Phone(client, TRAINEES[1])
    got = await first.next_message()
    assert got.text == notice and got.button_texts == ["✅ 收到"]
    await second.next_message()
    assert await first.tap_for_toast("收到", on=got) == says("broadcast.ack_thanks")
    assert await first.tap_for_toast(on=got, data=got.button("收到").callback_data, forge=True) == (
        says("broadcast.ack_already")
    )
    # A mentor forging a press on a notice they never got changes nothing.
    mentor = Phone(client, MENTOR)
    await client.send_text(MENTOR, "/help")
    help_message = await mentor.next_message()
    assert await mentor.tap_for_toast(
        on=help_message, data=got.button("收到").callback_data, forge=True
    ) == says("problem.stale_button")

    # The report ends with the final counts.
    await organiser.wait_for(lambda m: m.text is not None and "发送报告" in m.text)
    await running.sweep()
    final = await organiser.wait_for(lambda m: m.text is not None and "（已完成）" in m.text)
    assert final.text is not None
    assert "已送达 2 / 3" in final.text and "已屏蔽机器人 1" in final.text
    assert "已确认收到 1 / 2" in final.text

    [blocked] = await rows(running, User, User.telegram_id == TRAINEES[2])
    assert blocked.is_active is False
    for telegram_id in TRAINEES[:2]:
        delivered = [m for m in await client.bot_messages(telegram_id) if m.text == notice]
        assert len(delivered) == 1
    assert await client.bot_messages(MENTOR) == [help_message]

    # A day later the trainee who did not press "received" is reminded, once.
    running.advance(timedelta(hours=24, minutes=1))
    await running.sweep()
    reminder = await second.next_message()
    assert reminder.text is not None and reminder.text.startswith("⏰ 提醒")
    await running.sweep()
    assert len([m for m in await client.bot_messages(TRAINEES[0]) if "提醒" in (m.text or "")]) == 0

    listing = await organiser.say("/broadcasts")
    assert listing.text is not None and "送达 2/3" in listing.text and "确认 1" in listing.text


async def test_quiet_hours_hold_a_notice_until_morning(
    running: RunningBot, client: EmulatorClient
) -> None:
    await cohort_with_members(running, client)
    running.clock.set(datetime(2026, 11, 23, 14, 30, tzinfo=UTC))  # 22:30 in Shanghai
    organiser = Phone(client, ORGANISER)
    await compose(organiser, "全体（学员和导师）", "周五交实践报告")
    await organiser.next_message()
    options = await organiser.next_message()
    assert options.text is not None and "免打扰时段" in options.text
    assert "2026年11月24日 08:00" in options.text
    await organiser.tap_then_read("立即发送", on=options)
    await running.sweep()
    waiting = await rows(running, OutboxMessage, OutboxMessage.purpose == "broadcast")
    assert len(waiting) == 4
    morning = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
    assert {(r.status, r.next_attempt_at) for r in waiting} == {("pending", morning)}
    running.advance(timedelta(hours=9, minutes=31))  # 08:01 in Shanghai
    got = await Phone(client, MENTOR).next_message()
    assert got.text == "周五交实践报告"


async def test_scheduled_notice_goes_out_at_its_time(
    running: RunningBot, client: EmulatorClient
) -> None:
    await cohort_with_members(running, client)
    organiser = Phone(client, ORGANISER)
    await compose(organiser, "仅导师", "请导师们本周内完成首次指导记录")
    await organiser.next_message()
    options = await organiser.next_message()
    asked = await organiser.tap_then_read("定时发送", on=options)
    assert asked.text is not None and "Asia/Shanghai" in asked.text
    assert (await organiser.say("昨天")).text == says("broadcast.bad_time")
    assert (await organiser.say("2026-11-01 09:00")).text == says("broadcast.past_time")
    scheduled = await organiser.say("明天 9点")
    assert scheduled.text is not None and "2026年11月24日 09:00" in scheduled.text
    [broadcast] = await rows(running, Broadcast)
    assert broadcast.status == "scheduled"
    await running.sweep()
    running.advance(timedelta(hours=23, minutes=1))  # 09:01 next day in Shanghai
    await running.sweep()
    got = await Phone(client, MENTOR).next_message()
    assert got.text == "请导师们本周内完成首次指导记录"
    assert all(not m.text or "导师们" not in m.text for m in await client.bot_messages(9101))


async def test_bad_notices_get_clear_answers(running: RunningBot, client: EmulatorClient) -> None:
    await cohort_with_members(running, client)
    organiser = Phone(client, ORGANISER)
    choose = await organiser.say("/broadcast")
    await organiser.tap_then_read("仅学员", on=choose)
    too_long = await organiser.say("长" * 4097)
    assert too_long.text == says("broadcast.too_long", length=4097, limit=4096)
    await client.send(ORGANISER, sticker={"emoji": "📢"})
    assert (await organiser.next_message()).text == says("broadcast.unsupported")
    # Still composing: a valid notice now is accepted.
    assert (await organiser.say("请按时提交")).text == says("broadcast.preview_header")
    await organiser.next_message()
    options = await organiser.next_message()
    assert (await organiser.tap_then_read("取消", on=options)).text == says("broadcast.cancelled")
    [broadcast] = await rows(running, Broadcast)
    assert broadcast.status == "cancelled"
    assert await rows(running, OutboxMessage) == []


async def test_photo_notice_is_previewed_and_sent_as_a_photo(
    running: RunningBot, client: EmulatorClient
) -> None:
    await cohort_with_members(running, client)
    organiser = Phone(client, ORGANISER)
    choose = await organiser.say("/broadcast")
    await organiser.tap_then_read("仅导师", on=choose)
    await client.send(ORGANISER, photo={"width": 800, "height": 600}, caption="结业合影")
    assert (await organiser.next_message()).text == says("broadcast.preview_header")
    preview = await organiser.next_message()
    assert preview.photo is not None and preview.text == "结业合影"
    options = await organiser.next_message()
    await organiser.tap_then_read("立即发送", on=options)
    got = await Phone(client, MENTOR).next_message()
    assert got.photo is not None and got.text == "结业合影"
