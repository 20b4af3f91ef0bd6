"""Mentor matching through the real bot and the emulator: an organiser's /match shows the
pairs with their reasons, one pair is swapped, the proposal confirmed, both sides introduced;
a trainee's /mentor, a rematch request with a reason, the organiser's approval, the new pair
confirmed and introduced; a second request refused."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from bot.db.models import LtsiResponse, LtsiWave, MentorMatch, Plan
from bot.sandbox.client import ChatMessage, EmulatorClient
from tests.e2e.harness import START, Phone, RunningBot, enrol

pytestmark = pytest.mark.e2e

ORGANISER = 9801
WANG, LI = 9811, 9812
ZHANG, LIU, CHEN, ZHAO = 9821, 9822, 9823, 9824


async def cohort(running: RunningBot, client: EmulatorClient) -> int:
    core = running.core
    created = await core.services.cohorts.create(
        name="2026秋季社区书记班",
        course_title="基层治理能力提升专题培训",
        ends_on=date(2026, 11, 30),
        timezone="Asia/Shanghai",
        organiser_telegram_ids=(ORGANISER,),
    )
    await client.add_user(ORGANISER, "组织者")
    mentors = (
        (WANG, "王书记", "和平里社区", "东城区", ("elevator",), ("leader_support",)),
        (LI, "李主任", "安贞街道办", "朝阳区", ("mediation",), ("teamwork",)),
    )
    for telegram_id, name, unit, district, areas, strengths in mentors:
        await client.add_user(telegram_id, name)
        await enrol(
            core,
            telegram_id,
            created.mentor_invite.code,
            name,
            unit=unit,
            position="社区党委书记",
            capacity=3,
            district=district,
            areas=areas,
            strengths=strengths,
            bio="从事社区工作二十年",
        )
    trainees = (
        (ZHANG, "张伟", "交道口社区", "东城区", "elevator"),
        (LIU, "刘芳", "和平里社区", "东城区", "elevator"),  # Wang's unit: never Wang
        (CHEN, "陈静", "安贞里社区", "朝阳区", "mediation"),
        (ZHAO, "赵磊", "小关社区", "朝阳区", "mediation"),
    )
    for telegram_id, name, unit, district, _ in trainees:
        await client.add_user(telegram_id, name)
        await enrol(
            core, telegram_id, created.trainee_invite.code, name, unit=unit, district=district
        )
    # Plans and the self-check are other features': their results are written directly.
    low = core.services.ltsi.bank.thresholds.barrier_below
    async with core.uow() as uow:
        wave = await uow.session.scalar(
            select(LtsiWave).where(
                LtsiWave.cohort_id == created.cohort.id, LtsiWave.kind == "course_end"
            )
        )
        assert wave is not None
        for telegram_id, _, _, _, area in trainees:
            user = await uow.users.by_telegram_id(telegram_id)
            assert user is not None
            uow.session.add(
                Plan(
                    user_id=user.id,
                    cohort_id=created.cohort.id,
                    area=area,
                    goal="推动3号楼加装电梯" if telegram_id == ZHANG else "化解停车矛盾",
                    status="active",
                    created_at=START,
                    updated_at=START,
                )
            )
            if telegram_id == ZHANG:
                uow.session.add(
                    LtsiResponse(
                        wave_id=wave.id,
                        user_id=user.id,
                        status="done",
                        scores={"factors": {"supervisor_support": low - 1}, "groups": {}},
                        invited_at=START,
                        updated_at=START,
                        completed_at=START,
                    )
                )
        await uow.commit()
    return created.cohort.id


async def edited(phone: Phone, message: ChatMessage) -> ChatMessage:
    return await phone.wait_for(lambda m: m.message_id == message.message_id and m.event == "edit")


async def test_match_swap_confirm_introduce_then_rematch_once(
    running: RunningBot, client: EmulatorClient
) -> None:
    cohort_id = await cohort(running, client)
    organiser = Phone(client, ORGANISER)
    wang, li, zhang = Phone(client, WANG), Phone(client, LI), Phone(client, ZHANG)

    # /match: a summary, then the pairs with their reasons in plain words.
    await organiser.send("/match")
    summary = await organiser.wait_for(lambda m: "导师配对方案" in (m.text or ""))
    text = summary.text or ""
    assert "待匹配学员 4 人" in text and "已配对 4 人" in text and "覆盖优先" in text
    assert summary.has_button("🔁 按匹配度优先（总分最高）重新生成")
    pairs = await organiser.wait_for(lambda m: "配对明细" in (m.text or ""))
    text = pairs.text or ""
    assert (
        "学员 张伟（交道口社区）→ 导师 王书记：理由：同领域·加装电梯；同区；"
        "导师擅长争取领导支持（覆盖阻碍：领导的支持）" in text
    ), text
    assert "学员 刘芳（和平里社区）→ 导师 李主任" in text  # never Wang: same unit
    assert "学员 赵磊（小关社区）→ 导师 李主任" in text
    assert "手机" not in text

    # Swap Zhao (line 4) to Wang: the picker shows who may take him, with the scores.
    lines = [line for line in text.splitlines() if line[:2] in ("1.", "2.", "3.", "4.")]
    number = next(line.split(".")[0] for line in lines if "赵磊" in line)
    await organiser.tap(f"🔄 {number} 换导师", on=pairs)
    picker = await edited(organiser, pairs)
    assert "为学员 赵磊" in (picker.text or "")
    assert picker.has_button("王书记 · 1 分 · 余 2 个名额")
    assert not any("李主任" in b.text for row in picker.buttons for b in row)
    toast = await organiser.tap_for_toast("王书记 · 1 分 · 余 2 个名额", on=picker)
    assert toast == "已调整 ✓"
    swapped = await edited(organiser, pairs)
    assert "学员 赵磊（小关社区）→ 导师 王书记" in (swapped.text or "")

    # Confirm: introductions to both sides; a second confirm changes nothing.
    toast = await organiser.tap_for_toast("✅ 确认", on=swapped)
    assert toast == "已确认 ✓"
    done = await edited(organiser, pairs)
    assert "4 对导师配对已确认" in (done.text or "")
    # The same button again (an old copy of the message): a toast, nothing else.
    confirm_data = swapped.button("✅ 确认").callback_data
    toast = await organiser.tap_for_toast(on=done, data=confirm_data, forge=True)
    assert toast is not None and "按钮已失效" in toast
    await running.delivered()
    to_wang = await wang.wait_for(
        lambda m: "张伟" in (m.text or "") and "新的带教学员" in (m.text or "")
    )
    text = to_wang.text or ""
    assert "交道口社区" in text and "推动3号楼加装电梯" in text and "加装电梯" in text
    assert "领导的支持" in text and "每周" in text
    assert any(e.get("url") == f"tg://user?id={ZHANG}" for e in to_wang.entities)
    await wang.wait_for(lambda m: "赵磊" in (m.text or "") and "新的带教学员" in (m.text or ""))
    to_zhang = await zhang.wait_for(lambda m: "您的治理导师" in (m.text or ""))
    text = to_zhang.text or ""
    assert "王书记" in text and "社区党委书记" in text and "和平里社区" in text
    assert "争取领导支持" in text and "从事社区工作二十年" in text and "主动联系您" in text
    assert any(e.get("url") == f"tg://user?id={WANG}" for e in to_zhang.entities)

    # /mentor: Zhang sees Wang and asks for another mentor, with a reason.
    mine = await zhang.say("/mentor")
    assert "王书记" in (mine.text or "") and mine.has_button("申请更换导师")
    await zhang.tap("申请更换导师", on=mine)
    ask = await zhang.next_message()
    assert "原因" in (ask.text or "")
    too_long = await zhang.say("换" * 301)
    assert "最多 300 个字" in (too_long.text or "")
    await client.send(ZHANG, sticker={"emoji": "👍"})
    sticker = await zhang.next_message()
    assert "请用文字写原因" in (sticker.text or "")
    sent = await zhang.say("工作时间总对不上，希望换一位")
    assert "已提交" in (sent.text or "")
    again = await zhang.tap_then_read("申请更换导师", on=mine)
    assert "每个班只能申请一次" in (again.text or "")

    # The organiser approves: a new mentor is proposed for Zhang alone (not Wang).
    await running.delivered()
    request = await organiser.wait_for(lambda m: m.has_button("✅ 同意"))
    assert "工作时间总对不上" in (request.text or "") and "张伟" in (request.text or "")
    toast = await organiser.tap_for_toast("✅ 同意", on=request)
    assert toast == "已同意"
    await organiser.wait_for(lambda m: "已同意 张伟 的更换申请" in (m.text or ""))
    proposal = await organiser.wait_for(lambda m: "配对明细" in (m.text or ""))
    assert "学员 张伟（交道口社区）→ 导师 李主任" in (proposal.text or "")
    decline = request.button("❌ 不同意").callback_data
    toast = await organiser.tap_for_toast(on=request, data=decline, forge=True)
    assert toast is not None and "按钮已失效" in toast  # decided already
    await organiser.tap_for_toast("✅ 确认", on=proposal)
    await running.delivered()
    await li.wait_for(lambda m: "张伟" in (m.text or "") and "新的带教学员" in (m.text or ""))
    await zhang.wait_for(lambda m: "您的治理导师" in (m.text or "") and "李主任" in (m.text or ""))
    await wang.wait_for(lambda m: "不再带教" in (m.text or ""))

    async with running.core.uow() as uow:
        zhang_user = await uow.users.by_telegram_id(ZHANG)
        assert zhang_user is not None
        ref = await uow.matches.active_mentor_of(zhang_user.id, cohort_id)
        li_user = await uow.users.by_telegram_id(LI)
        assert ref is not None and li_user is not None and ref.mentor_user_id == li_user.id
        ended = await uow.session.scalars(
            select(MentorMatch).where(MentorMatch.end_reason == "rematch")
        )
        assert len(ended.all()) == 1
    now = await zhang.say("/mentor")
    assert "李主任" in (now.text or "") and not now.has_button("申请更换导师")

    # A week on, the Monday digest: each mentor's lists their current mentees only.
    running.clock.set(datetime(2026, 11, 30, 1, 1, tzinfo=UTC))  # Monday 09:01 in Shanghai
    await running.sweep()
    await running.delivered()
    li_digest = await li.wait_for(lambda m: "学员进展摘要" in (m.text or ""))
    assert "张伟" in (li_digest.text or "")
    wang_digest = await wang.wait_for(lambda m: "学员进展摘要" in (m.text or ""))
    assert "赵磊" in (wang_digest.text or "") and "张伟" not in (wang_digest.text or "")
