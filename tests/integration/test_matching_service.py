"""Mentor matching on a real database: needs gathered from plans, the latest self-check and
districts; offers with capacity minus active mentees in any cohort; swap / assign / remove
checked again for capacity and the unit rule; confirmation all-or-nothing and once; the
once-per-cohort rematch; erasure ending the person's matches."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.config import load_settings
from bot.core import Core, build_core
from bot.db.models import (
    AuditEntry,
    Enrolment,
    LtsiFollowUp,
    LtsiResponse,
    LtsiWave,
    MatchProposal,
    MentorMatch,
    MentorProfile,
    OutboxMessage,
    Plan,
    RematchRequest,
    User,
)
from bot.domain.matching import Prefer, unit_key
from bot.domain.ports import MovableClock
from bot.services.matching import (
    Confirmed,
    MatchRefusal,
    MatchService,
    Picker,
    ProposalView,
    RematchDecision,
)
from tests.conftest import Backend

START = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
ENDS = date(2026, 11, 30)
ORGANISER, STRANGER = 8100, 8199


@pytest.fixture
async def core(backend: Backend) -> AsyncIterator[Core]:
    core = build_core(load_settings(DATABASE_URL=backend.database_url), clock=MovableClock(START))
    await core.migrate()
    try:
        yield core
    finally:
        await core.close()


async def make_cohort(core: Core, name: str = "班") -> int:
    created = await core.services.cohorts.create(
        name=name,
        course_title="课",
        ends_on=ENDS,
        timezone="Asia/Shanghai",
        organiser_telegram_ids=(ORGANISER,),
    )
    return created.cohort.id


async def person(
    core: Core,
    cohort_id: int,
    telegram_id: int,
    role: str,
    *,
    unit: str,
    district: str | None = "东城区",
    unit_type: str = "community",
    consent: bool = True,
    status: str = "active",
    areas: tuple[str, ...] = (),
    capacity: int | None = None,
    strengths: tuple[str, ...] = (),
) -> int:
    """A member of the cohort, written straight to the database (enrolment is not tested
    here); a mentor gets a profile."""
    async with core.uow() as uow:
        user = await uow.users.by_telegram_id(telegram_id)
        if user is None:
            user = User(
                telegram_id=telegram_id,
                locale="zh-CN",
                full_name=f"人{telegram_id}",
                unit_type=unit_type,
                unit_name=unit,
                position="书记" if role == "mentor" else "网格员",
                district=district,
                consent_at=START if consent else None,
                is_active=True,
                created_at=START,
                updated_at=START,
                roles=[],
            )
            uow.session.add(user)
            await uow.session.flush()
        uow.session.add(
            Enrolment(
                user_id=user.id, cohort_id=cohort_id, role=role, status=status, created_at=START
            )
        )
        if role == "mentor" and await uow.mentors.get(user.id) is None:
            uow.session.add(
                MentorProfile(
                    user_id=user.id,
                    areas=list(areas),
                    capacity=capacity,
                    strengths=list(strengths),
                    bio="二十年社区工作经验",
                    updated_at=START,
                )
            )
        await uow.commit()
        return user.id


async def plan(core: Core, cohort_id: int, user_id: int, area: str, status: str = "active") -> None:
    async with core.uow() as uow:
        uow.session.add(
            Plan(
                user_id=user_id,
                cohort_id=cohort_id,
                area=area,
                goal="推动3号楼加装电梯",
                status=status,
                created_at=START,
                updated_at=START,
                milestones=[],
            )
        )
        await uow.commit()


async def self_check(
    core: Core,
    cohort_id: int,
    user_id: int,
    kind: str,
    factors: dict[str, float | None],
    done: bool = True,
) -> None:
    async with core.uow() as uow:
        wave = await uow.session.scalar(
            select(LtsiWave).where(LtsiWave.cohort_id == cohort_id, LtsiWave.kind == kind)
        )
        assert wave is not None
        uow.session.add(
            LtsiResponse(
                wave_id=wave.id,
                user_id=user_id,
                status="done" if done else "answering",
                scores={"factors": factors, "groups": {}},
                invited_at=START,
                updated_at=START,
                completed_at=START if done else None,
            )
        )
        await uow.commit()


async def rows(core: Core, model: Any, *where: Any) -> list[Any]:
    async with core.uow() as uow:
        return list(await uow.session.scalars(select(model).where(*where).order_by(model.id)))


async def count(core: Core, model: Any, *where: Any) -> int:
    async with core.uow() as uow:
        return int(
            await uow.session.scalar(select(func.count()).select_from(model).where(*where)) or 0
        )


def ok(result: Any) -> Any:
    assert not isinstance(result, MatchRefusal), result
    return result


async def test_needs_come_from_plan_latest_self_check_and_district_offers_from_free_places(
    core: Core,
) -> None:
    cohort = await make_cohort(core)
    other = await make_cohort(core, "另一个班")
    low = core.services.ltsi.bank.thresholds.barrier_below
    anna = await person(core, cohort, 8101, "trainee", unit="和平里社区", district=" 东城区 ")
    bo = await person(core, cohort, 8102, "trainee", unit="王家村", unit_type="village")
    drafty = await person(core, cohort, 8103, "trainee", unit="安贞社区", district=None)
    await person(core, cohort, 8104, "trainee", unit="x", consent=False)  # no consent
    await person(core, cohort, 8105, "trainee", unit="y", status="left")  # left
    await plan(core, cohort, anna, "elevator")
    await plan(core, cohort, drafty, "mediation", status="draft")  # not confirmed: no area
    await plan(core, other, bo, "waste")  # another cohort's plan does not count
    # Anna's course-end check found two barriers; her later day-30 check only one.
    await self_check(
        core, cohort, anna, "course_end", {"supervisor_support": low - 1, "peer_support": low - 1}
    )
    await self_check(
        core,
        cohort,
        anna,
        "day30",
        {"supervisor_support": low + 1, "peer_support": low - 0.5, "self_efficacy": None},
    )
    await self_check(core, cohort, bo, "course_end", {"supervisor_support": low - 1}, done=False)
    wang = await person(
        core,
        cohort,
        8110,
        "mentor",
        unit="和平里社区",
        areas=("elevator", "mediation"),
        capacity=3,
        strengths=("leader_support", "teamwork"),
    )
    li = await person(core, cohort, 8111, "mentor", unit="街道办", capacity=2, areas=("waste",))
    await person(core, cohort, 8112, "mentor", unit="z", capacity=5, status="left")
    # Li already guides someone in the other cohort: one place left here.
    elsewhere = await person(core, other, 8120, "trainee", unit="某社区")
    await person(core, other, 8111, "mentor", unit="街道办")
    async with core.uow() as uow:
        uow.session.add(
            MentorMatch(
                cohort_id=other,
                trainee_user_id=elsewhere,
                mentor_user_id=li,
                status="active",
                created_at=START,
            )
        )
        await uow.commit()

    needs, offers = await core.services.matching.gather(cohort)
    assert [n.user_id for n in needs] == [anna, bo, drafty]
    a, b, d = needs
    assert a.area == "elevator" and a.district == "东城区" and a.unit == unit_key("和平里社区")
    assert a.barriers == frozenset({"peer_support"})  # the latest finished check only
    assert b.area is None and b.barriers == frozenset() and b.unit_type == "village"
    assert d.area is None and d.district is None
    assert [o.user_id for o in offers] == [wang, li]
    w, lo = offers
    assert w.areas == frozenset({"elevator", "mediation"}) and w.capacity == 3
    assert {"supervisor_support", "peer_support"} <= w.covers  # from content/mentoring.yaml
    assert lo.capacity == 1 and lo.covers == frozenset()

    # An active match in this cohort takes the trainee out of the pool.
    async with core.uow() as uow:
        uow.session.add(
            MentorMatch(
                cohort_id=cohort,
                trainee_user_id=bo,
                mentor_user_id=wang,
                status="active",
                created_at=START,
            )
        )
        await uow.commit()
    needs, offers = await core.services.matching.gather(cohort)
    assert [n.user_id for n in needs] == [anna, drafty]
    assert offers[0].capacity == 2

    # Nobody to match, or nobody to match with: said, nothing stored.
    matching = core.services.matching
    assert await matching.propose(ORGANISER, other) is MatchRefusal.NOBODY
    lonely = await make_cohort(core, "没有导师的班")
    await person(core, lonely, 8130, "trainee", unit="某社区")
    assert await matching.propose(ORGANISER, lonely) is MatchRefusal.NO_MENTORS
    assert await count(core, MatchProposal) == 0


async def scene(core: Core) -> dict[str, int]:
    """Two mentors (one with a single place) and three trainees; Chen works in Wang's unit."""
    cohort = await make_cohort(core)
    ids = {"cohort": cohort}
    ids["wang"] = await person(
        core,
        cohort,
        8210,
        "mentor",
        unit="和平里社区",
        areas=("elevator",),
        capacity=2,
        strengths=("leader_support",),
    )
    ids["li"] = await person(
        core, cohort, 8211, "mentor", unit="街道办", areas=("waste",), capacity=1
    )
    ids["anna"] = await person(core, cohort, 8201, "trainee", unit="安贞社区")
    ids["bo"] = await person(core, cohort, 8202, "trainee", unit="王家村", district="西城区")
    ids["chen"] = await person(core, cohort, 8203, "trainee", unit="和平里 社区")
    await plan(core, cohort, ids["anna"], "elevator")
    await plan(core, cohort, ids["bo"], "waste")
    return ids


async def test_swap_assign_remove_check_capacity_and_unit_rule_again(core: Core) -> None:
    s = await scene(core)
    matching: MatchService = core.services.matching
    assert await matching.propose(STRANGER, s["cohort"]) is MatchRefusal.NOT_ORGANISER
    view = ok(await matching.propose(ORGANISER, s["cohort"], Prefer.COVERAGE))
    assert isinstance(view, ProposalView) and view.trainees == 3
    pairs = {p.trainee.user_id: p.mentor.user_id for p in view.pairs}
    # Chen may not have Wang (same unit after normalising): Li takes Chen, Wang the others.
    assert pairs == {s["anna"]: s["wang"], s["bo"]: s["wang"], s["chen"]: s["li"]}
    anna = view.pair_of(s["anna"])
    assert anna is not None and [r.code for r in anna.reasons] == ["area", "district", "unit_type"]
    words = matching.reason_text("zh-CN", anna)
    assert words == "同领域·加装电梯；同区；同类单位", words

    # The picker for Chen: Wang is of the same unit, Li already is Chen's: nobody.
    picker = ok(await matching.picker(ORGANISER, view.id, s["chen"]))
    assert isinstance(picker, Picker) and picker.candidates == ()
    # Forcing it anyway: refused here, whatever the buttons said.
    assert await matching.assign(ORGANISER, view.id, s["chen"], s["wang"]) is MatchRefusal.SAME_UNIT
    # Bo to Li: Li's only place is Chen's.
    assert await matching.assign(ORGANISER, view.id, s["bo"], s["li"]) is MatchRefusal.FULL
    assert await matching.assign(ORGANISER, view.id, s["bo"], s["wang"]) is MatchRefusal.SAME
    assert (
        await matching.assign(STRANGER, view.id, s["bo"], s["wang"]) is MatchRefusal.NOT_ORGANISER
    )
    assert await matching.assign(ORGANISER, view.id, 99999, s["wang"]) is MatchRefusal.NOT_FOUND

    # Remove Chen's pair: Li is free, Bo can swap to Li; Chen is unmatched.
    chen = view.pair_of(s["chen"])
    assert chen is not None
    view = ok(await matching.remove(ORGANISER, view.id, chen.match_id))
    assert [u.user_id for u in view.unmatched] == [s["chen"]]
    assert await matching.remove(ORGANISER, view.id, chen.match_id) is MatchRefusal.STALE
    picker = ok(await matching.picker(ORGANISER, view.id, s["bo"]))
    assert [(c.mentor.user_id, c.score, c.free) for c in picker.candidates] == [(s["li"], 6, 1)]
    view = ok(await matching.assign(ORGANISER, view.id, s["bo"], s["li"]))
    bo = view.pair_of(s["bo"])
    assert bo is not None and bo.mentor.user_id == s["li"] and bo.score == 6
    # Chen by hand: Wang is the same unit, Li is now full.
    picker = ok(await matching.picker(ORGANISER, view.id, s["chen"]))
    assert picker.candidates == ()
    assert await matching.assign(ORGANISER, view.id, s["chen"], s["li"]) is MatchRefusal.FULL
    # Li gets a place more; then Chen can go to Li by hand.
    async with core.uow() as uow:
        profile = await uow.mentors.get(s["li"])
        assert profile is not None
        profile.capacity = 2
        await uow.commit()
    view = ok(await matching.assign(ORGANISER, view.id, s["chen"], s["li"]))
    assert view.unmatched == () and len(view.pairs) == 3

    actions = [a.action for a in await rows(core, AuditEntry, AuditEntry.action.like("match_%"))]
    assert actions == [
        "match_proposed",
        "match_removed",
        "match_swapped",
        "match_assigned",
    ]


async def test_confirm_is_all_or_nothing_and_only_once(core: Core) -> None:
    s = await scene(core)
    matching: MatchService = core.services.matching
    first = ok(await matching.propose(ORGANISER, s["cohort"]))
    # A new /match replaces the open proposal: the old one's buttons change nothing.
    view = ok(await matching.propose(ORGANISER, s["cohort"], Prefer.SCORE))
    assert view.prefer is Prefer.SCORE
    assert await matching.confirm(ORGANISER, first.id) is MatchRefusal.STALE
    assert await matching.view(ORGANISER, first.id) is MatchRefusal.STALE
    [old] = await rows(core, MatchProposal, MatchProposal.id == first.id)
    assert old.status == "discarded"
    assert (
        await count(
            core, MentorMatch, MentorMatch.proposal_id == first.id, MentorMatch.status == "proposed"
        )
        == 0
    )

    # Meanwhile Wang's places went elsewhere (another cohort confirmed two mentees).
    other = await make_cohort(core, "另一个班")
    for telegram_id in (8301, 8302):
        trainee = await person(core, other, telegram_id, "trainee", unit="某村")
        async with core.uow() as uow:
            uow.session.add(
                MentorMatch(
                    cohort_id=other,
                    trainee_user_id=trainee,
                    mentor_user_id=s["wang"],
                    status="active",
                    created_at=START,
                )
            )
            await uow.commit()
    assert await matching.confirm(ORGANISER, view.id) is MatchRefusal.FULL
    # Nothing changed: the proposal is open, its pairs proposed, nobody introduced.
    [proposal] = await rows(core, MatchProposal, MatchProposal.id == view.id)
    assert proposal.status == "open"
    assert (
        await count(
            core, MentorMatch, MentorMatch.cohort_id == s["cohort"], MentorMatch.status == "active"
        )
        == 0
    )
    assert await count(core, OutboxMessage, OutboxMessage.purpose == "mentoring") == 0

    # Wang gets more places: the same proposal confirms, once.
    async with core.uow() as uow:
        profile = await uow.mentors.get(s["wang"])
        assert profile is not None
        profile.capacity = 5
        await uow.commit()
    assert await matching.confirm(STRANGER, view.id) is MatchRefusal.NOT_ORGANISER
    done = ok(await matching.confirm(ORGANISER, view.id))
    assert isinstance(done, Confirmed) and done.pairs == len(view.pairs)
    active = await rows(
        core, MentorMatch, MentorMatch.cohort_id == s["cohort"], MentorMatch.status == "active"
    )
    assert len(active) == len(view.pairs), active
    assert all(m.confirmed_at is not None and m.confirmed_at >= START for m in active), [
        m.confirmed_at for m in active
    ]
    intros = await rows(core, OutboxMessage, OutboxMessage.purpose == "mentoring")
    assert len(intros) == 2 * len(view.pairs)
    anna_intro = next(
        m for m in intros if m.dedupe_key.endswith(":mentor") and "人8201" in m.payload["text"]
    )
    text = anna_intro.payload["text"]
    assert 'href="tg://user?id=8201"' in text and "推动3号楼加装电梯" in text
    assert "每周" in text
    assert await matching.confirm(ORGANISER, view.id) is MatchRefusal.STALE
    assert await count(core, OutboxMessage, OutboxMessage.purpose == "mentoring") == len(intros)
    assert await matching.assign(ORGANISER, view.id, s["anna"], s["li"]) is MatchRefusal.STALE
    actions = [
        a.action for a in await rows(core, AuditEntry, AuditEntry.action == "match_confirmed")
    ]
    assert actions == ["match_confirmed"]

    # What the digest and the guidance log read.
    mentees = await _mentees(core, s["wang"], s["cohort"])
    assert {m.trainee_user_id for m in mentees} == {
        p.trainee.user_id for p in view.pairs if p.mentor.user_id == s["wang"]
    }
    async with core.uow() as uow:
        ref = await uow.matches.active_mentor_of(s["anna"], s["cohort"])
        anna_pair = view.pair_of(s["anna"])
        assert ref is not None and anna_pair is not None
        assert ref.mentor_user_id == anna_pair.mentor.user_id
        assert len(await uow.matches.active_mentees(s["wang"])) == len(mentees) + 2
    # Only Chen (left out for the best score) is still to match.
    needs, _ = await matching.gather(s["cohort"])
    assert [n.user_id for n in needs] == [s["chen"]]


async def _mentees(core: Core, mentor: int, cohort: int) -> list[Any]:
    async with core.uow() as uow:
        return await uow.matches.active_mentees(mentor, cohort)


async def confirmed_scene(core: Core) -> dict[str, int]:
    s = await scene(core)
    async with core.uow() as uow:
        profile = await uow.mentors.get(s["li"])
        assert profile is not None
        profile.capacity = 3
        await uow.commit()
    view = ok(await core.services.matching.propose(ORGANISER, s["cohort"]))
    assert len(view.pairs) == 3
    ok(await core.services.matching.confirm(ORGANISER, view.id))
    return s


async def test_a_rematch_is_asked_once_and_the_organiser_decides(core: Core) -> None:
    s = await confirmed_scene(core)
    matching: MatchService = core.services.matching
    mine = await matching.my_mentors(8201)
    assert mine is not None and len(mine) == 1
    [anna] = mine
    assert anna.mentor is not None and anna.mentor.user_id == s["wang"] and anna.may_ask_rematch
    assert "elevator" in anna.areas and anna.strengths == ("leader_support",)

    assert await matching.request_rematch(8201, s["cohort"], "   ") is MatchRefusal.BAD_TEXT
    assert await matching.request_rematch(8201, s["cohort"], "长" * 301) is MatchRefusal.BAD_TEXT
    assert await matching.request_rematch(8299, s["cohort"], "理由") is MatchRefusal.NOT_TRAINEE
    request_id = ok(await matching.request_rematch(8201, s["cohort"], "工作时间对不上"))
    assert await matching.may_ask_rematch(8201, s["cohort"]) is MatchRefusal.ONCE
    assert await matching.request_rematch(8201, s["cohort"], "再试一次") is MatchRefusal.ONCE
    assert await count(core, RematchRequest) == 1
    [to_organiser] = await rows(
        core, OutboxMessage, OutboxMessage.dedupe_key.like(f"match:rematch:{request_id}:%")
    )
    assert "工作时间对不上" in to_organiser.payload["text"]
    buttons = to_organiser.payload["reply_markup"]["inline_keyboard"][0]
    assert [b["callback_data"] for b in buttons] == [f"mtrm:y:{request_id}", f"mtrm:n:{request_id}"]
    [mine_after] = await matching.my_mentors(8201) or []
    assert mine_after.rematch == "pending" and not mine_after.may_ask_rematch

    assert await matching.decide_rematch(STRANGER, request_id, True) is MatchRefusal.NOT_ORGANISER
    decision = ok(await matching.decide_rematch(ORGANISER, request_id, True))
    assert isinstance(decision, RematchDecision) and decision.approved
    assert await matching.decide_rematch(ORGANISER, request_id, False) is MatchRefusal.STALE
    [ended] = await rows(
        core, MentorMatch, MentorMatch.trainee_user_id == s["anna"], MentorMatch.status == "ended"
    )
    assert ended.end_reason == "rematch" and ended.mentor_user_id == s["wang"]
    proposal = decision.proposal
    assert proposal is not None and proposal.trainees == 1
    [pair] = proposal.pairs
    assert pair.trainee.user_id == s["anna"] and pair.mentor.user_id == s["li"]  # not Wang
    async with core.uow() as uow:
        assert await uow.matches.active_mentor_of(s["anna"], s["cohort"]) is None
        assert s["anna"] not in {
            m.trainee_user_id for m in await uow.matches.active_mentees(s["wang"])
        }
    ok(await matching.confirm(ORGANISER, proposal.id))
    [mine_now] = await matching.my_mentors(8201) or []
    assert mine_now.mentor is not None and mine_now.mentor.user_id == s["li"]
    assert not mine_now.may_ask_rematch  # once per cohort
    keys = {
        m.dedupe_key for m in await rows(core, OutboxMessage, OutboxMessage.purpose == "mentoring")
    }
    assert {f"match:intro:{pair.match_id}:mentor", f"match:intro:{pair.match_id}:trainee"} <= keys
    assert f"match:rematch:{request_id}:told" in keys and f"match:rematch:{request_id}:old" in keys

    # Declined: the match stays, the trainee is told.
    bo_request = ok(await matching.request_rematch(8202, s["cohort"], "想换一位"))
    decision = ok(await matching.decide_rematch(ORGANISER, bo_request, False))
    assert not decision.approved and decision.proposal is None
    async with core.uow() as uow:
        assert await uow.matches.active_mentor_of(s["bo"], s["cohort"]) is not None
    [told] = await rows(
        core, OutboxMessage, OutboxMessage.dedupe_key == f"match:rematch:{bo_request}:told"
    )
    assert "暂未同意" in told.payload["text"]
    actions = [a.action for a in await rows(core, AuditEntry, AuditEntry.action.like("rematch_%"))]
    assert actions == [
        "rematch_requested",
        "rematch_approved",
        "rematch_requested",
        "rematch_declined",
    ]


async def test_erasure_ends_the_persons_matches(core: Core) -> None:
    s = await confirmed_scene(core)
    # An open proposal too: the erased mentor's proposed pairs drop.
    newcomer = await person(core, s["cohort"], 8204, "trainee", unit="新社区")
    view = ok(await core.services.matching.propose(ORGANISER, s["cohort"]))
    [pair] = view.pairs
    assert pair.trainee.user_id == newcomer
    mentor_tid = 8210 if pair.mentor.user_id == s["wang"] else 8211
    erased = await core.services.privacy.erase(mentor_tid)
    assert erased.erased
    gone = await rows(core, MentorMatch, MentorMatch.mentor_user_id == pair.mentor.user_id)
    assert gone and all(m.status in ("ended", "dropped") for m in gone)
    assert all(m.end_reason == "erased" for m in gone)
    async with core.uow() as uow:
        assert await uow.matches.active_mentees(pair.mentor.user_id) == []
    assert await core.services.matching.confirm(ORGANISER, view.id) is MatchRefusal.EMPTY

    # A trainee's erasure ends their match as well.
    await core.services.privacy.erase(8201)
    async with core.uow() as uow:
        assert await uow.matches.active_mentor_of(s["anna"], s["cohort"]) is None
    [anna] = await rows(core, MentorMatch, MentorMatch.trainee_user_id == s["anna"])
    assert anna.status == "ended" and anna.end_reason == "erased"
    assert anna.ended_at is not None and anna.ended_at >= START


async def test_the_self_checks_note_reaches_the_mentor_once_matched(core: Core) -> None:
    """Low leader support in a self-check: the note for the mentor waits until the trainee
    has an active mentor, then goes to that mentor once."""
    s = await scene(core)
    async with core.uow() as uow:
        [wave] = [w for w in await uow.ltsi.waves_of(s["cohort"]) if w.kind == "course_end"]
        await uow.ltsi.invite(
            [
                {
                    "wave_id": wave.id,
                    "user_id": s["anna"],
                    "status": "done",
                    "position": 0,
                    "invited_at": START,
                    "updated_at": START,
                }
            ]
        )
        response_id = (await uow.ltsi.responses_by_user(wave.id))[s["anna"]]
        await uow.ltsi.add_follow_ups(
            [
                {
                    "response_id": response_id,
                    "user_id": s["anna"],
                    "cohort_id": s["cohort"],
                    "kind": "mentor_note",
                    "factors": ["supervisor_support", "performance_coaching"],
                    "status": "pending",
                    "created_at": START,
                }
            ]
        )
        await uow.commit()

    def notes() -> Any:
        return rows(core, OutboxMessage, OutboxMessage.dedupe_key.like("match:note:%"))

    await core.services.matching.deliver_mentor_notes()
    assert await notes() == []  # no mentor yet: it waits
    async with core.uow() as uow:
        uow.session.add(
            MentorMatch(
                cohort_id=s["cohort"],
                trainee_user_id=s["anna"],
                mentor_user_id=s["wang"],
                status="active",
                created_at=START,
            )
        )
        await uow.commit()
    await core.services.matching.deliver_mentor_notes()
    await core.services.matching.deliver_mentor_notes()  # once
    [note] = await notes()
    assert note.chat_id == 8210 and note.user_id == s["wang"]
    text = note.payload["text"]
    assert "人8201" in text and "领导的支持" in text and "有人给反馈" in text
    [follow_up] = await rows(core, LtsiFollowUp)
    assert follow_up.status == "done"
