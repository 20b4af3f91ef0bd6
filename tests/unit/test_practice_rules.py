"""Plan rules: the dates trainees type, typed answers, and the practice settings."""

from __future__ import annotations

from datetime import date, time

import pytest

from bot.domain.practice import (
    DateProblem,
    PracticeSettings,
    TextProblem,
    check_text,
    parse_day,
)

TODAY = date(2026, 11, 30)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-12-01", date(2026, 12, 1)),
        ("2026/12/1", date(2026, 12, 1)),
        ("2026.12.01", date(2026, 12, 1)),
        ("2026年12月1日", date(2026, 12, 1)),
        ("12月1日", date(2026, 12, 1)),
        ("12月1号", date(2026, 12, 1)),
        ("12月1", date(2026, 12, 1)),
        ("12/1", date(2026, 12, 1)),
        ("12-1", date(2026, 12, 1)),
        ("12.1", date(2026, 12, 1)),
        ("１２月１日", date(2026, 12, 1)),  # full-width digits, as phone keyboards type them
        (" 12 / 1 ", date(2026, 12, 1)),
        ("1/15", date(2027, 1, 15)),  # no year: the next such day
        ("11/30", TODAY),
        ("今天", TODAY),
        ("明天", date(2026, 12, 1)),
        ("后天", date(2026, 12, 2)),
        ("tomorrow", date(2026, 12, 1)),
        ("3天后", date(2026, 12, 3)),
        ("10 days", date(2026, 12, 10)),
        ("2周后", date(2026, 12, 14)),
        ("2 weeks", date(2026, 12, 14)),
    ],
)
def test_common_date_formats_are_read(raw: str, expected: date) -> None:
    assert parse_day(raw, TODAY).value == expected


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("下个月", DateProblem.UNREADABLE),
        ("soon", DateProblem.UNREADABLE),
        ("", DateProblem.UNREADABLE),
        ("12月", DateProblem.UNREADABLE),
        ("2026-12-01 extra", DateProblem.UNREADABLE),
        ("2026-02-30", DateProblem.NO_SUCH_DAY),
        ("2月30日", DateProblem.NO_SUCH_DAY),
        ("13/45", DateProblem.NO_SUCH_DAY),
        ("2026-11-01", DateProblem.PAST),
        ("11/1", DateProblem.PAST),  # last month, not next year's 1 November
        ("9月1日", DateProblem.PAST),
        ("2025-12-01", DateProblem.PAST),
        ("2028-01-01", DateProblem.TOO_FAR),
        ("500天后", DateProblem.TOO_FAR),
    ],
)
def test_odd_or_impossible_dates_are_refused_with_a_reason(raw: str, problem: DateProblem) -> None:
    checked = parse_day(raw, TODAY)
    assert checked.value is None
    assert checked.problem is problem


def test_today_can_be_refused_where_only_a_later_day_makes_sense() -> None:
    assert parse_day("今天", TODAY, allow_today=False).problem is DateProblem.PAST
    assert parse_day("明天", TODAY, allow_today=False).value == date(2026, 12, 1)


def test_february_29_without_a_year_is_the_next_one_that_exists() -> None:
    assert parse_day("2/29", date(2027, 3, 1)).value == date(2028, 2, 29)


def test_typed_answers_are_checked_not_cut() -> None:
    assert check_text("  加装电梯  ", 10).value == "加装电梯"
    assert check_text("   ", 10).problem is TextProblem.EMPTY
    assert check_text(None, 10).problem is TextProblem.NOT_TEXT
    long = check_text("字" * 11, 10)
    assert (long.value, long.problem, long.length, long.limit) == (
        None,
        TextProblem.TOO_LONG,
        11,
        10,
    )
    # Telegram counts UTF-16 units: an emoji outside the BMP counts twice.
    assert check_text("👍" * 5, 10).value == "👍" * 5
    assert check_text("👍" * 6, 10).problem is TextProblem.TOO_LONG


def test_practice_settings_defaults_and_cadence() -> None:
    settings = PracticeSettings.from_settings(None)
    assert (settings.reflection_every_days, settings.reflection_count) == (7, 8)
    days = settings.reflection_days(TODAY)
    assert days[0] == date(2026, 12, 7) and days[-1] == date(2027, 1, 25) and len(days) == 8
    custom = PracticeSettings.from_settings(
        {"reflection_every_days": 14, "reflection_count": 4, "reflection_time": "9:30"}
    )
    assert custom.reflection_time == time(9, 30)
    assert custom.reflection_days(TODAY)[-1] == date(2027, 1, 25)


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ({"reflection_count": 0}, "practice.reflection_count"),
        ({"reflection_every_days": "7"}, "practice.reflection_every_days"),
        ({"reflection_time": "25:00"}, "practice.reflection_time"),
        ({"milestone_time": "noon"}, "practice.milestone_time"),
        ({"plan_reminder_days": True}, "practice.plan_reminder_days"),
        ({"weekly": True}, "weekly"),
        ("weekly", "mapping"),
    ],
)
def test_bad_practice_settings_name_the_setting(raw: object, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        PracticeSettings.from_settings(raw)
