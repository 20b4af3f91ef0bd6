"""Mentoring rules: the weekly mentor digest (what goes in, who is at risk, in which order,
how it is cut into messages), its cohort settings, and when the monthly guidance reminder
comes. Pure functions on plain values, no I/O."""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain.ltsi import split_messages

# Telegram's limit is 4096 characters as it counts them (UTF-16 units, after the HTML tags
# are parsed away). split_messages counts code points of the HTML source: the tags more than
# make up for emoji counting double, and the margin covers the rest.
DIGEST_LIMIT = 3900
INACTIVE_DAYS = 14  # no activity for this long: at risk
DUE_SOON_DAYS = 7  # a milestone due within this many days is listed as "due"
SAME_WITHIN = 0.1  # a group score moving less than a tenth of a point has not moved
MOTIVATION_GROUP = "motivation"
REMINDER_TIME = time(10, 0)
REMINDER_DAYS_BEFORE_END = 7  # the reminder comes 7 days before the month is over
TOPIC_LIMIT = 60
NOTES_LIMIT = 1000
NEXT_STEP_LIMIT = 300
MAX_REFLECTION_BUTTONS = 5  # per mentee and digest; the count says how many there are
MAX_ANSWER_BUTTONS = 3  # role-play answers to comment on, per mentee and digest; likewise
MAX_PLAY_LINES = 5  # role-plays listed per mentee and digest; likewise


class Trend(StrEnum):
    UP = "up"
    DOWN = "down"
    SAME = "same"


def trend(delta: float) -> Trend:
    if delta >= SAME_WITHIN:
        return Trend.UP
    if delta <= -SAME_WITHIN:
        return Trend.DOWN
    return Trend.SAME


class Risk(StrEnum):
    """Why a mentee is listed first, in the order the digest names the reasons."""

    INACTIVE = "inactive"  # no reflection, check-in, self-check answer, plan change or role-play
    OVERDUE = "overdue"  # a milestone's date passed and it is not done
    MOTIVATION = "motivation"  # the motivation group score fell since the previous check


@dataclass(frozen=True, slots=True)
class GroupChange:
    """An LTSI group's score in the mentee's last two finished self-checks."""

    group: str
    before: float
    after: float

    @property
    def delta(self) -> float:
        return self.after - self.before

    @property
    def trend(self) -> Trend:
        return trend(self.delta)


def group_changes(
    previous: dict[str, Any] | None, latest: dict[str, Any] | None, order: Sequence[str]
) -> tuple[GroupChange, ...]:
    """Changes of the groups scored in both (`order`: the groups' ids, in content order)."""
    if not previous or not latest:
        return ()
    out = []
    for group in order:
        before, after = previous.get(group), latest.get(group)
        if isinstance(before, int | float) and isinstance(after, int | float):
            out.append(GroupChange(group, float(before), float(after)))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class MilestoneLine:
    title: str
    due_on: date


@dataclass(frozen=True, slots=True)
class ReflectionLine:
    id: int
    first_line: str
    on: date


@dataclass(frozen=True, slots=True)
class SessionLine:
    held_on: date
    topic: str | None
    next_step: str | None


@dataclass(frozen=True, slots=True)
class PlayLine:
    """A role-play finished since the last digest. Ids, not names: the digest names the
    scenario, role, ending and dimension in the mentor's language."""

    run_id: int
    scenario_id: str
    role: str
    ending: str  # the ending's node id
    total: int | None  # 0–100 overall
    weakest: tuple[str, int] | None  # (dimension id, 0–100), see `weakest`
    on: date


@dataclass(frozen=True, slots=True)
class AnswerLine:
    """A free-text answer written in a role-play, still without the mentor's comment."""

    id: int
    scenario_id: str
    first_line: str
    on: date


def weakest(percents: Mapping[str, int | None], order: Sequence[str]) -> tuple[str, int] | None:
    """The dimension a play scored lowest on (the first in `order` on a tie). None when the
    role tests fewer than two dimensions or scored the same on all of them: nothing stands
    out then."""
    scored = [(d, v) for d in order if (v := percents.get(d)) is not None]
    if len(scored) < 2 or len({v for _, v in scored}) == 1:
        return None
    return min(scored, key=lambda dv: dv[1])


@dataclass(frozen=True, slots=True)
class MenteeDigest:
    """One mentee's entry of a mentor's digest."""

    trainee_user_id: int
    name: str
    changes: tuple[GroupChange, ...]  # empty: fewer than two finished self-checks
    new_check: bool  # the latest self-check was finished since the last digest
    done: int
    total: int
    done_lately: tuple[MilestoneLine, ...]  # reported done since the last digest
    due: tuple[MilestoneLine, ...]  # within DUE_SOON_DAYS
    overdue: tuple[MilestoneLine, ...]
    reflections: tuple[ReflectionLine, ...]  # finished since the last digest, oldest first
    last_session: SessionLine | None
    last_activity: date | None
    risks: tuple[Risk, ...]
    plays: tuple[PlayLine, ...] = ()  # role-plays finished since the last digest, oldest first
    waiting: tuple[AnswerLine, ...] = ()  # role-play answers without a comment, oldest first

    @property
    def at_risk(self) -> bool:
        return bool(self.risks)

    @property
    def has_news(self) -> bool:
        """Anything the mentor did not know at the last digest, or should act on now."""
        return bool(
            self.risks
            or self.new_check
            or self.done_lately
            or self.due
            or self.overdue
            or self.reflections
            or self.plays
            or self.waiting
        )


def risks_of(
    *,
    last_activity: date | None,
    today: date,
    overdue: int,
    changes: Sequence[GroupChange],
) -> tuple[Risk, ...]:
    out = []
    if last_activity is None or (today - last_activity).days >= INACTIVE_DAYS:
        out.append(Risk.INACTIVE)
    if overdue:
        out.append(Risk.OVERDUE)
    if any(c.group == MOTIVATION_GROUP and c.trend is Trend.DOWN for c in changes):
        out.append(Risk.MOTIVATION)
    return tuple(out)


def ordered(entries: Sequence[MenteeDigest]) -> list[MenteeDigest]:
    """At-risk mentees first (more reasons first), then the rest; by name within each."""
    return sorted(entries, key=lambda e: (not e.at_risk, -len(e.risks), e.name, e.trainee_user_id))


def pack(
    parts: Sequence[str], limit: int = DIGEST_LIMIT, separator: str = "\n\n"
) -> list[list[int]]:
    """Which parts go into which message: as few messages as split_messages makes, never
    cutting a part. Returns the parts' indices per message."""
    messages = split_messages(parts, limit, separator)
    groups: list[list[int]] = []
    index = 0
    for message in messages:
        taken: list[int] = []
        joined = ""
        while index < len(parts) and joined != message:
            joined = f"{joined}{separator}{parts[index]}" if taken else parts[index]
            taken.append(index)
            index += 1
        if joined != message:  # pragma: no cover - split_messages joins parts in order
            raise AssertionError("split_messages did not keep the parts in order")
        groups.append(taken)
    return groups


# -- when --------------------------------------------------------------------------------


def _clock_time(raw: Any, name: str) -> time:
    if not isinstance(raw, str) or not re.fullmatch(r"\d{1,2}:\d{2}", raw):
        raise ValueError(f"{name} must look like 09:00, got {raw!r}")
    hours, minutes = (int(x) for x in raw.split(":"))
    if hours > 23 or minutes > 59:
        raise ValueError(f"{name} must look like 09:00, got {raw!r}")
    return time(hours, minutes)


@dataclass(frozen=True, slots=True)
class MentoringSettings:
    """A cohort's `mentoring` settings: when the mentors' digest comes.

    digest_weekday: 1        # 1 = Monday … 7 = Sunday
    digest_time: "09:00"     # cohort time
    """

    digest_weekday: int = 1
    digest_time: time = time(9, 0)

    @classmethod
    def from_settings(cls, raw: Any) -> MentoringSettings:
        """Defaults for what is missing; ValueError naming the setting for what is wrong."""
        if raw is None:
            return cls()
        if not isinstance(raw, dict):
            raise ValueError(f"mentoring settings must be a mapping, got {raw!r}")
        unknown = sorted(set(raw) - {"digest_weekday", "digest_time"})
        if unknown:
            raise ValueError(f"unknown mentoring setting(s): {', '.join(unknown)}")
        weekday = raw.get("digest_weekday", 1)
        if isinstance(weekday, bool) or not isinstance(weekday, int) or not 1 <= weekday <= 7:
            raise ValueError(
                f"mentoring.digest_weekday must be a whole number from 1 (Monday) to 7"
                f" (Sunday), got {weekday!r}"
            )
        return cls(
            digest_weekday=weekday,
            digest_time=_clock_time(raw.get("digest_time", "09:00"), "mentoring.digest_time"),
        )

    def next_digest_at(self, after: datetime, timezone: str) -> datetime:
        """The first digest moment (UTC) strictly after `after`."""
        zone = ZoneInfo(timezone)
        local = after.astimezone(zone)
        day = local.date() + timedelta(days=(self.digest_weekday - local.isoweekday()) % 7)
        at = datetime.combine(day, self.digest_time, zone)
        if at <= local:
            at = datetime.combine(day + timedelta(days=7), self.digest_time, zone)
        return at.astimezone(UTC)


def reminder_day(year: int, month: int) -> date:
    """The day of a month's guidance reminder: REMINDER_DAYS_BEFORE_END days before the
    month is over, so the last week of it is left for the session (24 November)."""
    last = calendar.monthrange(year, month)[1]
    return date(year, month, last) + timedelta(days=1 - REMINDER_DAYS_BEFORE_END)


def next_reminder_at(after: datetime, timezone: str) -> datetime:
    """The first reminder moment (UTC) strictly after `after`: this month's, or the next."""
    zone = ZoneInfo(timezone)
    local = after.astimezone(zone)
    year, month = local.year, local.month
    for _ in range(2):
        at = datetime.combine(reminder_day(year, month), REMINDER_TIME, zone)
        if at > local:
            return at.astimezone(UTC)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    raise AssertionError("next month's reminder is always ahead")  # pragma: no cover


def month_bounds(day: date) -> tuple[date, date]:
    """The first and the last day of `day`'s month."""
    last = calendar.monthrange(day.year, day.month)[1]
    return day.replace(day=1), day.replace(day=last)
