"""The practice-transfer plan through the real bot and the emulator: the prompt with the
course-end check, the guided conversation with bad input and a restart in the middle,
confirmation, and check-ins on milestone dates (moving a missed one once)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.db.models import Plan, PlanMilestone
from bot.sandbox.client import EmulatorClient
from tests.e2e.harness import Phone, RunningBot, enrol

pytestmark = pytest.mark.e2e

ORGANISER = 9601
TRAINEE = 9602
OTHER = 9603
ENDS_ON = date(2026, 11, 30)
COURSE_END = datetime(2026, 11, 30, 8, 5, tzinfo=UTC)  # 16:05 in Shanghai


async def cohort(running: RunningBot, client: EmulatorClient) -> None:
    created = await running.core.services.cohorts.create(
        name="2026秋季社区书记班",
        course_title="基层治理能力提升专题培训",
        ends_on=ENDS_ON,
        timezone="Asia/Shanghai",
        organiser_telegram_ids=(ORGANISER,),
    )
    for telegram_id, name in ((TRAINEE, "张伟"), (OTHER, "刘芳")):
        await client.add_user(telegram_id, name)
        await enrol(running.core, telegram_id, created.trainee_invite.code, name)


async def travel(running: RunningBot, to: datetime) -> None:
    running.clock.set(to)
    await running.sweep()
    await running.delivered()


async def milestones(running: RunningBot) -> list[PlanMilestone]:
    async with running.core.uow() as uow:
        rows = await uow.session.scalars(select(PlanMilestone).order_by(PlanMilestone.id))
        return list(rows)


async def test_plan_written_with_bad_input_and_a_restart_then_checked_on_its_dates(
    running: RunningBot, client: EmulatorClient
) -> None:
    await cohort(running, client)
    me, other = Phone(client, TRAINEE), Phone(client, OTHER)

    # The prompt comes with the course-end self-check.
    await travel(running, COURSE_END)
    prompt = await me.wait_for(
        lambda m: "实践转化计划书" in (m.text or "") and m.has_button("开始写计划书")
    )
    texts = await me.transcript()
    assert any("结课快速自评" in t for t in texts)
    await me.tap("开始写计划书", on=prompt)
    ask_area = await me.wait_for(
        lambda m: "工作领域" in (m.text or "") and m.has_button("加装电梯")
    )
    await me.tap("加装电梯", on=ask_area)
    ask_goal = await me.wait_for(
        lambda m: "具体目标" in (m.text or "") and "第 2 步" in (m.text or "")
    )
    assert ask_goal is not None

    # A sticker, then an over-long goal: clear answers, nothing lost.
    await client.send(TRAINEE, sticker={"emoji": "👍"})
    reply = await me.next_message()
    assert "需要文字回答" in (reply.text or "")
    too_long = await me.say("推动" * 300)
    assert "最多 500 个字" in (too_long.text or "") and "600" in (too_long.text or "")
    await me.next_message()  # the question again
    ask_success = await me.say("推动3号楼加装电梯，年底前取得三分之二以上业主同意")
    assert "成效怎样看得见" in (ask_success.text or "")

    # A command in the middle works, and the conversation goes on after it.
    help_text = await me.say("/help")
    assert "/plan" in (help_text.text or "")
    ask_support = await me.say("签字同意书达到 2/3")
    assert "需要<b>哪些支持</b>" in (ask_support.text or "") or "哪些支持" in (
        ask_support.text or ""
    )

    # A restart in the middle: /plan resumes at the first missing answer.
    await running.restart()
    resumed = await me.say("/plan")
    assert "接着上次的地方继续填写" in (resumed.text or "")
    again = await me.next_message()
    assert "哪些支持" in (again.text or "")
    ask_title = await me.say("请街道城建科派人参加协调会")
    assert "第 1 个里程碑" in (ask_title.text or "")

    ask_date = await me.say("召开楼栋居民协商会")
    assert "计划在哪天完成" in (ask_date.text or "")
    for bad, expected in (
        ("下个月", "没看懂"),
        ("2026-11-01", "已经过去了"),
        ("2月30日", "不存在"),
    ):
        refused = await me.say(bad)
        assert expected in (refused.text or ""), (bad, refused.text)
    added = await me.say("12/10")
    assert "召开楼栋居民协商会（2026年12月10日）" in (added.text or "")
    await me.tap("再加一个里程碑", on=added)
    await me.wait_for(lambda m: "第 2 个里程碑" in (m.text or ""))
    await me.say("完成业主意见征询")
    added = await me.say("２０２６年１２月２０日")  # full-width digits
    assert "2026年12月20日" in (added.text or "")
    await me.tap("看看整份计划书", on=added)
    review = await me.wait_for(lambda m: m.has_button("确认提交"))
    assert "草稿" in (review.text or "") and "加装电梯" in (review.text or "")
    assert "推动3号楼加装电梯" in (review.text or "")
    await me.tap("确认提交", on=review)
    confirmed = await me.wait_for(lambda m: "计划书已提交" in (m.text or ""))
    assert "2026年12月10日" in (confirmed.text or "")

    # Someone else cannot press this plan's buttons.
    others_prompt = await other.wait_for(lambda m: m.has_button("开始写计划书"))
    toast = await other.tap_for_toast(
        data=review.button("确认提交").callback_data, on=others_prompt, forge=True
    )
    assert toast is not None and ("过期" in toast or "不属于您" in toast)
    async with running.core.uow() as uow:
        assert len(list(await uow.session.scalars(select(Plan)))) == 1  # still only mine

    # The first milestone's date: not done, moved once with a reason.
    await travel(running, datetime(2026, 12, 10, 2, 5, tzinfo=UTC))
    ask = await me.wait_for(lambda m: "里程碑到期" in (m.text or "") and m.has_button("没完成"))
    assert "召开楼栋居民协商会" in (ask.text or "")
    await me.tap("没完成", on=ask)
    note_q = await me.wait_for(lambda m: m.has_button("改期"))
    # A second tap (the buttons are gone from the edited message; an old client) is refused.
    toast = await me.tap_for_toast(data=ask.button("没完成").callback_data, on=ask, forge=True)
    assert toast is not None and "过期" in toast
    await me.tap("改期", on=note_q)
    await me.wait_for(lambda m: "只能改期一次" in (m.text or ""))
    await me.say("居民意见不一，需要先开座谈会")
    refused = await me.say("12/5")
    assert "已经过去了" in (refused.text or "")
    moved = await me.say("12月18日")
    assert "从 2026年12月10日 改到 2026年12月18日" in (moved.text or "")

    # The new date: done, with a note; /plan shows the progress.
    await travel(running, datetime(2026, 12, 18, 2, 5, tzinfo=UTC))
    ask = await me.wait_for(
        lambda m: "里程碑到期" in (m.text or "") and "12月18日" in (m.text or "")
    )
    await me.tap("完成了", on=ask)
    note_q = await me.wait_for(lambda m: "想补充一句" in (m.text or ""))
    assert note_q.has_button("写一篇实践反思")
    await me.say("座谈会后居民都同意了")
    shown = await me.wait_for(lambda m: "进度" in (m.text or "") and "✅" in (m.text or ""))
    assert "完成 1/2" in (shown.text or "") and "座谈会后居民都同意了" in (shown.text or "")
    assert "原定 2026年12月10日" in (shown.text or "")

    [first, second] = await milestones(running)
    assert (first.status, first.moved_from, first.note) == (
        "done",
        date(2026, 12, 10),
        "座谈会后居民都同意了",
    )
    assert second.status == "open"


async def test_reminder_a_week_later_only_to_those_without_a_plan(
    running: RunningBot, client: EmulatorClient
) -> None:
    await cohort(running, client)
    await travel(running, COURSE_END)
    # 张伟 writes and confirms a plan through the service (the conversation is tested above).
    plans = running.core.services.plans
    async with running.core.uow() as uow:
        [c] = await uow.enrolments.trainee_cohorts(
            (await uow.users.by_telegram_id(TRAINEE)).id  # type: ignore[union-attr]
        )
    await plans.set_area(TRAINEE, c.id, "waste")
    for field, value in (("goal", "垃圾分类"), ("success", "准确率"), ("support", "物业")):
        await plans.set_text(TRAINEE, c.id, field, value)
    await plans.add_milestone(TRAINEE, c.id, "试点楼栋", date(2026, 12, 20))
    await plans.confirm(TRAINEE, c.id)

    await travel(running, COURSE_END + timedelta(days=7))
    other_texts = await Phone(client, OTHER).transcript()
    my_texts = await Phone(client, TRAINEE).transcript()
    assert any("计划书还没写好" in t for t in other_texts)
    assert not any("计划书还没写好" in t for t in my_texts)
    async with running.core.uow() as uow:
        assert len(list(await uow.session.scalars(select(Plan)))) == 1
