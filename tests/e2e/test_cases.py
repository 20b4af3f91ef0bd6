"""The case library through the real bot and the emulator: an organiser recommends a
trainee's reflection, the trainee consents, the case appears (pseudonymised) in another
trainee's /cases, and its author withdraws it."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from bot.db.models import Case, Plan, Reflection
from bot.sandbox.client import ChatMessage, EmulatorClient
from tests.e2e.harness import START, Phone, RunningBot, enrol

pytestmark = pytest.mark.e2e

ORGANISER = 9501
AUTHOR = 9601
READER = 9602
TITLE = "三次协商会化解低层住户顾虑"
DID = "组织了三次楼栋协商会，先请低层住户把顾虑说出来。"
LEARNED = "先听意见再谈方案，补贴方案公开透明，矛盾少了一半。"


async def cohort(running: RunningBot, client: EmulatorClient) -> None:
    created = await running.core.services.cohorts.create(
        name="2026秋季社区书记班",
        course_title="基层治理能力提升专题培训",
        ends_on=date(2026, 11, 30),
        timezone="Asia/Shanghai",
        organiser_telegram_ids=(ORGANISER,),
    )
    await client.add_user(ORGANISER, "组织者")
    for telegram_id, name, unit in ((AUTHOR, "张伟", "和平里社区"), (READER, "刘芳", "安贞社区")):
        await client.add_user(telegram_id, name)
        await enrol(running.core, telegram_id, created.trainee_invite.code, name, unit=unit)
    # The reflection conversation is another feature's: its result is written directly.
    async with running.core.uow() as uow:
        author = await uow.users.by_telegram_id(AUTHOR)
        assert author is not None
        uow.session.add(
            Plan(
                user_id=author.id,
                cohort_id=created.cohort.id,
                area="elevator",
                status="active",
                created_at=START,
                updated_at=START,
            )
        )
        uow.session.add(
            Reflection(
                user_id=author.id,
                cohort_id=created.cohort.id,
                answers={
                    "did": {"kind": "text", "text": DID},
                    "happened": {"kind": "voice", "text": "会后的语音", "file_id": None},
                    "learned": {"kind": "text", "text": LEARNED},
                },
                status="done",
                created_at=START,
                completed_at=START,
            )
        )
        await uow.commit()


async def edited(phone: Phone, message: ChatMessage) -> ChatMessage:
    return await phone.wait_for(lambda m: m.message_id == message.message_id and m.event == "edit")


async def cases(running: RunningBot) -> list[Any]:
    async with running.core.uow() as uow:
        return list((await uow.session.scalars(select(Case))).all())


async def test_recommend_consent_publish_read_and_withdraw(
    running: RunningBot, client: EmulatorClient
) -> None:
    await cohort(running, client)
    organiser, author, reader = (
        Phone(client, ORGANISER),
        Phone(client, AUTHOR),
        Phone(client, READER),
    )

    # An empty library says so, kindly; the organiser is offered the reflections.
    home = await organiser.say("/cases")
    assert home.text is not None and "还没有案例" in home.text
    await organiser.tap("从学员反思中推荐案例", on=home)
    listing = await edited(organiser, home)
    text = listing.text or ""
    assert "共 1 篇" in text and "加装电梯" in text and DID[:10] in text
    assert "张伟" not in text  # the list shows excerpts only

    # The reflection in full: typed answers, the voice answer as a note.
    await organiser.tap("查看 1", on=listing)
    full = await organiser.next_message()
    assert full.text is not None and "张伟" in full.text and LEARNED in full.text
    assert "语音回答" in full.text and "会后的语音" in full.text

    # Recommend: a title (refused clearly when too long; /help in between loses nothing).
    ask = await organiser.tap_then_read("推荐为案例", on=full)
    assert ask.text is not None and "标题" in ask.text
    too_long = await organiser.say("很" * 61)
    assert too_long.text is not None and "61" in too_long.text and "60" in too_long.text
    await client.send(ORGANISER, sticker={"emoji": "👍"})
    sticker = await organiser.next_message()
    assert sticker.text is not None and "文字" in sticker.text
    helped = await organiser.say("/help")
    assert helped.text is not None and "使用帮助" in helped.text
    areas = await organiser.say(TITLE)
    assert areas.text is not None and TITLE in areas.text
    assert areas.button_texts[0] == "✓ 加装电梯"  # the author's plan area, first
    await organiser.tap("✓ 加装电梯", on=areas)
    done = await organiser.next_message()
    assert done.text is not None and "已推荐" in done.text
    # The area buttons are gone; an old press of one (the proposal is made) changes nothing.
    assert not (await organiser.client.last_bot_message(ORGANISER) or done).buttons
    stale = areas.button("停车管理").callback_data
    toast = await organiser.tap_for_toast(data=stale, on=areas, forge=True)
    assert toast is not None and "过期" in toast
    [case] = await cases(running)
    assert case.status == "proposed"

    # The author gets the consent request through the outbox: exactly what is published.
    await running.delivered()
    request = await author.wait_for(lambda m: m.has_button("同意发布"))
    body = request.text or ""
    for shown in (TITLE, "加装电梯", f"学员 {case.pseudonym}", DID, LEARNED, "语音和照片不会发布"):
        assert shown in body, shown
    assert "张伟" not in body and "和平里" not in body and "会后的语音" not in body

    # Someone else cannot answer it (a forged press), the author can, once.
    reader_home = await reader.say("/cases")
    toast = await reader.tap_for_toast(
        data=request.button("同意发布").callback_data, on=reader_home, forge=True
    )
    assert toast is not None and "作者本人" in toast
    await author.tap("同意发布", on=request)
    thanks = await author.next_message()
    assert thanks.text is not None and "已发布" in thanks.text
    again = request.button("同意发布").callback_data  # a second device still shows it
    toast = await author.tap_for_toast(data=again, on=request, forge=True)
    assert toast is not None and "已经答复过" in toast

    # The organiser is told.
    await running.delivered()
    told = await organiser.wait_for(lambda m: "作者同意了" in (m.text or ""))
    assert TITLE in (told.text or "")

    # Another trainee finds it by area, under the pseudonym, without the author's name.
    home = await reader.say("/cases")
    assert home.text is not None and "共 1 个案例" in home.text
    assert "从学员反思中推荐案例" not in home.button_texts  # trainees do not recommend
    await reader.tap("加装电梯（1）", on=home)
    area = await edited(reader, home)
    assert area.text is not None and TITLE in area.text and f"学员 {case.pseudonym}" in area.text
    # The same button again (a second phone still showing the list): the view is already
    # there, so the bot does not ask Telegram for an edit it would refuse as "not modified".
    again = home.button("加装电梯（1）").callback_data
    assert await reader.tap_for_toast(data=again, on=area, forge=True) is None
    assert [call.description for call in await client.errors()] == []
    opened = await reader.tap_then_read(TITLE, on=area)
    text = opened.text or ""
    assert TITLE in text and f"学员 {case.pseudonym}" in text and DID in text and LEARNED in text
    assert "张伟" not in text and "和平里" not in text
    assert not opened.has_button("撤回")

    # Its author withdraws it from "我的案例"; it leaves the library.
    home = await author.say("/cases")
    await author.tap("我的案例", on=home)
    mine = await edited(author, home)
    assert mine.text is not None and "已发布" in mine.text
    own = await author.tap_then_read("阅读 1", on=mine)
    confirm = await author.tap_then_read("撤回", on=own)
    await author.tap("确认撤回", on=confirm)
    gone = await edited(author, confirm)
    assert gone.text is not None and "已撤回" in gone.text
    [case] = await cases(running)
    assert (case.status, case.body) == ("withdrawn", None)
    home = await reader.say("/cases")
    assert home.text is not None and "还没有案例" in home.text
    toast = await reader.tap_for_toast(TITLE, on=area)  # the old list's button
    assert toast is not None and "不在案例库" in toast


async def test_cohort_is_chosen_first_and_strangers_are_told(
    running: RunningBot, client: EmulatorClient
) -> None:
    await cohort(running, client)
    await running.core.services.cohorts.create(
        name="2027春季村书记班",
        course_title="乡村治理",
        ends_on=date(2027, 4, 30),
        timezone="Asia/Shanghai",
        organiser_telegram_ids=(ORGANISER,),
    )
    organiser = Phone(client, ORGANISER)
    choose = await organiser.say("/cases")
    assert choose.text is not None and "哪个班级" in choose.text
    assert choose.button_texts == ["2026秋季社区书记班", "2027春季村书记班"]
    await organiser.tap("2027春季村书记班", on=choose)
    home = await edited(organiser, choose)
    assert home.text is not None and "2027春季村书记班" in home.text and "还没有案例" in home.text
    await organiser.tap("从学员反思中推荐案例", on=home)
    empty = await edited(organiser, home)
    assert empty.text is not None and "还没有学员完成的实践反思" in empty.text

    await client.add_user(9999, "路人")
    stranger = Phone(client, 9999)
    answer = await stranger.say("/cases")
    assert answer.text is not None and "只对已报名的班级成员开放" in answer.text
    # A made-up press into a cohort's library shows nothing.
    toast = await stranger.tap_for_toast(data="cas:home:1:0:", on=answer, forge=True)
    assert toast is not None and "不是这个班级的成员" in toast
