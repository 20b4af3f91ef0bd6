"""Services against a real database (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.config import load_settings
from bot.core import Core, build_core
from bot.db.models import AuditEntry, Enrolment, Invite, MentorProfile, User
from bot.domain.enrolment import (
    BIO_SKIPPED,
    Checked,
    EnrolStep,
    check_bio,
    check_capacity,
    check_district,
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
    state = await svc.answer(501, EnrolStep.UNIT_NAME, check_unit_name("和平里社区"))
    assert state.next_step is EnrolStep.DISTRICT
    state = await svc.answer(501, EnrolStep.DISTRICT, check_district("东城区"))
    assert state.next_step is EnrolStep.POSITION and state.user and state.user.district == "东城区"
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


async def _mentor_up_to_strengths(core: Core, telegram_id: int, code: str) -> None:
    svc = core.services.enrolment
    await svc.consent(telegram_id, code, "en")
    for step, checked in (
        (EnrolStep.NAME, check_name("王五")),
        (EnrolStep.UNIT_TYPE, check_unit_type("street")),
        (EnrolStep.UNIT_NAME, check_unit_name("东城街道")),
        (EnrolStep.DISTRICT, check_district("东城区")),
        (EnrolStep.POSITION, check_position("党工委书记")),
    ):
        state = await svc.answer(telegram_id, step, checked)
    assert state.next_step is EnrolStep.MENTOR_AREAS
    known = core.texts.area_ids()
    await svc.toggle_mentor_area(telegram_id, "elevator", known)
    profile = await svc.toggle_mentor_area(telegram_id, "mediation", known)
    assert profile.areas == ("elevator", "mediation")
    state = await svc.answer(telegram_id, EnrolStep.MENTOR_CAPACITY, check_capacity("4"))
    assert state.next_step is EnrolStep.MENTOR_STRENGTHS
    assert state.mentor and state.mentor.capacity == 4


async def test_mentor_answers_areas_capacity_strengths_and_bio(core: Core) -> None:
    _, mentor_code = await _cohort(core)
    svc = core.services.enrolment
    await _mentor_up_to_strengths(core, 700, mentor_code)
    # The bio cannot be given before a strength is chosen.
    early = await svc.answer(700, EnrolStep.MENTOR_BIO, check_bio("我做了十年书记"))
    assert early.next_step is EnrolStep.MENTOR_STRENGTHS and early.mentor
    assert early.mentor.bio is None
    known = core.texts.strength_ids()
    await svc.toggle_mentor_strength(700, "coaching", known)
    await svc.toggle_mentor_strength(700, "leader_support", known)
    await svc.toggle_mentor_strength(700, "no_such_strength", known)
    state = await svc.state(700)
    assert state.next_step is EnrolStep.MENTOR_BIO and state.mentor
    assert state.mentor.strengths == ("leader_support", "coaching")  # the content's order
    done = await svc.answer(700, EnrolStep.MENTOR_BIO, check_bio("我做了十年书记"))
    assert done.next_step is None and done.mentor and done.mentor.bio == "我做了十年书记"
    assert [e.role.value for e in done.just_completed] == ["mentor"]
    assert core.texts.strength_factors(done.mentor.strengths) == {
        "supervisor_support",
        "supervisor_sanctions",
        "performance_coaching",
    }


async def test_a_mentor_may_skip_the_bio(core: Core) -> None:
    _, mentor_code = await _cohort(core)
    svc = core.services.enrolment
    await _mentor_up_to_strengths(core, 701, mentor_code)
    await svc.toggle_mentor_strength(701, "teamwork", core.texts.strength_ids())
    done = await svc.skip_bio(701)
    assert done.next_step is None and done.mentor and done.mentor.bio == BIO_SKIPPED
    # Skipping again (a stale button) changes nothing.
    again = await svc.skip_bio(701)
    assert again.next_step is None and again.just_completed == ()


async def test_strengths_stop_at_the_maximum(core: Core) -> None:
    _, mentor_code = await _cohort(core)
    svc = core.services.enrolment
    await _mentor_up_to_strengths(core, 702, mentor_code)
    known = core.texts.strength_ids()
    for strength in known:
        profile = await svc.toggle_mentor_strength(702, strength, known)
    assert profile.strengths == known[:3]


async def _enrolled_trainee_without_district(core: Core, telegram_id: int, code: str) -> None:
    """Someone who enrolled before districts were asked: the column is empty."""
    svc = core.services.enrolment
    await svc.consent(telegram_id, code, "zh-CN")
    await svc.answer(telegram_id, EnrolStep.NAME, check_name("张三"))
    await svc.answer(telegram_id, EnrolStep.UNIT_TYPE, check_unit_type("community"))
    await svc.answer(telegram_id, EnrolStep.UNIT_NAME, check_unit_name("和平里社区"))
    await svc.answer(telegram_id, EnrolStep.DISTRICT, check_district("东城区"))
    done = await svc.answer(telegram_id, EnrolStep.POSITION, check_position("网格员"))
    assert done.next_step is None
    async with core.uow() as uow:
        user = await uow.users.by_telegram_id(telegram_id)
        assert user is not None
        user.district = None
        await uow.commit()


async def test_an_enrolled_person_without_district_is_not_sent_back(core: Core) -> None:
    code, _ = await _cohort(core)
    svc = core.services.enrolment
    await _enrolled_trainee_without_district(core, 501, code)
    state = await svc.state(501)
    assert state.next_step is None and state.user and state.user.district is None
    assert [e.status.value for e in state.enrolments] == ["active"]
    assert state.may_edit_profile and not state.may_edit_mentor_profile
    updated = await svc.update_district(501, check_district(" 朝阳区 "))
    assert updated is not None and updated.user and updated.user.district == "朝阳区"
    # A trainee has no strengths or bio to edit.
    assert await svc.update_bio(501, check_bio("我")) is None
    assert await svc.edit_mentor_strength(501, "coaching", core.texts.strength_ids()) is None
    async with core.uow() as uow:
        assert await uow.mentors.get(updated.user.id) is None
    with pytest.raises(ValueError):
        await svc.update_district(501, check_district(""))


async def test_a_mentor_edits_strengths_and_bio_keeping_one_strength(core: Core) -> None:
    _, mentor_code = await _cohort(core)
    svc = core.services.enrolment
    await _mentor_up_to_strengths(core, 703, mentor_code)
    known = core.texts.strength_ids()
    await svc.toggle_mentor_strength(703, "coaching", known)
    await svc.skip_bio(703)
    assert (await svc.state(703)).may_edit_mentor_profile
    kept = await svc.edit_mentor_strength(703, "coaching", known)
    assert kept is not None and kept.strengths == ("coaching",), "the last one stays"
    more = await svc.edit_mentor_strength(703, "confidence", known)
    assert more is not None and more.strengths == ("coaching", "confidence")
    fewer = await svc.edit_mentor_strength(703, "coaching", known)
    assert fewer is not None and fewer.strengths == ("confidence",)
    bio = await svc.update_bio(703, check_bio("擅长带新人"))
    assert bio is not None and bio.mentor and bio.mentor.bio == "擅长带新人"
    cleared = await svc.update_bio(703, Checked(value=BIO_SKIPPED))
    assert cleared is not None and cleared.mentor and cleared.mentor.bio == ""


async def test_export_and_erasure_cover_district_strengths_and_bio(core: Core) -> None:
    _, mentor_code = await _cohort(core)
    svc = core.services.enrolment
    await _mentor_up_to_strengths(core, 704, mentor_code)
    await svc.toggle_mentor_strength(704, "opportunity", core.texts.strength_ids())
    await svc.answer(704, EnrolStep.MENTOR_BIO, check_bio("街道党工委书记"))
    data = await core.services.privacy.export(704)
    assert data is not None
    assert data["user"]["district"] == "东城区"
    assert data["mentor_profile"]["strengths"] == ["opportunity"]
    assert data["mentor_profile"]["bio"] == "街道党工委书记"
    assert (await core.services.privacy.erase(704)).erased
    async with core.uow() as uow:
        user = await uow.users.by_telegram_id(704)
        assert user is not None and user.district is None
        assert await uow.session.get(MentorProfile, user.id) is None


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
