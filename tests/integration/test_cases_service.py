"""The case library on a real database: who may propose, the pseudonym, consent only by the
author and only once, publication by area, withdrawal, and erased cases kept out of sight."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.config import load_settings
from bot.core import Core, build_core
from bot.db.models import AuditEntry, Case, Cohort, OutboxMessage, Plan, Reflection
from bot.domain.enrolment import (
    EnrolStep,
    check_capacity,
    check_district,
    check_name,
    check_position,
    check_unit_name,
    check_unit_type,
)
from bot.domain.ports import MovableClock
from bot.services.cases import (
    AreaPage,
    CaseView,
    Decision,
    Library,
    ProposalStart,
    Proposed,
    ReflectionPage,
    ReflectionView,
    Refusal,
)
from tests.conftest import Backend

START = datetime(2026, 12, 10, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
ENDS = date(2026, 11, 30)
ORGANISER = 8100
OTHER_ORGANISER = 8101
AUTHOR = 8201  # 王建国 of 和平里社区
READER = 8202
MENTOR = 8301
STRANGER = 8999

ANSWERS = {
    "did": {"kind": "text", "text": "组织了三次楼栋协商会，请低层住户先说顾虑。"},
    "happened": {"kind": "voice", "text": "会后录的语音", "file_id": "VOICE-1"},
    "learned": {"kind": "text", "text": "先听意见再谈方案，矛盾少了一半。\n\n补贴方案要公开。"},
    "next": {"kind": "photo", "text": "协商会照片", "file_id": "PHOTO-1"},
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


async def enrol(core: Core, telegram_id: int, code: str, name: str, unit: str) -> None:
    svc = core.services.enrolment
    await svc.consent(telegram_id, code, "zh-CN")
    await svc.answer(telegram_id, EnrolStep.NAME, check_name(name))
    await svc.answer(telegram_id, EnrolStep.UNIT_TYPE, check_unit_type("community"))
    await svc.answer(telegram_id, EnrolStep.UNIT_NAME, check_unit_name(unit))
    await svc.answer(telegram_id, EnrolStep.DISTRICT, check_district("东城区"))
    state = await svc.answer(telegram_id, EnrolStep.POSITION, check_position("社区书记"))
    if state.next_step is EnrolStep.MENTOR_AREAS:
        await svc.toggle_mentor_area(telegram_id, "elevator", core.texts.area_ids())
        await svc.answer(telegram_id, EnrolStep.MENTOR_CAPACITY, check_capacity("3"))
        await svc.toggle_mentor_strength(telegram_id, "coaching", core.texts.strength_ids())
        await svc.skip_bio(telegram_id)


async def setup(core: Core) -> tuple[int, int]:
    """Two cohorts; the first has an organiser, two trainees and a mentor."""
    cohorts = core.services.cohorts
    first = await cohorts.create(
        name="2026秋季社区书记班",
        course_title="课",
        ends_on=ENDS,
        timezone="Asia/Shanghai",
        organiser_telegram_ids=(ORGANISER,),
    )
    second = await cohorts.create(
        name="另一个班",
        course_title="课",
        ends_on=ENDS,
        timezone="Asia/Shanghai",
        organiser_telegram_ids=(OTHER_ORGANISER,),
    )
    await enrol(core, AUTHOR, first.trainee_invite.code, "王建国", "和平里社区")
    await enrol(core, READER, first.trainee_invite.code, "李秀英", "安贞社区")
    await enrol(core, MENTOR, first.mentor_invite.code, "陈导师", "社区治理学院")
    return first.cohort.id, second.cohort.id


async def user_id(core: Core, telegram_id: int) -> int:
    async with core.uow() as uow:
        user = await uow.users.by_telegram_id(telegram_id)
        assert user is not None
        return user.id


async def reflection(
    core: Core,
    telegram_id: int,
    cohort_id: int,
    answers: dict[str, Any] | None = None,
    *,
    status: str = "done",
    at: datetime = START,
) -> int:
    async with core.uow() as uow:
        row = Reflection(
            user_id=await user_id(core, telegram_id),
            cohort_id=cohort_id,
            answers=ANSWERS if answers is None else answers,
            status=status,
            created_at=at,
            completed_at=at if status == "done" else None,
        )
        uow.session.add(row)
        await uow.commit()
        return row.id


async def rows(core: Core, model: type, *where: Any) -> list[Any]:
    async with core.uow() as uow:
        return list((await uow.session.scalars(select(model).where(*where))).all())


async def propose(
    core: Core, reflection_id: int, title: str = "三次协商会化解低层顾虑"
) -> Proposed:
    proposed = await core.services.cases.propose(ORGANISER, reflection_id, title, "elevator")
    assert isinstance(proposed, Proposed), proposed
    return proposed


async def test_only_the_cohorts_organiser_may_propose(core: Core) -> None:
    cohort_id, other_cohort = await setup(core)
    cases = core.services.cases
    rid = await reflection(core, AUTHOR, cohort_id)
    draft = await reflection(core, AUTHOR, cohort_id, status="draft")

    # A trainee, a mentor (until issue 7), another cohort's organiser, a stranger: no.
    for who in (READER, AUTHOR, MENTOR, OTHER_ORGANISER):
        assert await cases.start_proposal(who, rid) is Refusal.NOT_ALLOWED
        assert await cases.propose(who, rid, "标题", "elevator") is Refusal.NOT_ALLOWED
        assert await cases.reflection(who, rid) is Refusal.NOT_ALLOWED
    assert await cases.propose(STRANGER, rid, "标题", "elevator") is Refusal.STALE
    assert await cases.reflections(READER, cohort_id) is Refusal.NOT_ALLOWED
    assert await cases.reflections(OTHER_ORGANISER, cohort_id) is Refusal.NOT_MEMBER
    # An unfinished reflection cannot be proposed, even by the organiser.
    assert await cases.start_proposal(ORGANISER, draft) is Refusal.NOT_ALLOWED
    # A made-up area is refused.
    assert await cases.propose(ORGANISER, rid, "标题", "no-such-area") is Refusal.STALE
    assert await rows(core, Case) == []

    library = await cases.library(ORGANISER, cohort_id)
    assert isinstance(library, Library) and library.may_propose
    reader_library = await cases.library(READER, cohort_id)
    assert isinstance(reader_library, Library) and not reader_library.may_propose
    assert await cases.library(READER, other_cohort) is Refusal.NOT_MEMBER
    assert await cases.cohorts(STRANGER) == []


async def test_organiser_lists_reads_and_proposes_once(core: Core) -> None:
    cohort_id, _ = await setup(core)
    cases = core.services.cases
    async with core.uow() as uow:
        uow.session.add(
            Plan(
                user_id=await user_id(core, AUTHOR),
                cohort_id=cohort_id,
                area="elevator",
                status="active",
                created_at=START,
                updated_at=START,
            )
        )
        await uow.commit()
    ids = [
        await reflection(core, AUTHOR, cohort_id, at=START + timedelta(hours=n)) for n in range(6)
    ]
    await reflection(core, READER, cohort_id, status="draft")  # not listed

    page = await cases.reflections(ORGANISER, cohort_id)
    assert isinstance(page, ReflectionPage)
    assert (page.total, page.pages, len(page.items)) == (6, 2, 5)
    assert [r.id for r in page.items] == ids[::-1][:5]  # newest first
    first = page.items[0]
    assert first.area == "elevator" and first.excerpt.startswith("组织了三次楼栋协商会")
    second_page = await cases.reflections(ORGANISER, cohort_id, 1)
    assert isinstance(second_page, ReflectionPage) and [r.id for r in second_page.items] == [ids[0]]
    assert await cases.reflections(ORGANISER, cohort_id, 5) is Refusal.STALE

    view = await cases.reflection(ORGANISER, ids[-1])
    assert isinstance(view, ReflectionView)
    assert view.author_name == "王建国" and view.area == "elevator"
    assert [(a.question, a.kind) for a in view.answers] == [
        ("did", "text"),
        ("happened", "voice"),
        ("learned", "text"),
        ("next", "photo"),
    ]
    assert view.answers[1].file_id == "VOICE-1" and view.answers[0].heading == "我做了什么"

    start = await cases.start_proposal(ORGANISER, ids[-1])
    assert start == ProposalStart(ids[-1], "elevator")
    proposed = await propose(core, ids[-1])
    assert await cases.start_proposal(ORGANISER, ids[-1]) is Refusal.PROPOSED_ALREADY
    again = await cases.propose(ORGANISER, ids[-1], "再来一次", "parking")
    assert again is Refusal.PROPOSED_ALREADY
    [case] = await rows(core, Case)
    assert (
        case.id == proposed.case_id and case.status == "proposed" and case.title.startswith("三次")
    )
    assert case.body is not None
    # Only typed answers, under their headings; voice and photo (and their captions) never.
    assert "【我做了什么】\n组织了三次楼栋协商会" in case.body
    assert "补贴方案要公开" in case.body
    assert "语音" not in case.body and "照片" not in case.body

    listed = await cases.reflections(ORGANISER, cohort_id)
    assert isinstance(listed, ReflectionPage) and listed.items[0].proposed

    # Nothing typed: nothing to publish.
    voice_only = await reflection(core, AUTHOR, cohort_id, {"did": ANSWERS["happened"]})
    assert await cases.start_proposal(ORGANISER, voice_only) is Refusal.NO_TEXT

    audit = await rows(core, AuditEntry, AuditEntry.action == "case_proposed")
    assert [(a.target_id, a.actor_user_id) for a in audit] == [
        (case.id, await user_id(core, ORGANISER))
    ]


async def test_consent_request_shows_what_is_published_and_respects_quiet_hours(
    core: Core,
) -> None:
    cohort_id, _ = await setup(core)
    rid = await reflection(core, AUTHOR, cohort_id)
    clock(core).set(datetime(2026, 12, 10, 14, 30, tzinfo=UTC))  # 22:30 in Shanghai
    proposed = await propose(core, rid)
    requests = await rows(core, OutboxMessage, OutboxMessage.user_id == await user_id(core, AUTHOR))
    requests = [r for r in requests if r.dedupe_key.startswith(f"case:{proposed.case_id}:consent")]
    assert len(requests) == 1
    [request] = requests
    assert request.chat_id == AUTHOR and request.purpose == "case"
    assert request.next_attempt_at == datetime(2026, 12, 11, 0, 0, tzinfo=UTC)  # 08:00 local
    text = request.payload["text"]
    for shown in (
        "三次协商会化解低层顾虑",
        "加装电梯",
        f"学员 {proposed.pseudonym}",
        "组织了三次楼栋协商会",
        "补贴方案要公开",
        "语音和照片<b>不会</b>发布",
        "人名、地名",
    ):
        assert shown in text, shown
    assert "王建国" not in text and "和平里" not in text
    labels = [b["text"] for row in request.payload["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == ["✅ 同意发布", "不同意"]


async def test_long_reflection_is_asked_about_in_several_messages(core: Core) -> None:
    cohort_id, _ = await setup(core)
    long = "反思" * 1500 + "。"  # 3001 characters an answer
    answers = {q: {"kind": "text", "text": long} for q in ("did", "happened", "learned")}
    rid = await reflection(core, AUTHOR, cohort_id, answers)
    proposed = await propose(core, rid)
    requests = sorted(
        (
            r
            for r in await rows(core, OutboxMessage)
            if r.dedupe_key.startswith(f"case:{proposed.case_id}:consent")
        ),
        key=lambda r: r.id,
    )
    assert len(requests) >= 3
    assert all(len(r.payload["text"]) <= 4096 for r in requests)
    assert [bool(r.payload["reply_markup"]) for r in requests] == [False] * (len(requests) - 1) + [
        True
    ]
    assert sum(r.payload["text"].count("反思") for r in requests) >= 4500  # nothing dropped


async def test_pseudonym_is_stable_unique_and_reveals_nobody(core: Core) -> None:
    cohort_id, _ = await setup(core)
    cases = core.services.cases
    a1 = await propose(core, await reflection(core, AUTHOR, cohort_id))
    a2 = await propose(core, await reflection(core, AUTHOR, cohort_id))
    b1 = await propose(core, await reflection(core, READER, cohort_id))
    assert a1.pseudonym == a2.pseudonym
    assert b1.pseudonym != a1.pseudonym
    author_id = await user_id(core, AUTHOR)
    for p in (a1.pseudonym, b1.pseudonym):
        assert p[0].isalpha() and p[1:].isdigit() and len(p) <= 3
        assert str(AUTHOR) not in p and str(READER) not in p
    assert a1.pseudonym != str(author_id)
    label = cases.pseudonym_label("zh-CN", a1.pseudonym)
    assert label == f"学员 {a1.pseudonym}" and "王" not in label

    # The key lives in the cohort's settings (the LTSI export's key), so it survives.
    async with core.uow() as uow:
        cohort = await uow.session.get(Cohort, cohort_id)
        assert cohort is not None and isinstance(cohort.settings.get("pseudonym_key"), str)
    # Even after every earlier case is gone, the same code comes back.
    async with core.uow() as uow:
        await uow.session.execute(update(Case).values(status="withdrawn", body=None))
        await uow.commit()
    a3 = await propose(core, await reflection(core, AUTHOR, cohort_id))
    assert a3.pseudonym == a1.pseudonym


async def test_only_the_author_answers_and_only_once(core: Core) -> None:
    cohort_id, _ = await setup(core)
    cases = core.services.cases
    proposed = await propose(core, await reflection(core, AUTHOR, cohort_id))
    case_id = proposed.case_id

    for who in (READER, ORGANISER, MENTOR, STRANGER):
        assert await cases.answer(who, case_id, True) is Refusal.NOT_YOURS
    assert await cases.answer(AUTHOR, 999_999, True) is Refusal.STALE
    [case] = await rows(core, Case)
    assert case.status == "proposed"

    # Two devices at once: exactly one answer counts.
    first, second = await asyncio.gather(
        cases.answer(AUTHOR, case_id, True), cases.answer(AUTHOR, case_id, False)
    )
    results = [first, second]
    decisions = [r for r in results if isinstance(r, Decision)]
    assert len(decisions) == 1 and Refusal.DECIDED in results
    assert await cases.answer(AUTHOR, case_id, True) is Refusal.DECIDED
    [case] = await rows(core, Case)
    assert case.status == ("published" if decisions[0].published else "declined")
    audit = await rows(core, AuditEntry, AuditEntry.action.in_(("case_published", "case_declined")))
    assert len(audit) == 1
    outcomes = [r for r in await rows(core, OutboxMessage) if r.dedupe_key.endswith(":outcome")]
    assert len(outcomes) == 1 and outcomes[0].chat_id == ORGANISER
    assert case.title in outcomes[0].payload["text"]


async def test_declined_case_keeps_no_text_and_is_never_shown(core: Core) -> None:
    cohort_id, _ = await setup(core)
    cases = core.services.cases
    proposed = await propose(core, await reflection(core, AUTHOR, cohort_id))
    decision = await cases.answer(AUTHOR, proposed.case_id, False)
    assert isinstance(decision, Decision) and not decision.published
    [case] = await rows(core, Case)
    assert (case.status, case.body) == ("declined", None)
    library = await cases.library(READER, cohort_id)
    assert isinstance(library, Library) and library.total == 0
    assert await cases.case(READER, proposed.case_id) is Refusal.GONE
    [outcome] = [r for r in await rows(core, OutboxMessage) if r.dedupe_key.endswith(":outcome")]
    assert "没有同意" in outcome.payload["text"]
    assert [a.action for a in await rows(core, AuditEntry, AuditEntry.action == "case_declined")]


async def test_published_case_by_area_then_withdrawn(core: Core) -> None:
    cohort_id, _ = await setup(core)
    cases = core.services.cases
    proposed = await propose(core, await reflection(core, AUTHOR, cohort_id))
    # Proposed is not published.
    library = await cases.library(READER, cohort_id)
    assert isinstance(library, Library) and library.areas == ()
    assert await cases.case(READER, proposed.case_id) is Refusal.GONE

    assert isinstance(await cases.answer(AUTHOR, proposed.case_id, True), Decision)
    for who in (READER, MENTOR, ORGANISER, AUTHOR):
        library = await cases.library(who, cohort_id)
        assert isinstance(library, Library) and library.areas == (("elevator", 1),), who
    assert await cases.library(OTHER_ORGANISER, cohort_id) is Refusal.NOT_MEMBER

    page = await cases.area(READER, cohort_id, "elevator")
    assert isinstance(page, AreaPage) and [c.id for c in page.cases] == [proposed.case_id]
    assert page.cases[0].pseudonym == proposed.pseudonym
    assert page.cases[0].published_on == date(2026, 12, 10)
    empty = await cases.area(READER, cohort_id, "parking")
    assert isinstance(empty, AreaPage) and empty.cases == ()

    view = await cases.case(READER, proposed.case_id)
    assert isinstance(view, CaseView) and not view.is_author
    assert "组织了三次楼栋协商会" in view.body and "王建国" not in view.body
    own = await cases.case(AUTHOR, proposed.case_id)
    assert isinstance(own, CaseView) and own.is_author
    assert await cases.case(OTHER_ORGANISER, proposed.case_id) is Refusal.NOT_MEMBER

    # Only the author withdraws it.
    for who in (READER, ORGANISER):
        assert await cases.withdraw(who, proposed.case_id) is Refusal.NOT_YOURS
    mine = await cases.mine(AUTHOR, cohort_id)
    assert not isinstance(mine, Refusal) and [c.status for c in mine] == ["published"]
    assert await cases.mine(READER, cohort_id) == ()
    withdrawn = await cases.withdraw(AUTHOR, proposed.case_id)
    assert not isinstance(withdrawn, Refusal) and withdrawn.id == proposed.case_id
    assert await cases.withdraw(AUTHOR, proposed.case_id) is Refusal.GONE
    [case] = await rows(core, Case)
    assert (case.status, case.body) == ("withdrawn", None)
    library = await cases.library(READER, cohort_id)
    assert isinstance(library, Library) and library.total == 0
    assert await cases.case(READER, proposed.case_id) is Refusal.GONE
    page = await cases.area(READER, cohort_id, "elevator")
    assert isinstance(page, AreaPage) and page.cases == ()
    actions = [a.action for a in await rows(core, AuditEntry) if a.action.startswith("case_")]
    assert actions == ["case_proposed", "case_published", "case_withdrawn"]


async def test_erased_text_is_never_shown(core: Core) -> None:
    """What /delete_my_data leaves: the body cleared (the status may still say published)."""
    cohort_id, _ = await setup(core)
    cases = core.services.cases
    proposed = await propose(core, await reflection(core, AUTHOR, cohort_id))
    await cases.answer(AUTHOR, proposed.case_id, True)
    async with core.uow() as uow:
        await uow.session.execute(update(Case).values(body=None))
        await uow.commit()
    library = await cases.library(READER, cohort_id)
    assert isinstance(library, Library) and library.total == 0
    assert await cases.case(READER, proposed.case_id) is Refusal.GONE
