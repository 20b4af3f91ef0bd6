"""/portfolio through the real bot and the emulator: the summary, the HTML document and the
JSON copy, downloaded over HTTP as a phone would, and buttons that are not the presser's."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import aiohttp
import pytest

from bot.db.models import Case, Plan, PlanMilestone, Reflection, ReflectionComment
from bot.sandbox.client import ChatMessage, EmulatorClient
from bot.services.ltsi import Diagnosis, Question
from tests.e2e.harness import TOKEN, Phone, RunningBot, enrol

pytestmark = pytest.mark.e2e

ORGANISER = 9501
TRAINEE = 9502
MENTOR = 9503
NEWCOMER = 9504
STRANGER = 9505
ENDS_ON = date(2026, 11, 30)
COURSE_END = datetime(2026, 11, 30, 8, 5, tzinfo=UTC)  # 16:05 in Shanghai
GOAL = "三个月内把12栋楼道堆物清理干净"
SCRIPT = "<script>alert('x')</script>"


async def scene(running: RunningBot, client: EmulatorClient) -> None:
    """A cohort; 张伟 finished the course-end check and has a plan, a commented reflection
    and a published case (rows written directly: those conversations are other modules')."""
    created = await running.core.services.cohorts.create(
        name="2026秋季社区书记班",
        course_title="基层治理能力提升专题培训",
        ends_on=ENDS_ON,
        timezone="Asia/Shanghai",
        organiser_telegram_ids=(ORGANISER,),
    )
    for telegram_id, name, code in (
        (TRAINEE, "张伟", created.trainee_invite.code),
        (NEWCOMER, "刘芳", created.trainee_invite.code),
        (MENTOR, "王导师", created.mentor_invite.code),
    ):
        await client.add_user(telegram_id, name)
        await enrol(running.core, telegram_id, code, name)
    await client.add_user(STRANGER, "路人")

    running.clock.set(COURSE_END)
    await running.sweep()
    ltsi = running.core.services.ltsi
    [check] = (await ltsi.overview(TRAINEE)).open
    result = await ltsi.start(TRAINEE, check.response_id, message_id=1)
    while isinstance(result, Question):
        item = ltsi.bank.item(result.item_id)
        value = 2 if item.reverse else 4
        result = await ltsi.answer(TRAINEE, check.response_id, result.position, value, 1)
    assert isinstance(result, Diagnosis)

    now = running.clock.now()
    async with running.core.uow() as uow:
        trainee = await uow.users.by_telegram_id(TRAINEE)
        mentor = await uow.users.by_telegram_id(MENTOR)
        assert trainee is not None and mentor is not None
        plan = Plan(
            user_id=trainee.id,
            cohort_id=created.cohort.id,
            area="property",
            goal=GOAL,
            success="居民投诉减少一半",
            support="物业公司配合",
            created_at=now,
            updated_at=now,
        )
        plan.milestones = [
            PlanMilestone(
                position=0,
                title="召开楼组长会议",
                due_on=date(2026, 12, 10),
                status="done",
                note="到会12人",
                checked_at=now,
                created_at=now,
            ),
            PlanMilestone(
                position=1,
                title="完成第一轮清理",
                due_on=date(2027, 1, 15),
                status="not_done",
                moved_from=date(2026, 12, 20),
                move_reason="物业换人",
                created_at=now,
            ),
        ]
        uow.session.add(plan)
        await uow.session.flush()
        reflection = Reflection(
            user_id=trainee.id,
            cohort_id=created.cohort.id,
            milestone_id=plan.milestones[0].id,
            prompt_number=1,
            answers={
                "did": {"kind": "text", "text": f"挨家挨户通知 {SCRIPT}", "file_id": None},
                "happened": {"kind": "voice", "text": "会上的录音", "file_id": "VOICE-1"},
                "learned": {"kind": "text", "text": "先听居民说", "file_id": None},
                "next": {"kind": "text", "text": "请物业一起来", "file_id": None},
            },
            status="done",
            created_at=now,
            completed_at=now,
        )
        uow.session.add(reflection)
        await uow.session.flush()
        uow.session.add(
            ReflectionComment(
                reflection_id=reflection.id,
                author_user_id=mentor.id,
                author_role="mentor",
                text="很好的开端，下次记得拍照留档。",
                created_at=now,
            )
        )
        uow.session.add(
            Case(
                reflection_id=reflection.id,
                cohort_id=created.cohort.id,
                area="property",
                title="楼道堆物清理",
                body="案例正文",
                pseudonym="学员A",
                proposed_by=mentor.id,
                status="published",
                created_at=now,
                decided_at=now,
            )
        )
        await uow.commit()
    await running.delivered()
    await client.settle(TRAINEE)


async def download(running: RunningBot, message: ChatMessage) -> bytes:
    """The document of `message`, fetched over HTTP: getFile, then the file URL."""
    assert message.document is not None
    base = running.emulator.base_url
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{base}/bot{TOKEN}/getFile", json={"file_id": message.document["file_id"]}
        ) as response:
            path = (await response.json())["result"]["file_path"]
        async with http.get(f"{base}/file/bot{TOKEN}/{path}") as response:
            assert response.status == 200
            return await response.read()


async def test_summary_document_and_json_copy(running: RunningBot, client: EmulatorClient) -> None:
    await scene(running, client)
    running.clock.set(COURSE_END + timedelta(days=1))
    phone = Phone(client, TRAINEE)

    summary = await phone.say("/portfolio")
    text = summary.text or ""
    assert "张伟的成长档案" in text
    assert "2026秋季社区书记班" in text and "基层治理能力提升专题培训" in text
    assert "结课快速自评（2026年11月30日）" in text and "工作环境 4.0" in text
    assert GOAL in text and "物业管理" in text
    assert "✅ 召开楼组长会议（2026年12月10日）" in text
    assert "❌ 完成第一轮清理（2027年1月15日）" in text
    assert "反思：共 1 篇，最近：2026年11月30日" in text
    assert "点评 1 条" in text and "《楼道堆物清理》" in text
    assert summary.button_texts == ["导出成长档案（HTML 文件）", "导出数据副本（JSON）"]

    # Someone else's button (forged data) gives a toast and sends nothing.
    toast = await phone.tap_for_toast(data=f"pf:h:{NEWCOMER}", on=summary, forge=True)
    assert toast == "这不是您的档案按钮。"
    toast = await phone.tap_for_toast(data=f"pf:x:{TRAINEE}", on=summary, forge=True)
    assert toast == "这不是您的档案按钮。"

    await phone.tap("导出成长档案", on=summary)
    progress = await phone.next_message()
    assert "正在生成成长档案（含 1 张自评雷达图）" in (progress.text or "")
    document = await phone.wait_for(lambda m: m.kind == "document")
    assert document.document is not None
    assert document.document["file_name"] == "成长档案-张伟-2026-12-01.html"
    assert "张伟的成长档案（2026年12月1日）" in (document.text or "")
    done = await phone.wait_for(lambda m: m.message_id == progress.message_id)
    assert done.text == "✅ 成长档案已生成。"
    html = (await download(running, document)).decode("utf-8")
    assert '<meta charset="utf-8">' in html
    for shown in ("张伟", GOAL, "到会12人", "物业换人", "先听居民说", "很好的开端", "王导师"):
        assert shown in html, shown
    assert "挨家挨户通知 &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "<script" not in html
    assert "data:image/png;base64," in html

    await phone.tap("导出数据副本", on=summary)
    copy = await phone.wait_for(lambda m: m.kind == "document" and m.seq > document.seq)
    assert copy.document is not None and copy.document["file_name"] == "xueyong-my-data.json"
    data = json.loads(await download(running, copy))
    assert data["user"]["full_name"] == "张伟"
    [plan] = data["plans"]
    assert plan["goal"] == GOAL and len(plan["milestones"]) == 2
    [reflection] = data["reflections"]
    assert reflection["answers"]["did"]["text"] == f"挨家挨户通知 {SCRIPT}"
    assert reflection["comments"][0]["text"] == "很好的开端，下次记得拍照留档。"
    assert data["cases"][0]["title"] == "楼道堆物清理"

    # After erasure the old buttons export nothing.
    confirm = await phone.say("/delete_my_data")
    assert "反思" in (confirm.text or "") and "案例" in (confirm.text or "")
    await phone.tap_then_read("确认删除", on=confirm)
    for label in ("导出成长档案", "导出数据副本"):
        toast = await phone.tap_for_toast(label, on=summary)
        assert toast == "我们已经没有您的记录了。"
    assert (await phone.say("/portfolio")).text == (
        "我们还没有保存您的任何记录，所以暂时没有成长档案。\n请点击组织方发给您的邀请链接加入班级。"
    )


async def test_nothing_yet_not_a_trainee_and_unknown(
    running: RunningBot, client: EmulatorClient
) -> None:
    await scene(running, client)
    newcomer = await Phone(client, NEWCOMER).say("/portfolio")
    assert "刘芳的成长档案" in (newcomer.text or "")
    assert "还没有完成的自评" in (newcomer.text or "")
    assert "还没有实践转化计划。发送 /plan" in (newcomer.text or "")
    assert "档案里还没有内容" in (newcomer.text or "")
    mentor = await Phone(client, MENTOR).say("/portfolio")
    assert "您目前不是任何班级的学员" in (mentor.text or "") and mentor.buttons == []
    stranger = await Phone(client, STRANGER).say("/portfolio")
    assert "还没有保存您的任何记录" in (stranger.text or "") and stranger.buttons == []
