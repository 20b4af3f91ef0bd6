"""The pure scenario domain (bot.domain.scenarios) on a small hand-checked graph.

tests/fixtures/scenarios/mini.yaml (see its header):
  cadre:    cadre_intro → cadre_wang → cadre_d1
              d1[0] legal+2 mass+1 (recommended) → cadre_d2
              d1[1] legal-1 mass+1               → cadre_d2
              d1[2] mass+1 risk-2                → end_bad
            cadre_d2
              d2[0] legal-2                      → end_bad
              d2[1] legal+1 risk+1 (recommended) → cadre_write (free text) → end_good
  resident: res_intro → res_d1: [0] coordination+2 → end_good, [1] coordination-1 → end_bad
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from bot.content.scenarios import check_file, load_dimensions
from bot.domain.scenarios import (
    Choice,
    Node,
    NodeKind,
    PathEntry,
    Play,
    Scenario,
    Step,
    compare_path,
    find_cycle,
    overall,
    percent,
    percents,
    raw_scores,
    reachable,
)

ROOT = Path(__file__).resolve().parents[2]
CONTENT = ROOT / "content"
MINI = ROOT / "tests" / "fixtures" / "scenarios" / "mini.yaml"
DIMS = ("legal", "mass_work", "coordination", "risk")


@pytest.fixture(scope="module")
def mini() -> Scenario:
    scenario, problems = check_file(MINI, load_dimensions(CONTENT), ())
    assert problems == []
    assert scenario is not None
    return scenario


def steps(*pairs: tuple[str, int]) -> list[Step]:
    return [Step(node, choice) for node, choice in pairs]


def all_paths(scenario: Scenario, role_id: str) -> Iterator[tuple[list[Step], str]]:
    """Every play of a role, by brute force: (the decisions taken, the ending)."""
    role = scenario.role(role_id)
    assert role is not None

    def walk(node_id: str, taken: list[Step]) -> Iterator[tuple[list[Step], str]]:
        node = scenario.node(node_id)
        if node.kind is NodeKind.ENDING:
            yield taken, node_id
        elif node.kind is NodeKind.DECISION:
            for i, c in enumerate(node.choices):
                yield from walk(c.next, [*taken, Step(node_id, i)])
        else:
            assert node.next
            yield from walk(node.next, taken)

    yield from walk(role.start, [])


# -- percent / overall ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "bounds", "expected"),
    [
        (0, (0, 4), 0),
        (4, (0, 4), 100),
        (2, (0, 4), 50),
        (1, (0, 3), 33),
        (2, (0, 3), 67),
        (0, (-3, 3), 50),
        (-3, (-3, 3), 0),
        (-1, (-2, 1), 33),
        (7, (0, 4), 100),  # outside the reachable range: clamped
        (-5, (0, 4), 0),
        (0, (0, 0), None),  # every path scores the same: the role does not test it
        (1, (1, 1), None),
    ],
)
def test_percent(raw: int, bounds: tuple[int, int], expected: int | None) -> None:
    assert percent(raw, bounds) == expected


@pytest.mark.parametrize(
    ("shown", "expected"),
    [
        ({}, None),
        ({"legal": None, "risk": None}, None),
        ({"legal": 50, "risk": 100, "coordination": None}, 75),
        ({"legal": 0, "risk": 0, "mass_work": None}, 0),
        ({"legal": 100}, 100),
        ({"legal": 10, "risk": 20, "mass_work": 40}, 23),
    ],
)
def test_overall_is_the_mean_of_the_tested_dimensions(
    shown: Mapping[str, int | None], expected: int | None
) -> None:
    assert overall(shown) == expected


# -- bounds over the graph -----------------------------------------------------------------


def test_bounds_by_hand(mini: Scenario) -> None:
    assert dict(mini.bounds("cadre")) == {
        "legal": (-3, 3),  # d1[0]+d2[1] = 3; d1[1]+d2[0] = -3
        "mass_work": (1, 1),  # every first choice gives 1, nothing else moves it
        "coordination": (0, 0),  # the cadre never scores it
        "risk": (-2, 1),  # d1[2] = -2; d2[1] = 1
    }
    assert dict(mini.bounds("resident")) == {
        "legal": (0, 0),
        "mass_work": (0, 0),
        "coordination": (-1, 2),
        "risk": (0, 0),
    }


@pytest.mark.parametrize("role", ["cadre", "resident"])
def test_bounds_are_the_extremes_over_all_paths(mini: Scenario, role: str) -> None:
    totals = [raw_scores(mini, taken) for taken, _ in all_paths(mini, role)]
    for d in DIMS:
        values = [t[d] for t in totals]
        assert mini.bounds(role)[d] == (min(values), max(values)), d


def test_bounds_of_an_unknown_role(mini: Scenario) -> None:
    with pytest.raises(KeyError):
        mini.bounds("mayor")


# -- raw scores and percents of a path -----------------------------------------------------


def test_raw_scores_of_a_path(mini: Scenario) -> None:
    assert raw_scores(mini, []) == dict.fromkeys(DIMS, 0)
    assert raw_scores(mini, steps(("cadre_d1", 0), ("cadre_d2", 1))) == {
        "legal": 3,
        "mass_work": 1,
        "coordination": 0,
        "risk": 1,
    }
    assert raw_scores(mini, steps(("cadre_d1", 1), ("cadre_d2", 0))) == {
        "legal": -3,
        "mass_work": 1,
        "coordination": 0,
        "risk": 0,
    }
    assert raw_scores(mini, steps(("cadre_d1", 2))) == {
        "legal": 0,
        "mass_work": 1,
        "coordination": 0,
        "risk": -2,
    }
    assert raw_scores(mini, steps(("res_d1", 1)))["coordination"] == -1


@pytest.mark.parametrize(
    ("role", "path", "expected", "total"),
    [
        # the recommended path: the top of every tested scale
        (
            "cadre",
            (("cadre_d1", 0), ("cadre_d2", 1)),
            {"legal": 100, "mass_work": None, "coordination": None, "risk": 100},
            100,
        ),
        # legal 0 on -3..3 = 50; risk 1 on -2..1 = 100
        (
            "cadre",
            (("cadre_d1", 1), ("cadre_d2", 1)),
            {"legal": 50, "mass_work": None, "coordination": None, "risk": 100},
            75,
        ),
        # legal 0 = 50; risk -2 = 0
        (
            "cadre",
            (("cadre_d1", 2),),
            {"legal": 50, "mass_work": None, "coordination": None, "risk": 0},
            25,
        ),
        # legal 2-2 = 0 → 50; risk 0 on -2..1 = 2/3 → 67 (overall 58.5: not checked)
        (
            "cadre",
            (("cadre_d1", 0), ("cadre_d2", 0)),
            {"legal": 50, "mass_work": None, "coordination": None, "risk": 67},
            None,
        ),
        (
            "resident",
            (("res_d1", 0),),
            {"legal": None, "mass_work": None, "coordination": 100, "risk": None},
            100,
        ),
        (
            "resident",
            (("res_d1", 1),),
            {"legal": None, "mass_work": None, "coordination": 0, "risk": None},
            0,
        ),
    ],
)
def test_percents_by_hand(
    mini: Scenario,
    role: str,
    path: tuple[tuple[str, int], ...],
    expected: dict[str, int | None],
    total: int | None,
) -> None:
    shown = percents(mini, role, raw_scores(mini, steps(*path)))
    assert shown == expected
    if total is not None:
        assert overall(shown) == total


def test_percents_treat_a_missing_raw_score_as_zero(mini: Scenario) -> None:
    assert percents(mini, "cadre", {"legal": 3}) == {
        "legal": 100,
        "mass_work": None,
        "coordination": None,
        "risk": 67,
    }


# -- paths, endings, decision counts -------------------------------------------------------


def test_recommended_path_follows_the_recommended_choices(mini: Scenario) -> None:
    assert mini.recommended_path("cadre") == (("cadre_d1", 0), ("cadre_d2", 1))
    assert mini.recommended_path("resident") == (("res_d1", 0),)
    with pytest.raises(KeyError):
        mini.recommended_path("mayor")


def test_compare_path(mini: Scenario) -> None:
    entries = compare_path(mini, steps(("cadre_d1", 1), ("cadre_d2", 1)))
    assert entries == (
        PathEntry("cadre_d1", chosen=1, recommended=0),
        PathEntry("cadre_d2", chosen=1, recommended=1),
    )
    assert [e.matches for e in entries] == [False, True]
    assert compare_path(mini, []) == ()
    recommended = compare_path(mini, steps(*mini.recommended_path("cadre")))
    assert all(e.matches for e in recommended)


def test_decision_counts(mini: Scenario) -> None:
    assert mini.decision_counts("cadre") == (1, 2)
    assert mini.decision_counts("resident") == (1, 1)
    counts = [len(taken) for taken, _ in all_paths(mini, "cadre")]
    assert (min(counts), max(counts)) == mini.decision_counts("cadre")
    with pytest.raises(KeyError):
        mini.decision_counts("mayor")


def test_endings_of_a_role(mini: Scenario) -> None:
    assert mini.endings_of("cadre") == ("end_good", "end_bad")
    assert mini.endings_of("resident") == ("end_good", "end_bad")
    assert {end for _, end in all_paths(mini, "cadre")} == set(mini.endings_of("cadre"))


def test_reachable(mini: Scenario) -> None:
    assert set(reachable(mini.nodes, ["res_intro"])) == {
        "res_intro",
        "res_d1",
        "end_good",
        "end_bad",
    }
    assert set(reachable(mini.nodes, ["cadre_intro", "res_intro"])) == set(mini.nodes)
    assert reachable(mini.nodes, ["nowhere"]) == []


# -- find_cycle ----------------------------------------------------------------------------


def graph(edges: Mapping[str, tuple[str, ...]]) -> dict[str, Node]:
    """Nodes with the given successors: narrations for one, decisions for several."""
    nodes = {}
    for node_id, targets in edges.items():
        if len(targets) == 1:
            nodes[node_id] = Node(node_id, NodeKind.NARRATION, {"zh-CN": "x"}, next=targets[0])
        elif targets:
            choices = tuple(Choice({"zh-CN": t}, {}, {"zh-CN": t}, t) for t in targets)
            nodes[node_id] = Node(node_id, NodeKind.DECISION, {"zh-CN": "x"}, choices=choices)
        else:
            nodes[node_id] = Node(node_id, NodeKind.ENDING, {"zh-CN": "x"})
    return nodes


def is_cycle(cycle: list[str], edges: Mapping[str, tuple[str, ...]]) -> bool:
    return (
        len(cycle) >= 2
        and cycle[0] == cycle[-1]
        and all(b in edges[a] for a, b in itertools.pairwise(cycle))
    )


def test_find_cycle_none_in_a_dag(mini: Scenario) -> None:
    assert find_cycle(mini.nodes) is None
    # a diamond joins twice without looping
    assert find_cycle(graph({"a": ("b", "c"), "b": ("d",), "c": ("d",), "d": ()})) is None
    assert find_cycle({}) is None


@pytest.mark.parametrize(
    "edges",
    [
        {"a": ("b",), "b": ("c",), "c": ("a",)},
        {"start": ("a",), "a": ("b", "end"), "b": ("c",), "c": ("a",), "end": ()},
        {"x": ("end",), "a": ("a",), "end": ()},  # a node pointing at itself
        {"a": ("b", "c"), "b": ("end",), "c": ("d",), "d": ("c", "end"), "end": ()},
    ],
)
def test_find_cycle_returns_a_real_cycle(edges: dict[str, tuple[str, ...]]) -> None:
    cycle = find_cycle(graph(edges))
    assert cycle is not None
    assert is_cycle(cycle, edges), cycle


def test_find_cycle_ignores_missing_targets() -> None:
    assert find_cycle(graph({"a": ("ghost",), "b": ("a",)})) is None


# -- a play --------------------------------------------------------------------------------


def test_play_through_the_recommended_path(mini: Scenario) -> None:
    play = Play.start(mini, "cadre")
    assert play.current.id == "cadre_intro" and not play.finished
    assert play.advance().id == "cadre_wang"
    assert play.current.speaker == {"zh-CN": "王大爷", "en": "Mr Wang"}
    assert play.advance().kind is NodeKind.DECISION
    with pytest.raises(ValueError):
        play.advance()  # a decision does not simply go on
    choice = play.choose(0)
    assert choice.recommended and choice.scores == {"legal": 2, "mass_work": 1}
    assert play.node == "cadre_d2"
    with pytest.raises(IndexError):
        play.choose(2)
    with pytest.raises(IndexError):
        play.choose(-1)
    play.choose(1)
    assert play.current.kind is NodeKind.FREE_TEXT
    with pytest.raises(ValueError):
        play.choose(0)  # not a decision
    assert play.advance().id == "end_good"
    assert play.finished
    with pytest.raises(ValueError):
        play.advance()
    assert play.steps == steps(("cadre_d1", 0), ("cadre_d2", 1))
    assert play.raw_scores() == {"legal": 3, "mass_work": 1, "coordination": 0, "risk": 1}


def test_play_a_short_path(mini: Scenario) -> None:
    play = Play.start(mini, "cadre")
    play.advance()
    play.advance()
    play.choose(2)
    assert play.finished and play.node == "end_bad"
    assert percents(mini, "cadre", play.raw_scores())["risk"] == 0


def test_play_of_an_unknown_role(mini: Scenario) -> None:
    with pytest.raises(KeyError):
        Play.start(mini, "mayor")


def test_texts_fall_back_to_chinese(mini: Scenario) -> None:
    assert mini.title("en") == "Clutter in the stairwell"
    assert mini.title("zh-CN") == "楼道堆物"
    assert mini.title(None) == "楼道堆物"
    assert mini.title("fr") == "楼道堆物"
    role = mini.role("resident")
    assert role is not None and role.name("en") == "Resident"
    assert mini.role("mayor") is None
