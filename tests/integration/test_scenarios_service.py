"""The role-play service on a real database: pushes on the cohort cadence, the self-check's
suggestion (the plan's area first), moves as compare-and-set, free-text answers, erasure."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.config import load_settings
from bot.core import Core, build_core
from bot.db.models import DueItem, LtsiFollowUp, OutboxMessage, Plan, ScenarioAnswer, ScenarioRun
from bot.domain.ports import MovableClock
from bot.domain.practice import TextProblem
from bot.domain.scenarios import NodeKind
from bot.services.scenarios import (
    PUSH_KIND,
    Answered,
    Debrief,
    Intro,
    Moved,
    OpenPlay,
    Refusal,
    Screen,
    TextRefusal,
)
from tests.conftest import Backend
from tests.integration.test_ltsi_service import enrol

START = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
ENDS = date(2026, 11, 30)
COURSE_END = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
ORGANISER = 7300
ANNA, BO = 7301, 7302


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


async def setup(core: Core) -> int:
    created = await core.services.cohorts.create(
        name="班",
        course_title="课",
        ends_on=ENDS,
        timezone="Asia/Shanghai",
        organiser_telegram_ids=(ORGANISER,),
    )
    for telegram_id in (ANNA, BO):
        await enrol(core, telegram_id, created.trainee_invite.code)
    return created.cohort.id


async def outbox(core: Core) -> list[OutboxMessage]:
    async with core.uow() as uow:
        rows = await uow.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.purpose == "scenario")
            .order_by(OutboxMessage.id)
        )
        return list(rows)


async def play_through(core: Core, telegram_id: int, scenario_id: str, role: str) -> Debrief:
    """Play the recommended path with the service, answering free text."""
    opened = await core.services.scenarios.open(telegram_id, scenario_id, role)
    assert isinstance(opened, Intro)
    screen = await core.services.scenarios.current(telegram_id, opened.run_id)
    while True:
        assert isinstance(screen, Screen), screen
        node = screen.node
        if node.kind is NodeKind.DECISION:
            moved = await core.services.scenarios.choose(
                telegram_id, screen.run_id, screen.step, node.recommended() or 0
            )
            assert isinstance(moved, Moved)
            if isinstance(moved.then, Debrief):
                return moved.then
            screen = moved.then
        elif node.kind is NodeKind.FREE_TEXT:
            answered = await core.services.scenarios.answer(
                telegram_id, screen.run_id, screen.step, "先听，再讲政策。"
            )
            assert isinstance(answered, Answered)
            assert isinstance(answered.then, Screen)
            screen = answered.then
        else:
            screen = await core.services.scenarios.advance(telegram_id, screen.run_id, screen.step)


async def test_pushes_follow_the_cohort_cadence(core: Core) -> None:
    cohort_id = await setup(core)
    async with core.uow() as uow:
        due = (
            await uow.session.scalars(
                select(DueItem).where(DueItem.kind == PUSH_KIND).order_by(DueItem.due_at)
            )
        ).all()
    # Every two weeks after the end, six times, at 15:00 in Shanghai.
    assert [d.due_at for d in due] == [
        datetime(2026, 11, 30, 7, 0, tzinfo=UTC) + timedelta(days=14 * n) for n in range(1, 7)
    ]
    first = core.services.scenarios.scenarios[0]
    # Anna has finished the first scenario: her push offers the next one.
    await play_through(core, ANNA, first.id, first.roles[0].id)
    move_to(core, due[0].due_at + timedelta(minutes=1))
    await core.sweeper.sweep()
    pushes = await outbox(core)
    by_chat = {m.chat_id: m.payload["text"] for m in pushes if "push" in m.dedupe_key}
    second = core.services.scenarios.scenarios[1]
    assert first.title("zh-CN") in by_chat[BO]
    assert second.title("zh-CN") in by_chat[ANNA]
    assert cohort_id


async def test_a_diagnosis_suggests_the_scenario_of_the_plans_area(core: Core) -> None:
    cohort_id = await setup(core)
    move_to(core, COURSE_END)
    async with core.uow() as uow:
        anna = await uow.users.by_telegram_id(ANNA)
        bo = await uow.users.by_telegram_id(BO)
        assert anna is not None and bo is not None
        uow.session.add(
            Plan(
                user_id=anna.id,
                cohort_id=cohort_id,
                area="parking",
                status="active",
                created_at=COURSE_END,
                updated_at=COURSE_END,
            )
        )
        [wave] = [w for w in await uow.ltsi.waves_of(cohort_id) if w.kind == "course_end"]
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
                for user in (anna, bo)
            ]
        )
        responses = await uow.ltsi.responses_by_user(wave.id)
        await uow.ltsi.add_follow_ups(
            [
                {
                    "response_id": responses[user.id],
                    "user_id": user.id,
                    "cohort_id": cohort_id,
                    "kind": "roleplay",
                    "factors": ["self_efficacy"],
                    "status": "pending",
                    "created_at": COURSE_END,
                }
                for user in (anna, bo)
            ]
        )
        await uow.commit()
    await core.services.scenarios.offer_suggested()
    await core.services.scenarios.offer_suggested()  # picked up once
    offers = [m for m in await outbox(core) if m.dedupe_key.startswith("scenario:suggest:")]
    assert sorted(m.chat_id for m in offers) == [ANNA, BO]
    by_chat = {m.chat_id: m.payload["text"] for m in offers}
    parking = core.services.scenarios.scenario("parking")
    assert parking is not None and parking.title("zh-CN") in by_chat[ANNA]
    assert "根据你的自检结果" in by_chat[ANNA]
    first = core.services.scenarios.scenarios[0]
    assert first.title("zh-CN") in by_chat[BO]
    async with core.uow() as uow:
        assert set(await uow.session.scalars(select(LtsiFollowUp.status))) == {"done"}


async def test_moves_are_compare_and_set_and_answers_are_checked(core: Core) -> None:
    await setup(core)
    scenarios = core.services.scenarios
    scenario = scenarios.scenario("chaiqian")
    assert scenario is not None
    opened = await scenarios.open(ANNA, "chaiqian", "lawyer")
    assert isinstance(opened, Intro) and opened.role.id == "lawyer"
    # Opening it again offers the unfinished play instead of a second one.
    again = await scenarios.open(ANNA, "chaiqian", None)
    assert isinstance(again, OpenPlay) and again.run_id == opened.run_id
    # Someone else's play: refused.
    assert await scenarios.current(BO, opened.run_id) is Refusal.NOT_YOURS
    screen = await scenarios.current(ANNA, opened.run_id)
    while isinstance(screen, Screen) and screen.node.kind in (NodeKind.NARRATION, NodeKind.LINE):
        step = screen.step
        screen = await scenarios.advance(ANNA, opened.run_id, step)
        # The same press again: stale.
        assert await scenarios.advance(ANNA, opened.run_id, step) is Refusal.STALE
    assert isinstance(screen, Screen)
    if screen.node.kind is NodeKind.DECISION:
        step = screen.step
        first = await scenarios.choose(ANNA, opened.run_id, step, 0)
        assert isinstance(first, Moved)
        assert await scenarios.choose(ANNA, opened.run_id, step, 1) is Refusal.STALE
        assert await scenarios.choose(ANNA, opened.run_id, step + 1, 9) in (
            Refusal.NOT_YOURS,
            Refusal.STALE,
        )
    # A free-text answer: too long or empty is refused and nothing moves.
    async with core.uow() as uow:
        run = await uow.scenarios.get(opened.run_id)
        assert run is not None
        step_before = run.step
    refused = await scenarios.answer(ANNA, opened.run_id, step_before, "字" * 1001)
    assert isinstance(refused, TextRefusal) and refused.problem is TextProblem.TOO_LONG
    refused = await scenarios.answer(ANNA, opened.run_id, step_before, "   ")
    assert isinstance(refused, TextRefusal) and refused.problem is TextProblem.EMPTY


async def test_erasure_keeps_scores_without_free_text(core: Core) -> None:
    await setup(core)
    debrief = await play_through(core, ANNA, "chaiqian", "cadre")
    other = await core.services.scenarios.open(ANNA, "elevator", None)
    assert isinstance(other, Intro)
    async with core.uow() as uow:
        assert (await uow.session.scalars(select(ScenarioAnswer))).all()
    await core.services.privacy.erase(ANNA)
    async with core.uow() as uow:
        assert not (await uow.session.scalars(select(ScenarioAnswer))).all()
        runs = {r.id: r for r in await uow.session.scalars(select(ScenarioRun))}
        assert runs[debrief.run_id].status == "finished"
        assert runs[debrief.run_id].scores == dict(debrief.raw)
        assert runs[other.run_id].status == "erased"
