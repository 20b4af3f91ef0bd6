"""Two cohorts full of personal records, each person's marked with a word of their own, for
the tests that look for one person's data in someone else's chat (test_role_isolation,
test_hostile_input).

Cohort 甲 (organiser ORG_A): mentor MEN_A1 with trainee TRA_A1 (琥珀), mentor MEN_A2 with
trainee TRA_A2 (翡翠). Cohort 乙 (organiser ORG_B): mentor MEN_B with trainee TRA_B (玛瑙).
OUTSIDER has only started the bot. Every trainee has a plan with a milestone, a finished
and a draft reflection, a role-play with a free-text answer for the mentor, a case
proposed from the reflection, a self-check in progress and a rematch request; each
organiser has a broadcast draft and a match proposal. Cohort 乙's name carries 珊瑚.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select, text

from bot.db.models import (
    Broadcast,
    Case,
    LtsiResponse,
    LtsiWave,
    MatchProposal,
    Plan,
    PlanMilestone,
    Reflection,
    RematchRequest,
    ScenarioAnswer,
)
from bot.sandbox.client import EmulatorClient
from tests.e2e.harness import START, RunningBot
from tests.e2e.scenes import active_match, add_enrolled

ORG_A, ORG_B = 9601, 9602
MEN_A1, MEN_A2, MEN_B = 9611, 9612, 9613
TRA_A1, TRA_A2, TRA_B = 9621, 9622, 9623
OUTSIDER = 9631
ENDS_ON = date(2026, 12, 20)
COHORT_A, COHORT_B = "2026秋季甲班", "2026秋季乙班珊瑚"

# The word that marks every record of a trainee (their name, plan, reflections, answers).
MARKS = {TRA_A1: "琥珀", TRA_A2: "翡翠", TRA_B: "玛瑙"}
MENTOR_OF = {TRA_A1: MEN_A1, TRA_A2: MEN_A2, TRA_B: MEN_B}
ORGANISER_OF = {TRA_A1: ORG_A, TRA_A2: ORG_A, TRA_B: ORG_B}
NAMES = {
    ORG_A: "甲组织",
    ORG_B: "乙组织",
    MEN_A1: "甲导师一",
    MEN_A2: "甲导师二",
    MEN_B: "乙导师",
    TRA_A1: "赵琥珀",
    TRA_A2: "钱翡翠",
    TRA_B: "孙玛瑙",
    OUTSIDER: "路人",
}
# The tables of personal records a forged button must leave as they were.
RECORD_TABLES = (
    "users",
    "enrolments",
    "plans",
    "plan_milestones",
    "reflections",
    "reflection_comments",
    "cases",
    "scenario_runs",
    "scenario_answers",
    "ltsi_responses",
    "ltsi_answers",
    "mentor_matches",
    "match_proposals",
    "rematch_requests",
    "guidance_sessions",
    "broadcasts",
    "broadcast_acks",
    "outbox",
)


@dataclass
class Records:
    """Database ids of one trainee's records."""

    user: int
    cohort: int
    plan: int = 0
    milestone: int = 0
    reflection: int = 0
    draft: int = 0
    run: int = 0
    answer: int = 0
    case: int = 0
    response: int = 0
    match: int = 0
    rematch: int = 0


@dataclass
class World:
    cohorts: dict[str, int]  # "A" / "B" -> id
    users: dict[int, int]  # telegram id -> user id
    trainees: dict[int, Records] = field(default_factory=dict)  # telegram id -> records
    drafts: dict[int, int] = field(default_factory=dict)  # organiser -> broadcast draft
    proposals: dict[int, int] = field(default_factory=dict)  # organiser -> match proposal


def _reflection_answers(mark: str) -> dict[str, Any]:
    return {
        "did": {"kind": "text", "text": f"{mark}：组织了一次楼栋议事会", "file_id": None},
        "learned": {"kind": "text", "text": f"{mark}：先听意见再谈方案", "file_id": None},
    }


async def build_world(running: RunningBot, client: EmulatorClient) -> World:
    core = running.core
    cohort_ids = {}
    for key, name, organiser in (("A", COHORT_A, ORG_A), ("B", COHORT_B, ORG_B)):
        created = await core.services.cohorts.create(
            name=name,
            course_title="基层治理能力提升专题培训",
            ends_on=ENDS_ON,
            timezone="Asia/Shanghai",
            organiser_telegram_ids=(organiser,),
        )
        cohort_ids[key] = created.cohort.id
    cohort_of = {
        MEN_A1: "A",
        MEN_A2: "A",
        TRA_A1: "A",
        TRA_A2: "A",
        MEN_B: "B",
        TRA_B: "B",
    }
    for telegram_id, name in NAMES.items():
        await client.add_user(telegram_id, name)
    world = World(cohort_ids, {})
    async with core.uow() as uow:
        session = uow.session
        for telegram_id, key in cohort_of.items():
            mark = MARKS.get(telegram_id, "")
            role = "trainee" if telegram_id in MARKS else "mentor"
            world.users[telegram_id] = await add_enrolled(
                session,
                cohort_ids[key],
                telegram_id,
                NAMES[telegram_id],
                role,
                unit_type="community",
                unit_name=f"{mark}社区" if mark else "和平里社区",
                position="网格员",
                district="东城区",
            )
        for organiser in (ORG_A, ORG_B):
            found = await uow.users.by_telegram_id(organiser)
            assert found is not None  # created with the cohort
            world.users[organiser] = found.id
        await session.flush()

        for trainee, mark in MARKS.items():
            cohort = cohort_ids[cohort_of[trainee]]
            rec = Records(world.users[trainee], cohort)
            match = active_match(cohort, rec.user, world.users[MENTOR_OF[trainee]], 10)
            milestone = PlanMilestone(
                position=1,
                title=f"{mark}里程碑：召开楼栋居民协商会",
                due_on=START.date() + timedelta(days=10),
                status="open",
                created_at=START,
            )
            plan = Plan(
                user_id=rec.user,
                cohort_id=cohort,
                area="elevator",
                goal=f"{mark}计划：3号楼加装电梯",
                success=f"{mark}：签字同意率过三分之二",
                support=f"{mark}：街道城建科支持",
                status="active",
                created_at=START,
                updated_at=START,
                milestones=[milestone],
            )
            done = Reflection(
                user_id=rec.user,
                cohort_id=cohort,
                answers=_reflection_answers(mark),
                status="done",
                created_at=START,
                completed_at=START + timedelta(minutes=10),
            )
            draft = Reflection(
                user_id=rec.user,
                cohort_id=cohort,
                answers={"did": {"kind": "text", "text": f"{mark}：草稿", "file_id": None}},
                status="draft",
                created_at=START + timedelta(minutes=20),
                completed_at=None,
            )
            session.add_all([match, plan, done, draft])
            await session.flush()
            rec.plan, rec.milestone, rec.match = plan.id, milestone.id, match.id
            rec.reflection, rec.draft = done.id, draft.id
            case = Case(
                reflection_id=done.id,
                cohort_id=cohort,
                area="elevator",
                title=f"{mark}案例：加梯协商",
                body=None,
                pseudonym="某社区网格员",
                proposed_by=world.users[ORGANISER_OF[trainee]],
                status="proposed",
                created_at=START,
                decided_at=None,
            )
            rematch = RematchRequest(
                match_id=match.id,
                cohort_id=cohort,
                trainee_user_id=rec.user,
                reason=f"{mark}：时间对不上",
                status="pending",
                created_at=START,
            )
            session.add_all([case, rematch])
            wave = await session.scalar(
                select(LtsiWave).where(LtsiWave.cohort_id == cohort, LtsiWave.kind == "day30")
            )
            assert wave is not None
            wave.status = "open"
            response = LtsiResponse(
                wave_id=wave.id,
                user_id=rec.user,
                status="answering",
                position=2,
                invited_at=START,
                updated_at=START,
            )
            session.add(response)
            await session.flush()
            rec.case, rec.rematch, rec.response = case.id, rematch.id, response.id
            world.trainees[trainee] = rec

        for organiser, key in ((ORG_A, "A"), (ORG_B, "B")):
            draft_bc = Broadcast(
                organiser_user_id=world.users[organiser],
                organiser_chat_id=organiser,
                cohort_id=cohort_ids[key],
                audience="all",
                text=f"{COHORT_A if key == 'A' else COHORT_B} 通知草稿",
                status="draft",
                created_at=START,
            )
            proposal = MatchProposal(
                cohort_id=cohort_ids[key],
                organiser_user_id=world.users[organiser],
                prefer="coverage",
                status="open",
                unmatched=[],
                created_at=START,
            )
            session.add_all([draft_bc, proposal])
            await session.flush()
            world.drafts[organiser], world.proposals[organiser] = draft_bc.id, proposal.id
        await uow.commit()

    # A role-play with a free-text answer waiting for the mentor, through the service.
    for trainee, mark in MARKS.items():
        intro = await core.services.scenarios.open(trainee, "chaiqian", "cadre")
        run_id = getattr(intro, "run_id", None)
        assert isinstance(run_id, int), intro
        rec = world.trainees[trainee]
        rec.run = run_id
        async with core.uow() as uow:
            answer = ScenarioAnswer(
                run_id=run_id,
                user_id=rec.user,
                node="cadre_write",
                text=f"{mark}：我会先登门听周师傅把话说完",
                created_at=START,
                mentor_user_id=world.users[MENTOR_OF[trainee]],
            )
            uow.session.add(answer)
            await uow.session.flush()
            rec.answer = answer.id
            await uow.commit()
    return world


async def snapshot(running: RunningBot) -> dict[str, str]:
    """A digest of every row of the personal-record tables, per table."""
    digests = {}
    async with running.core.uow() as uow:
        for table in RECORD_TABLES:
            rows = (await uow.session.execute(text(f"SELECT * FROM {table}"))).all()
            lines = sorted(repr(tuple(row)) for row in rows)
            digests[table] = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    return digests


async def chat_text(client: EmulatorClient, chat_id: int, after_seq: int = 0) -> str:
    """Everything the bot showed in a chat after `after_seq`: texts, captions, button
    labels, toasts, and the content of documents it sent."""
    parts: list[str] = []
    for event in await client.events(chat_id, after_seq):
        if event.get("direction") != "out":
            continue
        message = event.get("message") or {}
        parts.append(str(message.get("text") or ""))
        parts.append(str(message.get("caption") or ""))
        for row in message.get("buttons") or []:
            parts.extend(str(b.get("text") or "") for b in row)
        answer = event.get("answer") or {}
        parts.append(str(answer.get("text") or ""))
        document = message.get("document") or {}
        if document.get("file_id"):
            content = await client.file_bytes(str(document["file_id"]))
            parts.append(content.decode("utf-8", "replace"))
    return "\n".join(parts)
