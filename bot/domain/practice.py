"""Practice after the course: the transfer plan's rules, milestone dates, reflection cadence,
and what a typed answer must look like. Pure functions, no I/O."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, time, timedelta
from enum import StrEnum
from typing import Any

from bot.domain.notices import TEXT_LIMIT, telegram_length

MAX_MILESTONES = 5
# Free-text limits, in characters as Telegram counts them. A longer answer is refused with
# its length (never cut): the plan is read back in one message, and a milestone title is
# quoted on buttons' companion messages and in digests.
GOAL_LIMIT = 500
SUCCESS_LIMIT = 500
SUPPORT_LIMIT = 500
MILESTONE_TITLE_LIMIT = 120
AREA_OTHER_LIMIT = 40
NOTE_LIMIT = 500
REASON_LIMIT = 300
REFLECTION_ANSWER_LIMIT = TEXT_LIMIT  # one Telegram message: whatever arrives fits
COMMENT_LIMIT = 1000


class MilestoneStatus(StrEnum):
    OPEN = "open"  # its date has not come, or nobody answered yet
    DONE = "done"
    IN_PROGRESS = "in_progress"
    NOT_DONE = "not_done"


class TextProblem(StrEnum):
    EMPTY = "empty"
    TOO_LONG = "too_long"
    NOT_TEXT = "not_text"  # a sticker, a photo… where words are expected


@dataclass(frozen=True, slots=True)
class TextCheck:
    value: str | None  # the cleaned text, when acceptable
    problem: TextProblem | None = None
    length: int = 0
    limit: int = 0


def check_text(raw: str | None, limit: int) -> TextCheck:
    """A typed answer: not empty, not over `limit` (UTF-16 units, as Telegram counts)."""
    if raw is None:
        return TextCheck(None, TextProblem.NOT_TEXT)
    value = raw.strip()
    if not value:
        return TextCheck(None, TextProblem.EMPTY)
    length = telegram_length(value)
    if length > limit:
        return TextCheck(None, TextProblem.TOO_LONG, length, limit)
    return TextCheck(value, None, length, limit)


class DateProblem(StrEnum):
    UNREADABLE = "unreadable"
    NO_SUCH_DAY = "no_such_day"  # 2月30日
    PAST = "past"
    TOO_FAR = "too_far"
    FUTURE = "future"  # parse_past_day: a day that has not come yet
    TOO_OLD = "too_old"  # parse_past_day: more than MAX_DAYS_BACK ago


@dataclass(frozen=True, slots=True)
class DateCheck:
    value: date | None
    problem: DateProblem | None = None


MAX_DAYS_AHEAD = 366
# A day without a year that lies this close behind today is a slip into the past (refused
# as such), not next year's: on 12 December "12/5" is last week, while "1/15" is January.
RECENT_PAST_DAYS = 90
_RELATIVE = {"今天": 0, "today": 0, "明天": 1, "tomorrow": 1, "后天": 2}
_FULL = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?")
_SHORT = re.compile(r"(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?")
_IN_DAYS = re.compile(r"(\d{1,3})\s*(?:天后|日后|days?)")
_IN_WEEKS = re.compile(r"(\d{1,2})\s*(?:周后|个?星期后|weeks?)")


def parse_day(raw: str, today: date, *, allow_today: bool = True) -> DateCheck:
    """The day a trainee means by '2026-12-01', '2026年12月1日', '12月1日', '12/1', '12-1',
    '12.1', '明天', '3天后', '2周后' (full-width digits too).

    A day without a year is this year's, or next year's when this year's lies more than
    RECENT_PAST_DAYS behind (in December, '1/15' is next January). Days in the past, or
    more than a year ahead, are refused: a milestone is a day the trainee will be asked
    about.
    """
    text = unicodedata.normalize("NFKC", raw).strip().lower()
    text = re.sub(r"\s+", " ", text)
    day: date | None = None
    if text in _RELATIVE:
        day = today + timedelta(days=_RELATIVE[text])
    elif m := _IN_DAYS.fullmatch(text):
        day = today + timedelta(days=int(m[1]))
    elif m := _IN_WEEKS.fullmatch(text):
        day = today + timedelta(weeks=int(m[1]))
    elif m := _FULL.fullmatch(text):
        try:
            day = date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            return DateCheck(None, DateProblem.NO_SUCH_DAY)
    elif m := _SHORT.fullmatch(text):
        month, dom = int(m[1]), int(m[2])
        try:
            day = date(today.year, month, dom)
        except ValueError:
            try:  # 2月29日 that exists only next year
                day = date(today.year + 1, month, dom)
            except ValueError:
                return DateCheck(None, DateProblem.NO_SUCH_DAY)
        if day < today - timedelta(days=RECENT_PAST_DAYS):
            try:
                day = date(today.year + 1, month, dom)
            except ValueError:
                return DateCheck(None, DateProblem.NO_SUCH_DAY)
    if day is None:
        return DateCheck(None, DateProblem.UNREADABLE)
    if day < today or (day == today and not allow_today):
        return DateCheck(None, DateProblem.PAST)
    if day > today + timedelta(days=MAX_DAYS_AHEAD):
        return DateCheck(None, DateProblem.TOO_FAR)
    return DateCheck(day)


MAX_DAYS_BACK = 366
_RELATIVE_PAST = {"今天": 0, "today": 0, "昨天": 1, "yesterday": 1, "前天": 2}
_DAYS_AGO = re.compile(r"(\d{1,3})\s*(?:天前|日前|days? ago)")
_WEEKS_AGO = re.compile(r"(\d{1,2})\s*(?:周前|个?星期前|weeks? ago)")


def parse_past_day(raw: str, today: date) -> DateCheck:
    """The day something already happened, as '今天', '昨天', '前天', '3天前', '1周前',
    '12月1日', '12/1', '12-1', '2026-12-01' (full-width digits too).

    A day without a year is this year's, or last year's when this year's lies more than
    RECENT_PAST_DAYS ahead (in January, '12/20' is last December; on 5 December it is a
    slip into the future, refused as such). Days in the future, or more than MAX_DAYS_BACK
    days ago, are refused: a guidance session is logged after it was held.
    """
    text = unicodedata.normalize("NFKC", raw).strip().lower()
    text = re.sub(r"\s+", " ", text)
    day: date | None = None
    if text in _RELATIVE_PAST:
        day = today - timedelta(days=_RELATIVE_PAST[text])
    elif m := _DAYS_AGO.fullmatch(text):
        day = today - timedelta(days=int(m[1]))
    elif m := _WEEKS_AGO.fullmatch(text):
        day = today - timedelta(weeks=int(m[1]))
    elif m := _FULL.fullmatch(text):
        try:
            day = date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            return DateCheck(None, DateProblem.NO_SUCH_DAY)
    elif m := _SHORT.fullmatch(text):
        month, dom = int(m[1]), int(m[2])
        try:
            day = date(today.year, month, dom)
        except ValueError:
            try:  # 2月29日 that existed only last year
                day = date(today.year - 1, month, dom)
            except ValueError:
                return DateCheck(None, DateProblem.NO_SUCH_DAY)
        if day > today + timedelta(days=RECENT_PAST_DAYS):
            try:
                day = date(today.year - 1, month, dom)
            except ValueError:
                return DateCheck(None, DateProblem.NO_SUCH_DAY)
    if day is None:
        return DateCheck(None, DateProblem.UNREADABLE)
    if day > today:
        return DateCheck(None, DateProblem.FUTURE)
    if day < today - timedelta(days=MAX_DAYS_BACK):
        return DateCheck(None, DateProblem.TOO_OLD)
    return DateCheck(day)


def _parse_time(raw: Any, name: str) -> time:
    if not isinstance(raw, str) or not re.fullmatch(r"\d{1,2}:\d{2}", raw):
        raise ValueError(f"{name} must look like 10:00, got {raw!r}")
    hours, minutes = (int(x) for x in raw.split(":"))
    if hours > 23 or minutes > 59:
        raise ValueError(f"{name} must look like 10:00, got {raw!r}")
    return time(hours, minutes)


def _positive_int(raw: Any, name: str, *, upper: int) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= upper:
        raise ValueError(f"{name} must be a whole number from 1 to {upper}, got {raw!r}")
    return raw


@dataclass(frozen=True, slots=True)
class PracticeSettings:
    """A cohort's `practice` settings: when reflection prompts come, and the plan's nudges.

    reflection_every_days: 7        # weekly by default
    reflection_count: 8             # for 8 weeks
    reflection_time: "10:00"        # cohort time, the first prompt `every_days` after the end
    plan_reminder_days: 7           # a reminder if no plan a week after the first prompt
    milestone_time: "10:00"         # the question on a milestone's date
    scenario_every_days: 14         # a role-play pushed every two weeks after the end
    scenario_count: 6               # six times (12 weeks)
    scenario_time: "15:00"          # cohort time (not with the morning's reflection prompt)
    """

    reflection_every_days: int = 7
    reflection_count: int = 8
    reflection_time: time = time(10, 0)
    plan_reminder_days: int = 7
    milestone_time: time = time(10, 0)
    scenario_every_days: int = 14
    scenario_count: int = 6
    scenario_time: time = time(15, 0)

    @classmethod
    def from_settings(cls, raw: Any) -> PracticeSettings:
        """Defaults for what is missing; ValueError naming the setting for what is wrong."""
        if raw is None:
            return cls()
        if not isinstance(raw, dict):
            raise ValueError(f"practice settings must be a mapping, got {raw!r}")
        known = {
            "reflection_every_days",
            "reflection_count",
            "reflection_time",
            "plan_reminder_days",
            "milestone_time",
            "scenario_every_days",
            "scenario_count",
            "scenario_time",
        }
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"unknown practice setting(s): {', '.join(unknown)}")
        base = cls()
        return cls(
            reflection_every_days=_positive_int(
                raw.get("reflection_every_days", base.reflection_every_days),
                "practice.reflection_every_days",
                upper=90,
            ),
            reflection_count=_positive_int(
                raw.get("reflection_count", base.reflection_count),
                "practice.reflection_count",
                upper=52,
            ),
            reflection_time=_parse_time(
                raw.get("reflection_time", "10:00"), "practice.reflection_time"
            ),
            plan_reminder_days=_positive_int(
                raw.get("plan_reminder_days", base.plan_reminder_days),
                "practice.plan_reminder_days",
                upper=60,
            ),
            milestone_time=_parse_time(
                raw.get("milestone_time", "10:00"), "practice.milestone_time"
            ),
            scenario_every_days=_positive_int(
                raw.get("scenario_every_days", base.scenario_every_days),
                "practice.scenario_every_days",
                upper=90,
            ),
            scenario_count=_positive_int(
                raw.get("scenario_count", base.scenario_count),
                "practice.scenario_count",
                upper=52,
            ),
            scenario_time=_parse_time(raw.get("scenario_time", "15:00"), "practice.scenario_time"),
        )

    def scenario_days(self, ends_on: date) -> list[date]:
        """The days a role-play is pushed: every N days after the course end."""
        return [
            ends_on + timedelta(days=self.scenario_every_days * n)
            for n in range(1, self.scenario_count + 1)
        ]

    def reflection_days(self, ends_on: date) -> list[date]:
        """The days of the reflection prompts: every N days after the course end."""
        return [
            ends_on + timedelta(days=self.reflection_every_days * n)
            for n in range(1, self.reflection_count + 1)
        ]
