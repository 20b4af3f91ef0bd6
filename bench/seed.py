"""Fast seeding for benchmarks: many enrolled trainees in one go (bypassing the chat)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select

from bot.core import Core
from bot.db.models import Enrolment, User

CHUNK = 2000


async def seed_trainees(core: Core, cohort_id: int, first_telegram_id: int, count: int) -> None:
    now: datetime = core.clock.now()
    for start in range(0, count, CHUNK):
        ids = range(first_telegram_id + start, first_telegram_id + min(count, start + CHUNK))
        async with core.uow() as uow:
            await uow.session.execute(
                insert(User),
                [
                    {
                        "telegram_id": tid,
                        "locale": "zh-CN",
                        "full_name": f"学员{tid}",
                        "unit_type": "community",
                        "unit_name": "和平里社区",
                        "position": "网格员",
                        "consent_at": now,
                        "is_active": True,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for tid in ids
                ],
            )
            user_ids = (
                await uow.session.scalars(
                    select(User.id).where(User.telegram_id.between(ids[0], ids[-1]))
                )
            ).all()
            await uow.session.execute(
                insert(Enrolment),
                [
                    {
                        "user_id": uid,
                        "cohort_id": cohort_id,
                        "role": "trainee",
                        "status": "active",
                        "created_at": now,
                        "completed_at": now,
                    }
                    for uid in user_ids
                ],
            )
            await uow.commit()
