"""Services against a real database (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.config import load_settings
from bot.core import Core, build_core
from bot.db.models import AuditEntry, Enrolment, Invite, User
from bot.domain.enrolment import (
    EnrolStep,
    check_capacity,
    check_name,
    check_position,
    check_unit_name,
    check_unit_type,
)
from bot.domain.invites import InviteProblem
from bot.domain.ports import MovableClock
from bot.services.enrolment import ConsentOutcome
from tests.conftest import Backend

START = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


@pytest.fixture
async def core(backend: Backend) -> AsyncIterator[Core]:
    settings = load_settings(DATABASE_URL=backend.database_url, BOT_TOKEN="1:x")
    core = build_core(settings, clock=MovableClock(START))
    await core.migrate()
    try:
        yield core
    finally:
        await core.close()


async def _cohort(core: Core, **kw: object) -> tuple[str, str]:
    created = await core.services.cohorts.create(
        name="2026秋季社区书记班",
        course_title="基层治理能力提升",
        ends_on=date(2026, 12, 1),
        timezone="Asia/Shanghai",
        **kw,  # type: ignore[arg-type]
    )
    return created.trainee_invite.code, created.mentor_invite.code


async def _count(core: Core, model: type) -> int:
    async with core.uow() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(model)) or 0)


async def test_checking_an_invite_stores_nothing(core: Core) -> None:
    trainee_code, _ = await _cohort(core)
    check = await core.services.enrolment.check_invite(trainee_code.lower(), 501)
    assert check.problem is None and check.cohort is not None
    assert check.cohort.name == "2026秋季社区书记班"
    assert await _count(core, User) == 0
    assert (await core.services.enrolment.check_invite("ZZZZZZZZZZ", 501)).problem is (
        InviteProblem.NOT_FOUND
    )


async def test_full_trainee_enrolment_saves_each_answer(core: Core) -> None:
    code, _ = await _cohort(core)
    svc = core.services.enrolment
    result = await svc.consent(501, code, "zh-CN")
    assert result.outcome is ConsentOutcome.ENROLLING
    assert result.state.next_step is EnrolStep.NAME
    state = await svc.answer(501, EnrolStep.NAME, check_name("张三"))
    assert state.next_step is EnrolStep.UNIT_TYPE
    # An answer to a question that is not open changes nothing.
    stale = await svc.answer(501, EnrolStep.POSITION, check_position("书记"))
    assert stale.next_step is EnrolStep.UNIT_TYPE and stale.user and stale.user.position is None
    await svc.answer(501, EnrolStep.UNIT_TYPE, check_unit_type("community"))
    await svc.answer(501, EnrolStep.UNIT_NAME, check_unit_name("和平里社区"))
    done = await svc.answer(501, EnrolStep.POSITION, check_position("网格员"))
    assert done.next_step is None
    assert [e.cohort.name for e in done.just_completed] == ["2026秋季社区书记班"]
    async with core.uow() as uow:
        actions = (await uow.session.scalars(select(AuditEntry.action))).all()
    assert "consent_given" in actions and "enrolled" in actions


async def test_invite_limit_holds_under_concurrent_consents(core: Core) -> None:
    code, _ = await _cohort(core, trainee_limit=3)
    svc = core.services.enrolment
    results = await asyncio.gather(*(svc.consent(600 + i, code, "zh-CN") for i in range(8)))
    outcomes = [r.outcome for r in results]
    assert outcomes.count(ConsentOutcome.ENROLLING) == 3
    assert all(
        r.problem is InviteProblem.USED_UP
        for r in results
        if r.outcome is ConsentOutcome.INVITE_INVALID
    )
    async with core.uow() as uow:
        uses = await uow.session.scalar(select(Invite.uses).where(Invite.code == code))
    assert uses == 3
    assert await _count(core, Enrolment) == 3


async def test_second_enrolment_in_the_same_cohort_is_refused(core: Core) -> None:
    code, _ = await _cohort(core)
    svc = core.services.enrolment
    assert (await svc.consent(501, code, "zh-CN")).outcome is ConsentOutcome.ENROLLING
    again = await svc.consent(501, code, "zh-CN")
    assert again.outcome is ConsentOutcome.ALREADY_ENROLLED
    assert await _count(core, Enrolment) == 1


async def test_expired_invite_is_refused_at_consent(core: Core) -> None:
    code, _ = await _cohort(core)
    assert isinstance(core.clock, MovableClock)
    core.clock.advance(timedelta(days=40))
    result = await core.services.enrolment.consent(501, code, "zh-CN")
    assert result.outcome is ConsentOutcome.INVITE_INVALID
    assert result.problem is InviteProblem.EXPIRED
    assert await _count(core, User) == 0


async def test_mentor_answers_areas_and_capacity(core: Core) -> None:
    _, mentor_code = await _cohort(core)
    svc = core.services.enrolment
    await svc.consent(700, mentor_code, "en")
    for step, checked in (
        (EnrolStep.NAME, check_name("王五")),
        (EnrolStep.UNIT_TYPE, check_unit_type("street")),
        (EnrolStep.UNIT_NAME, check_unit_name("东城街道")),
        (EnrolStep.POSITION, check_position("党工委书记")),
    ):
        state = await svc.answer(700, step, checked)
    assert state.next_step is EnrolStep.MENTOR_AREAS
    known = core.texts.area_ids()
    await svc.toggle_mentor_area(700, "elevator", known)
    profile = await svc.toggle_mentor_area(700, "mediation", known)
    assert profile.areas == ("elevator", "mediation")
    done = await svc.answer(700, EnrolStep.MENTOR_CAPACITY, check_capacity("4"))
    assert done.next_step is None and done.mentor and done.mentor.capacity == 4


async def test_erasure_then_coming_back(core: Core) -> None:
    code, _ = await _cohort(core)
    svc = core.services.enrolment
    await svc.consent(501, code, "zh-CN")
    await svc.answer(501, EnrolStep.NAME, check_name("张三"))
    erased = await core.services.privacy.erase(501)
    assert erased.erased and erased.enrolments_closed == 1
    assert await core.services.privacy.export(501) is None
    async with core.uow() as uow:
        user = await uow.users.by_telegram_id(501)
        assert user is not None and user.full_name is None and user.consent_at is None
    back = await svc.consent(501, code, "zh-CN")
    assert back.outcome is ConsentOutcome.ENROLLING
    assert back.state.next_step is EnrolStep.NAME
