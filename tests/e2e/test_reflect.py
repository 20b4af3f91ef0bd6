"""Reflections through the real bot and the emulator: the cadence prompt arrives on its day,
four questions answered by text, voice and photo, a sticker and /help in the middle, a
restart, /reflect resuming the draft, the summary; forged and stale buttons change nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.db.models import Plan, PlanMilestone, Reflection
from bot.sandbox.client import ChatMessage, EmulatorClient
from handlers.callbacks import ReflectStartCB
from tests.e2e.harness import Phone, RunningBot, enrol

pytestmark = pytest.mark.e2e

ORGANISER = 9501
TRAINEE = 9601
OTHER = 9602
ENDS_ON = date(2026, 11, 30)
FIRST_PROMPT = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, a week after


async def cohort(running: RunningBot, client: EmulatorClient) -> int:
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
    return created.cohort.id


async def travel(running: RunningBot, to: datetime) -> None:
    running.clock.set(to)
    await running.sweep()
    await running.delivered()


async def reflections(running: RunningBot) -> list[Reflection]:
    async with running.core.uow() as uow:
        return list((await uow.session.scalars(select(Reflection))).all())


def asks(number: int, question: str) -> Any:
    return lambda m: f"第 {number}/4 题 · {question}" in (m.text or "")


async def test_a_prompted_reflection_by_text_voice_and_photo_survives_a_restart(
    running: RunningBot, client: EmulatorClient
) -> None:
    await cohort(running, client)
    trainee = Phone(client, TRAINEE)

    # Not before its day; then at 10:00 local on the first prompt day.
    await travel(running, FIRST_PROMPT - timedelta(hours=1))
    assert not [m for m in await client.bot_messages(TRAINEE) if "实践反思" in (m.text or "")]
    await travel(running, FIRST_PROMPT)
    prompt = await trainee.wait_for(lambda m: "第 1/8 次实践反思" in (m.text or ""))
    for question in ("我做了什么", "发生了什么", "我学到了什么", "下一步我会尝试什么"):
        assert question in (prompt.text or "")
    assert prompt.button("开始反思").callback_data == ReflectStartCB(milestone=0, prompt=1).pack()
    assert [m for m in await client.bot_messages(OTHER) if "第 1/8 次实践反思" in (m.text or "")]

    # Question 1 by text.
    await trainee.tap("开始反思", on=prompt)
    q1 = await trainee.wait_for(asks(1, "我做了什么"))
    assert q1.has_button("跳过")
    q2 = await trainee.say("用议事协商的方法，组织了3号楼居民议事会，讨论加装电梯。")
    assert "已保存" in (q2.text or "") and "第 2/4 题 · 发生了什么" in (q2.text or "")

    # A sticker is not an answer: a clear message, and the question stays.
    await client.send(TRAINEE, sticker={"emoji": "👍"})
    refusal = await trainee.next_message()
    assert "只能收文字、语音或照片" in (refusal.text or "")
    assert len((await reflections(running))[0].answers) == 1

    # Question 2 by a voice message with a caption.
    voice_sent = await client.send(TRAINEE, voice={"duration": 7}, caption="会上的录音")
    q3 = await trainee.next_message()
    assert "第 3/4 题 · 我学到了什么" in (q3.text or "")

    # /help in the middle works, and the reflection carries on after it.
    help_ = await trainee.say("/help")
    assert "/reflect" in (help_.text or "")
    photo_sent = await client.send(
        TRAINEE, photo={"width": 1600, "height": 1200}, caption="议事会现场"
    )
    q4 = await trainee.next_message()
    assert "第 4/4 题 · 下一步我会尝试什么" in (q4.text or "")
    # Answered questions lose their skip button.
    shown = {m.message_id: m for m in await client.bot_messages(TRAINEE)}
    assert not shown[q1.message_id].buttons and not shown[q3.message_id].buttons

    [draft] = await reflections(running)
    assert (draft.status, draft.prompt_number) == ("draft", 1)
    incoming = {m.message_id: m for m in await client.messages(TRAINEE) if m.direction == "in"}
    voice = incoming[voice_sent.message_id].raw["media"]["voice"]
    photos = incoming[photo_sent.message_id].raw["media"]["photo"]
    assert draft.answers["happened"] == {
        "kind": "voice",
        "text": "会上的录音",
        "file_id": voice["file_id"],
    }
    largest = max(photos, key=lambda p: p["width"])
    assert draft.answers["learned"] == {
        "kind": "photo",
        "text": "议事会现场",
        "file_id": largest["file_id"],
    }

    # A redeploy mid-way: /reflect offers the draft, and it resumes at question 4.
    await running.restart()
    offer = await trainee.say("/reflect")
    assert "没写完的反思" in (offer.text or "") and "已答 3/4 题" in (offer.text or "")
    await trainee.tap("接着写", on=offer)
    resumed = await trainee.wait_for(asks(4, "下一步我会尝试什么"))
    assert resumed.message_id != q4.message_id

    await trainee.send("先做入户调查，摸清一楼住户的顾虑，再开第二次议事会。")
    summary = await trainee.wait_for(lambda m: "📒" in (m.text or ""))
    text = summary.text or ""
    assert "2026秋季社区书记班" in text and "第 1 次" in text
    assert "用议事协商的方法，组织了3号楼居民议事会" in text
    assert "🎤 语音：会上的录音" in text and "📷 照片：议事会现场" in text
    assert "先做入户调查" in text and "（跳过）" not in text
    assert "<blockquote>" in (summary.html or "")  # text answers quoted
    thanks = await trainee.next_message()
    assert "/portfolio" in (thanks.text or "")

    [done] = await reflections(running)
    assert done.status == "done" and done.completed_at is not None
    assert set(done.answers) == {"did", "happened", "learned", "next"}

    # The old "continue" button (pressed again, as a slow second device would) does nothing.
    old = offer.button("接着写").callback_data
    assert old is not None
    toast = await trainee.tap_for_toast(data=old, on=offer, forge=True)
    assert toast is not None and "已经写完了" in toast
    # /reflect now starts afresh.
    fresh = await trainee.say("/reflect")
    assert "第 1/4 题 · 我做了什么" in (fresh.text or "")


async def test_the_next_answer_after_a_restart_goes_on_without_a_command(
    running: RunningBot, client: EmulatorClient
) -> None:
    """A redeploy between two answers: the person just types the next one, and the
    reflection goes on (the step is kept in Redis or, without Redis, in the database)."""
    await cohort(running, client)
    trainee = Phone(client, TRAINEE)
    q1 = await trainee.say("/reflect")
    assert "第 1/4 题 · 我做了什么" in (q1.text or "")
    q2 = await trainee.say("组织了3号楼议事会。")
    assert "第 2/4 题 · 发生了什么" in (q2.text or "")

    await running.restart()
    q3 = await trainee.say("一楼住户担心采光，当场吵了起来。")
    assert "第 3/4 题 · 我学到了什么" in (q3.text or "")
    [draft] = await reflections(running)
    assert draft.answers["happened"]["text"] == "一楼住户担心采光，当场吵了起来。"


async def test_milestone_buttons_and_forged_presses(
    running: RunningBot, client: EmulatorClient
) -> None:
    cohort_id = await cohort(running, client)
    trainee = Phone(client, TRAINEE)
    now = running.clock.now()
    milestone_ids: dict[int, int] = {}
    async with running.core.uow() as uow:
        for telegram_id, title in ((TRAINEE, "召开居民意见征询会"), (OTHER, "别人的里程碑")):
            user = await uow.users.by_telegram_id(telegram_id)
            assert user is not None
            plan = Plan(
                user_id=user.id,
                cohort_id=cohort_id,
                area="elevator",
                goal="推动加装电梯",
                status="active",
                created_at=now,
                updated_at=now,
                milestones=[
                    PlanMilestone(
                        position=0, title=title, due_on=date(2026, 12, 20), created_at=now
                    )
                ],
            )
            uow.session.add(plan)
            await uow.session.flush()
            milestone_ids[telegram_id] = plan.milestones[0].id
        await uow.commit()

    offer = await trainee.say("/reflect")
    assert "关联到计划书里的某个里程碑" in (offer.text or "")
    assert offer.button_texts == ["召开居民意见征询会（2026年12月20日）", "不关联"]

    # Someone else's milestone, forged on the button: a toast, no reflection.
    forged = ReflectStartCB(milestone=milestone_ids[OTHER]).pack()
    toast = await trainee.tap_for_toast(data=forged, on=offer, forge=True)
    assert toast is not None and "失效" in toast
    assert await reflections(running) == []

    await trainee.tap("召开居民意见征询会", on=offer)
    q1 = await trainee.wait_for(lambda m: "第 1/4 题" in (m.text or ""))
    assert "关联里程碑：召开居民意见征询会" in (q1.text or "")
    [tied] = await reflections(running)
    assert tied.milestone_id == milestone_ids[TRAINEE]

    # Skip, skip, skip: the last question has no skip until something is answered.
    question: ChatMessage = q1
    for number in (2, 3, 4):
        await trainee.tap("跳过", on=question)
        question = await trainee.wait_for(lambda m, n=number: f"第 {n}/4 题" in (m.text or ""))
    assert not question.has_button("跳过") and "至少回答一题" in (question.text or "")
    # A forged skip of the last question is refused: one answer at least.
    forged_skip = q1.button("跳过").callback_data
    assert forged_skip is not None
    toast = await trainee.tap_for_toast(
        data=forged_skip.replace(":did", ":next"), on=question, forge=True
    )
    assert toast is not None and "至少回答一题" in toast
    await trainee.send("下周约物业一起入户。")
    summary = await trainee.wait_for(lambda m: "📒" in (m.text or ""))
    assert (summary.text or "").count("（跳过）") == 3
    assert "关联里程碑：召开居民意见征询会" in (summary.text or "")
