"""Scenario role-plays: the node graph, the moves through it, and the scores. Pure, no I/O.

A scenario (content/scenarios/<id>.yaml, loaded and checked by bot.content.scenarios) is a
directed acyclic graph of nodes. Each role starts at its own node. A decision offers 2–4
choices; each choice carries points on the competency dimensions (-2..2, see
content/competencies.yaml), the expert's feedback and the next node. An ending closes a play.

Scores: a play's raw score on a dimension is the sum of its choices' points. The debrief and
the reports show it as 0–100 on the scale of what that role can reach at all: 0 is the lowest
sum any path from the role's start can collect, 100 the highest (computed over the graph, so
a role with harsh choices is not compared with a lenient one by raw points).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property

SCORE_MIN = -2
SCORE_MAX = 2
MIN_CHOICES = 2
MAX_CHOICES = 4
FREE_TEXT_LIMIT = 1000  # characters of a free-text answer

LocaleTexts = Mapping[str, str]  # locale → text
FIRST_LOCALE = "zh-CN"  # every text has it (the loader checks); the fallback


def pick(texts: LocaleTexts, locale: str | None) -> str:
    return texts.get(locale or FIRST_LOCALE) or texts[FIRST_LOCALE]


class NodeKind(StrEnum):
    NARRATION = "narration"
    LINE = "line"  # a character speaks
    DECISION = "decision"
    FREE_TEXT = "free_text"  # the trainee writes; the mentor comments
    ENDING = "ending"


@dataclass(frozen=True, slots=True)
class Dimension:
    id: str
    names: LocaleTexts

    def name(self, locale: str | None) -> str:
        return pick(self.names, locale)


@dataclass(frozen=True, slots=True)
class Choice:
    label: LocaleTexts
    scores: Mapping[str, int]  # dimension → points; a dimension not named scores 0
    feedback: LocaleTexts
    next: str
    recommended: bool = False

    def points(self, dimension: str) -> int:
        return self.scores.get(dimension, 0)


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    kind: NodeKind
    text: LocaleTexts  # narration, the line, the decision's question, the prompt, the title
    next: str | None = None  # narration, line, free_text
    speaker: LocaleTexts | None = None  # line
    choices: tuple[Choice, ...] = ()  # decision
    debrief: LocaleTexts | None = None  # ending
    expert: LocaleTexts | None = None  # ending

    def successors(self) -> tuple[str, ...]:
        if self.kind is NodeKind.DECISION:
            return tuple(dict.fromkeys(c.next for c in self.choices))
        return (self.next,) if self.next else ()

    def recommended(self) -> int | None:
        """Index of the recommended choice of a decision."""
        for i, c in enumerate(self.choices):
            if c.recommended:
                return i
        return None


@dataclass(frozen=True, slots=True)
class Role:
    id: str
    names: LocaleTexts
    briefs: LocaleTexts
    start: str

    def name(self, locale: str | None) -> str:
        return pick(self.names, locale)

    def brief(self, locale: str | None) -> str:
        return pick(self.briefs, locale)


@dataclass(frozen=True)
class Scenario:
    id: str
    titles: LocaleTexts
    summaries: LocaleTexts
    situations: LocaleTexts
    roles: tuple[Role, ...]
    nodes: Mapping[str, Node]
    dimensions: tuple[str, ...]
    area: str | None = None
    source: str = ""  # the file it came from, for messages to authors

    def __repr__(self) -> str:
        return f"Scenario({self.id!r}, {len(self.roles)} roles, {len(self.nodes)} nodes)"

    def title(self, locale: str | None) -> str:
        return pick(self.titles, locale)

    def summary(self, locale: str | None) -> str:
        return pick(self.summaries, locale)

    def situation(self, locale: str | None) -> str:
        return pick(self.situations, locale)

    def role(self, role_id: str) -> Role | None:
        return next((r for r in self.roles if r.id == role_id), None)

    def node(self, node_id: str) -> Node:
        return self.nodes[node_id]

    @cached_property
    def _bounds(self) -> dict[str, dict[str, tuple[int, int]]]:
        """For each node and dimension, the (lowest, highest) points a path from that node to
        an ending collects. The graph is acyclic (the loader refuses cycles)."""
        memo: dict[str, dict[str, tuple[int, int]]] = {}

        def visit(node_id: str) -> dict[str, tuple[int, int]]:
            if node_id in memo:
                return memo[node_id]
            node = self.nodes[node_id]
            if node.kind is NodeKind.ENDING:
                result = {d: (0, 0) for d in self.dimensions}
            elif node.kind is NodeKind.DECISION:
                options = [
                    {
                        d: (c.points(d) + lo, c.points(d) + hi)
                        for d, (lo, hi) in visit(c.next).items()
                    }
                    for c in node.choices
                ]
                result = {
                    d: (min(o[d][0] for o in options), max(o[d][1] for o in options))
                    for d in self.dimensions
                }
            else:
                assert node.next is not None
                result = visit(node.next)
            memo[node_id] = result
            return result

        for role in self.roles:
            visit(role.start)
        return memo

    def bounds(self, role_id: str) -> Mapping[str, tuple[int, int]]:
        """Per dimension, the lowest and highest raw score a play of the role can reach."""
        role = self.role(role_id)
        if role is None:
            raise KeyError(role_id)
        return self._bounds[role.start]

    def endings_of(self, role_id: str) -> tuple[str, ...]:
        """The endings a role can reach, in file order."""
        role = self.role(role_id)
        if role is None:
            raise KeyError(role_id)
        seen = set(reachable(self.nodes, [role.start]))
        return tuple(
            n.id for n in self.nodes.values() if n.kind is NodeKind.ENDING and n.id in seen
        )

    def recommended_path(self, role_id: str) -> tuple[tuple[str, int], ...]:
        """(decision node, recommended choice) along the path that always takes the
        recommended choice."""
        role = self.role(role_id)
        if role is None:
            raise KeyError(role_id)
        out: list[tuple[str, int]] = []
        node = self.nodes[role.start]
        while node.kind is not NodeKind.ENDING:
            if node.kind is NodeKind.DECISION:
                index = node.recommended() or 0
                out.append((node.id, index))
                node = self.nodes[node.choices[index].next]
            else:
                assert node.next is not None
                node = self.nodes[node.next]
        return tuple(out)

    def decision_counts(self, role_id: str) -> tuple[int, int]:
        """The fewest and the most decisions on a path from the role's start to an ending."""
        memo: dict[str, tuple[int, int]] = {}

        def visit(node_id: str) -> tuple[int, int]:
            if node_id not in memo:
                node = self.nodes[node_id]
                if node.kind is NodeKind.ENDING:
                    memo[node_id] = (0, 0)
                else:
                    below = [visit(s) for s in node.successors()]
                    extra = 1 if node.kind is NodeKind.DECISION else 0
                    memo[node_id] = (
                        min(b[0] for b in below) + extra,
                        max(b[1] for b in below) + extra,
                    )
            return memo[node_id]

        role = self.role(role_id)
        if role is None:
            raise KeyError(role_id)
        return visit(role.start)


def reachable(nodes: Mapping[str, Node], starts: Iterable[str]) -> list[str]:
    """Node ids reachable from `starts` (those that exist), depth first."""
    seen: dict[str, None] = {}
    stack = [s for s in starts if s in nodes]
    while stack:
        node_id = stack.pop()
        if node_id in seen:
            continue
        seen[node_id] = None
        stack.extend(s for s in nodes[node_id].successors() if s in nodes and s not in seen)
    return list(seen)


def find_cycle(nodes: Mapping[str, Node]) -> list[str] | None:
    """A cycle of node ids (first node repeated at the end), or None."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(nodes, WHITE)
    for root in nodes:
        if colour[root] != WHITE:
            continue
        path: list[str] = []
        stack: list[tuple[str, Iterable[str]]] = [(root, iter(nodes[root].successors()))]
        colour[root] = GREY
        path.append(root)
        while stack:
            node_id, successors = stack[-1]
            advanced = False
            for s in successors:
                if s not in nodes:
                    continue
                if colour[s] == GREY:
                    return [*path[path.index(s) :], s]
                if colour[s] == WHITE:
                    colour[s] = GREY
                    path.append(s)
                    stack.append((s, iter(nodes[s].successors())))
                    advanced = True
                    break
            if not advanced:
                colour[node_id] = BLACK
                path.pop()
                stack.pop()
    return None


# -- a play ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    """One decision taken: the node and the index of the choice."""

    node: str
    choice: int


@dataclass
class Play:
    """Where a play stands: the node on screen, the decisions taken, the raw scores."""

    scenario: Scenario
    role: str
    node: str
    steps: list[Step] = field(default_factory=list)

    @classmethod
    def start(cls, scenario: Scenario, role_id: str) -> Play:
        role = scenario.role(role_id)
        if role is None:
            raise KeyError(role_id)
        return cls(scenario, role_id, role.start)

    @property
    def current(self) -> Node:
        return self.scenario.node(self.node)

    @property
    def finished(self) -> bool:
        return self.current.kind is NodeKind.ENDING

    def advance(self) -> Node:
        """Past a narration, a line or a free-text answer."""
        node = self.current
        if node.kind in (NodeKind.DECISION, NodeKind.ENDING) or node.next is None:
            raise ValueError(f"{node.id} is a {node.kind.value}: it does not simply go on")
        self.node = node.next
        return self.current

    def choose(self, index: int) -> Choice:
        node = self.current
        if node.kind is not NodeKind.DECISION:
            raise ValueError(f"{node.id} is not a decision")
        if not 0 <= index < len(node.choices):
            raise IndexError(index)
        choice = node.choices[index]
        self.steps.append(Step(node.id, index))
        self.node = choice.next
        return choice

    def raw_scores(self) -> dict[str, int]:
        return raw_scores(self.scenario, self.steps)


def raw_scores(scenario: Scenario, steps: Sequence[Step]) -> dict[str, int]:
    totals = dict.fromkeys(scenario.dimensions, 0)
    for step in steps:
        choice = scenario.node(step.node).choices[step.choice]
        for d in totals:
            totals[d] += choice.points(d)
    return totals


def percent(raw: int, bounds: tuple[int, int]) -> int | None:
    """A raw score on the 0–100 scale of what the role can reach; None when every path of
    the role scores the same on it (the role does not test that dimension)."""
    low, high = bounds
    if high <= low:
        return None
    return half_up(100 * (min(max(raw, low), high) - low) / (high - low))


def percents(scenario: Scenario, role_id: str, raw: Mapping[str, int]) -> dict[str, int | None]:
    bounds = scenario.bounds(role_id)
    return {d: percent(raw.get(d, 0), bounds[d]) for d in scenario.dimensions}


def overall(shown: Mapping[str, int | None]) -> int | None:
    """The mean of the dimensions the role tests."""
    values = [v for v in shown.values() if v is not None]
    return half_up(sum(values) / len(values)) if values else None


def half_up(value: float) -> int:
    """Rounded as people round (12.5 → 13), not to even as round() does."""
    return math.floor(value + 0.5)


@dataclass(frozen=True, slots=True)
class PathEntry:
    """A decision of the debrief: what was chosen against what is recommended."""

    node: str
    chosen: int
    recommended: int

    @property
    def matches(self) -> bool:
        return self.chosen == self.recommended


def compare_path(scenario: Scenario, steps: Sequence[Step]) -> tuple[PathEntry, ...]:
    return tuple(
        PathEntry(s.node, s.choice, scenario.node(s.node).recommended() or 0) for s in steps
    )
