"""The plan service on a real database: prompts with the course-end check, the draft that
resumes, check-ins on milestone dates, moving once, and the self-check's offer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.config import load_settings
from bot.core import Core, build_core
from bot.db.models import DueItem, LtsiFollowUp, OutboxMessage
from bot.domain.ports import MovableClock
from bot.domain.practice import MilestoneStatus
from bot.services.plans import (
    MILESTONE_KIND,
    PROMPT_KIND,
    REMIND_KIND,
    PlanRefusal,
    PlanStep,
    PlanView,
)
from tests.conftest import Backend
from tests.integration.test_ltsi_service import enrol

START = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
ENDS = date(2026, 11, 30)
COURSE_END = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # 16:00 in Shanghai
ORGANISER = 7100
ANNA, BO, CHEN = 7101, 7102, 7103


@pytest.fixture
async def core(backend: Backend) -> AsyncIterator[Core]:
    core = build_core(load_settings(DATABASE_URL=backend.database_url), clock=MovableClock(START))
    await core.migrate()
    try:
        yield core
    finally:
        await core.close()


def move_to(core: Core, moment: datetime) -> None:
    assert isinstance(core.clock, MovableClock)
    core.clock.set(moment)


async def setup(core: Core, **practice: object) -> int:
    created = await core.services.cohorts.create(
        name="班",
        course_title="课",
        ends_on=ENDS,
        timezone="Asia/Shanghai",
        organiser_telegram_ids=(ORGANISER,),
        practice=practice or None,
    )
    for telegram_id in (ANNA, BO, CHEN):
        await enrol(core, telegram_id, created.trainee_invite.code)
    return created.cohort.id


async def due_items(core: Core, kind: str) -> list[DueItem]:
    async with core.uow() as uow:
        rows = await uow.session.scalars(
            select(DueItem).where(DueItem.kind == kind).order_by(DueItem.due_at)
        )
        return list(rows)


async def outbox(core: Core, purpose: str = "plan") -> list[OutboxMessage]:
    async with core.uow() as uow:
        rows = await uow.session.scalars(
            select(OutboxMessage).where(OutboxMessage.purpose == purpose).order_by(OutboxMessage.id)
        )
        return list(rows)


async def write_plan(core: Core, telegram_id: int, cohort_id: int, *days: date) -> PlanView:
    plans = core.services.plans
    await plans.set_area(telegram_id, cohort_id, "elevator")
    await plans.set_text(telegram_id, cohort_id, "goal", "3号楼加装电梯")
    await plans.set_text(telegram_id, cohort_id, "success", "三分之二业主签字")
    await plans.set_text(telegram_id, cohort_id, "support", "街道城建科参加协调会")
    view: PlanView | PlanRefusal = PlanRefusal.STALE
    for number, day in enumerate(days, 1):
        view = await plans.add_milestone(telegram_id, cohort_id, f"里程碑{number}", day)
    assert isinstance(view, PlanView)
    return view


async def test_prompt_comes_with_the_course_end_check_and_the_reminder_a_week_later(
    core: Core,
) -> None:
    cohort_id = await setup(core)
    [prompt] = await due_items(core, PROMPT_KIND)
    [remind] = await due_items(core, REMIND_KIND)
    [course_end] = [
        d for d in await due_items(core, "ltsi_open") if d.due_at == prompt.due_at
    ]  # the same moment as the course-end self-check
    assert course_end.due_at == COURSE_END
    assert remind.due_at == COURSE_END + timedelta(days=7)

    move_to(core, COURSE_END)
    await core.sweeper.sweep()
    first = await outbox(core)
    assert len(first) == 3 and all("实践转化计划书" in m.payload["text"] for m in first)
    assert first[0].payload["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == (
        f"pl:go:{cohort_id}:"
    )

    # Anna confirms a plan; Bo has only a draft: the reminder goes to Bo and Chen.
    view = await write_plan(core, ANNA, cohort_id, date(2026, 12, 10))
    assert (await core.services.plans.confirm(ANNA, cohort_id)) != PlanRefusal.EMPTY
    await core.services.plans.set_area(BO, cohort_id, "waste")
    assert view.next_step is PlanStep.REVIEW
    move_to(core, COURSE_END + timedelta(days=7))
    await core.sweeper.sweep()
    reminders = [m for m in await outbox(core) if ":remind:" in m.dedupe_key]
    assert sorted(m.chat_id for m in reminders) == [BO, CHEN]


async def test_draft_resumes_at_the_first_missing_answer(core: Core) -> None:
    cohort_id = await setup(core)
    plans = core.services.plans
    assert await plans.current(ANNA, cohort_id) is None
    view = await plans.set_area(ANNA, cohort_id, "other")
    assert isinstance(view, PlanView) and view.next_step is PlanStep.AREA_OTHER
    view = await plans.set_text(ANNA, cohort_id, "area_other", "社区养老服务")
    assert isinstance(view, PlanView) and view.next_step is PlanStep.GOAL
    await plans.set_text(ANNA, cohort_id, "goal", "办好老年食堂")
    again = await plans.current(ANNA, cohort_id)  # e.g. after a restart
    assert isinstance(again, PlanView) and again.next_step is PlanStep.SUCCESS
    assert not again.active and again.goal == "办好老年食堂"
    # Not confirmable until complete; bad values are refused by the service too.
    assert await plans.confirm(ANNA, cohort_id) is PlanRefusal.EMPTY
    assert await plans.set_text(ANNA, cohort_id, "goal", "字" * 501) is PlanRefusal.BAD_TEXT
    assert await plans.set_text(ANNA, cohort_id, "cohort_id", "1") is PlanRefusal.BAD_TEXT
    assert await plans.set_area(ANNA, cohort_id, "moon") is PlanRefusal.NOT_YOURS
    # Someone who is not in the cohort cannot touch it.
    assert await plans.set_text(9999, cohort_id, "goal", "x") is PlanRefusal.NOT_TRAINEE


async def test_milestones_limits_and_the_one_plan_per_cohort(core: Core) -> None:
    cohort_id = await setup(core)
    plans = core.services.plans
    move_to(core, COURSE_END)
    days = [date(2026, 12, d) for d in (5, 10, 15, 20, 25)]
    view = await write_plan(core, ANNA, cohort_id, *days)
    assert [m.number for m in view.milestones] == [1, 2, 3, 4, 5]
    assert (
        await plans.add_milestone(ANNA, cohort_id, "第六个", date(2026, 12, 30)) is PlanRefusal.FULL
    )
    assert (
        await plans.add_milestone(BO, cohort_id, "昨天的", date(2026, 11, 29))
        is PlanRefusal.BAD_DATE
    )
    await plans.begin(ANNA, cohort_id)  # a second /plan opens the same plan
    async with core.uow() as uow:
        plan = await uow.plans.of((await uow.users.by_telegram_id(ANNA)).id, cohort_id)  # type: ignore[union-attr]
        assert plan is not None and len(plan.milestones) == 5


async def test_check_ins_on_milestone_dates_and_moving_once(core: Core) -> None:
    cohort_id = await setup(core)
    plans = core.services.plans
    move_to(core, COURSE_END)
    view = await write_plan(core, ANNA, cohort_id, date(2026, 12, 10), date(2026, 12, 20))
    assert await due_items(core, MILESTONE_KIND) == []  # only once confirmed
    confirmed = await plans.confirm(ANNA, cohort_id)
    assert isinstance(confirmed, PlanView) and confirmed.active
    assert await plans.confirm(ANNA, cohort_id) is PlanRefusal.STALE  # twice: nothing new
    items = await due_items(core, MILESTONE_KIND)
    # 10:00 in Shanghai on each date.
    assert [d.due_at for d in items] == [
        datetime(2026, 12, 10, 2, 0, tzinfo=UTC),
        datetime(2026, 12, 20, 2, 0, tzinfo=UTC),
    ]
    first, second = view.milestones

    # Not due yet: nothing to move.
    assert await plans.may_move(ANNA, first.id) is PlanRefusal.NOT_MISSED
    move_to(core, datetime(2026, 12, 10, 2, 5, tzinfo=UTC))
    await core.sweeper.sweep()
    [ask] = [m for m in await outbox(core) if m.dedupe_key.startswith("plan:ms:")]
    assert ask.chat_id == ANNA and "里程碑1" in ask.payload["text"]
    labels = [b["callback_data"] for b in ask.payload["reply_markup"]["inline_keyboard"][0]]
    assert labels == [f"pm:{first.id}:d", f"pm:{first.id}:i", f"pm:{first.id}:n"]

    # Someone else's milestone: refused. A repeated tap: refused, nothing changes.
    assert await plans.check_in(BO, first.id, MilestoneStatus.DONE) is PlanRefusal.NOT_YOURS
    result = await plans.check_in(ANNA, first.id, MilestoneStatus.NOT_DONE)
    assert not isinstance(result, PlanRefusal)
    assert result.milestone.status is MilestoneStatus.NOT_DONE
    assert await plans.check_in(ANNA, first.id, MilestoneStatus.NOT_DONE) is PlanRefusal.STALE

    # Moved once, with a reason, to a later day; its check-in moves too.
    assert (
        await plans.move(ANNA, first.id, "居民意见不一", date(2026, 12, 9)) is PlanRefusal.BAD_DATE
    )
    assert await plans.move(ANNA, first.id, "", date(2026, 12, 18)) is PlanRefusal.BAD_TEXT
    moved = await plans.move(ANNA, first.id, "居民意见不一", date(2026, 12, 18))
    assert isinstance(moved, PlanView)
    m = moved.milestone(first.id)
    assert m is not None and (m.due_on, m.moved_from, m.move_reason, m.status) == (
        date(2026, 12, 18),
        date(2026, 12, 10),
        "居民意见不一",
        MilestoneStatus.OPEN,
    )
    move_to(core, datetime(2026, 12, 19, 2, 5, tzinfo=UTC))
    await core.sweeper.sweep()
    asks = [m for m in await outbox(core) if m.dedupe_key.startswith(f"plan:ms:{first.id}:")]
    assert len(asks) == 2  # the original date and the new one
    assert await plans.move(ANNA, first.id, "又推迟", date(2026, 12, 28)) is (
        PlanRefusal.MOVED_ONCE
    )
    done = await plans.check_in(ANNA, first.id, MilestoneStatus.DONE)
    assert not isinstance(done, PlanRefusal) and done.plan.done == 1
    note = await plans.set_note(ANNA, first.id, "居民都同意了")
    assert not isinstance(note, PlanRefusal) and note.note == "居民都同意了"
    assert second.status is MilestoneStatus.OPEN


async def test_moved_milestone_old_check_in_is_skipped(core: Core) -> None:
    """A check-in scheduled for a date the milestone no longer has sends nothing."""
    cohort_id = await setup(core)
    plans = core.services.plans
    move_to(core, COURSE_END)
    view = await write_plan(core, ANNA, cohort_id, date(2026, 12, 1))
    await plans.confirm(ANNA, cohort_id)
    [m] = view.milestones
    move_to(core, datetime(2026, 12, 1, 1, 0, tzinfo=UTC))  # 09:00, before the check-in
    await plans.check_in(ANNA, m.id, MilestoneStatus.NOT_DONE)
    await plans.move(ANNA, m.id, "下雪", date(2026, 12, 8))
    move_to(core, datetime(2026, 12, 1, 3, 0, tzinfo=UTC))
    await core.sweeper.sweep()
    assert [x for x in await outbox(core) if x.dedupe_key.startswith("plan:ms:")] == []


async def test_low_opportunity_diagnosis_offers_a_milestone(core: Core) -> None:
    cohort_id = await setup(core)
    move_to(core, COURSE_END)
    await write_plan(core, ANNA, cohort_id, date(2026, 12, 10))
    async with core.uow() as uow:
        anna = await uow.users.by_telegram_id(ANNA)
        chen = await uow.users.by_telegram_id(CHEN)
        assert anna is not None and chen is not None
        [wave] = [w for w in await uow.ltsi.waves_of(cohort_id) if w.kind == "course_end"]
        for user in (anna, chen):
            await uow.ltsi.invite(
                [
                    {
                        "wave_id": wave.id,
                        "user_id": user.id,
                        "status": "done",
                        "position": 0,
                        "invited_at": COURSE_END,
                        "updated_at": COURSE_END,
                    }
                ]
            )
        responses = await uow.ltsi.responses_by_user(wave.id)
        await uow.ltsi.add_follow_ups(
            [
                {
                    "response_id": responses[user.id],
                    "user_id": user.id,
                    "cohort_id": cohort_id,
                    "kind": "plan_milestone",
                    "factors": ["opportunity_to_use"],
                    "status": "pending",
                    "created_at": COURSE_END,
                }
                for user in (anna, chen)
            ]
        )
        await uow.commit()
    await core.services.plans.offer_milestones()
    await core.services.plans.offer_milestones()  # picked up once
    offers = [m for m in await outbox(core) if m.dedupe_key.startswith("plan:offer:")]
    assert sorted(m.chat_id for m in offers) == [ANNA, CHEN]
    by_chat = {m.chat_id: m.payload for m in offers}
    assert "添加里程碑" in by_chat[ANNA]["reply_markup"]["inline_keyboard"][0][0]["text"]
    assert "写计划书" in by_chat[CHEN]["reply_markup"]["inline_keyboard"][0][0]["text"]
    async with core.uow() as uow:
        statuses = await uow.session.scalars(select(LtsiFollowUp.status))
        assert set(statuses) == {"done"}
