"""The growth portfolio and the PIPL rights on a real database: the record gathered from
every feature, the document escaped, the JSON copy complete, and erasure leaving no free
text of the person anywhere (and nobody else's touched)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import JSON, String, Text, select, update

from bot.config import load_settings
from bot.core import Core, build_core
from bot.db.models import (
    AuditEntry,
    Case,
    GuidanceSession,
    OutboxMessage,
    Plan,
    PlanMilestone,
    Reflection,
    ReflectionComment,
    User,
)
from bot.domain.delivery import Purpose
from bot.domain.enrolment import (
    EnrolStep,
    check_capacity,
    check_district,
    check_name,
    check_position,
    check_unit_name,
    check_unit_type,
)
from bot.domain.ltsi import WaveKind
from bot.domain.ports import MovableClock
from bot.services.ltsi import Diagnosis, Question
from bot.services.outbox import outbox_row
from bot.services.portfolio import ExportRefusal
from bot.services.portfolio_document import PortfolioDocument, safe_file_name
from tests.conftest import Backend

START = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
ENDS = date(2026, 11, 30)
DAY30 = datetime(2026, 12, 30, 2, 1, tzinfo=UTC)
DAY60 = datetime(2027, 1, 29, 2, 1, tzinfo=UTC)
ORGANISER = 7100
TRAINEE = 7101
OTHER = 7102
MENTOR = 7103
SCRIPT = "<script>alert('x')</script>"

# Text columns that hold no one's words: ids of lists in content, statuses, roles.
NOT_FREE_TEXT = {
    "plans": {"area", "status"},
    "plan_milestones": {"status"},
    "reflections": {"status"},
    "reflection_comments": {"author_role"},
    "cases": {"area", "status", "pseudonym"},
}


@pytest.fixture
async def core(backend: Backend) -> AsyncIterator[Core]:
    core = build_core(load_settings(DATABASE_URL=backend.database_url), clock=MovableClock(START))
    await core.migrate()
    try:
        yield core
    finally:
        await core.close()


def clock(core: Core) -> MovableClock:
    assert isinstance(core.clock, MovableClock)
    return core.clock


async def enrol(core: Core, telegram_id: int, code: str, name: str) -> None:
    svc = core.services.enrolment
    await svc.consent(telegram_id, code, "zh-CN")
    await svc.answer(telegram_id, EnrolStep.NAME, check_name(name))
    await svc.answer(telegram_id, EnrolStep.UNIT_TYPE, check_unit_type("community"))
    await svc.answer(telegram_id, EnrolStep.UNIT_NAME, check_unit_name("和平里社区"))
    await svc.answer(telegram_id, EnrolStep.DISTRICT, check_district("东城区"))
    state = await svc.answer(telegram_id, EnrolStep.POSITION, check_position("网格员"))
    if state.next_step is EnrolStep.MENTOR_AREAS:
        await svc.toggle_mentor_area(telegram_id, "elevator", core.texts.area_ids())
        await svc.answer(telegram_id, EnrolStep.MENTOR_CAPACITY, check_capacity("3"))
        await svc.toggle_mentor_strength(telegram_id, "coaching", core.texts.strength_ids())
        await svc.skip_bio(telegram_id)


async def setup(core: Core) -> int:
    created = await core.services.cohorts.create(
        name="2026秋季社区书记班",
        course_title="基层治理能力提升专题培训",
        ends_on=ENDS,
        timezone="Asia/Shanghai",
        organiser_telegram_ids=(ORGANISER,),
    )
    await enrol(core, TRAINEE, created.trainee_invite.code, "张伟")
    await enrol(core, OTHER, created.trainee_invite.code, "刘芳")
    await enrol(core, MENTOR, created.mentor_invite.code, "王导师")
    return created.cohort.id


async def user_id(core: Core, telegram_id: int) -> int:
    async with core.uow() as uow:
        user = await uow.users.by_telegram_id(telegram_id)
        assert user is not None
        return user.id


async def practice(core: Core, cohort_id: int, telegram_id: int, words: str) -> None:
    """A plan with two milestones (one moved), a reflection on the first with a mentor's
    comment, a draft, and a published case: rows written as the features would."""
    now = clock(core).now()
    trainee, mentor = await user_id(core, telegram_id), await user_id(core, MENTOR)
    async with core.uow() as uow:
        plan = Plan(
            user_id=trainee,
            cohort_id=cohort_id,
            area="other",
            area_other=f"{words}·楼道堆物",
            goal=f"{words}的目标：三个月内清理楼道堆物",
            success=f"{words}：居民投诉减少一半",
            support=f"{words}：需要物业配合",
            created_at=now,
            updated_at=now,
        )
        plan.milestones = [
            PlanMilestone(
                position=0,
                title=f"{words}：召开楼组长会议",
                due_on=date(2026, 12, 10),
                status="done",
                note=f"{words}：到会12人",
                checked_at=now,
                created_at=now,
            ),
            PlanMilestone(
                position=1,
                title=f"{words}：完成第一轮清理",
                due_on=date(2027, 1, 15),
                status="open",
                moved_from=date(2026, 12, 20),
                move_reason=f"{words}：物业换人",
                created_at=now,
            ),
        ]
        uow.session.add(plan)
        await uow.session.flush()
        reflection = Reflection(
            user_id=trainee,
            cohort_id=cohort_id,
            milestone_id=plan.milestones[0].id,
            prompt_number=1,
            answers={
                "did": {"kind": "text", "text": f"{words}：开了会 {SCRIPT}", "file_id": None},
                "happened": {"kind": "voice", "text": f"{words}的语音说明", "file_id": "VOICE1"},
                "learned": {"kind": "photo", "text": None, "file_id": "PHOTO1"},
                "next": {"kind": "text", "text": f"{words}：下次先入户", "file_id": None},
            },
            status="done",
            created_at=now,
            completed_at=now,
        )
        draft = Reflection(
            user_id=trainee,
            cohort_id=cohort_id,
            answers={"did": {"kind": "text", "text": f"{words}的草稿", "file_id": None}},
            status="draft",
            created_at=now + timedelta(days=1),
        )
        uow.session.add_all([reflection, draft])
        await uow.session.flush()
        uow.session.add(
            ReflectionComment(
                reflection_id=reflection.id,
                author_user_id=mentor,
                author_role="mentor",
                text=f"给{words}的点评：做得好 <b>",
                created_at=now,
            )
        )
        uow.session.add(
            Case(
                reflection_id=reflection.id,
                cohort_id=cohort_id,
                area="property",
                title=f"{words}的案例：楼道清理",
                body=f"{words}的案例正文",
                pseudonym="学员A",
                proposed_by=mentor,
                status="published",
                created_at=now,
                decided_at=now,
            )
        )
        await uow.commit()


async def complete(core: Core, telegram_id: int, low: tuple[str, ...] = ()) -> Diagnosis:
    ltsi = core.services.ltsi
    [check] = (await ltsi.overview(telegram_id)).open
    result = await ltsi.start(telegram_id, check.response_id, message_id=100)
    while isinstance(result, Question):
        item = ltsi.bank.item(result.item_id)
        wanted = 1 if item.factor in low else 4
        value = 6 - wanted if item.reverse else wanted
        result = await ltsi.answer(telegram_id, check.response_id, result.position, value, 100)
    assert isinstance(result, Diagnosis), result
    return result


async def test_portfolio_gathers_the_whole_record(core: Core) -> None:
    cohort_id = await setup(core)
    await practice(core, cohort_id, TRAINEE, "张伟")
    await practice(core, cohort_id, OTHER, "刘芳")
    clock(core).set(DAY30)
    await core.sweeper.sweep()
    await complete(core, TRAINEE, low=("supervisor_support",))
    clock(core).set(DAY60)
    await core.sweeper.sweep()
    await complete(core, TRAINEE)

    found = await core.services.portfolio.portfolio(TRAINEE)
    assert found is not None
    assert found.name == "张伟"
    [enrolment] = found.enrolments
    assert (enrolment.cohort, enrolment.course) == (
        "2026秋季社区书记班",
        "基层治理能力提升专题培训",
    )
    assert [w.wave for w in found.waves] == [WaveKind.DAY30, WaveKind.DAY60]
    assert found.waves[1].previous_wave is WaveKind.DAY30
    [plan] = found.plans
    assert plan.goal == "张伟的目标：三个月内清理楼道堆物"
    assert [m.status for m in plan.milestones] == ["done", "open"]
    assert plan.milestones[1].move_reason == "张伟：物业换人"
    done, draft = found.reflections
    assert done.done and not draft.done
    assert done.milestone == "张伟：召开楼组长会议"
    assert [a.kind for a in done.answers] == ["text", "voice", "photo", "text"]
    [comment] = done.comments
    assert (comment.author_name, comment.author_role) == ("王导师", "mentor")
    assert found.comment_count == 1
    [case] = found.cases
    assert case.title == "张伟的案例：楼道清理"
    # Nothing of the other trainee.
    assert "刘芳" not in repr(found)

    # A mentor has no portfolio of their own; someone unknown has nothing.
    mentor = await core.services.portfolio.portfolio(MENTOR)
    assert mentor is not None and mentor.enrolments == () and mentor.is_empty
    assert await core.services.portfolio.portfolio(999) is None


async def test_document_is_escaped_self_contained_html_with_charts(core: Core) -> None:
    cohort_id = await setup(core)
    await practice(core, cohort_id, TRAINEE, "张伟")
    clock(core).set(DAY30)
    await core.sweeper.sweep()
    await complete(core, TRAINEE, low=("supervisor_support",))
    started: list[int] = []

    async def on_start(p: Any) -> None:
        started.append(len(p.waves))
        # A second tap while the document is being made makes nothing.
        again = await core.services.portfolio.document(TRAINEE, "zh-CN")
        assert again is ExportRefusal.BUSY

    made = await core.services.portfolio.document(TRAINEE, "zh-CN", on_start=on_start)
    assert isinstance(made, PortfolioDocument)
    assert started == [1]
    assert made.filename == "成长档案-张伟-2026-12-30.html"
    assert (made.charts, made.charts_left_out) == (1, 0)
    html = made.data.decode("utf-8")
    assert '<meta charset="utf-8">' in html and '<html lang="zh-CN">' in html
    assert "Noto Sans CJK SC" in html and "@media print" in html
    assert html.count("data:image/png;base64,") == 1
    assert "<script" not in html  # the document runs nothing, and the trainee's text is escaped
    assert "开了会 &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "做得好 &lt;b&gt;" in html
    for text in (
        "张伟的目标：三个月内清理楼道堆物",
        "张伟：物业换人",
        "张伟的语音说明",
        "语音只能在 Telegram 里收听",
        "图片只能在 Telegram 里查看",
        "王导师",
        "张伟的案例正文",
        "领导的支持",  # a barrier of day 30, by its name in content
        "我学到了什么",
    ):
        assert text in html, text
    assert "情景演练" not in html  # no scenario results exist, so no section at all
    assert "VOICE1" not in html and "PHOTO1" not in html

    english = await core.services.portfolio.document(TRAINEE, "en")
    assert isinstance(english, PortfolioDocument)
    assert english.filename == "growth-portfolio-张伟-2026-12-30.html"
    assert "What I learned" in english.data.decode()

    assert await core.services.portfolio.document(999, "zh-CN") is ExportRefusal.GONE


def test_file_names_are_safe() -> None:
    assert safe_file_name("张 伟/../a:b") == "张-伟-..-a-b"
    assert safe_file_name("..hidden") == "hidden"
    assert safe_file_name("") == ""


async def test_export_holds_plans_reflections_comments_and_cases(core: Core) -> None:
    cohort_id = await setup(core)
    await practice(core, cohort_id, TRAINEE, "张伟")
    data = await core.services.privacy.export(TRAINEE)
    assert data is not None
    [plan] = data["plans"]
    assert plan["goal"] == "张伟的目标：三个月内清理楼道堆物"
    assert plan["area_other"] == "张伟·楼道堆物"
    assert [m["title"] for m in plan["milestones"]] == [
        "张伟：召开楼组长会议",
        "张伟：完成第一轮清理",
    ]
    assert plan["milestones"][1]["moved_from"] == "2026-12-20"
    assert plan["milestones"][1]["move_reason"] == "张伟：物业换人"
    done, draft = data["reflections"]
    assert done["milestone"] == "张伟：召开楼组长会议"
    assert done["answers"]["happened"] == {
        "kind": "voice",
        "text": "张伟的语音说明",
        "file_id": "VOICE1",
    }
    assert [c["text"] for c in done["comments"]] == ["给张伟的点评：做得好 <b>"]
    assert draft["status"] == "draft"
    [case] = data["cases"]
    assert (case["title"], case["body"], case["status"]) == (
        "张伟的案例：楼道清理",
        "张伟的案例正文",
        "published",
    )
    assert data["comments_written"] == []

    mentor = await core.services.privacy.export(MENTOR)
    assert mentor is not None
    assert [c["text"] for c in mentor["comments_written"]] == ["给张伟的点评：做得好 <b>"]
    assert mentor["plans"] == [] and mentor["reflections"] == [] and mentor["cases"] == []


async def free_text(core: Core, telegram_id: int) -> dict[str, list[Any]]:
    """Every value of every free-text column (String, Text, JSON) of the practice tables in
    rows that belong to the person: their plans, milestones, reflections, the comments on
    them and by them, and cases of their reflections."""
    uid = await user_id(core, telegram_id)
    async with core.uow() as uow:
        plans = (await uow.session.scalars(select(Plan).where(Plan.user_id == uid))).all()
        milestones = [m for p in plans for m in p.milestones]
        reflections = (
            await uow.session.scalars(select(Reflection).where(Reflection.user_id == uid))
        ).all()
        ids = [r.id for r in reflections]
        comments = (
            await uow.session.scalars(
                select(ReflectionComment).where(
                    (ReflectionComment.reflection_id.in_(ids))
                    | (ReflectionComment.author_user_id == uid)
                )
            )
        ).all()
        cases = (await uow.session.scalars(select(Case).where(Case.reflection_id.in_(ids)))).all()
    found: dict[str, list[Any]] = {}
    for rows in (plans, milestones, reflections, comments, cases):
        for row in rows:
            table = row.__table__
            for column in table.columns:
                if column.name in NOT_FREE_TEXT[table.name]:
                    continue
                if isinstance(column.type, String | Text | JSON):
                    found.setdefault(f"{table.name}.{column.name}", []).append(
                        getattr(row, column.key)
                    )
    return found


async def test_erase_leaves_no_free_text_and_touches_no_one_else(core: Core) -> None:
    cohort_id = await setup(core)
    await practice(core, cohort_id, TRAINEE, "张伟")
    await practice(core, cohort_id, OTHER, "刘芳")
    other_before = await core.services.privacy.export(OTHER)
    before = await free_text(core, TRAINEE)
    assert set(before) >= {
        "plans.goal",
        "plan_milestones.title",
        "reflections.answers",
        "reflection_comments.text",
        "cases.title",
        "cases.body",
    }

    # Something sent, and something still waiting, to 张伟: both quote 张伟's own words.
    async with core.uow() as uow:
        uid = await user_id(core, TRAINEE)
        await uow.outbox.enqueue(
            [
                outbox_row(
                    f"t:{status}",
                    TRAINEE,
                    "text",
                    {"text": "“3号楼加装电梯”"},
                    purpose=Purpose.CASE,
                    now=core.clock.now(),
                    user_id=uid,
                )
                for status in ("sent", "pending")
            ]
        )
        await uow.session.execute(
            update(OutboxMessage).where(OutboxMessage.dedupe_key == "t:sent").values(status="sent")
        )
        await uow.commit()

    async with core.uow() as uow:  # a mentor's log of a session with 张伟
        uow.session.add(
            GuidanceSession(
                cohort_id=cohort_id,
                mentor_user_id=await user_id(core, MENTOR),
                trainee_user_id=await user_id(core, TRAINEE),
                held_on=date(2026, 12, 1),
                topic="加装电梯协商",
                notes="张伟说业主意见分歧大",
                next_step="约业主代表开会",
                created_at=core.clock.now(),
            )
        )
        await uow.commit()
    exported = await core.services.privacy.export(TRAINEE)
    assert exported is not None
    assert exported["guidance_sessions"][0]["next_step"] == "约业主代表开会"

    erasure = await core.services.privacy.erase(TRAINEE)
    assert erasure.erased
    async with core.uow() as uow:
        rows = (
            await uow.session.scalars(select(OutboxMessage).where(OutboxMessage.user_id == uid))
        ).all()
        assert rows and all(r.payload == {} for r in rows)
        assert {r.dedupe_key: r.status for r in rows if r.dedupe_key.startswith("t:")} == {
            "t:sent": "sent",
            "t:pending": "failed",  # never sent now
        }
    assert (erasure.plans, erasure.milestones, erasure.reflections) == (1, 2, 2)
    assert (erasure.comments_received, erasure.cases_withdrawn) == (1, 1)

    after = await free_text(core, TRAINEE)
    assert set(after) == set(before)
    left = {column: values for column, values in after.items() if any(values)}
    assert left == {}, left
    async with core.uow() as uow:
        uid = await user_id(core, TRAINEE)
        [plan] = (await uow.session.scalars(select(Plan).where(Plan.user_id == uid))).all()
        assert plan.status == "erased" and plan.area == "other"  # anonymous counts stay
        assert [m.status for m in plan.milestones] == ["done", "open"]
        statuses = (
            await uow.session.scalars(select(Reflection.status).where(Reflection.user_id == uid))
        ).all()
        assert set(statuses) == {"erased"}
        [case] = (
            await uow.session.scalars(select(Case).where(Case.title == "", Case.body.is_(None)))
        ).all()
        assert case.status == "withdrawn"
        [audit] = (
            await uow.session.scalars(
                select(AuditEntry).where(AuditEntry.action == "personal_data_erased")
            )
        ).all()
        assert audit.target_id == uid
        assert audit.details == {
            "enrolments_closed": 1,
            "plans": 1,
            "milestones": 2,
            "reflections": 2,
            "comments_written": 0,
            "comments_received": 1,
            "cases_withdrawn": 1,
            "guidance_sessions": 1,
        }
        [session] = (await uow.session.scalars(select(GuidanceSession))).all()
        assert (session.topic, session.notes, session.next_step) == (None, None, None)
    # The other trainee's record is as it was, their case still published.
    other_after = await core.services.privacy.export(OTHER)
    assert other_before is not None and other_after is not None
    other_before.pop("exported_at")
    other_after.pop("exported_at")
    assert other_after == other_before
    assert other_after["cases"][0]["status"] == "published"
    assert await core.services.portfolio.portfolio(TRAINEE) is None

    # The mentor erases too: the comment they wrote on the other trainee's reflection goes.
    erased = await core.services.privacy.erase(MENTOR)
    assert erased.comments_written == 1  # the one on 张伟's reflection went with 张伟's data
    other = await core.services.privacy.export(OTHER)
    assert other is not None
    assert [c["text"] for c in other["reflections"][0]["comments"]] == [""]
    async with core.uow() as uow:
        texts = (await uow.session.scalars(select(ReflectionComment.text))).all()
        assert set(texts) == {""}
        names = (await uow.session.scalars(select(User.full_name))).all()
        assert "张伟" not in names and "王导师" not in names and "刘芳" in names
