"""Enrolment through invite links: consent first, then the profile, one answer at a time.

Nothing is written before consent. After consent every answer is saved as soon as it is
given, so a conversation interrupted by a restart resumes at the first unanswered question.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.exc import IntegrityError

from bot.db.models import Enrolment, User
from bot.db.repositories import cohort_dto, enrolment_dto, invite_dto, mentor_dto, user_dto
from bot.domain.enrolment import (
    BIO_SKIPPED,
    Checked,
    EnrolStep,
    next_step,
    toggle_area,
    toggle_strength,
)
from bot.domain.invites import InviteProblem, invite_problem, normalise_code
from bot.domain.model import (
    CohortDTO,
    EnrolmentDTO,
    EnrolmentStatus,
    MentorProfileDTO,
    Role,
    UserDTO,
)
from bot.domain.ports import Clock
from bot.services.uow import UnitOfWork, UowFactory


@dataclass(frozen=True, slots=True)
class InviteCheck:
    code: str | None
    problem: InviteProblem | None
    cohort: CohortDTO | None = None
    role: Role | None = None
    already_enrolled: bool = False


class ConsentOutcome(StrEnum):
    ENROLLING = "enrolling"
    ALREADY_ENROLLED = "already_enrolled"
    INVITE_INVALID = "invite_invalid"


@dataclass(frozen=True, slots=True)
class UserState:
    """Where a person stands: who they are, and what the bot should ask next."""

    user: UserDTO | None
    enrolments: tuple[EnrolmentDTO, ...] = ()
    mentor: MentorProfileDTO | None = None
    next_step: EnrolStep | None = None  # None: no enrolment in progress
    just_completed: tuple[EnrolmentDTO, ...] = ()

    @property
    def pending(self) -> tuple[EnrolmentDTO, ...]:
        return tuple(e for e in self.enrolments if e.status is EnrolmentStatus.PENDING)

    @property
    def active(self) -> tuple[EnrolmentDTO, ...]:
        return tuple(e for e in self.enrolments if e.status is EnrolmentStatus.ACTIVE)

    @property
    def may_edit_profile(self) -> bool:
        """After consent, with no enrolment questions open (those answer themselves)."""
        return self.user is not None and self.user.consent_at is not None and not self.pending

    @property
    def may_edit_mentor_profile(self) -> bool:
        """Strengths and bio: for a mentor with a finished enrolment."""
        return (
            self.may_edit_profile
            and self.mentor is not None
            and any(e.role is Role.MENTOR for e in self.active)
        )


@dataclass(frozen=True, slots=True)
class ConsentResult:
    outcome: ConsentOutcome
    state: UserState
    problem: InviteProblem | None = None
    cohort: CohortDTO | None = None


_PROFILE_FIELDS = {
    EnrolStep.NAME: "full_name",
    EnrolStep.UNIT_TYPE: "unit_type",
    EnrolStep.UNIT_NAME: "unit_name",
    EnrolStep.DISTRICT: "district",
    EnrolStep.POSITION: "position",
}


class EnrolmentService:
    def __init__(self, uow: UowFactory, clock: Clock, organiser_ids: frozenset[int]) -> None:
        self._uow = uow
        self._clock = clock
        self._organiser_ids = organiser_ids

    async def check_invite(self, raw_code: str, telegram_id: int) -> InviteCheck:
        """Look at an invite without storing anything."""
        code = normalise_code(raw_code)
        if code is None:
            return InviteCheck(code=None, problem=InviteProblem.MALFORMED)
        async with self._uow() as uow:
            invite = await uow.invites.by_code(code)
            problem = invite_problem(invite_dto(invite) if invite else None, self._clock.now())
            if invite is None:
                return InviteCheck(code=code, problem=problem)
            cohort = invite.cohort
            user = await uow.users.by_telegram_id(telegram_id)
            enrolment = await uow.enrolments.find(user.id, cohort.id) if user else None
            return InviteCheck(
                code=code,
                problem=problem,
                cohort=cohort_dto(cohort),
                role=Role(invite.role),
                already_enrolled=enrolment is not None,
            )

    async def state(self, telegram_id: int) -> UserState:
        async with self._uow() as uow:
            user = await uow.users.by_telegram_id(telegram_id)
            if user is None:
                return UserState(user=None)
            return await self._state(uow, user)

    async def consent(self, telegram_id: int, raw_code: str, locale: str) -> ConsentResult:
        """Record consent, take one use of the invite and open a pending enrolment."""
        code = normalise_code(raw_code)
        now = self._clock.now()
        async with self._uow() as uow:
            invite = await uow.invites.by_code(code) if code else None
            problem = invite_problem(invite_dto(invite) if invite else None, now)
            user = await uow.users.by_telegram_id(telegram_id)
            if invite is not None and user is not None:
                existing = await uow.enrolments.find(user.id, invite.cohort_id)
                if existing is not None and existing.status != EnrolmentStatus.LEFT.value:
                    state = await self._state(uow, user)
                    return ConsentResult(
                        ConsentOutcome.ALREADY_ENROLLED, state, cohort=cohort_dto(existing.cohort)
                    )
            if invite is None or problem is not None:
                state = await self._state(uow, user) if user else UserState(user=None)
                return ConsentResult(ConsentOutcome.INVITE_INVALID, state, problem=problem)
            if not await uow.invites.claim_use(invite.id, now):
                state = await self._state(uow, user) if user else UserState(user=None)
                return ConsentResult(
                    ConsentOutcome.INVITE_INVALID, state, problem=InviteProblem.USED_UP
                )
            if user is None:
                user = await uow.users.add(telegram_id, now, locale=locale, consent_at=now)
            elif user.consent_at is None:
                user.consent_at = now
                user.locale = user.locale or locale
            user.updated_at = now
            user.is_active = True
            enrolment = await uow.enrolments.find(user.id, invite.cohort_id)
            if enrolment is not None:  # they left (or erased their data) and come back
                enrolment.role = invite.role
                enrolment.status = EnrolmentStatus.PENDING.value
                enrolment.invite_id = invite.id
                enrolment.created_at = now
                enrolment.completed_at = None
            else:
                enrolment = await uow.enrolments.add(
                    Enrolment(
                        user_id=user.id,
                        cohort_id=invite.cohort_id,
                        role=invite.role,
                        status=EnrolmentStatus.PENDING.value,
                        invite_id=invite.id,
                        created_at=now,
                        cohort=invite.cohort,
                    )
                )
            await uow.audit.record(
                now,
                "consent_given",
                actor_user_id=user.id,
                target_type="enrolment",
                target_id=enrolment.id,
                details={"cohort_id": invite.cohort_id, "role": invite.role},
            )
            try:
                state = await self._advance(uow, user)
                await uow.commit()
            except IntegrityError:
                # The same person pressed "agree" twice at once; the first press won.
                await uow.rollback()
                return ConsentResult(ConsentOutcome.ALREADY_ENROLLED, await self.state(telegram_id))
            return ConsentResult(ConsentOutcome.ENROLLING, state, cohort=cohort_dto(invite.cohort))

    async def answer(self, telegram_id: int, step: EnrolStep, checked: Checked) -> UserState:
        """Save one validated profile answer and say what comes next."""
        if not checked.ok:
            raise ValueError("only validated answers are saved")
        now = self._clock.now()
        async with self._uow() as uow:
            user = await self._require_user(uow, telegram_id)
            current = await self._state(uow, user)
            if current.next_step is not step:
                return current  # a stale button or a late message: change nothing
            if step in _PROFILE_FIELDS:
                setattr(user, _PROFILE_FIELDS[step], checked.value)
                user.updated_at = now
            elif step is EnrolStep.MENTOR_CAPACITY:
                profile = await uow.mentors.get_or_create(user.id, now)
                profile.capacity = int(checked.value or 0)
                profile.updated_at = now
            elif step is EnrolStep.MENTOR_BIO:
                profile = await uow.mentors.get_or_create(user.id, now)
                profile.bio = str(checked.value or BIO_SKIPPED)
                profile.updated_at = now
            else:
                raise ValueError(f"step {step} is not answered with a value")
            state = await self._advance(uow, user)
            await uow.commit()
            return state

    async def toggle_mentor_area(
        self, telegram_id: int, area: str, known: Sequence[str]
    ) -> MentorProfileDTO:
        now = self._clock.now()
        async with self._uow() as uow:
            user = await self._require_user(uow, telegram_id)
            profile = await uow.mentors.get_or_create(user.id, now)
            profile.areas = list(toggle_area(tuple(profile.areas or ()), area, tuple(known)))
            profile.updated_at = now
            await uow.commit()
            dto = mentor_dto(profile)
            assert dto is not None
            return dto

    async def skip_bio(self, telegram_id: int) -> UserState:
        """The bio is optional: "skip" answers the question with no bio."""
        return await self.answer(telegram_id, EnrolStep.MENTOR_BIO, Checked(value=BIO_SKIPPED))

    async def toggle_mentor_strength(
        self, telegram_id: int, strength: str, known: Sequence[str]
    ) -> MentorProfileDTO:
        """Choose or un-choose one strength while enrolling (the "done" button checks that
        at least one is chosen)."""
        now = self._clock.now()
        async with self._uow() as uow:
            user = await self._require_user(uow, telegram_id)
            profile = await uow.mentors.get_or_create(user.id, now)
            profile.strengths = list(
                toggle_strength(tuple(profile.strengths or ()), strength, tuple(known))
            )
            profile.updated_at = now
            await uow.commit()
            dto = mentor_dto(profile)
            assert dto is not None
            return dto

    # --- editing a finished profile (/me) -------------------------------------------------

    async def update_district(self, telegram_id: int, checked: Checked) -> UserState | None:
        """Set or change the district after enrolment; None if the person may not edit."""
        if not checked.ok:
            raise ValueError("only validated answers are saved")
        async with self._uow() as uow:
            user = await self._require_user(uow, telegram_id)
            if not (await self._state(uow, user)).may_edit_profile:
                return None
            user.district = str(checked.value)
            user.updated_at = self._clock.now()
            await uow.commit()
            return await self._state(uow, user)

    async def update_bio(self, telegram_id: int, checked: Checked) -> UserState | None:
        """Set, change or (with BIO_SKIPPED) clear a mentor's bio; None if not a mentor."""
        if not checked.ok:
            raise ValueError("only validated answers are saved")
        async with self._uow() as uow:
            user = await self._require_user(uow, telegram_id)
            if not (await self._state(uow, user)).may_edit_mentor_profile:
                return None
            profile = await uow.mentors.get_or_create(user.id, self._clock.now())
            profile.bio = str(checked.value or BIO_SKIPPED)
            profile.updated_at = self._clock.now()
            await uow.commit()
            return await self._state(uow, user)

    async def edit_mentor_strength(
        self, telegram_id: int, strength: str, known: Sequence[str]
    ) -> MentorProfileDTO | None:
        """Toggle one strength of a finished mentor profile, never removing the last one;
        None if the person is not a mentor with a finished enrolment."""
        async with self._uow() as uow:
            user = await self._require_user(uow, telegram_id)
            if not (await self._state(uow, user)).may_edit_mentor_profile:
                return None
            now = self._clock.now()
            profile = await uow.mentors.get_or_create(user.id, now)
            profile.strengths = list(
                toggle_strength(
                    tuple(profile.strengths or ()), strength, tuple(known), keep_one=True
                )
            )
            profile.updated_at = now
            await uow.commit()
            return mentor_dto(profile)

    async def _require_user(self, uow: UnitOfWork, telegram_id: int) -> User:
        user = await uow.users.by_telegram_id(telegram_id)
        if user is None or user.consent_at is None:
            raise PermissionError("no consent on record")
        return user

    async def _advance(self, uow: UnitOfWork, user: User) -> UserState:
        """Complete pending enrolments whose questions are all answered."""
        state = await self._state(uow, user)
        if state.next_step is not EnrolStep.DONE:
            return state
        now = self._clock.now()
        completed = []
        for enrolment in await uow.enrolments.for_user(user.id):
            if enrolment.status == EnrolmentStatus.PENDING.value:
                enrolment.status = EnrolmentStatus.ACTIVE.value
                enrolment.completed_at = now
                completed.append(enrolment)
                await uow.audit.record(
                    now,
                    "enrolled",
                    actor_user_id=user.id,
                    target_type="enrolment",
                    target_id=enrolment.id,
                    details={"cohort_id": enrolment.cohort_id, "role": enrolment.role},
                )
        await uow.session.flush()
        state = await self._state(uow, user)
        return UserState(
            user=state.user,
            enrolments=state.enrolments,
            mentor=state.mentor,
            next_step=None,
            just_completed=tuple(enrolment_dto(e) for e in completed),
        )

    async def _state(self, uow: UnitOfWork, user: User) -> UserState:
        enrolments = tuple(enrolment_dto(e) for e in await uow.enrolments.for_user(user.id))
        mentor = mentor_dto(await uow.mentors.get(user.id))
        dto = user_dto(user, is_organiser=user.telegram_id in self._organiser_ids)
        pending = [e for e in enrolments if e.status is EnrolmentStatus.PENDING]
        step: EnrolStep | None = None
        if pending:
            role = Role.MENTOR if any(e.role is Role.MENTOR for e in pending) else Role.TRAINEE
            step = next_step(role, dto, mentor)
        return UserState(user=dto, enrolments=enrolments, mentor=mentor, next_step=step)
