"""Queries, grouped by aggregate. Return ORM rows to services, which turn them into DTOs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import AuditEntry, Cohort, Enrolment, Invite, MentorProfile, User, UserRole
from bot.domain.model import (
    CohortDTO,
    EnrolmentDTO,
    EnrolmentStatus,
    InviteDTO,
    MentorProfileDTO,
    Role,
    UnitType,
    UserDTO,
)


def active_members(cohort_id: int, role: str, *columns: Any) -> Select[Any]:
    """SELECT `columns` of THE people a cohort's scheduled messages reach in `role`: an active
    enrolment in the cohort, an active user who has consented."""
    return (
        select(*columns)
        .join(Enrolment, Enrolment.user_id == User.id)
        .where(
            Enrolment.cohort_id == cohort_id,
            Enrolment.role == role,
            Enrolment.status == "active",
            User.is_active.is_(True),
            User.consent_at.is_not(None),
        )
    )


def user_dto(user: User, *, is_organiser: bool = False) -> UserDTO:
    return UserDTO(
        id=user.id,
        telegram_id=user.telegram_id,
        locale=user.locale,
        full_name=user.full_name,
        unit_type=UnitType(user.unit_type) if user.unit_type else None,
        unit_name=user.unit_name,
        position=user.position,
        consent_at=user.consent_at,
        is_active=user.is_active,
        is_organiser=is_organiser or any(r.role == Role.ORGANISER for r in user.roles),
        district=user.district,
    )


def cohort_dto(cohort: Cohort) -> CohortDTO:
    return CohortDTO(
        id=cohort.id,
        name=cohort.name,
        course_title=cohort.course_title,
        ends_on=cohort.ends_on,
        timezone=cohort.timezone,
    )


def invite_dto(invite: Invite) -> InviteDTO:
    return InviteDTO(
        id=invite.id,
        code=invite.code,
        cohort_id=invite.cohort_id,
        role=Role(invite.role),
        expires_at=invite.expires_at,
        max_uses=invite.max_uses,
        uses=invite.uses,
        revoked=invite.revoked_at is not None,
    )


def enrolment_dto(enrolment: Enrolment) -> EnrolmentDTO:
    return EnrolmentDTO(
        id=enrolment.id,
        cohort=cohort_dto(enrolment.cohort),
        role=Role(enrolment.role),
        status=EnrolmentStatus(enrolment.status),
        created_at=enrolment.created_at,
        completed_at=enrolment.completed_at,
    )


def mentor_dto(profile: MentorProfile | None) -> MentorProfileDTO | None:
    if profile is None:
        return None
    return MentorProfileDTO(
        areas=tuple(profile.areas or ()),
        capacity=profile.capacity,
        strengths=tuple(profile.strengths or ()),
        bio=profile.bio,
    )


# Core columns (not the mapped attributes): the statement skips the ORM's compile step.
_users, _roles = User.__table__.c, UserRole.__table__.c
_enrolments = Enrolment.__table__.c


def _enrolled_as(role: Role) -> Any:
    return (
        select(_enrolments.id)
        .where(
            _enrolments.user_id == _users.id,
            _enrolments.role == role.value,
            _enrolments.status == EnrolmentStatus.ACTIVE.value,
        )
        .exists()
    )


_USER_DTO = select(
    _users.id,
    _users.telegram_id,
    _users.locale,
    _users.full_name,
    _users.unit_type,
    _users.unit_name,
    _users.position,
    _users.district,
    _users.consent_at,
    _users.is_active,
    select(_roles.id)
    .where(_roles.user_id == _users.id, _roles.role == Role.ORGANISER.value)
    .exists()
    .label("is_organiser"),
    _enrolled_as(Role.TRAINEE).label("is_trainee"),
    _enrolled_as(Role.MENTOR).label("is_mentor"),
).where(_users.telegram_id == bindparam("telegram_id"))


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_telegram_id(self, telegram_id: int) -> User | None:
        result = await self.session.execute(select(User).where(User.telegram_id == telegram_id))
        return result.scalar_one_or_none()

    async def dto_by_telegram_id(
        self, telegram_id: int, *, is_organiser: bool = False
    ) -> UserDTO | None:
        """user_dto() of the user, read in one query (the role folded in) without loading
        entities: every update reads it first (handlers.middlewares), so it is kept cheap."""
        row = (await self.session.execute(_USER_DTO, {"telegram_id": telegram_id})).first()
        if row is None:
            return None
        unit_type = row.unit_type
        return UserDTO(
            id=row.id,
            telegram_id=row.telegram_id,
            locale=row.locale,
            full_name=row.full_name,
            unit_type=UnitType(unit_type) if unit_type else None,
            unit_name=row.unit_name,
            position=row.position,
            consent_at=row.consent_at,
            is_active=row.is_active,
            is_organiser=is_organiser or bool(row.is_organiser),
            district=row.district,
            is_trainee=bool(row.is_trainee),
            is_mentor=bool(row.is_mentor),
        )

    async def add(self, telegram_id: int, now: datetime, **fields: Any) -> User:
        user = User(telegram_id=telegram_id, created_at=now, updated_at=now, roles=[], **fields)
        self.session.add(user)
        await self.session.flush()
        return user

    async def grant_role(self, user: User, role: Role, now: datetime) -> bool:
        if any(r.role == role for r in user.roles):
            return False
        user.roles.append(UserRole(role=role.value, granted_at=now))
        await self.session.flush()
        return True


class CohortRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, cohort: Cohort) -> Cohort:
        self.session.add(cohort)
        await self.session.flush()
        return cohort

    async def get(self, cohort_id: int) -> Cohort | None:
        return await self.session.get(Cohort, cohort_id)

    async def all(self) -> Sequence[Cohort]:
        result = await self.session.execute(select(Cohort).order_by(Cohort.id))
        return result.scalars().all()

    async def member_counts(self) -> dict[tuple[int, str, str], int]:
        """(cohort_id, role, status) -> number of enrolments."""
        result = await self.session.execute(
            select(Enrolment.cohort_id, Enrolment.role, Enrolment.status, func.count()).group_by(
                Enrolment.cohort_id, Enrolment.role, Enrolment.status
            )
        )
        return {(c, r, s): n for c, r, s, n in result.tuples()}


class InviteRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_code(self, code: str) -> Invite | None:
        result = await self.session.execute(select(Invite).where(Invite.code == code))
        return result.scalar_one_or_none()

    async def for_cohort(self, cohort_id: int) -> Sequence[Invite]:
        result = await self.session.execute(
            select(Invite).where(Invite.cohort_id == cohort_id).order_by(Invite.id)
        )
        return result.scalars().all()

    async def add(self, invite: Invite) -> Invite:
        self.session.add(invite)
        await self.session.flush()
        return invite

    async def claim_use(self, invite_id: int, now: datetime) -> bool:
        """Take one use of the invite, atomically; False when it is used up or expired."""
        result = await self.session.execute(
            update(Invite)
            .where(
                Invite.id == invite_id,
                Invite.revoked_at.is_(None),
                (Invite.max_uses.is_(None)) | (Invite.uses < Invite.max_uses),
                (Invite.expires_at.is_(None)) | (Invite.expires_at > now),
            )
            .values(uses=Invite.uses + 1)
            .execution_options(synchronize_session=False)
        )
        return (result.rowcount or 0) == 1  # type: ignore[attr-defined]


class EnrolmentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def for_user(self, user_id: int) -> Sequence[Enrolment]:
        result = await self.session.execute(
            select(Enrolment).where(Enrolment.user_id == user_id).order_by(Enrolment.id)
        )
        return result.scalars().all()

    async def find(self, user_id: int, cohort_id: int) -> Enrolment | None:
        result = await self.session.execute(
            select(Enrolment).where(Enrolment.user_id == user_id, Enrolment.cohort_id == cohort_id)
        )
        return result.scalar_one_or_none()

    async def add(self, enrolment: Enrolment) -> Enrolment:
        self.session.add(enrolment)
        await self.session.flush()
        return enrolment

    async def trainee_cohorts(self, user_id: int) -> Sequence[Cohort]:
        """The cohorts where this person is an active trainee, newest end first."""
        result = await self.session.execute(
            select(Cohort)
            .join(Enrolment, Enrolment.cohort_id == Cohort.id)
            .where(
                Enrolment.user_id == user_id,
                Enrolment.role == "trainee",
                Enrolment.status == "active",
            )
            .order_by(Cohort.ends_on.desc(), Cohort.id.desc())
        )
        return result.scalars().all()


class MentorProfileRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: int) -> MentorProfile | None:
        return await self.session.get(MentorProfile, user_id)

    async def get_or_create(self, user_id: int, now: datetime) -> MentorProfile:
        profile = await self.get(user_id)
        if profile is None:
            profile = MentorProfile(user_id=user_id, areas=[], updated_at=now)
            self.session.add(profile)
            await self.session.flush()
        return profile


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(
        self,
        now: datetime,
        action: str,
        *,
        actor_user_id: int | None = None,
        actor_kind: str = "user",
        target_type: str | None = None,
        target_id: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.session.add(
            AuditEntry(
                at=now,
                action=action,
                actor_user_id=actor_user_id,
                actor_kind=actor_kind,
                target_type=target_type,
                target_id=target_id,
                details=details or {},
            )
        )
