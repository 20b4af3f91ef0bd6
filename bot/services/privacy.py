"""The data subject's rights under PIPL: a copy of their data, and its erasure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.domain.model import EnrolmentStatus
from bot.domain.ports import Clock
from bot.services.uow import UowFactory


@dataclass(frozen=True, slots=True)
class Erasure:
    erased: bool
    enrolments_closed: int = 0


class PrivacyService:
    def __init__(self, uow: UowFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def export(self, telegram_id: int) -> dict[str, Any] | None:
        """Everything stored about this person, as plain JSON-ready values."""
        async with self._uow() as uow:
            user = await uow.users.by_telegram_id(telegram_id)
            if user is None or user.consent_at is None:
                return None
            mentor = await uow.mentors.get(user.id)
            enrolments = await uow.enrolments.for_user(user.id)
            self_checks = []
            for response in await uow.ltsi.responses_of_user(user.id):
                answers = await uow.ltsi.answers(response.id)
                self_checks.append(
                    {
                        "cohort": next(
                            (
                                e.cohort.name
                                for e in enrolments
                                if e.cohort_id == response.wave.cohort_id
                            ),
                            None,
                        ),
                        "wave": response.wave.kind,
                        "status": response.status,
                        "answers": {
                            item: answers[item] for item in response.wave.items if item in answers
                        },
                        "scores": response.scores,
                        "completed_at": (
                            response.completed_at.isoformat() if response.completed_at else None
                        ),
                    }
                )
            return {
                "exported_at": self._clock.now().isoformat(),
                "user": {
                    "telegram_id": user.telegram_id,
                    "full_name": user.full_name,
                    "unit_type": user.unit_type,
                    "unit_name": user.unit_name,
                    "position": user.position,
                    "locale": user.locale,
                    "consent_at": user.consent_at.isoformat() if user.consent_at else None,
                    "created_at": user.created_at.isoformat(),
                },
                "mentor_profile": (
                    {"areas": list(mentor.areas or []), "capacity": mentor.capacity}
                    if mentor
                    else None
                ),
                "enrolments": [
                    {
                        "cohort": e.cohort.name,
                        "course": e.cohort.course_title,
                        "role": e.role,
                        "status": e.status,
                        "since": e.created_at.isoformat(),
                    }
                    for e in enrolments
                ],
                "self_checks": self_checks,
            }

    async def erase(self, telegram_id: int) -> Erasure:
        """Erase personal data and free text; keep the row so counts stay anonymous totals."""
        now = self._clock.now()
        async with self._uow() as uow:
            user = await uow.users.by_telegram_id(telegram_id)
            if user is None or user.consent_at is None:
                return Erasure(erased=False)
            user.full_name = None
            user.unit_name = None
            user.position = None
            user.unit_type = None
            user.consent_at = None
            user.is_active = False
            user.updated_at = now
            mentor = await uow.mentors.get(user.id)
            if mentor is not None:
                await uow.session.delete(mentor)
            # Unfinished self-checks end here; finished answers stay, without a name, in the
            # cohort's anonymous statistics.
            for response in await uow.ltsi.responses_of_user(user.id):
                if response.status in ("invited", "answering", "paused"):
                    response.status = "expired"
                    response.updated_at = now
            closed = 0
            for enrolment in await uow.enrolments.for_user(user.id):
                if enrolment.status != EnrolmentStatus.LEFT.value:
                    enrolment.status = EnrolmentStatus.LEFT.value
                    closed += 1
            await uow.audit.record(
                now,
                "personal_data_erased",
                actor_user_id=user.id,
                target_type="user",
                target_id=user.id,
                details={"enrolments_closed": closed},
            )
            await uow.commit()
            return Erasure(erased=True, enrolments_closed=closed)
