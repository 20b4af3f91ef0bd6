"""Mentor matching: optimal (against brute force and an LP), within capacities and the unit
rule, coverage before score when asked, reasons that add up, the same answer every time."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
from scipy.optimize import linprog

from bot.domain import matching
from bot.domain.matching import (
    Assignment,
    MentorOffer,
    Prefer,
    Reason,
    TraineeNeed,
    Weights,
    allowed,
    propose,
    score,
    unit_key,
)

AREAS = ("elevator", "waste", "mediation")
FACTORS = ("peer_support", "supervisor_support", "self_efficacy")
DISTRICTS = ("黄浦", "静安", None)
UNIT_TYPES = ("社区", "村", None)
UNITS = ("甲社区", "乙社区", "丙村", "")


def need(
    user_id: int,
    unit: str = "",
    *,
    area: str | None = None,
    district: str | None = None,
    unit_type: str | None = None,
    barriers: tuple[str, ...] = (),
) -> TraineeNeed:
    return TraineeNeed(user_id, unit_key(unit), unit_type, district, area, frozenset(barriers))


def offer(
    user_id: int,
    unit: str = "",
    *,
    capacity: int = 1,
    areas: tuple[str, ...] = (),
    district: str | None = None,
    unit_type: str | None = None,
    covers: tuple[str, ...] = (),
) -> MentorOffer:
    return MentorOffer(
        user_id, unit_key(unit), unit_type, district, frozenset(areas), frozenset(covers), capacity
    )


def random_pool(
    rng: random.Random, trainees: int, mentors: int, max_capacity: int
) -> tuple[list[TraineeNeed], list[MentorOffer]]:
    def some(items: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(item for item in items if rng.random() < 0.4)

    needs = [
        need(
            100 + i,
            rng.choice(UNITS),
            area=rng.choice((*AREAS, None)),
            district=rng.choice(DISTRICTS),
            unit_type=rng.choice(UNIT_TYPES),
            barriers=some(FACTORS),
        )
        for i in range(trainees)
    ]
    offers = [
        offer(
            900 + j,
            rng.choice(UNITS),
            capacity=rng.randint(0, max_capacity),
            areas=some(AREAS),
            district=rng.choice(DISTRICTS),
            unit_type=rng.choice(UNIT_TYPES),
            covers=some(FACTORS),
        )
        for j in range(mentors)
    ]
    return needs, offers


def random_weights(rng: random.Random) -> Weights:
    if rng.random() < 0.5:
        return Weights()
    return Weights(*(rng.choice((0, 1, 2, 3, 5)) for _ in range(4)))


def brute_force(
    needs: list[TraineeNeed], offers: list[MentorOffer], weights: Weights, prefer: Prefer
) -> tuple[int, int]:
    """(matched, total) of the best of all feasible assignments: for COVERAGE the most
    matched, then the best total; for SCORE the best total (no pair scoring 0 or less)."""
    points = [[score(n, o, weights)[0] for o in offers] for n in needs]
    left = [o.capacity for o in offers]
    best = (-1, -1)

    def walk(i: int, matched: int, total: int) -> None:
        nonlocal best
        if i == len(needs):
            key = (matched, total) if prefer is Prefer.COVERAGE else (0, total)
            best = max(best, key)
            return
        walk(i + 1, matched, total)
        for j, o in enumerate(offers):
            gain = points[i][j]
            if left[j] and allowed(needs[i], o) and (prefer is Prefer.COVERAGE or gain > 0):
                left[j] -= 1
                walk(i + 1, matched + 1, total + gain)
                left[j] += 1

    walk(0, 0, 0)
    return best


def lp_optimum(
    needs: list[TraineeNeed], offers: list[MentorOffer], weights: Weights, prefer: Prefer
) -> tuple[int, int]:
    """(matched, total) by an independent exact method: HiGHS on the full transportation LP
    (its vertices are integral). COVERAGE: most pairs first, then the best total with that
    many pairs."""
    cells = [
        (i, j, score(n, o, weights)[0])
        for i, n in enumerate(needs)
        for j, o in enumerate(offers)
        if allowed(n, o) and (prefer is Prefer.COVERAGE or score(n, o, weights)[0] > 0)
    ]
    if not cells:
        return 0, 0
    rows = np.zeros((len(needs) + len(offers), len(cells)))
    for e, (i, j, _) in enumerate(cells):
        rows[i, e] = rows[len(needs) + j, e] = 1
    bounds = [1] * len(needs) + [o.capacity for o in offers]
    gains = np.array([gain for _, _, gain in cells], dtype=float)
    same_count: tuple[np.ndarray, list[int]] | tuple[None, None] = (None, None)
    if prefer is Prefer.COVERAGE:
        most = linprog(-np.ones(len(cells)), A_ub=rows, b_ub=bounds, method="highs")
        same_count = (np.ones((1, len(cells))), [round(-most.fun)])
    best = linprog(
        -gains, A_ub=rows, b_ub=bounds, A_eq=same_count[0], b_eq=same_count[1], method="highs"
    )
    assert best.status == 0
    return round(sum(best.x)), round(-best.fun)


def check_feasible(
    result: Assignment, needs: list[TraineeNeed], offers: list[MentorOffer], weights: Weights
) -> None:
    by_need = {n.user_id: n for n in needs}
    by_offer = {o.user_id: o for o in offers}
    placed = [pair.trainee_id for pair in result.pairs]
    assert len(placed) == len(set(placed)), "a trainee matched twice"
    assert sorted([*placed, *result.unmatched]) == sorted(by_need)
    load = Counter(pair.mentor_id for pair in result.pairs)
    for o in offers:
        assert load[o.user_id] <= o.capacity
        assert result.load[o.user_id] == load[o.user_id]
    for pair in result.pairs:
        n, o = by_need[pair.trainee_id], by_offer[pair.mentor_id]
        assert allowed(n, o), f"{n.user_id} matched to a mentor of their own unit"
        assert (pair.score, pair.reasons) == score(n, o, weights)
    assert result.total == sum(pair.score for pair in result.pairs)


@pytest.mark.parametrize("prefer", list(Prefer))
def test_optimal_against_brute_force_on_300_small_pools(prefer: Prefer) -> None:
    rng = random.Random(20260707)
    for case in range(300):
        needs, offers = random_pool(rng, rng.randint(0, 6), rng.randint(0, 3), 3)
        weights = random_weights(rng)
        result = propose(needs, offers, weights, prefer)
        check_feasible(result, needs, offers, weights)
        matched, total = brute_force(needs, offers, weights, prefer)
        if prefer is Prefer.COVERAGE:
            assert len(result.pairs) == matched, f"case {case}: not as many matched as possible"
        else:
            assert all(pair.score > 0 for pair in result.pairs), f"case {case}: a 0-point pair"
        assert result.total == total, f"case {case}: total {result.total}, best is {total}"


@pytest.mark.parametrize("prefer", list(Prefer))
def test_optimal_against_an_lp_on_larger_pools_with_few_first_candidates(
    prefer: Prefer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One candidate mentor per class at first and one more per round: the optimality
    certificate has to find, round after round, what the first guess missed."""
    monkeypatch.setattr(matching, "_FIRST_EDGES", 1)
    monkeypatch.setattr(matching, "_MORE_EDGES", 1)
    rounds = []
    solve = matching._Pool.solve

    def counting(pool: matching._Pool) -> list[tuple[int, int, int]]:
        found = solve(pool)
        rounds.append(pool.rounds)
        return found

    monkeypatch.setattr(matching._Pool, "solve", counting)
    rng = random.Random(7)
    for case in range(25):
        needs, offers = random_pool(rng, rng.randint(20, 60), rng.randint(3, 12), 6)
        weights = random_weights(rng)
        result = propose(needs, offers, weights, prefer)
        check_feasible(result, needs, offers, weights)
        matched, total = lp_optimum(needs, offers, weights, prefer)
        assert result.total == total, f"case {case}"
        if prefer is Prefer.COVERAGE:
            assert len(result.pairs) == matched, f"case {case}"
    assert max(rounds) > 2, "the certificate loop was never exercised"


def test_best_pair_first_is_not_enough() -> None:
    """Best pair first would give A mentor M1 (8 points) and leave B with nobody (M2 is of
    B's own unit): 8. The optimum gives A the second best, M2 (5), and B M1 (5): 10."""
    needs = [
        need(1, "甲社区", area="elevator", district="黄浦"),
        need(2, "乙社区", area="elevator", district="静安"),
    ]
    offers = [
        offer(11, "丙村", areas=("elevator",), district="黄浦"),  # A 8, B 5
        offer(12, "乙社区", areas=("elevator",)),  # A 5, B not allowed
    ]
    for prefer in Prefer:
        result = propose(needs, offers, Weights(), prefer)
        assert [(p.trainee_id, p.mentor_id, p.score) for p in result.pairs] == [
            (2, 11, 5),
            (1, 12, 5),
        ]
        assert result.total == 10 and result.unmatched == ()


def test_capacity_is_never_exceeded_and_everyone_fits_when_it_can() -> None:
    rng = random.Random(3)
    needs, offers = random_pool(rng, 400, 40, 15)
    offers = [
        MentorOffer(o.user_id, o.unit, o.unit_type, o.district, o.areas, o.covers, 3)
        for o in offers
    ]
    for prefer in Prefer:
        result = propose(needs, offers, Weights(), prefer)
        check_feasible(result, needs, offers, Weights())
        assert max(result.load.values()) <= 3
        assert len(result.pairs) <= 120
    coverage = propose(needs, offers, Weights(), Prefer.COVERAGE)
    assert len(coverage.pairs) == 120  # 40 mentors x 3, and 400 trainees to choose from
    assert sorted(coverage.load.values()) == [3] * 40


def test_zero_capacity_mentors_get_nobody_and_appear_in_the_load() -> None:
    needs = [need(1, area="elevator")]
    offers = [offer(11, areas=("elevator",), capacity=0), offer(12, capacity=1)]
    result = propose(needs, offers, Weights())
    assert [(p.trainee_id, p.mentor_id) for p in result.pairs] == [(1, 12)]
    assert result.load == {11: 0, 12: 1}


def test_a_mentor_never_gets_a_mentee_of_their_own_unit() -> None:
    """The best fit by far is in the trainee's own unit (written differently): not allowed,
    even if it leaves the trainee unmatched."""
    weights = Weights()
    trainee = need(1, "浦东新区 花木街道 第一社区", area="elevator", district="浦东")
    colleague = offer(11, "浦东新区花木街道第一社区", areas=("elevator",), district="浦东")
    other = offer(12, "ＸＸ村", areas=("waste",))
    assert unit_key("浦东新区 花木街道 第一社区") == unit_key("浦东新区花木街道第一社区")
    assert unit_key("ＸＸ村") == "xx村"
    result = propose([trainee], [colleague, other], weights, Prefer.COVERAGE)
    assert [(p.trainee_id, p.mentor_id, p.score) for p in result.pairs] == [(1, 12, 0)]
    result = propose([trainee], [colleague], weights, Prefer.COVERAGE)
    assert result.pairs == () and result.unmatched == (1,)
    # an empty unit (not given) collides with nobody
    assert propose([need(2, "")], [offer(13, "")], weights).pairs[0].mentor_id == 13


def test_score_leaves_out_zero_pairs_where_coverage_does_not() -> None:
    """B fits nobody: 0 points with M1, and M2 is of B's own unit. SCORE gives A the best
    mentor, M1 (9), and leaves B out; COVERAGE places both, A on M2 (6), B on M1 (0)."""
    a = need(1, area="elevator", district="黄浦", unit_type="社区")
    b = need(2, "乙社区", area="parking")
    m1 = offer(11, "甲社区", areas=("elevator",), district="黄浦", unit_type="社区")
    m2 = offer(12, "乙社区", areas=("elevator",), unit_type="社区")
    best = propose([a, b], [m1, m2], Weights(), Prefer.SCORE)
    assert [(p.trainee_id, p.mentor_id, p.score) for p in best.pairs] == [(1, 11, 9)]
    assert best.unmatched == (2,) and best.total == 9
    assert best.load == {11: 1, 12: 0}
    everyone = propose([a, b], [m1, m2], Weights(), Prefer.COVERAGE)
    assert [(p.trainee_id, p.mentor_id, p.score) for p in everyone.pairs] == [
        (2, 11, 0),
        (1, 12, 6),
    ]
    assert everyone.unmatched == () and everyone.total == 6
    assert everyone.pairs[0].reasons == ()


def test_reasons_name_what_fits() -> None:
    weights = Weights(area=5, district=3, barrier=2, unit_type=1)
    trainee = need(
        1,
        area="elevator",
        district="黄浦",
        unit_type="社区",
        barriers=("supervisor_support", "peer_support", "self_efficacy"),
    )
    mentor = offer(
        11,
        areas=("elevator", "waste"),
        district="黄浦",
        unit_type="村",
        covers=("peer_support", "supervisor_support", "performance_coaching"),
    )
    (pair,) = propose([trainee], [mentor], weights).pairs
    assert pair.reasons == (
        Reason("area", 5, ("elevator",)),
        Reason("district", 3),
        Reason("barrier", 4, ("peer_support", "supervisor_support")),
    )
    assert pair.score == 12
    # a weight of 0 gives neither points nor a reason
    (pair,) = propose([trainee], [mentor], Weights(area=0, district=3, barrier=0)).pairs
    assert pair.reasons == (Reason("district", 3),) and pair.score == 3


def test_the_same_input_gives_the_same_output_in_any_order() -> None:
    rng = random.Random(11)
    needs, offers = random_pool(rng, 300, 30, 12)
    for prefer in Prefer:
        first = propose(needs, offers, Weights(), prefer)
        for _ in range(3):
            rng.shuffle(needs)
            rng.shuffle(offers)
            again = propose(needs, offers, Weights(), prefer)
            assert (again.pairs, again.unmatched, again.total) == (
                first.pairs,
                first.unmatched,
                first.total,
            )
            assert dict(again.load) == dict(first.load)
        assert [p.mentor_id for p in first.pairs] == sorted(p.mentor_id for p in first.pairs)


def test_alike_trainees_are_placed_in_user_id_order() -> None:
    """Three identical trainees, one good seat and one poor one: the tie goes to the lowest
    user ids, and the same trainee is left out every time."""
    needs = [need(user_id, area="elevator") for user_id in (30, 10, 20)]
    offers = [offer(11, areas=("elevator",)), offer(12)]
    result = propose(needs, offers, Weights(), Prefer.COVERAGE)
    assert [(p.trainee_id, p.mentor_id) for p in result.pairs] == [(10, 11), (20, 12)]
    assert result.unmatched == (30,)


def test_empty_inputs() -> None:
    assert propose([], [], Weights()) == Assignment((), (), 0, {})
    assert propose([need(1), need(2)], [], Weights()) == Assignment((), (1, 2), 0, {})
    assert propose([], [offer(11)], Weights()) == Assignment((), (), 0, {11: 0})
    nobody = propose([need(1)], [offer(11, capacity=0)], Weights())
    assert nobody == Assignment((), (1,), 0, {11: 0})
    # all weights 0: SCORE makes no pair, COVERAGE still places everyone it can
    zero = Weights(0, 0, 0, 0)
    assert propose([need(1)], [offer(11)], zero, Prefer.SCORE).unmatched == (1,)
    assert propose([need(1)], [offer(11)], zero, Prefer.COVERAGE).pairs[0].mentor_id == 11


def test_the_same_person_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="trainee"):
        propose([need(1), need(1)], [offer(11)], Weights())
    with pytest.raises(ValueError, match="mentor"):
        propose([need(1)], [offer(11), offer(11)], Weights())


def test_weights_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        propose([need(1)], [offer(11)], Weights(area=-1))
    with pytest.raises(ValueError, match="too large"):
        propose([need(1, area="elevator")], [offer(11, areas=("elevator",))], Weights(area=2**40))


def test_weights_parse() -> None:
    assert Weights.parse("") == Weights()
    assert Weights.parse("area=7") == Weights(area=7)
    assert Weights.parse(" area = 1 , district=0,barrier=4, unit_type=100 ,") == Weights(
        1, 0, 4, 100
    )
    for bad, message in (
        ("colour=3", "unknown weight 'colour'"),
        ("area", "unknown weight 'area'"),
        ("area=x", "area must be a whole number"),
        ("area=2.5", "area must be a whole number"),
        ("district=-1", "district must be between 0 and 100"),
        ("barrier=101", "barrier must be between 0 and 100"),
    ):
        with pytest.raises(ValueError, match=message):
            Weights.parse(bad)
