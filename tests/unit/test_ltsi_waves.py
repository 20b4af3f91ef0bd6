"""The LTSI timetable from cohort settings, and splitting long texts between entries."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from bot.domain.ltsi import WaveKind, WavePlan, split_messages

ENDS = date(2026, 11, 30)


def test_defaults_course_end_16h_then_days_30_and_60_at_10h() -> None:
    plan = WavePlan.default()
    assert plan.opens_at(WaveKind.COURSE_END, ENDS, "Asia/Shanghai") == datetime(
        2026, 11, 30, 8, 0, tzinfo=UTC
    )
    assert plan.opens_at(WaveKind.DAY30, ENDS, "Asia/Shanghai") == datetime(
        2026, 12, 30, 2, 0, tzinfo=UTC
    )
    assert plan.opens_at(WaveKind.DAY60, ENDS, "Asia/Shanghai") == datetime(
        2027, 1, 29, 2, 0, tzinfo=UTC
    )
    opens = plan.opens_at(WaveKind.DAY30, ENDS, "Asia/Shanghai")
    assert (plan.closes_at(opens) - opens).days == 14
    assert plan.reminder_days == (1, 3)


def test_settings_override_every_part() -> None:
    plan = WavePlan.from_settings(
        {
            "offsets": {"day30": 21, "day60": 42},
            "course_end_time": "17:30",
            "wave_time": "09:15",
            "close_after_days": 10,
            "reminder_days": [5, 2],
            "barrier_below": 2,
            "catalyst_at_least": 4.5,
        }
    )
    assert plan.offsets[WaveKind.COURSE_END] == 0
    assert plan.offsets[WaveKind.DAY30] == 21
    assert plan.course_end_time == time(17, 30) and plan.wave_time == time(9, 15)
    assert plan.reminder_days == (2, 5)
    assert plan.thresholds(2.5, 4.0) == (2.0, 4.5)
    # Times are local to the cohort: 09:15 in Urumqi (UTC+6) is 03:15 UTC.
    assert plan.opens_at(WaveKind.DAY30, ENDS, "Asia/Urumqi") == datetime(
        2026, 12, 21, 3, 15, tzinfo=UTC
    )


def test_only_one_override_keeps_the_other_threshold() -> None:
    assert WavePlan.from_settings({"barrier_below": 3}).thresholds(2.5, 4.0) == (3.0, 4.0)
    with pytest.raises(ValueError, match="thresholds"):
        WavePlan.from_settings({"barrier_below": 4.5}).thresholds(2.5, 4.0)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"colour": "red"}, "ltsi.colour is not a setting"),
        ({"offsets": {"day90": 90}}, "ltsi.offsets.day90 is not a wave"),
        ({"offsets": {"day30": 70}}, "must grow"),
        ({"offsets": {"day30": -1}}, "offsets.day30"),
        ({"offsets": [30, 60]}, "must map wave names"),
        ({"wave_time": "25:00"}, "wave_time must be a time"),
        ({"course_end_time": "4pm"}, "course_end_time must be a time"),
        ({"close_after_days": 0}, "close_after_days"),
        ({"close_after_days": True}, "close_after_days"),
        ({"reminder_days": [1, 20]}, "before close_after_days"),
        ({"reminder_days": [2, 2]}, "repeat"),
        ({"reminder_days": "1,3"}, "list of days"),
        ({"barrier_below": "low"}, "barrier_below must be a number"),
    ],
)
def test_bad_settings_are_refused_by_name(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WavePlan.from_settings(settings)


def test_split_keeps_entries_whole_and_fills_messages() -> None:
    parts = ["a" * 40, "b" * 40, "c" * 40, "d" * 10]
    messages = split_messages(parts, 100)
    assert messages == ["a" * 40 + "\n\n" + "b" * 40, "c" * 40 + "\n\n" + "d" * 10]
    assert all(len(m) <= 100 for m in messages)
    assert "".join(messages).replace("\n", "") == "".join(parts)


def test_split_edge_cases() -> None:
    assert split_messages([], 10) == []
    assert split_messages(["x" * 10], 10) == ["x" * 10]
    assert split_messages(["x" * 5, "y" * 3], 10) == ["x" * 5 + "\n\n" + "y" * 3]
    assert split_messages(["x" * 5, "y" * 4], 10) == ["x" * 5, "y" * 4]  # 11 with the gap
    with pytest.raises(ValueError, match="does not fit"):
        split_messages(["x" * 11], 10)
