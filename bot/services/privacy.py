"""The data subject's rights under PIPL: a copy of their data, and its erasure."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import date, datetime
from typing import Any

from bot.domain.model import EnrolmentStatus
from bot.domain.ports import Clock
from bot.services.portfolio import scenario_plays_json
from bot.services.uow import UnitOfWork, UowFactory


@dataclass(frozen=True, slots=True)
class Erasure:
    erased: bool
    enrolments_closed: int = 0
    plans: int = 0  # plans whose free text went (the rows stay, for anonymous counts)
    milestones: int = 0
    reflections: int = 0
    comments_written: int = 0
    comments_received: int = 0  # on the person's reflections: they discuss them
    cases_withdrawn: int = 0
    guidance_sessions: int = 0  # logged by or about the person: topic, notes, next step


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


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
                    "district": user.district,
                    "position": user.position,
                    "locale": user.locale,
                    "consent_at": user.consent_at.isoformat() if user.consent_at else None,
                    "created_at": user.created_at.isoformat(),
                },
                "mentor_profile": (
                    {
                        "areas": list(mentor.areas or []),
                        "capacity": mentor.capacity,
                        "strengths": list(mentor.strengths or []),
                        "bio": mentor.bio or None,
                    }
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
                **await self._practice(uow, user.id),
                "scenario_plays": await scenario_plays_json(uow, user.id),
            }

    async def _practice(self, uow: UnitOfWork, user_id: int) -> dict[str, Any]:
        """Plans (with milestones), reflections (with the comments received), the comments
        the person wrote and the cases made from their reflections."""
        plans = await uow.portfolio.plans_of(user_id)
        titles = {m.id: m.title for plan, _ in plans for m in plan.milestones}
        reflections = await uow.portfolio.reflections_of(user_id)
        cohorts = {c.id: c.name for _, c in plans}
        for e in await uow.enrolments.for_user(user_id):
            cohorts.setdefault(e.cohort_id, e.cohort.name)
        received: dict[int, list[dict[str, Any]]] = {}
        for row in await uow.portfolio.comments_on([r.id for r in reflections]):
            received.setdefault(row.comment.reflection_id, []).append(
                {
                    "author_role": row.comment.author_role,
                    "text": row.comment.text,
                    "created_at": _iso(row.comment.created_at),
                }
            )
        return {
            "plans": [
                {
                    "cohort": cohort.name,
                    "area": plan.area,
                    "area_other": plan.area_other,
                    "goal": plan.goal,
                    "success": plan.success,
                    "support": plan.support,
                    "status": plan.status,
                    "created_at": _iso(plan.created_at),
                    "updated_at": _iso(plan.updated_at),
                    "milestones": [
                        {
                            "position": m.position,
                            "title": m.title,
                            "due_on": _iso(m.due_on),
                            "status": m.status,
                            "note": m.note,
                            "moved_from": _iso(m.moved_from),
                            "move_reason": m.move_reason,
                            "checked_at": _iso(m.checked_at),
                        }
                        for m in plan.milestones
                    ],
                }
                for plan, cohort in plans
            ],
            "reflections": [
                {
                    "cohort": cohorts.get(r.cohort_id),
                    "prompt_number": r.prompt_number,
                    "milestone": titles.get(r.milestone_id) if r.milestone_id else None,
                    "status": r.status,
                    "answers": r.answers,
                    "created_at": _iso(r.created_at),
                    "completed_at": _iso(r.completed_at),
                    "comments": received.get(r.id, []),
                }
                for r in reflections
            ],
            "comments_written": [
                {
                    "author_role": c.author_role,
                    "text": c.text,
                    "created_at": _iso(c.created_at),
                }
                for c in await uow.portfolio.comments_by(user_id)
            ],
            "cases": [
                {
                    "cohort": cohort.name,
                    "area": case.area,
                    "title": case.title,
                    "body": case.body,
                    "pseudonym": case.pseudonym,
                    "status": case.status,
                    "created_at": _iso(case.created_at),
                    "decided_at": _iso(case.decided_at),
                }
                for case, cohort in await uow.portfolio.cases_of(user_id)
            ],
            "guidance_sessions": [
                {
                    "role": "mentor" if g.mentor_user_id == user_id else "mentee",
                    "held_on": _iso(g.held_on),
                    "topic": g.topic,
                    "notes": g.notes,
                    "next_step": g.next_step,
                }
                for g in await uow.portfolio.guidance_sessions_of(user_id)
            ],
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
            user.district = None
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
            erasure = await self._erase_practice(uow, user.id, now)
            await uow.scenarios.erase(user.id, now)
            # A mentor sees a mentee only while matched: the person's pairs end here.
            await uow.matches.end_matches_of(user.id, now, "erased")
            await uow.outbox.forget_recipient(user.id, now)
            erasure = replace(erasure, enrolments_closed=closed)
            details = asdict(erasure)
            del details["erased"]
            await uow.audit.record(
                now,
                "personal_data_erased",
                actor_user_id=user.id,
                target_type="user",
                target_id=user.id,
                details=details,
            )
            await uow.commit()
            return erasure

    async def _erase_practice(self, uow: UnitOfWork, user_id: int, now: datetime) -> Erasure:
        """The free text of plans, milestones, reflections, comments and cases goes.

        Plan and milestone rows stay, marked "erased", with only what counts anonymously
        (area id, dates, statuses): a cohort's report keeps "12 plans, 30 of 41 milestones
        done" without anything a person wrote. Reflections keep their dates, their answers
        become {} (file ids of voice and photos included). A case made from a reflection is
        withdrawn, so it leaves /cases at once.
        """
        plans = milestones = 0
        for plan, _ in await uow.portfolio.plans_of(user_id):
            plan.goal = plan.success = plan.support = plan.area_other = None
            plan.status = "erased"
            plan.updated_at = now
            plans += 1
            for m in plan.milestones:
                m.title = ""
                m.note = None
                m.move_reason = None
                milestones += 1
        reflections = await uow.portfolio.reflections_of(user_id)
        for r in reflections:
            r.answers = {}
            r.status = "erased"
        received = 0
        for row in await uow.portfolio.comments_on([r.id for r in reflections]):
            if row.comment.text:
                row.comment.text = ""
                received += 1
        written = 0
        for comment in await uow.portfolio.comments_by(user_id):
            if comment.text:
                comment.text = ""
                written += 1
        withdrawn = 0
        for case, _ in await uow.portfolio.cases_of(user_id):
            case.title = ""
            case.body = None
            if case.status != "withdrawn":
                case.status = "withdrawn"
                case.decided_at = now
                withdrawn += 1
        sessions = 0
        for g in await uow.portfolio.guidance_sessions_of(user_id):
            g.topic = g.notes = g.next_step = None
            sessions += 1
        return Erasure(
            erased=True,
            guidance_sessions=sessions,
            plans=plans,
            milestones=milestones,
            reflections=len(reflections),
            comments_written=written,
            comments_received=received,
            cases_withdrawn=withdrawn,
        )
