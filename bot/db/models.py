"""SQLAlchemy models. Only the db package and the services' unit of work see these."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from bot.db.types import UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    telegram_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    locale: Mapped[str | None] = mapped_column(String(8))
    full_name: Mapped[str | None] = mapped_column(String(64))
    unit_type: Mapped[str | None] = mapped_column(String(16))
    unit_name: Mapped[str | None] = mapped_column(String(120))
    position: Mapped[str | None] = mapped_column(String(80))
    district: Mapped[str | None] = mapped_column(String(40))  # 区/县 or 街道, as typed
    consent_at: Mapped[datetime | None]
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    roles: Mapped[list[UserRole]] = relationship(back_populates="user", lazy="selectin")


class UserRole(Base):
    """Global roles (organiser). Per-cohort roles live on the enrolment."""

    __tablename__ = "user_roles"
    __table_args__ = (UniqueConstraint("user_id", "role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    granted_at: Mapped[datetime]

    user: Mapped[User] = relationship(back_populates="roles")


class Cohort(Base):
    __tablename__ = "cohorts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    course_title: Mapped[str] = mapped_column(String(200))
    ends_on: Mapped[date] = mapped_column(Date)
    timezone: Mapped[str] = mapped_column(String(64))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]


class Invite(Base):
    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    max_uses: Mapped[int | None] = mapped_column(Integer)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime]

    cohort: Mapped[Cohort] = relationship(lazy="joined")


class Enrolment(Base):
    __tablename__ = "enrolments"
    __table_args__ = (
        UniqueConstraint("user_id", "cohort_id"),
        Index("ix_enrolments_cohort_role", "cohort_id", "role", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    invite_id: Mapped[int | None] = mapped_column(ForeignKey("invites.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]

    cohort: Mapped[Cohort] = relationship(lazy="joined")


class MentorProfile(Base):
    __tablename__ = "mentor_profiles"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    areas: Mapped[list[str]] = mapped_column(JSON, default=list)
    capacity: Mapped[int | None] = mapped_column(Integer)
    # What they coach well: ids of content/mentoring.yaml strengths (each covers LTSI factors)
    strengths: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    bio: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]


class AuditEntry(Base):
    """Who did what, when. Organiser and CLI actions, consent and enrolment changes."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_kind: Mapped[str] = mapped_column(String(16))  # user | cli | system
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[int | None] = mapped_column(BigInteger)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    note: Mapped[str | None] = mapped_column(Text)


class DueItem(Base):
    """Something to do at a moment: a wave, a reminder, a scheduled broadcast.

    The sweeper picks pending rows whose `due_at` has come, by the (status, due_at) index,
    so a sweep costs what is due, not what exists.
    """

    __tablename__ = "due_items"
    __table_args__ = (Index("ix_due_items_status_due_at", "status", "due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    dedupe_key: Mapped[str] = mapped_column(String(128), unique=True)
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    cohort_id: Mapped[int | None] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None]


class OutboxMessage(Base):
    """A message the bot sends on its own initiative. Sent once by the delivery worker."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_outbox_broadcast_id_status", "broadcast_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(128), unique=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    is_group: Mapped[bool] = mapped_column(Boolean, default=False)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    method: Mapped[str] = mapped_column(String(16))  # text | photo | document | edit
    purpose: Mapped[str] = mapped_column(String(32))  # broadcast | reminder | report | ...
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    error_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    broadcast_id: Mapped[int | None] = mapped_column(
        ForeignKey("broadcasts.id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class Broadcast(Base):
    """An organiser's course notice to a cohort (or all their cohorts)."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organiser_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    organiser_chat_id: Mapped[int] = mapped_column(BigInteger)
    cohort_id: Mapped[int | None] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"))
    audience: Mapped[str] = mapped_column(String(16))  # all | trainees | mentors
    text: Mapped[str | None] = mapped_column(Text)
    media_kind: Mapped[str | None] = mapped_column(String(16))  # photo | document
    media_file_id: Mapped[str | None] = mapped_column(String(256))
    media_name: Mapped[str | None] = mapped_column(String(256))
    ack_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    reminder_minutes: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    scheduled_at: Mapped[datetime | None]
    total: Mapped[int] = mapped_column(Integer, default=0)
    report_message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class BroadcastAck(Base):
    __tablename__ = "broadcast_acks"
    __table_args__ = (UniqueConstraint("broadcast_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    at: Mapped[datetime]


class LtsiWave(Base):
    """One LTSI self-check of a cohort: course end (quick form), day 30 and day 60 (full).

    `items` freezes the form's item ids in question order when the wave is planned, so an
    edit of content/ltsi never shifts the questions under someone answering.
    """

    __tablename__ = "ltsi_waves"
    __table_args__ = (UniqueConstraint("cohort_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # course_end | day30 | day60
    form: Mapped[str] = mapped_column(String(8))  # quick | full
    items: Mapped[list[str]] = mapped_column(JSON, default=list)
    opens_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="scheduled")  # open | closed
    created_at: Mapped[datetime]


class LtsiResponse(Base):
    """One trainee's answers to one wave. `position` is the question on screen (0-based);
    the answers themselves are rows of ltsi_answers, each saved the moment it is given."""

    __tablename__ = "ltsi_responses"
    __table_args__ = (
        UniqueConstraint("wave_id", "user_id"),
        Index("ix_ltsi_responses_wave_id_status", "wave_id", "status"),
        Index("ix_ltsi_responses_user_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    wave_id: Mapped[int] = mapped_column(ForeignKey("ltsi_waves.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))  # invited|answering|paused|done|expired
    position: Mapped[int] = mapped_column(Integer, default=0)
    message_id: Mapped[int | None] = mapped_column(BigInteger)  # the question's message
    scores: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # factor → mean, when done
    invited_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]

    wave: Mapped[LtsiWave] = relationship(lazy="joined")


class LtsiAnswer(Base):
    __tablename__ = "ltsi_answers"

    response_id: Mapped[int] = mapped_column(
        ForeignKey("ltsi_responses.id", ondelete="CASCADE"), primary_key=True
    )
    item_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[int] = mapped_column(Integer)
    answered_at: Mapped[datetime]


class LtsiFollowUp(Base):
    """An action a diagnosis started or offered (a barrier's LtsiAction, or one of its
    steps, e.g. the note to the mentor). `pending` ones wait for the feature that carries
    them out (plan, mentor matching, scenarios) to pick them up."""

    __tablename__ = "ltsi_follow_ups"
    __table_args__ = (
        UniqueConstraint("response_id", "kind"),
        Index("ix_ltsi_follow_ups_kind_status", "kind", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("ltsi_responses.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))  # services.ltsi.FollowUpKind
    factors: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16))  # pending | done
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None]


class Plan(Base):
    """A trainee's practice-transfer plan (实践转化计划书) for one cohort: one a cohort,
    edited in place. The free text is the trainee's and goes when they erase their data."""

    __tablename__ = "plans"
    __table_args__ = (UniqueConstraint("user_id", "cohort_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"))
    area: Mapped[str] = mapped_column(String(24))  # an id of content/areas.yaml
    area_other: Mapped[str | None] = mapped_column(String(80))  # when area is "other"
    goal: Mapped[str | None] = mapped_column(Text)
    success: Mapped[str | None] = mapped_column(Text)  # how success will be seen
    support: Mapped[str | None] = mapped_column(Text)  # support needed
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | erased
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    milestones: Mapped[list[PlanMilestone]] = relationship(
        back_populates="plan",
        lazy="selectin",
        order_by="PlanMilestone.position",
        cascade="all, delete-orphan",
    )


class PlanMilestone(Base):
    """A dated step of a plan. On its date the trainee says done / in progress / not done;
    a missed one may move once, with a reason (`moved_from` keeps the first date)."""

    __tablename__ = "plan_milestones"
    __table_args__ = (Index("ix_plan_milestones_plan_id", "plan_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    due_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="open")
    # open | done | in_progress | not_done
    note: Mapped[str | None] = mapped_column(Text)
    moved_from: Mapped[date | None] = mapped_column(Date)
    move_reason: Mapped[str | None] = mapped_column(Text)
    checked_at: Mapped[datetime | None]
    created_at: Mapped[datetime]

    plan: Mapped[Plan] = relationship(back_populates="milestones", lazy="joined")


class Reflection(Base):
    """One action–reflection entry: answers to the structured questions of content, each
    text, or a voice message or photo kept by its Telegram file id (with its caption).
    `answers` maps a question id to {"kind": "text"|"voice"|"photo", "text", "file_id"}."""

    __tablename__ = "reflections"
    __table_args__ = (Index("ix_reflections_user_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"))
    milestone_id: Mapped[int | None] = mapped_column(
        ForeignKey("plan_milestones.id", ondelete="SET NULL")
    )
    prompt_number: Mapped[int | None] = mapped_column(Integer)  # which cadence prompt, if any
    answers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # draft | done | discarded (started over; emptied) | erased (with the person's data)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    created_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]


class ReflectionComment(Base):
    """A mentor's or organiser's comment on a reflection; the trainee receives it."""

    __tablename__ = "reflection_comments"
    __table_args__ = (Index("ix_reflection_comments_reflection_id", "reflection_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reflection_id: Mapped[int] = mapped_column(ForeignKey("reflections.id", ondelete="CASCADE"))
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    author_role: Mapped[str] = mapped_column(String(16))  # mentor | organiser
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class Case(Base):
    """A reflection proposed for the cohort's case library (案例库). Published only with the
    trainee's consent, under a pseudonym; `body` is the text as the trainee agreed to it."""

    __tablename__ = "cases"
    __table_args__ = (
        UniqueConstraint("reflection_id"),
        Index("ix_cases_cohort_id_status", "cohort_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reflection_id: Mapped[int | None] = mapped_column(
        ForeignKey("reflections.id", ondelete="SET NULL")
    )
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"))
    area: Mapped[str] = mapped_column(String(24))
    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[str | None] = mapped_column(Text)
    pseudonym: Mapped[str] = mapped_column(String(32))
    proposed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16))  # proposed | published | declined | withdrawn
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]


class MatchProposal(Base):
    """An organiser's /match run for a cohort: the proposed pairs (MentorMatch rows with
    status "proposed"), reviewed, then confirmed or discarded."""

    __tablename__ = "match_proposals"
    __table_args__ = (Index("ix_match_proposals_cohort_id", "cohort_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"))
    organiser_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    prefer: Mapped[str] = mapped_column(String(16))  # coverage | score
    status: Mapped[str] = mapped_column(String(16), default="open")  # open|confirmed|discarded
    unmatched: Mapped[list[int]] = mapped_column(JSON, default=list)  # trainee user ids
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]


class MentorMatch(Base):
    """A mentor–mentee pair (导师跟踪制). `proposed` in an open proposal, `active` once the
    organiser confirms, `ended` after a rematch, an erasure or the organiser's decision."""

    __tablename__ = "mentor_matches"
    __table_args__ = (
        Index("ix_mentor_matches_cohort_id_status", "cohort_id", "status"),
        Index("ix_mentor_matches_mentor_user_id_status", "mentor_user_id", "status"),
        Index("ix_mentor_matches_trainee_user_id_status", "trainee_user_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"))
    proposal_id: Mapped[int | None] = mapped_column(
        ForeignKey("match_proposals.id", ondelete="SET NULL")
    )
    trainee_user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    mentor_user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))  # proposed | active | ended | dropped
    score: Mapped[int] = mapped_column(Integer, default=0)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(32))  # rematch | erased | organiser


class RematchRequest(Base):
    """A trainee's request for another mentor: once per cohort, with a reason; the
    organiser approves (the match ends, a new one is proposed) or declines."""

    __tablename__ = "rematch_requests"
    __table_args__ = (UniqueConstraint("trainee_user_id", "cohort_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    match_id: Mapped[int] = mapped_column(ForeignKey("mentor_matches.id", ondelete="CASCADE"))
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"))
    trainee_user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    reason: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|approved|declined
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class GuidanceSession(Base):
    """A mentor's log of one guidance session with a mentee (the monthly 导师指导)."""

    __tablename__ = "guidance_sessions"
    __table_args__ = (
        Index("ix_guidance_sessions_mentor_trainee", "mentor_user_id", "trainee_user_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"))
    mentor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    trainee_user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    held_on: Mapped[date] = mapped_column(Date)
    topic: Mapped[str | None] = mapped_column(String(200))
    notes: Mapped[str | None] = mapped_column(Text)
    next_step: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class ScenarioRun(Base):
    """One play of a scenario role-play (content/scenarios/<scenario_id>.yaml, as `role`).

    `node` is the node on screen and `step` counts the moves so far: a move is a
    compare-and-set on `step`, so a stale or doubled button press changes nothing.
    `path` lists the decisions taken as [node id, choice index]; `scores` holds the raw
    points per dimension (the file decides what a choice is worth; reports rescale).
    """

    __tablename__ = "scenario_runs"
    __table_args__ = (
        Index("ix_scenario_runs_user_id_status", "user_id", "status"),
        Index("ix_scenario_runs_cohort_id_scenario_id", "cohort_id", "scenario_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"))
    scenario_id: Mapped[str] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(32))
    node: Mapped[str] = mapped_column(String(64))
    step: Mapped[int] = mapped_column(Integer, default=0)
    path: Mapped[list[Any]] = mapped_column(JSON, default=list)
    scores: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # playing | finished | abandoned (another play of the same scenario was started) | erased
    status: Mapped[str] = mapped_column(String(16), default="playing")
    ending: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class ScenarioAnswer(Base):
    """A free-text answer written during a play ("what would you say to the resident"),
    sent to the trainee's mentor; the mentor's comment is sent back to the trainee."""

    __tablename__ = "scenario_answers"
    __table_args__ = (
        UniqueConstraint("run_id", "node"),
        Index("ix_scenario_answers_user_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("scenario_runs.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    node: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    mentor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    comment: Mapped[str | None] = mapped_column(Text)
    commented_at: Mapped[datetime | None]


class InboxUpdate(Base):
    """An update long polling has fetched and not yet handled to the end. Kept before the
    fetch is confirmed to Telegram, deleted once handled: a process killed mid-update
    handles it after the restart instead of losing it (bot/inbox.py)."""

    __tablename__ = "inbox_updates"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    payload: Mapped[str] = mapped_column(Text)  # the update as JSON, as Telegram sent it
    received_at: Mapped[datetime]


class FsmRecord(Base):
    """Where a person's conversation with the bot stands (aiogram FSM state and data), for a
    bot without Redis (bot/fsm_storage.py). A row only while a conversation is open."""

    __tablename__ = "fsm_states"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)  # bot:chat:user:...
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)  # the Telegram user
    state: Mapped[str | None] = mapped_column(String(255))
    data: Mapped[str] = mapped_column(Text)  # JSON
    updated_at: Mapped[datetime]
