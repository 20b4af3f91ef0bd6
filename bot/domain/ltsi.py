"""LTSI self-check scoring: answers on a 1..5 agreement scale → factor and group means.

The rule that makes every score read the same way: an item is `reverse` when AGREEING with
it is bad for learning transfer ("I have no time to try new ways", "my leader tells me to
stick to the old way"). Such answers are flipped (6 - x) before averaging, so that after
scoring a HIGH factor or group score always means GOOD for transfer and a LOW one a barrier.
That holds for supervisor_sanctions too (its statements describe pushback and are all
reverse, so its score means "little pushback") and for negative_outcomes (its score means
"not using what was learned would be noticed", i.e. someone cares).

Pure Python on plain values: the content loader (bot.content.ltsi) turns the item bank into
`ItemSpec`s; nothing here knows about files, Telegram or the database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

SCALE_MIN = 1
SCALE_MAX = 5


class LtsiAction(StrEnum):
    """What the product offers to start when a factor comes out as a barrier."""

    NONE = "none"
    ASK_LEADER_AND_TELL_MENTOR = "ask_leader_and_tell_mentor"
    OFFER_PLAN_MILESTONE = "offer_plan_milestone"
    OFFER_ROLEPLAY = "offer_roleplay"


@dataclass(frozen=True, slots=True)
class ItemSpec:
    """What scoring needs to know about one item."""

    id: str
    factor: str
    group: str
    reverse: bool = False


@dataclass(frozen=True, slots=True)
class Scores:
    """Means on the 1..5 scale, high = good for transfer; None where nothing was answered.

    `factors` and `groups` keep the order in which the items first name them; `counts` is
    how many answers each factor mean rests on; `factor_groups` maps a factor to its group.
    """

    factors: Mapping[str, float | None]
    groups: Mapping[str, float | None]
    counts: Mapping[str, int]
    factor_groups: Mapping[str, str]

    def factor(self, factor_id: str) -> float | None:
        return self.factors.get(factor_id)

    def group(self, group_id: str) -> float | None:
        return self.groups.get(group_id)


@dataclass(frozen=True, slots=True)
class FactorScore:
    factor: str
    group: str
    score: float


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """Barriers lowest first, catalysts highest first (ties keep the factors' order)."""

    barriers: tuple[FactorScore, ...]
    catalysts: tuple[FactorScore, ...]
    unscored: tuple[str, ...]  # factors without any answer


def flip(value: int) -> int:
    """The answer a reverse-keyed item counts as: 1 ↔ 5, 2 ↔ 4, 3 stays."""
    return SCALE_MIN + SCALE_MAX - value


def check_answer(item_id: str, value: object) -> int:
    """`value` if it is a whole number on the scale; ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"answer to {item_id!r} must be a whole number, not {value!r}")
    if not SCALE_MIN <= value <= SCALE_MAX:
        raise ValueError(f"answer to {item_id!r} is {value}, outside {SCALE_MIN}..{SCALE_MAX}")
    return value


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def score(answers: Mapping[str, int | None], items: Sequence[ItemSpec]) -> Scores:
    """Factor means (reverse items flipped) and group means (mean of the factor means).

    Missing or None answers are skipped; a factor with no answer scores None, and so does a
    group none of whose factors has a score. Every given answer must be 1..5 (ValueError
    otherwise, even for an item not in `items`); answers to items not in `items` (a retired
    item, another form) are otherwise ignored.
    """
    factor_groups: dict[str, str] = {}
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise ValueError(f"item {item.id!r} appears twice")
        seen.add(item.id)
        group = factor_groups.setdefault(item.factor, item.group)
        if group != item.group:
            raise ValueError(
                f"factor {item.factor!r} is in group {group!r} and in {item.group!r} ({item.id})"
            )
    for item_id, value in answers.items():
        if value is not None:
            check_answer(item_id, value)

    values: dict[str, list[int]] = {factor: [] for factor in factor_groups}
    for item in items:
        answer = answers.get(item.id)
        if answer is not None:
            values[item.factor].append(flip(answer) if item.reverse else answer)
    factors = {factor: _mean(got) for factor, got in values.items()}

    by_group: dict[str, list[float]] = {}
    for factor, group in factor_groups.items():
        member = by_group.setdefault(group, [])
        mean = factors[factor]
        if mean is not None:
            member.append(mean)
    groups = {group: _mean(means) for group, means in by_group.items()}
    return Scores(
        factors=factors,
        groups=groups,
        counts={factor: len(got) for factor, got in values.items()},
        factor_groups=factor_groups,
    )


def check_thresholds(barrier_below: float, catalyst_at_least: float) -> None:
    """ValueError unless 1 ≤ barrier_below < catalyst_at_least ≤ 5."""
    if not SCALE_MIN <= barrier_below < catalyst_at_least <= SCALE_MAX:
        raise ValueError(
            f"thresholds must satisfy {SCALE_MIN} <= barrier_below < catalyst_at_least"
            f" <= {SCALE_MAX}, got {barrier_below} and {catalyst_at_least}"
        )


def classify(scores: Scores, barrier_below: float, catalyst_at_least: float) -> Diagnosis:
    """A factor is a barrier when its score < barrier_below, a catalyst when ≥
    catalyst_at_least (so 2.5 is not a barrier and 4.0 is a catalyst with the defaults)."""
    check_thresholds(barrier_below, catalyst_at_least)
    rated = [
        FactorScore(factor, scores.factor_groups.get(factor, ""), value)
        for factor, value in scores.factors.items()
        if value is not None
    ]
    # sorted() is stable: equal scores keep the order of the factors.
    barriers = sorted((r for r in rated if r.score < barrier_below), key=lambda r: r.score)
    catalysts = sorted((r for r in rated if r.score >= catalyst_at_least), key=lambda r: -r.score)
    unscored = tuple(factor for factor, value in scores.factors.items() if value is None)
    return Diagnosis(barriers=tuple(barriers), catalysts=tuple(catalysts), unscored=unscored)


def compare(previous: Scores, current: Scores) -> dict[str, float | None]:
    """Change of each group mean, current - previous (positive = better for transfer).

    Groups of either side are listed (current's order first); None where either side has
    no score for the group.
    """
    groups = [*current.groups, *(g for g in previous.groups if g not in current.groups)]
    deltas: dict[str, float | None] = {}
    for group in groups:
        before, after = previous.groups.get(group), current.groups.get(group)
        deltas[group] = None if before is None or after is None else after - before
    return deltas


# --- waves: when the checks happen -----------------------------------------------------------


class WaveKind(StrEnum):
    COURSE_END = "course_end"  # quick form
    DAY30 = "day30"  # full form
    DAY60 = "day60"  # full form


WAVE_FORMS: Mapping[WaveKind, str] = {
    WaveKind.COURSE_END: "quick",
    WaveKind.DAY30: "full",
    WaveKind.DAY60: "full",
}


def _clock_time(value: object, key: str) -> time:
    if isinstance(value, str):
        hours, sep, minutes = value.partition(":")
        if sep and hours.isdigit() and minutes.isdigit() and len(minutes) == 2:
            h, m = int(hours), int(minutes)
            if 0 <= h <= 23 and 0 <= m <= 59:
                return time(h, m)
    raise ValueError(f"ltsi.{key} must be a time of day like '10:00', got {value!r}")


def _whole(value: object, key: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"ltsi.{key} must be a whole number {low}..{high}, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class WavePlan:
    """A cohort's LTSI timetable (cohort settings, key "ltsi"); every field has a default.

    offsets      days after the cohort's end date: course_end 0, day30 30, day60 60
    course_end_time / wave_time   local time the course-end check / the later ones arrive
    close_after_days         a wave closes this many days after it opens
    reminder_days            reminders this many days after opening, to the unfinished
    barrier_below / catalyst_at_least   override content/ltsi's thresholds (None: keep them)
    """

    offsets: Mapping[WaveKind, int]
    course_end_time: time = time(16, 0)
    wave_time: time = time(10, 0)
    close_after_days: int = 14
    reminder_days: tuple[int, ...] = (1, 3)
    barrier_below: float | None = None
    catalyst_at_least: float | None = None

    @classmethod
    def default(cls) -> WavePlan:
        return cls.from_settings({})

    @classmethod
    def from_settings(cls, settings: Mapping[str, object] | None) -> WavePlan:
        """The plan from a cohort's settings["ltsi"]; ValueError naming the bad key."""
        raw = dict(settings or {})
        known = {
            "offsets",
            "course_end_time",
            "wave_time",
            "close_after_days",
            "reminder_days",
            "barrier_below",
            "catalyst_at_least",
        }
        for key in raw:
            if key not in known:
                raise ValueError(f"ltsi.{key} is not a setting (known: {', '.join(sorted(known))})")
        offsets = {WaveKind.COURSE_END: 0, WaveKind.DAY30: 30, WaveKind.DAY60: 60}
        given = raw.get("offsets", {})
        if not isinstance(given, Mapping):
            raise ValueError(f"ltsi.offsets must map wave names to days, got {given!r}")
        for name, days in given.items():
            try:
                kind = WaveKind(name)
            except ValueError:
                raise ValueError(f"ltsi.offsets.{name} is not a wave") from None
            offsets[kind] = _whole(days, f"offsets.{name}", 0, 365)
        ordered = [offsets[k] for k in WaveKind]
        if ordered != sorted(set(ordered)):
            raise ValueError(f"ltsi.offsets must grow from wave to wave, got {ordered}")
        close = _whole(raw.get("close_after_days", 14), "close_after_days", 1, 90)
        reminders = raw.get("reminder_days", [1, 3])
        if not isinstance(reminders, list | tuple):
            raise ValueError(f"ltsi.reminder_days must be a list of days, got {reminders!r}")
        days = tuple(_whole(d, "reminder_days", 1, 89) for d in reminders)
        if any(d >= close for d in days):
            raise ValueError("ltsi.reminder_days must all come before close_after_days")
        if len(set(days)) != len(days):
            raise ValueError("ltsi.reminder_days must not repeat a day")
        bounds: dict[str, float | None] = {}
        for key in ("barrier_below", "catalyst_at_least"):
            value = raw.get(key)
            if value is None:
                bounds[key] = None
            elif isinstance(value, int | float) and not isinstance(value, bool):
                bounds[key] = float(value)
            else:
                raise ValueError(f"ltsi.{key} must be a number, got {value!r}")
        return cls(
            offsets=offsets,
            course_end_time=_clock_time(raw.get("course_end_time", "16:00"), "course_end_time"),
            wave_time=_clock_time(raw.get("wave_time", "10:00"), "wave_time"),
            close_after_days=close,
            reminder_days=tuple(sorted(days)),
            barrier_below=bounds["barrier_below"],
            catalyst_at_least=bounds["catalyst_at_least"],
        )

    def thresholds(self, barrier_below: float, catalyst_at_least: float) -> tuple[float, float]:
        """The content's thresholds with this cohort's overrides; ValueError if inconsistent."""
        low = barrier_below if self.barrier_below is None else self.barrier_below
        high = catalyst_at_least if self.catalyst_at_least is None else self.catalyst_at_least
        check_thresholds(low, high)
        return low, high

    def opens_at(self, kind: WaveKind, ends_on: date, timezone: str) -> datetime:
        """The moment (UTC) the wave arrives: its day after the course end, at local time."""
        day = ends_on + timedelta(days=self.offsets[kind])
        at = self.course_end_time if kind is WaveKind.COURSE_END else self.wave_time
        return datetime.combine(day, at, ZoneInfo(timezone)).astimezone(UTC)

    def closes_at(self, opens_at: datetime) -> datetime:
        return opens_at + timedelta(days=self.close_after_days)


def split_messages(parts: Sequence[str], limit: int, separator: str = "\n\n") -> list[str]:
    """Join `parts` into as few messages of at most `limit` characters as possible, never
    cutting a part in two. ValueError if one part alone is longer than `limit`."""
    messages: list[str] = []
    current = ""
    for part in parts:
        if len(part) > limit:
            raise ValueError(f"a part of {len(part)} characters does not fit in {limit}")
        candidate = f"{current}{separator}{part}" if current else part
        if len(candidate) <= limit:
            current = candidate
        else:
            messages.append(current)
            current = part
    if current:
        messages.append(current)
    return messages
