"""The mentor digest's pure rules: who is at risk and why, the order of the entries, cutting
a long digest into messages without breaking an entry, the cohort's digest settings and
timetable, the monthly reminder's day, and the guidance log's past dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from bot.content.guidance import load_topics
from bot.domain.digest import (
    DIGEST_LIMIT,
    INACTIVE_DAYS,
    GroupChange,
    MenteeDigest,
    MentoringSettings,
    Risk,
    Trend,
    group_changes,
    next_reminder_at,
    ordered,
    pack,
    reminder_day,
    risks_of,
)
from bot.domain.ltsi import split_messages
from bot.domain.practice import DateProblem, parse_past_day
from bot.services.mentoring import gd
from handlers.callbacks import MentoringCB

ROOT = Path(__file__).resolve().parents[2]
TODAY = date(2026, 12, 5)


def entry(name: str, *risks: Risk, **fields: object) -> MenteeDigest:
    values: dict[str, object] = {
        "trainee_user_id": hash(name) % 1000,
        "name": name,
        "changes": (),
        "new_check": False,
        "done": 0,
        "total": 0,
        "done_lately": (),
        "due": (),
        "overdue": (),
        "reflections": (),
        "last_session": None,
        "last_activity": TODAY,
        "risks": risks,
    }
    values.update(fields)
    return MenteeDigest(**values)  # type: ignore[arg-type]


# -- at risk ----------------------------------------------------------------------------


def test_trend_ignores_changes_under_a_tenth() -> None:
    assert GroupChange("ability", 3.0, 3.6).trend is Trend.UP
    assert GroupChange("ability", 3.6, 3.0).trend is Trend.DOWN
    assert GroupChange("ability", 3.5, 3.55).trend is Trend.SAME
    assert GroupChange("ability", 3.5, 3.42).trend is Trend.SAME


def test_group_changes_need_both_scores() -> None:
    previous = {"ability": 3.0, "motivation": 4.0, "secondary": None}
    latest = {"ability": 3.5, "motivation": 3.0, "secondary": 3.0, "work_environment": 2.0}
    changes = group_changes(previous, latest, ["motivation", "ability", "secondary", "x"])
    assert [(c.group, c.trend) for c in changes] == [
        ("motivation", Trend.DOWN),
        ("ability", Trend.UP),
    ]
    assert group_changes(None, latest, ["ability"]) == ()


@pytest.mark.parametrize(
    ("days_quiet", "overdue", "motivation", "expected"),
    [
        (0, 0, (4.0, 4.0), ()),
        (INACTIVE_DAYS - 1, 0, (4.0, 4.0), ()),
        (INACTIVE_DAYS, 0, (4.0, 4.0), (Risk.INACTIVE,)),
        (1, 2, (4.0, 4.0), (Risk.OVERDUE,)),
        (1, 0, (4.0, 3.5), (Risk.MOTIVATION,)),
        (1, 0, (3.5, 4.0), ()),  # rising motivation is good news
        (30, 1, (4.0, 2.0), (Risk.INACTIVE, Risk.OVERDUE, Risk.MOTIVATION)),
    ],
)
def test_risks(
    days_quiet: int, overdue: int, motivation: tuple[float, float], expected: tuple[Risk, ...]
) -> None:
    changes = [GroupChange("ability", 2.0, 1.0), GroupChange("motivation", *motivation)]
    found = risks_of(
        last_activity=TODAY - timedelta(days=days_quiet),
        today=TODAY,
        overdue=overdue,
        changes=changes,
    )
    assert found == expected


def test_never_active_is_at_risk() -> None:
    assert risks_of(last_activity=None, today=TODAY, overdue=0, changes=()) == (Risk.INACTIVE,)


def test_at_risk_first_then_by_name() -> None:
    entries = [
        entry("丙"),
        entry("乙", Risk.OVERDUE),
        entry("甲"),
        entry("丁", Risk.INACTIVE, Risk.MOTIVATION),
        entry("戊", Risk.MOTIVATION),
    ]
    assert [e.name for e in ordered(entries)] == ["丁", "乙", "戊", "丙", "甲"]


def test_news() -> None:
    assert not entry("甲").has_news
    assert entry("甲", Risk.INACTIVE).has_news
    assert entry("甲", new_check=True).has_news
    assert entry("甲", reflections=("x",)).has_news
    assert not entry("甲", done=2, total=3, last_session="x").has_news


# -- splitting --------------------------------------------------------------------------


def test_pack_never_cuts_an_entry_and_matches_split_messages() -> None:
    parts = ["头" * 100] + [f"{n}:" + "字" * (300 + 37 * n) for n in range(40)]
    groups = pack(parts)
    assert [i for g in groups for i in g] == list(range(len(parts)))  # all, in order
    texts = ["\n\n".join(parts[i] for i in g) for g in groups]
    assert texts == split_messages(parts, DIGEST_LIMIT)
    assert len(texts) > 1 and all(len(t) <= DIGEST_LIMIT for t in texts)
    assert pack(["short"]) == [[0]]
    assert pack([]) == []
    with pytest.raises(ValueError, match="does not fit"):
        pack(["x" * (DIGEST_LIMIT + 1)])


# -- settings and timetable -------------------------------------------------------------


def test_settings_defaults_and_errors_name_the_setting() -> None:
    default = MentoringSettings.from_settings(None)
    assert (default.digest_weekday, default.digest_time) == (1, time(9, 0))
    custom = MentoringSettings.from_settings({"digest_weekday": 5, "digest_time": "18:30"})
    assert (custom.digest_weekday, custom.digest_time) == (5, time(18, 30))
    for raw, name in (
        ({"digest_weekday": 0}, "mentoring.digest_weekday"),
        ({"digest_weekday": 8}, "mentoring.digest_weekday"),
        ({"digest_weekday": True}, "mentoring.digest_weekday"),
        ({"digest_time": "25:00"}, "mentoring.digest_time"),
        ({"digest_time": "9"}, "mentoring.digest_time"),
        ({"weekday": 1}, "weekday"),
        ([1], "mentoring settings"),
    ):
        with pytest.raises(ValueError, match=name):
            MentoringSettings.from_settings(raw)


def test_next_digest_is_the_next_weekday_and_time_in_the_cohort_zone() -> None:
    settings = MentoringSettings()
    monday_10 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
    assert settings.next_digest_at(monday_10, "Asia/Shanghai") == datetime(
        2026, 11, 30, 1, 0, tzinfo=UTC
    )
    monday_8 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)  # Monday 08:00: today's is ahead
    assert settings.next_digest_at(monday_8, "Asia/Shanghai") == datetime(
        2026, 11, 23, 1, 0, tzinfo=UTC
    )
    exactly = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # strictly after
    assert settings.next_digest_at(exactly, "Asia/Shanghai") == datetime(
        2026, 11, 30, 1, 0, tzinfo=UTC
    )
    sunday = MentoringSettings(7, time(20, 0))
    assert sunday.next_digest_at(monday_10, "Asia/Shanghai") == datetime(
        2026, 11, 29, 12, 0, tzinfo=UTC
    )


def test_the_reminder_comes_seven_days_before_the_month_ends() -> None:
    assert reminder_day(2026, 11) == date(2026, 11, 24)  # 24..30: the last week
    assert reminder_day(2026, 12) == date(2026, 12, 25)
    assert reminder_day(2027, 2) == date(2027, 2, 22)
    assert reminder_day(2028, 2) == date(2028, 2, 23)
    zone = "Asia/Shanghai"
    assert next_reminder_at(datetime(2026, 11, 23, 2, 0, tzinfo=UTC), zone) == datetime(
        2026, 11, 24, 2, 0, tzinfo=UTC
    )
    # At the moment itself and later in the month: December's.
    assert next_reminder_at(datetime(2026, 11, 24, 2, 0, tzinfo=UTC), zone) == datetime(
        2026, 12, 25, 2, 0, tzinfo=UTC
    )
    assert next_reminder_at(datetime(2026, 12, 30, 2, 0, tzinfo=UTC), zone) == datetime(
        2027, 1, 25, 2, 0, tzinfo=UTC
    )


# -- the guidance log -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("今天", date(2026, 12, 5)),
        ("昨天", date(2026, 12, 4)),
        ("前天", date(2026, 12, 3)),
        ("3天前", date(2026, 12, 2)),
        ("3 天前", date(2026, 12, 2)),
        ("１周前", date(2026, 11, 28)),
        ("12月1日", date(2026, 12, 1)),
        ("12-1", date(2026, 12, 1)),
        ("12/1", date(2026, 12, 1)),
        ("2026-12-01", date(2026, 12, 1)),
        ("２０２６年１２月１日", date(2026, 12, 1)),
        ("yesterday", date(2026, 12, 4)),
        ("2 days ago", date(2026, 12, 3)),
        ("3/15", date(2026, 3, 15)),
        ("2025-12-05", date(2025, 12, 5)),  # a year ago: still fine
    ],
)
def test_past_days(raw: str, expected: date) -> None:
    assert parse_past_day(raw, TODAY).value == expected


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("明天", DateProblem.UNREADABLE),
        ("下周", DateProblem.UNREADABLE),
        ("", DateProblem.UNREADABLE),
        ("2026-12-06", DateProblem.FUTURE),
        ("12/20", DateProblem.FUTURE),  # later this month: a slip, not last December
        ("2024-12-01", DateProblem.TOO_OLD),
        ("400天前", DateProblem.TOO_OLD),
        ("2月30日", DateProblem.NO_SUCH_DAY),
        ("2026-13-01", DateProblem.NO_SUCH_DAY),
    ],
)
def test_refused_days(raw: str, problem: DateProblem) -> None:
    checked = parse_past_day(raw, TODAY)
    assert checked.value is None and checked.problem is problem


def test_a_day_without_year_far_ahead_is_last_years() -> None:
    assert parse_past_day("12/20", date(2027, 1, 10)).value == date(2026, 12, 20)


def test_button_data_packs_like_the_handlers_callback_data() -> None:
    assert gd("rd", 3, 41) == MentoringCB(a="rd", c=3, i=41).pack()
    assert gd("tp", 3, 7, "dispute") == MentoringCB(a="tp", c=3, i=7, v="dispute").pack()
    assert len(gd("lg", 10**6, 10**9).encode()) <= 64


def test_topics_come_from_content() -> None:
    topics = load_topics(ROOT / "content")
    assert topics and all(t.label("zh-CN") and t.label("en") for t in topics)
    assert "other" not in {t.id for t in topics}
