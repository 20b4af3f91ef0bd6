from datetime import UTC, datetime, time, timedelta

import pytest

from bot.domain.notices import (
    NoticeProblem,
    check_notice,
    excerpt,
    parse_send_time,
    progress_bar,
    telegram_length,
)
from bot.domain.schedule import QuietHours, retry_delay

SHANGHAI = "Asia/Shanghai"


def utc(hour: int, minute: int = 0, day: int = 23) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (utc(2), utc(2)),  # 10:00 in Shanghai: goes now
        (utc(12, 59), utc(12, 59)),  # 20:59: still allowed
        (utc(13), utc(0, day=24)),  # 21:00: waits for 08:00 next morning
        (utc(15, 30), utc(0, day=24)),  # 23:30
        (utc(17), utc(0, day=24)),  # 01:00 next day: waits for 08:00 that day
        (utc(23, 59), utc(0, day=24)),  # 07:59 next day
        (utc(0, day=24), utc(0, day=24)),  # 08:00 exactly: allowed
    ],
)
def test_quiet_hours_hold_pushes_until_morning(moment: datetime, expected: datetime) -> None:
    assert QuietHours().next_allowed(moment, SHANGHAI) == expected


def test_quiet_hours_within_one_day_and_off() -> None:
    lunch = QuietHours(time(12), time(14))
    assert lunch.next_allowed(utc(4, 30), SHANGHAI) == utc(6)  # 12:30 → 14:00
    assert lunch.next_allowed(utc(7), SHANGHAI) == utc(7)
    off = QuietHours.parse("off")
    assert off.next_allowed(utc(15), SHANGHAI) == utc(15)
    assert QuietHours.parse("22:30-07:00") == QuietHours(time(22, 30), time(7))
    with pytest.raises(ValueError):
        QuietHours.parse("late-early")


def test_retry_delay_doubles_up_to_a_cap() -> None:
    assert [retry_delay(n).total_seconds() for n in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert retry_delay(30) == timedelta(minutes=10)
    with pytest.raises(ValueError):
        retry_delay(0)


def test_notice_limits_count_what_telegram_counts() -> None:
    assert check_notice("通知", has_media=False).problem is None
    assert check_notice("  ", has_media=False).problem is NoticeProblem.EMPTY
    assert check_notice(None, has_media=True).problem is None  # a photo alone is fine
    assert check_notice("长" * 4096, has_media=False).problem is None
    over = check_notice("长" * 4097, has_media=False)
    assert (over.problem, over.length, over.limit) == (NoticeProblem.TOO_LONG, 4097, 4096)
    caption = check_notice("字" * 1025, has_media=True)
    assert caption.problem is NoticeProblem.CAPTION_TOO_LONG
    assert telegram_length("👍") == 2  # outside the BMP: two UTF-16 units


NOW = datetime(2026, 11, 23, 10, 0).astimezone()


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("2026-11-25 09:00", (2026, 11, 25, 9, 0)),
        ("2026/11/25 9:05", (2026, 11, 25, 9, 5)),
        ("11-25 14:30", (2026, 11, 25, 14, 30)),
        ("11月25日 9点", (2026, 11, 25, 9, 0)),
        ("明天 9点", (2026, 11, 24, 9, 0)),
        ("明天9点半", (2026, 11, 24, 9, 30)),
        ("明天 下午3点", (2026, 11, 24, 15, 0)),
        ("tomorrow 08:15", (2026, 11, 24, 8, 15)),
        ("14:30", (2026, 11, 23, 14, 30)),  # later today
        ("09:00", (2026, 11, 24, 9, 0)),  # already past today: tomorrow
        ("１４：３０", (2026, 11, 23, 14, 30)),  # full-width from a Chinese keyboard
    ],
)
def test_send_times_people_type(typed: str, expected: tuple[int, ...]) -> None:
    from zoneinfo import ZoneInfo

    now = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo(SHANGHAI))
    parsed = parse_send_time(typed, now)
    assert parsed is not None
    assert (parsed.year, parsed.month, parsed.day, parsed.hour, parsed.minute) == expected
    assert parsed.tzinfo == now.tzinfo


@pytest.mark.parametrize("typed", ["昨天", "soon", "25:00", "2026-02-30 09:00", "明天", ""])
def test_unreadable_send_times(typed: str) -> None:
    from zoneinfo import ZoneInfo

    now = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo(SHANGHAI))
    assert parse_send_time(typed, now) is None


def test_progress_bar_and_excerpt() -> None:
    assert progress_bar(3, 10) == ("▓▓▓░░░░░░░", 30)
    assert progress_bar(0, 0) == ("▓▓▓▓▓▓▓▓▓▓", 100)
    assert excerpt("一二三\n四五", 10) == "一二三 四五"
    assert excerpt("字" * 50, 10) == "字" * 9 + "…"
