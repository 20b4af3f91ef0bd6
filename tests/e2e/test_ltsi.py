"""LTSI self-checks through the real bot and the emulator: waves arrive on their days, one
question at a time, pause + restart + resume, diagnosis with chart, the organiser's report."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.content.ltsi import LtsiBank, LtsiItem
from bot.db.models import DueItem, LtsiFollowUp, LtsiResponse, OutboxMessage
from bot.sandbox.client import ChatMessage, EmulatorClient
from tests.e2e.harness import Phone, RunningBot, enrol

pytestmark = pytest.mark.e2e

ORGANISER = 9301
TRAINEE = 9401
OTHER = 9402
ENDS_ON = date(2026, 11, 30)
COURSE_END = datetime(2026, 11, 30, 8, 5, tzinfo=UTC)  # 16:05 in Shanghai, the check is out
DAY30 = datetime(2026, 12, 30, 2, 5, tzinfo=UTC)  # 10:05 in Shanghai
BARRIERS = ("supervisor_support", "opportunity_to_use", "self_efficacy")

LABELS = {1: "完全不同意", 2: "不太同意", 3: "说不准", 4: "比较同意", 5: "完全同意"}


async def cohort(running: RunningBot, client: EmulatorClient) -> None:
    created = await running.core.services.cohorts.create(
        name="2026秋季社区书记班",
        course_title="基层治理能力提升专题培训",
        ends_on=ENDS_ON,
        timezone="Asia/Shanghai",
        organiser_telegram_ids=(ORGANISER,),
    )
    await client.add_user(ORGANISER, "组织者")
    for telegram_id, name in ((TRAINEE, "张伟"), (OTHER, "刘芳")):
        await client.add_user(telegram_id, name)
        await enrol(running.core, telegram_id, created.trainee_invite.code, name)


async def travel(running: RunningBot, to: datetime) -> None:
    running.clock.set(to)
    await running.sweep()
    await running.delivered()


def bank(running: RunningBot) -> LtsiBank:
    return running.core.services.ltsi.bank


def value_for(item: LtsiItem, barriers: tuple[str, ...] = BARRIERS) -> int:
    """Answers that make exactly `barriers` score 1 and everything else 4."""
    wanted = 1 if item.factor in barriers else 4
    return 6 - wanted if item.reverse else wanted


async def current(client: EmulatorClient, user_id: int, message_id: int) -> ChatMessage:
    for message in await client.bot_messages(user_id):
        if message.message_id == message_id:
            return message
    raise AssertionError(f"no message {message_id}")


async def answer(phone: Phone, message_id: int, value: int) -> ChatMessage:
    """Tap `value` on the question message; the message as the bot edits it next."""
    shown = await current(phone.client, phone.user_id, message_id)
    data = shown.button(f"{value} · {LABELS[value]}").callback_data  # "✓ " marks an answer
    await phone.client.press(phone.user_id, message_id, data=data)
    return await phone.wait_for(lambda m: m.message_id == message_id and m.event == "edit")


def number(message: ChatMessage) -> tuple[int, int]:
    found = re.search(r"第 (\d+)/(\d+) 题", message.text or "")
    assert found, message.text
    return int(found[1]), int(found[2])


async def rows(running: RunningBot, model: type, *where: Any) -> list[Any]:
    async with running.core.uow() as uow:
        return list((await uow.session.scalars(select(model).where(*where))).all())


async def answer_course_end(running: RunningBot, phone: Phone) -> None:
    invitation = await phone.wait_for(lambda m: "结课快速自评" in (m.text or ""))
    await phone.tap("开始自评", on=invitation)
    question = await phone.wait_for(lambda m: m.message_id == invitation.message_id)
    for item in bank(running).quick_form():
        assert bank(running).item(item.id).text("zh-CN") in (question.text or "")
        question = await answer(phone, invitation.message_id, 4)
    assert "完成" in (question.text or "")
    await phone.wait_for(lambda m: "诊断" in (m.text or "") and m.kind == "text")
    await phone.client.settle(phone.user_id)


async def test_day30_check_with_pause_restart_diagnosis_and_report(
    running: RunningBot, client: EmulatorClient
) -> None:
    await cohort(running, client)
    trainee, organiser = Phone(client, TRAINEE), Phone(client, ORGANISER)

    # Nothing before the course ends; /check says when the first check comes.
    await travel(running, datetime(2026, 11, 30, 7, 0, tzinfo=UTC))
    nothing = await trainee.say("/check")
    assert nothing.text is not None and "现在没有进行中的自评" in nothing.text
    assert "结课快速自评" in nothing.text and "2026年11月30日 16:00" in nothing.text

    # The course ends: the quick check (16 questions) arrives; answered all 4 = no barrier.
    await travel(running, COURSE_END)
    await answer_course_end(running, trainee)

    # Day 30: the full self-diagnosis arrives on its day, at 10:00 local.
    await travel(running, DAY30 - timedelta(hours=1))
    assert not [m for m in await client.bot_messages(TRAINEE) if "第30天" in (m.text or "")], (
        "the day-30 check came early"
    )
    await travel(running, DAY30)
    invitation = await trainee.wait_for(lambda m: "结课第30天自我诊断" in (m.text or ""))
    assert "48 个问题" in (invitation.text or "")
    mid = invitation.message_id
    await trainee.tap("开始自评", on=invitation)
    question = await trainee.wait_for(lambda m: m.message_id == mid)
    assert number(question) == (1, 48)
    assert question.button_texts[:5] == [f"{v} · {LABELS[v]}" for v in range(1, 6)]
    assert "◀️ 上一题" not in question.button_texts  # nothing to go back to

    form = bank(running).full_form()
    snapshot_q5: ChatMessage | None = None
    for index in range(20):
        if index == 4:
            snapshot_q5 = question
        question = await answer(trainee, mid, value_for(form[index]))
        assert number(question) == (index + 2, 48)
    # Back one question: the earlier answer is marked, and can be changed.
    await trainee.tap("上一题", on=question)
    back = await trainee.wait_for(lambda m: m.message_id == mid)
    assert number(back) == (20, 48)
    assert f"✓ {value_for(form[19])} · {LABELS[value_for(form[19])]}" in back.button_texts
    question = await answer(trainee, mid, value_for(form[19]))
    assert number(question) == (21, 48)

    # A press on an older question changes nothing.
    assert snapshot_q5 is not None
    stale_data = snapshot_q5.button("比较同意").callback_data
    assert stale_data is not None
    toast = await trainee.tap_for_toast(data=stale_data, on=snapshot_q5, forge=True)
    assert toast is not None and "之前的题目" in toast

    # Pause: 20 answered and saved.
    await trainee.tap("暂停", on=question)
    paused = await trainee.wait_for(lambda m: m.message_id == mid)
    assert paused.text is not None and "已答 20/48 题" in paused.text
    async with running.core.uow() as uow:
        response = (
            await uow.session.scalars(select(LtsiResponse).where(LtsiResponse.status == "paused"))
        ).one()
        assert len(await uow.ltsi.answers(response.id)) == 20

    # A redeploy: the check resumes where it stopped.
    await running.restart()
    resume = await trainee.say("/check")
    assert resume.text is not None and "已答 20/48" in resume.text
    question = await trainee.next_message()
    assert number(question) == (21, 48)
    mid = question.message_id
    # The paused message's "continue" moved the check to this new message; the old one is stale.
    for index in range(20, 48):
        question = await answer(trainee, mid, value_for(form[index]))
    assert question.text is not None and "完成" in question.text and question.buttons == []

    # The chart (a real PNG) compared with the course-end check, then the diagnosis.
    photo = await trainee.wait_for(lambda m: m.kind == "photo")
    assert photo.caption is not None and "与「结课快速自评」对比" in photo.caption
    assert photo.photo is not None
    stored = running.emulator.file(photo.photo["file_id"])
    assert stored is not None and stored.data.startswith(b"\x89PNG")
    assert (stored.width, stored.kind) == (1080, "photo")
    diagnosis = await trainee.wait_for(lambda m: "诊断" in (m.text or ""))
    text = diagnosis.text or ""
    assert "与「结课快速自评」相比" in text
    messages = [diagnosis, *await client.settle(TRAINEE)]
    everything = "\n".join(m.text or "" for m in messages)
    for factor in BARRIERS:
        spec = bank(running).factor(factor)
        assert spec.name("zh-CN") in everything
        assert spec.suggestion("zh-CN") in everything
    assert "学用项目自己的经验做法" in everything  # the thresholds are ours, and we say so
    assert "计划书" in everything and "情景演练" in everything and "治理导师" in everything
    draft = next(m for m in messages if (m.text or "").startswith("领导您好"))
    assert "张伟" in (draft.text or "") and "基层治理能力提升专题培训" in (draft.text or "")

    follow_ups = {f.kind: f for f in await rows(running, LtsiFollowUp)}
    assert follow_ups["leader_draft"].status == "done"
    assert follow_ups["mentor_note"].status == "pending"
    assert follow_ups["mentor_note"].factors == ["supervisor_support"]
    assert "roleplay" in follow_ups  # picked up by the role-plays at a sweep (below)
    # The plan picks up its follow-up with the next sweep: an offer to add a milestone.
    await running.sweep()
    await running.delivered()
    [offer] = [m for m in await client.bot_messages(TRAINEE) if "自评显示" in (m.text or "")]
    assert "机会" in (offer.text or "") and offer.has_button("写计划书")  # no plan yet
    [plan_follow_up] = await rows(running, LtsiFollowUp, LtsiFollowUp.kind == "plan_milestone")
    assert plan_follow_up.status == "done"
    # Low confidence: a role-play is suggested too, with a button to start it.
    [roleplay] = await rows(running, LtsiFollowUp, LtsiFollowUp.kind == "roleplay")
    assert roleplay.status == "done"
    [suggested] = [
        m for m in await client.bot_messages(TRAINEE) if "根据你的自检结果" in (m.text or "")
    ]
    assert suggested.has_button("开始演练")

    # Pressing anything after the end: a toast, nothing changes.
    toast = await trainee.tap_for_toast(data=f"lq:{response.id}:47:4", on=question, forge=True)
    assert toast is not None and "已经完成" in toast

    # The organiser's report counts it.
    await organiser.say("/report")
    report = await organiser.wait_for(lambda m: "自评报告" in (m.text or "") and bool(m.buttons))
    text = report.text or ""
    assert "结课快速自评（已结束" in text
    assert re.search(r"结课第30天自我诊断（进行中.*\n\s+完成 1/2（50%）", text), text
    assert "领导的支持：1 人（100%）" in text
    assert "还没有两次都完成的学员" in text
    photos = [m for m in await client.bot_messages(ORGANISER) if m.kind == "photo"]
    assert len(photos) == 2

    await organiser.tap("匿名编号", on=report)
    export = await organiser.wait_for(lambda m: m.kind == "document")
    assert export.document is not None
    data = running.emulator.file(export.document["file_id"])
    assert data is not None
    table = list(csv.DictReader(io.StringIO(data.data.decode("utf-8-sig"))))
    assert len(table) == 16 + 48
    assert {r["wave"] for r in table} == {"course_end", "day30"}
    assert len({r["participant"] for r in table}) == 1
    assert re.fullmatch(r"P[0-9A-F]{8}", table[0]["participant"])
    assert "张伟" not in data.data.decode("utf-8-sig")
    reverse = next(r for r in table if r["reverse"] == "1")
    assert int(reverse["scored"]) == 6 - int(reverse["answer"])

    await organiser.tap("含姓名", on=report)
    named = await organiser.wait_for(lambda m: m.kind == "document")
    assert named.caption is not None and "审计日志" in named.caption
    assert named.document is not None
    data = running.emulator.file(named.document["file_id"])
    assert data is not None and "张伟" in data.data.decode("utf-8-sig")


async def test_stale_foreign_and_closed_presses_get_a_toast(
    running: RunningBot, client: EmulatorClient
) -> None:
    await cohort(running, client)
    trainee, other = Phone(client, TRAINEE), Phone(client, OTHER)
    await travel(running, COURSE_END)
    invitation = await trainee.wait_for(lambda m: "结课快速自评" in (m.text or ""))
    start = invitation.button("开始自评").callback_data
    assert start is not None
    response_id = int(start.split(":")[1])

    # Another user's check: refused, and nothing moved.
    theirs = await other.wait_for(lambda m: "结课快速自评" in (m.text or ""))
    toast = await other.tap_for_toast(data=f"lq:{response_id}:0:5", on=theirs, forge=True)
    assert toast is not None and "不属于你的自评" in toast
    # Made-up data that is not even a self-check button.
    toast = await other.tap_for_toast(data="lq:x:y:z", on=theirs, forge=True)
    assert toast is not None

    await trainee.tap("开始自评", on=invitation)
    question = await trainee.wait_for(lambda m: m.message_id == invitation.message_id)
    assert number(question) == (1, 16)
    # Skipping ahead is a stale press too.
    toast = await trainee.tap_for_toast(data=f"lq:{response_id}:3:4", on=question, forge=True)
    assert toast is not None and "之前的题目" in toast
    question = await answer(trainee, invitation.message_id, 2)
    assert number(question) == (2, 16)
    async with running.core.uow() as uow:
        assert await uow.ltsi.answers(response_id) == {bank(running).quick_form()[0].id: 2}

    # The answer is in the trainee's copy of their data.
    document = await trainee.say("/mydata")
    assert document.document is not None
    copy = running.emulator.file(document.document["file_id"])
    assert copy is not None
    [check] = json.loads(copy.data)["self_checks"]
    assert check["wave"] == "course_end" and check["status"] == "answering"
    assert check["answers"] == {bank(running).quick_form()[0].id: 2}

    # The wave closes after 14 days: presses are refused, the response is expired.
    await travel(running, COURSE_END + timedelta(days=14, hours=1))
    toast = await trainee.tap_for_toast("比较同意", on=question)
    assert toast is not None and "已经结束" in toast
    statuses = {r.status for r in await rows(running, LtsiResponse)}
    assert statuses == {"expired"}


async def test_reminders_after_one_and_three_days_only_to_the_unfinished(
    running: RunningBot, client: EmulatorClient
) -> None:
    await cohort(running, client)
    trainee, other = Phone(client, TRAINEE), Phone(client, OTHER)
    await travel(running, COURSE_END)
    await answer_course_end(running, trainee)  # TRAINEE finishes, OTHER does not start

    await travel(running, COURSE_END + timedelta(days=1))
    first = await other.wait_for(lambda m: "⏰" in (m.text or ""))
    assert "还没有开始" in (first.text or "") and first.button_texts == ["▶️ 开始自评"]
    await travel(running, COURSE_END + timedelta(days=3))
    second = await other.wait_for(lambda m: "⏰" in (m.text or ""))
    assert second.message_id != first.message_id
    # The reminder's button starts the check in the reminder's own message.
    await other.tap("开始自评", on=second)
    question = await other.wait_for(lambda m: m.message_id == second.message_id)
    assert number(question) == (1, 16)

    def self_check_reminders(messages: list[ChatMessage]) -> list[ChatMessage]:
        return [m for m in messages if "⏰" in (m.text or "") and "自评" in (m.text or "")]

    before = self_check_reminders(await client.bot_messages(OTHER))
    await travel(running, COURSE_END + timedelta(days=20))
    assert self_check_reminders(await client.bot_messages(OTHER)) == before  # no third
    assert not self_check_reminders(await client.bot_messages(TRAINEE))


async def test_quiet_hours_hold_the_invitation_and_settings_move_the_waves(
    running: RunningBot, client: EmulatorClient
) -> None:
    created = await running.core.services.cohorts.create(
        name="夜班",
        course_title="基层治理",
        ends_on=ENDS_ON,
        timezone="Asia/Shanghai",
        organiser_telegram_ids=(ORGANISER,),
        ltsi={"course_end_time": "22:30", "offsets": {"day30": 21, "day60": 45}},
    )
    await client.add_user(TRAINEE, "张伟")
    await enrol(running.core, TRAINEE, created.trainee_invite.code, "张伟")
    async with running.core.uow() as uow:
        waves = {w.kind: w for w in await uow.ltsi.waves_of(created.cohort.id)}
    assert waves["day30"].opens_at == datetime(2026, 12, 21, 2, 0, tzinfo=UTC)
    assert waves["day60"].opens_at == datetime(2027, 1, 14, 2, 0, tzinfo=UTC)

    # 22:30 is inside the quiet hours (21:00-08:00): the invitation waits for 08:00.
    await travel(running, datetime(2026, 11, 30, 14, 31, tzinfo=UTC))
    held = await rows(running, OutboxMessage, OutboxMessage.purpose == "self_check")
    assert len(held) == 1 and held[0].status == "pending"
    assert held[0].next_attempt_at == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    await travel(running, datetime(2026, 12, 1, 0, 1, tzinfo=UTC))
    invitation = await Phone(client, TRAINEE).wait_for(lambda m: "结课快速自评" in (m.text or ""))
    assert datetime.fromtimestamp(invitation.date, UTC) >= datetime(2026, 12, 1, 0, 0, tzinfo=UTC)

    with pytest.raises(ValueError, match="offsets"):
        await running.core.services.cohorts.create(
            name="错",
            course_title="x",
            ends_on=ENDS_ON,
            timezone="Asia/Shanghai",
            ltsi={"offsets": {"day30": 70}},
        )
    due = await rows(running, DueItem, DueItem.kind == "ltsi_open")
    assert len(due) == 3  # the refused cohort planned nothing
