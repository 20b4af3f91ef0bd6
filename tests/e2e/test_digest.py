"""The mentor's side through the real bot and the emulator: with an active match (set up in
the database, as /match would leave it), the month's guidance reminder and the week's
digest arrive on the clock; the mentor reads a new reflection and comments, and the trainee
receives the comment; the mentor logs a session with /log (bad dates, a command in the
middle, a stale button) and the trainee receives the agreed next step. An organiser looks
at the mentor's digest; a forged press on someone else's mentee changes nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.db.models import (
    GuidanceSession,
    Plan,
    PlanMilestone,
    Reflection,
    ReflectionComment,
)
from bot.sandbox.client import EmulatorClient
from tests.e2e.harness import START, Phone, RunningBot
from tests.e2e.scenes import matched_cohort

pytestmark = pytest.mark.e2e

ORGANISER = 9701
MENTOR = 9702
TRAINEE = 9703
OTHER = 9704  # a trainee of the cohort, not the mentor's mentee
ENDS_ON = date(2026, 11, 30)
REMINDER = datetime(2026, 11, 24, 2, 1, tzinfo=UTC)  # 10:01 in Shanghai, 7 days before the end
DIGEST = datetime(2026, 11, 30, 1, 1, tzinfo=UTC)  # Monday 09:01 in Shanghai


async def travel(running: RunningBot, to: datetime) -> None:
    running.clock.set(to)
    await running.sweep()
    await running.delivered()


async def scene(running: RunningBot, client: EmulatorClient) -> tuple[int, int]:
    """A cohort, its mentor 王书记 matched with 张伟 (active), 刘芳 unmatched; 张伟 has a
    plan with a milestone due this week and wrote a reflection after the match began."""
    people = (
        (MENTOR, "王书记", "mentor"),
        (TRAINEE, "张伟", "trainee"),
        (OTHER, "刘芳", "trainee"),
    )
    cohort_id, ids = await matched_cohort(
        running,
        client,
        organiser=ORGANISER,
        ends_on=ENDS_ON,
        people=people,
        pair=(MENTOR, TRAINEE),
        score=12,
    )
    async with running.core.uow() as uow:
        uow.session.add(
            Plan(
                user_id=ids[TRAINEE],
                cohort_id=cohort_id,
                area="elevator",
                goal="3号楼加装电梯",
                status="active",
                created_at=START,
                updated_at=START,
                milestones=[
                    PlanMilestone(
                        position=1,
                        title="召开楼栋居民协商会",
                        due_on=date(2026, 12, 3),
                        status="open",
                        created_at=START,
                    )
                ],
            )
        )
        wrote = START + timedelta(days=2)
        uow.session.add(
            Reflection(
                user_id=ids[TRAINEE],
                cohort_id=cohort_id,
                answers={
                    "did": {"kind": "text", "text": "组织了一次楼栋议事会", "file_id": None},
                    "learned": {"kind": "text", "text": "先听意见再谈方案", "file_id": None},
                },
                status="done",
                created_at=wrote - timedelta(minutes=15),
                completed_at=wrote,
            )
        )
        await uow.commit()
    await client.add_user(ORGANISER, "组织方")
    return cohort_id, ids[TRAINEE]


async def test_digest_on_the_clock_comment_and_guidance_log(
    running: RunningBot, client: EmulatorClient
) -> None:
    cohort_id, trainee_id = await scene(running, client)
    mentor, trainee, other = Phone(client, MENTOR), Phone(client, TRAINEE), Phone(client, OTHER)

    # Seven days before November ends: no session logged yet this month, one reminder.
    await travel(running, REMINDER)
    reminder = await mentor.wait_for(lambda m: "本月指导提醒" in (m.text or ""))
    assert "张伟" in (reminder.text or "") and reminder.has_button("记录指导：张伟")

    # A week after the cohort began: the digest arrives, with the right entry.
    await travel(running, DIGEST)
    digest = await mentor.wait_for(lambda m: "学员进展摘要" in (m.text or ""))
    text = digest.text or ""
    assert "王书记导师" in text and "张伟" in text
    assert "新反思 1 篇" in text and "「组织了一次楼栋议事会」" in text
    assert "即将到期：召开楼栋居民协商会（2026年12月3日）" in text
    assert "还没有指导记录" in text
    assert "刘芳" not in text  # not the mentor's mentee
    assert digest.has_button("阅读并点评：张伟") and digest.has_button("记录指导：张伟")

    # Someone else pressing the mentor's button (forged): a toast, nothing shown.
    other_msg = await other.say("/help")
    toast = await other.tap_for_toast(
        data=digest.button("阅读并点评").callback_data, on=other_msg, forge=True
    )
    assert toast is not None and "不在您的结对名单中" in toast

    # The mentor reads the reflection in full and comments; the trainee receives it.
    await mentor.tap("阅读并点评：张伟", on=digest)
    full = await mentor.wait_for(lambda m: "张伟 的实践反思" in (m.text or ""))
    assert "先听意见再谈方案" in (full.text or "")
    await mentor.wait_for(lambda m: "请直接输入您对这篇反思的" in (m.text or ""))
    too_long = await mentor.say("好" * 1001)
    assert "最多 1000 个字" in (too_long.text or "")
    sent = await mentor.say("议事会开得好！下次可以请物业也参加。")
    assert "点评已发送给 张伟" in (sent.text or "")
    await running.delivered()
    pushed = await trainee.wait_for(lambda m: "点评了您的实践反思" in (m.text or ""))
    assert "治理导师" in (pushed.text or "")
    assert "下次可以请物业也参加" in (pushed.text or "")

    # /log: one mentee, so it starts at once; bad dates get clear answers.
    ask_day = await mentor.say("/log")
    assert "记录与 张伟 的指导" in (ask_day.text or "")
    future = await mentor.say("12月5日")
    assert "还没到" in (future.text or "")
    unreadable = await mentor.say("上上周")
    assert "没看懂" in (unreadable.text or "")
    ask_topic = await mentor.say("昨天")
    assert "主题" in (ask_topic.text or "") and ask_topic.has_button("争取领导支持")
    # A command in the middle works; the log goes on after it.
    helped = await mentor.say("/help")
    assert "/digest" in (helped.text or "")
    await mentor.tap("争取领导支持", on=ask_topic)
    await mentor.wait_for(lambda m: "要点" in (m.text or ""))
    stale = await mentor.tap_for_toast(
        data=ask_topic.button("矛盾纠纷调解").callback_data, on=ask_topic, forge=True
    )
    assert stale is not None and "过期" in stale
    ask_next = await mentor.say("谈了怎样向街道争取加梯补贴，准备汇报材料。")
    assert "下一步" in (ask_next.text or "") and ask_next.has_button("跳过")
    saved = await mentor.say("下周约社区民警一起走访3号楼")
    assert "已记录" in (saved.text or "") and "2026年11月29日" in (saved.text or "")
    await running.delivered()
    step = await trainee.wait_for(lambda m: "和您约定的下一步" in (m.text or ""))
    assert "导师 王书记" in (step.text or "") and "下周约社区民警一起走访3号楼" in (step.text or "")

    async with running.core.uow() as uow:
        [session] = list(await uow.session.scalars(select(GuidanceSession)))
        comments = list(await uow.session.scalars(select(ReflectionComment)))
    assert (session.trainee_user_id, session.held_on, session.topic) == (
        trainee_id,
        date(2026, 11, 29),
        "争取领导支持",
    )
    assert [c.author_role for c in comments] == ["mentor"]

    # /digest now shows the session; the organiser sees the same digest for this mentor.
    now = await mentor.say("/digest")
    assert "上次指导：2026年11月29日 · 争取领导支持" in (now.text or "")
    organiser = Phone(client, ORGANISER)
    choose = await organiser.say("/digest")
    assert choose.has_button("王书记")
    await organiser.tap("王书记", on=choose)
    seen = await organiser.wait_for(lambda m: "组织方查看" in (m.text or ""))
    assert "张伟" in (seen.text or "") and not seen.has_button("阅读并点评")
    async with running.core.uow() as uow:
        assert await uow.matches.active_match(
            trainee_id, cohort_id, mentor_user_id=session.mentor_user_id or 0
        )
