"""The sandbox's demo cohort: an organiser, two mentors, trainees with profiles, a visitor,
and one scheduled notice so that time travel has something to arrive."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bot.core import Core
from bot.db.models import Cohort, DueItem, Invite, OutboxMessage
from bot.domain.enrolment import (
    EnrolStep,
    check_bio,
    check_capacity,
    check_district,
    check_name,
    check_position,
    check_unit_name,
    check_unit_type,
)
from bot.domain.notices import Audience
from bot.services.broadcasts import Notice

DEMO_COHORT = "2026秋季社区书记班（演示）"
TIMEZONE = "Asia/Shanghai"
WELCOME_NOTICE = (
    "各位学员早上好！结业后的跟踪学习今天开始：请在本周内写好<b>实践转化计划书</b>，"
    "30 天后我们会请大家做一次学以致用自我诊断。"
)


@dataclass(frozen=True, slots=True)
class Persona:
    telegram_id: int
    name: str
    role: str  # organiser | mentor | trainee | visitor
    unit_type: str = "community"
    unit: str = ""
    position: str = ""
    areas: tuple[str, ...] = ()
    capacity: int = 0
    district: str = "东城区"
    strengths: tuple[str, ...] = ()  # content/mentoring.yaml ids (mentors)
    bio: str = ""  # mentors; empty: skipped


ORGANISER = Persona(10001, "李老师", "organiser")
PERSONAS: tuple[Persona, ...] = (
    ORGANISER,
    Persona(
        20001,
        "王书记",
        "mentor",
        "community",
        "和平里社区",
        "社区党委书记",
        ("elevator", "mediation"),
        4,
        "东城区",
        ("leader_support", "teamwork"),
        "在和平里社区做了十二年书记，牵头完成 9 部电梯加装，擅长协调居民分歧、争取街道支持。",
    ),
    Persona(
        20002,
        "陈主任",
        "mentor",
        "street",
        "东城街道",
        "社区建设办主任",
        ("old_estate", "property"),
        3,
        "西城区",
        ("coaching", "opportunity", "confidence"),
        "负责全街道老旧小区改造和物业管理工作，喜欢带年轻干部在项目里边干边学。",
    ),
    Persona(30001, "张伟", "trainee", "village", "李家村", "村委会主任", district="西城区"),
    Persona(30002, "刘芳", "trainee", "community", "和平里社区", "网格员"),
    Persona(30003, "赵磊", "trainee", "street", "东城街道", "综治办科员"),
    Persona(30004, "孙丽", "trainee", "community", "幸福社区", "居委会委员", district="西城区"),
    Persona(40001, "新访客", "visitor"),
)


@dataclass(frozen=True, slots=True)
class Demo:
    cohort_id: int
    trainee_code: str
    mentor_code: str


async def ensure_demo(core: Core) -> Demo:
    """Create the demo cohort on first start; on later starts find it again."""
    async with core.uow() as uow:
        cohort = await uow.session.scalar(select(Cohort).where(Cohort.name == DEMO_COHORT))
        if cohort is not None:
            invites = {
                i.role: i.code
                for i in await uow.session.scalars(
                    select(Invite).where(Invite.cohort_id == cohort.id)
                )
            }
            return Demo(cohort.id, invites["trainee"], invites["mentor"])
    today = core.clock.now().astimezone(ZoneInfo(TIMEZONE)).date()
    created = await core.services.cohorts.create(
        name=DEMO_COHORT,
        course_title="基层治理能力提升专题培训",
        ends_on=today,
        timezone=TIMEZONE,
        organiser_telegram_ids=(ORGANISER.telegram_id,),
        actor="sandbox",
    )
    for persona in PERSONAS:
        if persona.role == "trainee":
            await _enrol(core, persona, created.trainee_invite.code)
        elif persona.role == "mentor":
            await _enrol(core, persona, created.mentor_invite.code)
    await _schedule_welcome(core, created.cohort.id)
    return Demo(created.cohort.id, created.trainee_invite.code, created.mentor_invite.code)


async def _enrol(core: Core, persona: Persona, code: str) -> None:
    svc = core.services.enrolment
    telegram_id = persona.telegram_id
    await svc.consent(telegram_id, code, "zh-CN")
    await svc.answer(telegram_id, EnrolStep.NAME, check_name(persona.name))
    await svc.answer(telegram_id, EnrolStep.UNIT_TYPE, check_unit_type(persona.unit_type))
    await svc.answer(telegram_id, EnrolStep.UNIT_NAME, check_unit_name(persona.unit))
    await svc.answer(telegram_id, EnrolStep.DISTRICT, check_district(persona.district))
    await svc.answer(telegram_id, EnrolStep.POSITION, check_position(persona.position))
    for area in persona.areas:
        await svc.toggle_mentor_area(telegram_id, area, core.texts.area_ids())
    if persona.role == "mentor":
        await svc.answer(
            telegram_id, EnrolStep.MENTOR_CAPACITY, check_capacity(str(persona.capacity))
        )
        for strength in persona.strengths:
            await svc.toggle_mentor_strength(telegram_id, strength, core.texts.strength_ids())
        if persona.bio:
            await svc.answer(telegram_id, EnrolStep.MENTOR_BIO, check_bio(persona.bio))
        else:
            await svc.skip_bio(telegram_id)


async def _schedule_welcome(core: Core, cohort_id: int) -> None:
    """The organiser's notice to all trainees, for 09:00 tomorrow (local time)."""
    broadcasts = core.services.broadcasts
    draft = await broadcasts.create_draft(
        ORGANISER.telegram_id, cohort_id, Audience.TRAINEES, Notice(WELCOME_NOTICE)
    )
    assert draft is not None
    zone = ZoneInfo(TIMEZONE)
    tomorrow = core.clock.now().astimezone(zone).date() + timedelta(days=1)
    await broadcasts.toggle_ack(ORGANISER.telegram_id, draft.id)
    await broadcasts.confirm(
        ORGANISER.telegram_id, draft.id, datetime.combine(tomorrow, time(9), zone)
    )


async def next_event(core: Core) -> datetime | None:
    """The next moment something scheduled happens: a due item or a held-back message."""
    now = core.clock.now()
    async with core.uow() as uow:
        due = await uow.session.scalar(
            select(func.min(DueItem.due_at)).where(DueItem.status == "pending")
        )
        held = await uow.session.scalar(
            select(func.min(OutboxMessage.next_attempt_at)).where(
                OutboxMessage.status == "pending", OutboxMessage.next_attempt_at > now
            )
        )
    moments = [m for m in (due, held) if m is not None]
    return min(moments) if moments else None
