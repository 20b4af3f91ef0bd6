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
from enum import StrEnum

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
