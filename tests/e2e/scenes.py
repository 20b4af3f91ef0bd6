"""People and matches set up in the database, as enrolment and /match leave them, for the
e2e tests whose subject comes after (digests, role-plays, isolation)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Enrolment, MentorMatch, User
from bot.sandbox.client import EmulatorClient
from tests.e2e.harness import START, RunningBot


async def add_enrolled(
    session: AsyncSession,
    cohort_id: int,
    telegram_id: int,
    name: str,
    role: str,
    **profile: Any,
) -> int:
    """A person who consented and finished enrolling in the cohort as `role`; their user id."""
    user = User(
        telegram_id=telegram_id,
        locale="zh-CN",
        full_name=name,
        consent_at=START,
        is_active=True,
        created_at=START,
        updated_at=START,
        **profile,
    )
    session.add(user)
    await session.flush()
    session.add(
        Enrolment(
            user_id=user.id,
            cohort_id=cohort_id,
            role=role,
            status="active",
            created_at=START,
            completed_at=START,
        )
    )
    return user.id


def active_match(
    cohort_id: int, trainee_user_id: int, mentor_user_id: int, score: int
) -> MentorMatch:
    """A pair the organiser has confirmed."""
    return MentorMatch(
        cohort_id=cohort_id,
        trainee_user_id=trainee_user_id,
        mentor_user_id=mentor_user_id,
        status="active",
        score=score,
        reasons=[],
        created_at=START,
        confirmed_at=START,
    )


async def matched_cohort(
    running: RunningBot,
    client: EmulatorClient,
    *,
    organiser: int,
    ends_on: date,
    people: Sequence[tuple[int, str, str]],  # (telegram id, name, role)
    pair: tuple[int, int],  # (mentor, mentee) telegram ids
    score: int = 10,
) -> tuple[int, dict[int, int]]:
    """The cohort 2026秋季社区书记班 with `people` enrolled and one active pair; the cohort id
    and each person's user id by Telegram id."""
    created = await running.core.services.cohorts.create(
        name="2026秋季社区书记班",
        course_title="基层治理能力提升专题培训",
        ends_on=ends_on,
        timezone="Asia/Shanghai",
        organiser_telegram_ids=(organiser,),
    )
    cohort_id = created.cohort.id
    ids: dict[int, int] = {}
    async with running.core.uow() as uow:
        for telegram_id, name, role in people:
            await client.add_user(telegram_id, name)
            ids[telegram_id] = await add_enrolled(uow.session, cohort_id, telegram_id, name, role)
        mentor, mentee = pair
        uow.session.add(active_match(cohort_id, ids[mentee], ids[mentor], score))
        await uow.commit()
    return cohort_id, ids
