"""LTSI scoring: reverse items flipped, gaps ignored, high always means good for transfer."""

import pytest

from bot.domain.ltsi import ItemSpec, Scores, classify, compare, flip, score

ITEMS = (
    ItemSpec("sup1", "supervisor_support", "work_environment"),
    ItemSpec("sup2", "supervisor_support", "work_environment"),
    ItemSpec("sanc1", "supervisor_sanctions", "work_environment", reverse=True),
    ItemSpec("sanc2", "supervisor_sanctions", "work_environment", reverse=True),
    ItemSpec("pc1", "personal_capacity", "ability"),
    ItemSpec("pc2", "personal_capacity", "ability", reverse=True),
    ItemSpec("eff1", "self_efficacy", "secondary"),
)


def test_flip_mirrors_the_scale() -> None:
    assert [flip(x) for x in (1, 2, 3, 4, 5)] == [5, 4, 3, 2, 1]


def test_reverse_items_are_flipped_before_averaging() -> None:
    scores = score({"pc1": 4, "pc2": 2, "sanc1": 5, "sanc2": 4}, ITEMS)
    # pc2 = 2 counts as 4; mean(4, 4)
    assert scores.factor("personal_capacity") == 4.0
    # Strong agreement with "my leader pushes back" is a LOW (bad) score: mean(1, 2).
    assert scores.factor("supervisor_sanctions") == 1.5


def test_a_reverse_item_alone_is_not_left_unflipped() -> None:
    assert score({"pc2": 1}, ITEMS).factor("personal_capacity") == 5.0
    assert score({"pc2": 5}, ITEMS).factor("personal_capacity") == 1.0


def test_missing_and_none_answers_are_ignored() -> None:
    scores = score({"sup1": 5, "sup2": None, "pc1": 2}, ITEMS)
    assert scores.factor("supervisor_support") == 5.0
    assert scores.counts["supervisor_support"] == 1
    assert scores.factor("personal_capacity") == 2.0
    assert scores.factor("supervisor_sanctions") is None
    assert scores.counts["supervisor_sanctions"] == 0
    assert scores.factor("self_efficacy") is None
    assert scores.group("secondary") is None


def test_no_answers_at_all_gives_none_everywhere() -> None:
    scores = score({}, ITEMS)
    assert set(scores.factors.values()) == {None}
    assert set(scores.groups.values()) == {None}
    assert list(scores.groups) == ["work_environment", "ability", "secondary"]


@pytest.mark.parametrize("bad", [0, 6, -1, 10])
def test_answers_outside_the_scale_are_refused(bad: int) -> None:
    with pytest.raises(ValueError, match="sup1"):
        score({"sup1": bad}, ITEMS)


@pytest.mark.parametrize("bad", [True, 3.0, "3"])
def test_answers_that_are_not_whole_numbers_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="whole number"):
        score({"sup1": bad}, ITEMS)  # type: ignore[dict-item]


def test_a_bad_answer_to_an_unknown_item_is_still_refused_and_a_good_one_ignored() -> None:
    with pytest.raises(ValueError):
        score({"gone1": 9}, ITEMS)
    assert score({"gone1": 1, "sup1": 4}, ITEMS).factor("supervisor_support") == 4.0


def test_group_mean_is_the_mean_of_the_available_factor_means() -> None:
    # supervisor_support: mean(5, 4) = 4.5 from two answers;
    # supervisor_sanctions: one answer 2 → flipped 4.0. Group = mean(4.5, 4.0), not the
    # mean of the three answers (4.333...).
    scores = score({"sup1": 5, "sup2": 4, "sanc1": 2}, ITEMS)
    assert scores.group("work_environment") == pytest.approx(4.25)
    assert scores.group("ability") is None


def test_duplicate_items_and_inconsistent_groups_are_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        score({}, (*ITEMS, ItemSpec("sup1", "supervisor_support", "work_environment")))
    with pytest.raises(ValueError, match="group"):
        score({}, (*ITEMS, ItemSpec("x1", "supervisor_support", "ability")))


def _scores(**factors: float | None) -> Scores:
    return Scores(
        factors=factors,
        groups={},
        counts={f: 1 for f in factors},
        factor_groups={f: "g" for f in factors},
    )


def test_thresholds_at_the_boundaries() -> None:
    diagnosis = classify(
        _scores(at_barrier=2.5, below=2.4999, at_catalyst=4.0, just_under=3.9999),
        barrier_below=2.5,
        catalyst_at_least=4.0,
    )
    assert [b.factor for b in diagnosis.barriers] == ["below"]
    assert [c.factor for c in diagnosis.catalysts] == ["at_catalyst"]


def test_boundaries_reached_by_real_answers() -> None:
    items = (
        ItemSpec("a1", "a", "g"),
        ItemSpec("a2", "a", "g"),
        ItemSpec("b1", "b", "g"),
        ItemSpec("b2", "b", "g"),
        ItemSpec("b3", "b", "g", reverse=True),
    )
    scores = score({"a1": 2, "a2": 3, "b1": 5, "b2": 4, "b3": 3}, items)
    assert scores.factor("a") == 2.5
    assert scores.factor("b") == 4.0
    diagnosis = classify(scores, 2.5, 4.0)
    assert diagnosis.barriers == ()
    assert [c.factor for c in diagnosis.catalysts] == ["b"]


def test_barriers_lowest_first_catalysts_highest_first_ties_keep_factor_order() -> None:
    diagnosis = classify(
        _scores(a=2.0, b=1.0, c=4.5, d=5.0, e=2.0, f=3.0, g=4.5, h=None),
        barrier_below=2.5,
        catalyst_at_least=4.0,
    )
    assert [(b.factor, b.score) for b in diagnosis.barriers] == [("b", 1.0), ("a", 2.0), ("e", 2.0)]
    assert [(c.factor, c.score) for c in diagnosis.catalysts] == [
        ("d", 5.0),
        ("c", 4.5),
        ("g", 4.5),
    ]
    assert diagnosis.unscored == ("h",)
    assert diagnosis.barriers[0].group == "g"


@pytest.mark.parametrize(("barrier", "catalyst"), [(4.0, 2.5), (3.0, 3.0), (0.5, 4.0), (2.5, 5.5)])
def test_classify_refuses_impossible_thresholds(barrier: float, catalyst: float) -> None:
    with pytest.raises(ValueError, match="thresholds"):
        classify(_scores(a=3.0), barrier, catalyst)


def test_compare_gives_group_deltas_and_none_where_a_side_is_missing() -> None:
    before = score({"sup1": 2, "sanc1": 4, "pc1": 3}, ITEMS)
    after = score({"sup1": 4, "sanc1": 2, "eff1": 5}, ITEMS)
    # work_environment: before mean(2, 2) = 2.0, after mean(4, 4) = 4.0
    assert compare(before, after) == {
        "work_environment": pytest.approx(2.0),
        "ability": None,  # no answer after
        "secondary": None,  # no answer before
    }


def test_compare_lists_groups_known_to_either_side_and_sign_means_direction() -> None:
    before = Scores(factors={}, groups={"a": 4.0, "old": 3.0}, counts={}, factor_groups={})
    after = Scores(factors={}, groups={"a": 3.5, "new": 2.0}, counts={}, factor_groups={})
    assert compare(before, after) == {"a": -0.5, "new": None, "old": None}
