"""Plain values the services hand out. No ORM rows ever leave the service layer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum


class Role(StrEnum):
    TRAINEE = "trainee"
    MENTOR = "mentor"
    ORGANISER = "organiser"


class UnitType(StrEnum):
    """Level of the trainee's workplace in grassroots governance."""

    COMMUNITY = "community"  # 社区 / 居委会
    VILLAGE = "village"  # 村
    STREET = "street"  # 街道 / 乡镇


class EnrolmentStatus(StrEnum):
    PENDING = "pending"  # consent given, profile not complete
    ACTIVE = "active"
    LEFT = "left"


@dataclass(frozen=True, slots=True)
class UserDTO:
    id: int
    telegram_id: int
    locale: str | None
    full_name: str | None
    unit_type: UnitType | None
    unit_name: str | None
    position: str | None
    consent_at: datetime | None
    is_active: bool
    is_organiser: bool = False
    district: str | None = None  # 区县 / 街道, as typed
    is_trainee: bool = False  # an active trainee enrolment in some cohort
    is_mentor: bool = False  # an active mentor enrolment in some cohort


@dataclass(frozen=True, slots=True)
class CohortDTO:
    id: int
    name: str
    course_title: str
    ends_on: date
    timezone: str


@dataclass(frozen=True, slots=True)
class InviteDTO:
    id: int
    code: str
    cohort_id: int
    role: Role
    expires_at: datetime | None
    max_uses: int | None
    uses: int
    revoked: bool


@dataclass(frozen=True, slots=True)
class MentorProfileDTO:
    areas: tuple[str, ...]
    capacity: int | None
    strengths: tuple[str, ...] = ()  # ids of content/mentoring.yaml strengths
    bio: str | None = None  # None: not asked yet; "": skipped


@dataclass(frozen=True, slots=True)
class EnrolmentDTO:
    id: int
    cohort: CohortDTO
    role: Role
    status: EnrolmentStatus
    created_at: datetime
    completed_at: datetime | None


@dataclass(frozen=True, slots=True)
class Profile:
    """Everything a user sees about themselves (/me)."""

    user: UserDTO
    enrolments: tuple[EnrolmentDTO, ...] = ()
    mentor: MentorProfileDTO | None = None
    extra: dict[str, str] = field(default_factory=dict)
