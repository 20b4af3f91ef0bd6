"""The self-check service on a real database: the report's arithmetic, late joiners, double
taps, and legacy cohorts planned once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import delete, select

from bot.config import load_settings
from bot.core import Core, build_core
from bot.db.models import AuditEntry, DueItem, LtsiWave
from bot.domain.enrolment import (
    EnrolStep,
    check_district,
    check_name,
    check_position,
    check_unit_name,
    check_unit_type,
)
from bot.domain.ltsi import WaveKind
from bot.domain.ports import MovableClock
from bot.services.ltsi import Diagnosis, Question, Refusal
from tests.conftest import Backend

START = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
ENDS = date(2026, 11, 30)
ORGANISER = 7000
TRAINEES = (7001, 7002, 7003)
DAY30 = datetime(2026, 12, 30, 2, 1, tzinfo=UTC)
DAY60 = datetime(2027, 1, 29, 2, 1, tzinfo=UTC)


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


async def enrol(core: Core, telegram_id: int, code: str) -> None:
    svc = core.services.enrolment
    await svc.consent(telegram_id, code, "zh-CN")
    await svc.answer(telegram_id, EnrolStep.NAME, check_name(f"学员{telegram_id}"))
    await svc.answer(telegram_id, EnrolStep.UNIT_TYPE, check_unit_type("village"))
    await svc.answer(telegram_id, EnrolStep.UNIT_NAME, check_unit_name("王家村"))
    await svc.answer(telegram_id, EnrolStep.DISTRICT, check_district("东城区"))
    await svc.answer(telegram_id, EnrolStep.POSITION, check_position("村支书"))


async def setup(core: Core, trainees: tuple[int, ...] = TRAINEES) -> int:
    created = await core.services.cohorts.create(
        name="班",
        course_title="课",
        ends_on=ENDS,
        timezone="Asia/Shanghai",
        organiser_telegram_ids=(ORGANISER,),
    )
    for telegram_id in trainees:
        await enrol(core, telegram_id, created.trainee_invite.code)
    return created.cohort.id


async def complete(core: Core, telegram_id: int, value_of: dict[str, int]) -> Diagnosis:
    """Answer the user's open check through the service, as the buttons would."""
    ltsi = core.services.ltsi
    overview = await ltsi.overview(telegram_id)
    [check] = overview.open
    result = await ltsi.start(telegram_id, check.response_id, message_id=100)
    while isinstance(result, Question):
        factor = ltsi.bank.item(result.item_id).factor
        item = ltsi.bank.item(result.item_id)
        wanted = value_of.get(factor, 4)
        value = 6 - wanted if item.reverse else wanted
        result = await ltsi.answer(telegram_id, check.response_id, result.position, value, 100)
    assert isinstance(result, Diagnosis), result
    return result


async def test_report_counts_barriers_and_pairs_day30_with_day60(core: Core) -> None:
    cohort_id = await setup(core)
    ltsi = core.services.ltsi
    clock(core).set(DAY30)
    await core.sweeper.sweep()
    a, b, c = TRAINEES
    await complete(core, a, {"supervisor_support": 1})  # a barrier
    await complete(core, b, {"supervisor_support": 2, "peer_support": 2})
    # c never answers day 30
    clock(core).set(DAY60)
    await core.sweeper.sweep()
    second = await complete(core, a, {"supervisor_support": 3})
    await complete(core, c, {})
    assert second.previous_wave is WaveKind.DAY30
    assert second.previous_factors is not None
    assert second.previous_factors["supervisor_support"] == 1.0
    assert second.factors["supervisor_support"] == 3.0

    report = await ltsi.report(ORGANISER, cohort_id)
    assert report is not None
    waves = {w.wave: w for w in report.waves}
    assert (waves[WaveKind.DAY30].invited, waves[WaveKind.DAY30].done) == (3, 2)
    assert waves[WaveKind.DAY30].status == "closed"  # 14 days passed
    assert (waves[WaveKind.DAY60].invited, waves[WaveKind.DAY60].done) == (3, 2)
    assert waves[WaveKind.COURSE_END].done == 0
    day30 = report.barrier_counts[WaveKind.DAY30]
    assert day30["supervisor_support"] == 2 and day30["peer_support"] == 1
    assert sum(day30.values()) == 3
    assert report.barrier_counts[WaveKind.DAY60]["supervisor_support"] == 0
    # Only a did both: work environment went from mean(1,4,4,4,4,4,4)=25/7 to mean(3,4..)=27/7.
    assert report.paired == 1
    assert report.change["work_environment"] == pytest.approx(2 / 7)
    assert report.change["ability"] == pytest.approx(0.0)
    means = report.factor_means[WaveKind.DAY30]
    assert means["supervisor_support"] == pytest.approx(1.5)
    assert means["peer_support"] == pytest.approx(3.0)

    async with core.uow() as uow:
        audit = (await uow.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id))).all()
    assert "ltsi_report_viewed" in audit

    # Only the cohort's organisers get it.
    assert await ltsi.report(TRAINEES[0], cohort_id) is None
    assert await ltsi.export_csv(TRAINEES[0], cohort_id, with_names=False) is None
    export = await ltsi.export_csv(ORGANISER, cohort_id, with_names=False)
    assert export is not None and export.rows == 4 * 48
    again = await ltsi.export_csv(ORGANISER, cohort_id, with_names=False)
    assert again is not None and again.data.split(b"\r\n")[1] == export.data.split(b"\r\n")[1]
    async with core.uow() as uow:
        exports = (
            await uow.session.scalars(
                select(AuditEntry).where(AuditEntry.action == "ltsi_answers_exported")
            )
        ).all()
    assert [e.details["with_names"] for e in exports] == [False, False]


async def test_a_trainee_who_joins_an_open_wave_gets_it_on_check(core: Core) -> None:
    created = await core.services.cohorts.create(
        name="班",
        course_title="课",
        ends_on=ENDS,
        timezone="Asia/Shanghai",
        ltsi={"offsets": {"day30": 3}},  # while the invite is still valid
    )
    clock(core).set(datetime(2026, 12, 3, 2, 1, tzinfo=UTC))
    await core.sweeper.sweep()  # opens with nobody enrolled
    await enrol(core, 7009, created.trainee_invite.code)
    overview = await core.services.ltsi.overview(7009)
    # Both open waves: the course-end one (still within its 14 days) and day 30.
    assert [c.wave for c in overview.open] == [WaveKind.COURSE_END, WaveKind.DAY30]
    assert [c.total for c in overview.open] == [16, 48]


async def test_a_double_tap_records_one_answer_and_moves_once(core: Core) -> None:
    await setup(core, trainees=(7001,))
    clock(core).set(DAY30)
    await core.sweeper.sweep()
    ltsi = core.services.ltsi
    [check] = (await ltsi.overview(7001)).open
    await ltsi.start(7001, check.response_id, message_id=5)
    first, second = await asyncio.gather(
        ltsi.answer(7001, check.response_id, 0, 4, 5),
        ltsi.answer(7001, check.response_id, 0, 2, 5),
    )
    assert sorted([type(first).__name__, type(second).__name__]) == ["Question", "Refusal"]
    winner = 4 if isinstance(first, Question) else 2
    async with core.uow() as uow:
        answers = await uow.ltsi.answers(check.response_id)
    assert list(answers.values()) == [winner]  # the loser's write was rolled back
    moved = await ltsi.peek(7001, check.response_id)
    assert isinstance(moved, Question) and moved.position == 1
    # A press from a message the check no longer lives in is stale.
    assert await ltsi.answer(7001, check.response_id, 1, 4, 6) is Refusal.STALE


async def test_legacy_cohorts_are_planned_once(core: Core) -> None:
    cohort_id = await setup(core, trainees=())
    async with core.uow() as uow:  # as if the cohort predated the self-checks
        await uow.session.execute(delete(DueItem))
        await uow.session.execute(delete(LtsiWave))
        await uow.commit()
    await core.sweeper.sweep()
    await core.sweeper.sweep()
    async with core.uow() as uow:
        waves = (await uow.session.scalars(select(LtsiWave))).all()
        due = (await uow.session.scalars(select(DueItem))).all()
    assert sorted(w.kind for w in waves) == ["course_end", "day30", "day60"]
    assert {w.cohort_id for w in waves} == {cohort_id}
    kinds = Counter(d.kind for d in due)
    # Each feature planned its own, once: 3 waves, the plan's prompt and reminder, 8
    # reflection prompts, the mentors' first digest and monthly reminder, 6 role-play pushes.
    assert kinds == {
        "ltsi_open": 3,
        "plan_prompt": 1,
        "plan_remind": 1,
        "reflect_prompt": 8,
        "mentoring_digest": 1,
        "mentoring_remind": 1,
        "scenario_push": 6,
    }
    assert min(w.opens_at for w in waves) == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    assert clock(core).now() < START + timedelta(minutes=1)


async def test_going_back_shows_the_answers_given_and_a_new_answer_replaces_one(
    core: Core,
) -> None:
    await setup(core, trainees=(7001,))
    clock(core).set(DAY30)
    await core.sweeper.sweep()
    ltsi = core.services.ltsi
    [check] = (await ltsi.overview(7001)).open
    r = check.response_id
    started = await ltsi.start(7001, r, message_id=5)
    assert isinstance(started, Question) and started.chosen is None
    first = await ltsi.answer(7001, r, 0, 4, 5)
    assert isinstance(first, Question) and (first.position, first.chosen) == (1, None)
    assert isinstance(await ltsi.answer(7001, r, 1, 2, 5), Question)
    back = await ltsi.back(7001, r, 2, 5)
    assert isinstance(back, Question) and (back.position, back.chosen) == (1, 2)
    back = await ltsi.back(7001, r, 1, 5)
    assert isinstance(back, Question) and (back.position, back.chosen) == (0, 4)
    # Answering the first question again: the next one shows the answer given before.
    again = await ltsi.answer(7001, r, 0, 5, 5)
    assert isinstance(again, Question)
    assert (again.position, again.item_id, again.chosen) == (1, first.item_id, 2)
    async with core.uow() as uow:
        answers = await uow.ltsi.answers(r)
    assert sorted(answers.values()) == [2, 5]
    assert await ltsi.answer(7001, r, 0, 3, 5) is Refusal.STALE  # it is at question 1 now
