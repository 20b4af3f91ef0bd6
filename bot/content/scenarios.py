"""Scenario files (content/scenarios/*.yaml): loading and the authors' checker.

The format is described in content/scenarios/README.md. `check_file` reports every problem
it finds (for `xueyong scenario check`), each naming the file, the line and the node;
`load_scenarios` refuses to return anything while one file has a problem, so the bot does not
start with a broken scenario.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.content.errors import ContentError
from bot.content.texts import LOCALES
from bot.domain.scenarios import (
    MAX_CHOICES,
    MIN_CHOICES,
    SCORE_MAX,
    SCORE_MIN,
    Choice,
    Dimension,
    Node,
    NodeKind,
    Role,
    Scenario,
    find_cycle,
    reachable,
)

SCENARIO_DIR = "scenarios"
COMPETENCIES_FILE = "competencies.yaml"
ID_MAX = 16  # bytes: scenario and role ids travel in callback data (64 bytes at most)
NODE_ID_MAX = 32  # bytes: stored, never in callback data
MAX_ROLES = 4
MIN_ENDINGS_PER_ROLE = 2  # one ending is a story, not a decision

# Characters, as Telegram counts them. A node is one message; the largest texts stay well
# under the 4096 of a message so that a debrief (ending + scores + path) fits in a few.
LIMITS = {
    "title": 40,
    "summary": 120,
    "situation": 1500,
    "role.name": 20,
    "role.brief": 600,
    "narration": 1500,
    "speaker": 20,
    "line": 1000,
    "decision": 1000,
    "label": 40,  # a button: what a phone shows on one full-width row
    "feedback": 600,
    "free_text": 1000,
    "ending": 40,
    "debrief": 1500,
    "expert": 1500,
    "dimension": 30,
}
ONE_LINE = {"title", "summary", "role.name", "speaker", "label", "ending", "dimension"}

_ID = re.compile(r"[a-z][a-z0-9_]*")
_TOP_KEYS = ("id", "area", "title", "summary", "situation", "roles", "nodes")
_ROLE_KEYS = ("name", "brief", "start")
_KIND_KEYS = {
    "narration": NodeKind.NARRATION,
    "line": NodeKind.LINE,
    "decision": NodeKind.DECISION,
    "free_text": NodeKind.FREE_TEXT,
    "ending": NodeKind.ENDING,
}
_NODE_KEYS = {
    NodeKind.NARRATION: ("narration", "next"),
    NodeKind.LINE: ("speaker", "line", "next"),
    NodeKind.DECISION: ("decision", "choices"),
    NodeKind.FREE_TEXT: ("free_text", "next"),
    NodeKind.ENDING: ("ending", "debrief", "expert"),
}
_CHOICE_KEYS = ("label", "scores", "feedback", "recommended", "next")

# libyaml when installed (5× faster on the scenario files), the same safe rules.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, slots=True)
class Problem:
    path: Path
    line: int | None
    where: str  # "node cadre_3, choices[2].label.en" or a top-level key
    message: str

    def __str__(self) -> str:
        at = f"{self.path}:{self.line}" if self.line is not None else str(self.path)
        return f"{at}: {self.where}: {self.message}"


class ScenarioError(ContentError):
    """One or more scenario files are wrong; `problems` lists every one found."""

    def __init__(self, problems: list[Problem]) -> None:
        first = problems[0]
        more = (
            f" (and {len(problems) - 1} more: run `xueyong scenario check`)" if problems[1:] else ""
        )
        super().__init__(first.path, f"{first.where}: {first.message}{more}", first.line)
        self.problems = problems


# -- competencies --------------------------------------------------------------------------


def load_dimensions(content_dir: Path) -> tuple[Dimension, ...]:
    """content/competencies.yaml: the dimensions every choice is scored on."""
    path = content_dir / COMPETENCIES_FILE
    reader = _Reader(path)
    if reader.problems:
        raise ScenarioError(reader.problems)
    data = reader.data
    if not isinstance(data, dict) or not isinstance(data.get("dimensions"), dict):
        raise ContentError(path, "expected `dimensions:` with one entry per competency")
    out = []
    for dim_id, names in data["dimensions"].items():
        key = f"dimensions.{dim_id}"
        if not isinstance(dim_id, str) or not _ID.fullmatch(dim_id):
            raise ContentError(path, f"{key}: id must be lowercase letters, digits and _")
        texts = reader.texts(names, key, "dimension", where=key)
        out.append(Dimension(dim_id, texts))
    if reader.problems:
        raise ScenarioError(reader.problems)
    if not out:
        raise ContentError(path, "no dimensions")
    return tuple(out)


# -- scenarios -----------------------------------------------------------------------------


def scenario_files(content_dir: Path) -> list[Path]:
    return sorted((content_dir / SCENARIO_DIR).glob("*.yaml"))


def check_file(
    path: Path, dimensions: tuple[Dimension, ...], areas: tuple[str, ...] = ()
) -> tuple[Scenario | None, list[Problem]]:
    """Read one scenario file: the scenario when it is sound, and every problem found."""
    reader = _Reader(path)
    if reader.problems:
        return None, reader.problems
    scenario = _Builder(reader, dimensions, areas).build()
    problems = reader.problems
    return (scenario if not problems else None), problems


def load_scenarios(
    content_dir: Path, areas: tuple[str, ...] = ()
) -> tuple[tuple[Dimension, ...], tuple[Scenario, ...]]:
    """Every scenario in content/scenarios/, in file-name order; ScenarioError if any file
    has a problem (the bot then refuses to start)."""
    dimensions = load_dimensions(content_dir)
    scenarios: list[Scenario] = []
    problems: list[Problem] = []
    for path in scenario_files(content_dir):
        scenario, found = check_file(path, dimensions, areas)
        problems.extend(found)
        if scenario is not None:
            scenarios.append(scenario)
    if problems:
        raise ScenarioError(problems)
    return dimensions, tuple(scenarios)


class _Reader:
    """A YAML file, its line map (mappings and sequences), and the problems found so far."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[Problem] = []
        self.lines: dict[str, int] = {}
        self.data: Any = None
        try:
            text = path.read_text(encoding="utf-8")
            node = yaml.compose(text, Loader=_LOADER)
            self.data = yaml.load(text, Loader=_LOADER)
        except (OSError, UnicodeDecodeError) as exc:
            self.problems.append(Problem(path, None, "file", f"cannot read: {exc}"))
            return
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else None
            problem = getattr(exc, "problem", None) or str(exc)
            hint = (
                " (inside {…} quote a text that contains ? , : # [ ] { }, or write the"
                " locales on their own lines)"
                if "flow" in str(getattr(exc, "context", ""))
                else ""
            )
            column = f", column {mark.column + 1}" if mark is not None else ""
            self.problems.append(
                Problem(path, line, "file", f"invalid YAML{column}: {problem}{hint}")
            )
            return
        if node is not None:
            duplicates: list[str] = []
            for key, line in _lines(node, ""):
                if key in self.lines and not any(key.startswith(f"{d}.") for d in duplicates):
                    # YAML keeps the last one silently; report the outermost key only
                    duplicates.append(key)
                    parts = key.split(".")
                    if len(parts) == 2 and parts[0] == "nodes":
                        where, what = f"node {parts[1]}", "node id"
                    else:
                        where, what = key, "key"
                    self.fail(
                        key,
                        where,
                        f"{what} appears twice (first at line {self.lines[key]}; "
                        "the second would silently replace the first)",
                        line,
                    )
                self.lines[key] = line  # the one YAML keeps

    def line(self, key: str) -> int | None:
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key.rpartition(".")[0]
        return None

    def fail(self, key: str, where: str, message: str, line: int | None = None) -> None:
        self.problems.append(
            Problem(self.path, line if line is not None else self.line(key), where, message)
        )

    def texts(self, value: Any, key: str, kind: str, *, where: str) -> dict[str, str]:
        """A text per locale; missing or over-long translations are problems."""
        out: dict[str, str] = {}
        if isinstance(value, str):
            self.fail(key, where, f"needs a text per locale ({', '.join(LOCALES)}), not one text")
            return {locale: value.strip() for locale in LOCALES}
        if not isinstance(value, dict):
            self.fail(key, where, f"expected a text per locale ({', '.join(LOCALES)})")
            return {locale: "?" for locale in LOCALES}
        for name in value:
            if name not in LOCALES:
                hint = (
                    " (a `,` inside {…} ends the text before it: quote the text)"
                    if value[name] is None
                    else f" (expected {', '.join(LOCALES)})"
                )
                self.fail(f"{key}.{name}", f"{where}.{name}", "unknown locale" + hint)
        limit = LIMITS[kind]
        for locale in LOCALES:
            raw = value.get(locale)
            sub = f"{where}.{locale}"
            if raw is None:
                self.fail(key, sub, "translation is missing")
                out[locale] = "?"
                continue
            if not isinstance(raw, str):
                self.fail(
                    f"{key}.{locale}",
                    sub,
                    f"YAML read this as {raw!r}, not as text (yes/no/on/off, numbers and dates"
                    ' are values in YAML): quote it, e.g. "No"',
                )
                out[locale] = "?"
                continue
            if not raw.strip():
                self.fail(f"{key}.{locale}", sub, "expected non-empty text")
                out[locale] = "?"
                continue
            text = raw.strip()
            if kind in ONE_LINE and "\n" in text:
                self.fail(f"{key}.{locale}", sub, "must be one line")
            length = len(text.encode("utf-16-le")) // 2
            if length > limit:
                self.fail(
                    f"{key}.{locale}", sub, f"text is {length} characters long ({limit} at most)"
                )
            out[locale] = text
        return out


def _lines(node: yaml.Node, prefix: str) -> Iterator[tuple[str, int]]:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = f"{prefix}{key_node.value}"
            yield key, key_node.start_mark.line + 1
            yield from _lines(value_node, key + ".")
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            key = f"{prefix}{index}"
            yield key, item.start_mark.line + 1
            yield from _lines(item, key + ".")


class _Builder:
    def __init__(
        self, reader: _Reader, dimensions: tuple[Dimension, ...], areas: tuple[str, ...]
    ) -> None:
        self.r = reader
        self.dimensions = tuple(d.id for d in dimensions)
        self.areas = areas
        self.declared: set[str] = set()  # node ids in the file, broken ones included
        # False once a link (a node, a role's start, a `next`) is broken: the graph checks
        # (cycles, unreachable nodes, endings per role) would then only repeat it.
        self.links_ok = True

    def build(self) -> Scenario | None:
        r, data = self.r, self.r.data
        if not isinstance(data, dict):
            r.fail("", "file", "expected a mapping with " + ", ".join(_TOP_KEYS))
            return None
        for name in data:
            if name not in _TOP_KEYS:
                r.fail(str(name), str(name), f"unknown key (expected {', '.join(_TOP_KEYS)})")
        scenario_id = data.get("id")
        if not isinstance(scenario_id, str) or not _ID.fullmatch(scenario_id):
            r.fail("id", "id", f"{scenario_id!r} must be lowercase letters, digits and _")
            scenario_id = r.path.stem
        elif len(scenario_id.encode()) > ID_MAX:
            r.fail("id", "id", f"{scenario_id!r} is longer than {ID_MAX} bytes")
        elif scenario_id != r.path.stem:
            r.fail("id", "id", f"{scenario_id!r} must be the file's name ({r.path.stem})")
        area = data.get("area")
        if area is not None and (
            not isinstance(area, str) or (self.areas and area not in self.areas)
        ):
            r.fail("area", "area", f"{area!r} is not an area of content/areas.yaml")
        titles = r.texts(data.get("title"), "title", "title", where="title")
        summaries = r.texts(data.get("summary"), "summary", "summary", where="summary")
        situations = r.texts(data.get("situation"), "situation", "situation", where="situation")
        nodes = self._nodes(data.get("nodes"))
        roles = self._roles(data.get("roles"), nodes)
        if roles and self.links_ok:
            # also with problems elsewhere (texts, scores): report everything in one run
            self._graph(nodes, roles)
        if r.problems or not roles:
            return None
        return Scenario(
            id=scenario_id,
            titles=titles,
            summaries=summaries,
            situations=situations,
            roles=roles,
            nodes=nodes,
            dimensions=self.dimensions,
            area=area,
            source=str(r.path),
        )

    # -- roles ---------------------------------------------------------------------------

    def _roles(self, value: Any, nodes: Mapping[str, Node]) -> tuple[Role, ...]:
        r = self.r
        if not isinstance(value, dict) or not value:
            r.fail("roles", "roles", "expected at least one role")
            return ()
        if len(value) > MAX_ROLES:
            r.fail("roles", "roles", f"{len(value)} roles ({MAX_ROLES} at most)")
        roles = []
        for role_id, spec in value.items():
            key = where = f"roles.{role_id}"
            if not isinstance(role_id, str) or not _ID.fullmatch(role_id):
                r.fail(key, where, "role id must be lowercase letters, digits and _")
                self.links_ok = False
                continue
            if len(role_id.encode()) > ID_MAX:
                r.fail(key, where, f"role id is longer than {ID_MAX} bytes")
            if not isinstance(spec, dict):
                r.fail(key, where, "expected name, brief and start")
                self.links_ok = False
                continue
            self._only(spec, key, where, _ROLE_KEYS)
            start = spec.get("start")
            if not isinstance(start, str):
                r.fail(key, f"{where}.start", "the role's first node is missing")
                start = ""
                self.links_ok = False
            elif start not in nodes:
                if start not in self.declared:  # else the node is broken: reported already
                    r.fail(f"{key}.start", f"{where}.start", f"no node {start!r}")
                self.links_ok = False
            roles.append(
                Role(
                    role_id,
                    r.texts(spec.get("name"), f"{key}.name", "role.name", where=f"{where}.name"),
                    r.texts(
                        spec.get("brief"), f"{key}.brief", "role.brief", where=f"{where}.brief"
                    ),
                    start,
                )
            )
        return tuple(roles)

    # -- nodes ---------------------------------------------------------------------------

    def _nodes(self, value: Any) -> dict[str, Node]:
        r = self.r
        if not isinstance(value, dict) or not value:
            r.fail("nodes", "nodes", "expected the scenario's nodes")
            self.links_ok = False
            return {}
        nodes: dict[str, Node] = {}
        self.declared = {str(node_id) for node_id in value}
        for node_id, spec in value.items():
            key = f"nodes.{node_id}"
            where = f"node {node_id}"
            if not isinstance(node_id, str) or not _ID.fullmatch(node_id):
                r.fail(key, where, "node id must be lowercase letters, digits and _")
                self.links_ok = False
                continue
            if len(node_id.encode()) > NODE_ID_MAX:
                r.fail(key, where, f"node id is longer than {NODE_ID_MAX} bytes")
            if not isinstance(spec, dict):
                r.fail(key, where, "expected a mapping")
                self.links_ok = False
                continue
            kinds = [k for k in _KIND_KEYS if k in spec]
            if len(kinds) != 1:
                found = ", ".join(kinds) if kinds else "none"
                r.fail(
                    key,
                    where,
                    f"needs exactly one of {', '.join(_KIND_KEYS)} (found: {found})",
                )
                self.links_ok = False
                continue
            kind = _KIND_KEYS[kinds[0]]
            self._only(spec, key, where, _NODE_KEYS[kind])
            node = self._node(node_id, kind, spec, key, where)
            if node is not None:
                nodes[node_id] = node
        for node in nodes.values():
            for target, at, shown in self._targets(node):
                if not target or (target not in nodes and target in self.declared):
                    continue  # reported already: a missing `next`, or a broken node
                if target not in nodes:
                    r.fail(f"nodes.{node.id}{at}", f"node {node.id}{shown}", f"no node {target!r}")
                    self.links_ok = False
        return nodes

    def _targets(self, node: Node) -> Iterator[tuple[str, str, str]]:
        """(target, its key under the node, how a problem names it) of each `next`."""
        if node.kind is NodeKind.DECISION:
            for i, c in enumerate(node.choices):
                yield c.next, f".choices.{i}.next", f", choices[{i + 1}].next"
        elif node.next:
            yield node.next, ".next", ", next"

    def _node(
        self, node_id: str, kind: NodeKind, spec: dict[str, Any], key: str, where: str
    ) -> Node | None:
        r = self.r
        text_key = kind.value

        def texts(name: str, limit: str | None = None) -> dict[str, str]:
            return r.texts(spec.get(name), f"{key}.{name}", limit or name, where=f"{where}, {name}")

        def next_of(container: dict[str, Any], at: str, shown: str) -> str:
            target = container.get("next")
            self.links_ok = self.links_ok and isinstance(target, str)
            if target is None:
                r.fail(at, f"{where}{shown}", "dead end: `next` is missing")
                return ""
            if not isinstance(target, str):
                named = f"{where}{shown}.next" if shown else f"{where}, next"
                r.fail(f"{at}.next", named, "must be a node id")
                return ""
            return target

        if kind is NodeKind.ENDING:
            return Node(
                node_id,
                kind,
                texts("ending"),
                debrief=texts("debrief"),
                expert=texts("expert"),
            )
        if kind is NodeKind.DECISION:
            choices = self._choices(spec.get("choices"), key, where, next_of)
            return Node(node_id, kind, texts("decision"), choices=choices)
        speaker = texts("speaker") if kind is NodeKind.LINE else None
        return Node(node_id, kind, texts(text_key), next=next_of(spec, key, ""), speaker=speaker)

    def _choices(self, value: Any, key: str, where: str, next_of: Any) -> tuple[Choice, ...]:
        r = self.r
        if not isinstance(value, list):
            r.fail(key, f"{where}, choices", "expected a list of choices")
            self.links_ok = False
            return ()
        if not value:
            self.links_ok = False  # a dead end
        if not MIN_CHOICES <= len(value) <= MAX_CHOICES:
            r.fail(
                f"{key}.choices",
                f"{where}, choices",
                f"{len(value)} choices (a decision has {MIN_CHOICES} to {MAX_CHOICES} buttons)",
            )
        choices = []
        for i, spec in enumerate(value):
            at = f"{key}.choices.{i}"
            shown = f", choices[{i + 1}]"
            if not isinstance(spec, dict):
                r.fail(at, f"{where}{shown}", "expected label, scores, feedback and next")
                self.links_ok = False
                continue
            self._only(spec, at, f"{where}{shown}", _CHOICE_KEYS)
            label = r.texts(
                spec.get("label"), f"{at}.label", "label", where=f"{where}{shown}.label"
            )
            feedback = r.texts(
                spec.get("feedback"), f"{at}.feedback", "feedback", where=f"{where}{shown}.feedback"
            )
            scores = self._scores(spec.get("scores"), f"{at}.scores", f"{where}{shown}.scores")
            recommended = spec.get("recommended", False)
            if not isinstance(recommended, bool):
                r.fail(f"{at}.recommended", f"{where}{shown}.recommended", "must be true or false")
                recommended = False
            choices.append(Choice(label, scores, feedback, next_of(spec, at, shown), recommended))
        marked = sum(c.recommended for c in choices)
        if choices and marked != 1:
            r.fail(
                f"{key}.choices",
                f"{where}, choices",
                f"{marked} choices are marked `recommended: true` (exactly one must be)",
            )
        for locale in LOCALES:
            # "?" stands for a missing or broken label, reported already
            labels = [c.label[locale] for c in choices if c.label.get(locale, "?") != "?"]
            if len(set(labels)) != len(labels):
                r.fail(
                    f"{key}.choices",
                    f"{where}, choices",
                    f"two choices have the same label ({locale})",
                )
                break
        return tuple(choices)

    def _scores(self, value: Any, key: str, where: str) -> dict[str, int]:
        r = self.r
        if value is None:
            return {}
        if not isinstance(value, dict):
            r.fail(key, where, "expected points per dimension, e.g. {legal: 1, risk: -1}")
            return {}
        out = {}
        for dim, points in value.items():
            if dim not in self.dimensions:
                r.fail(
                    f"{key}.{dim}",
                    f"{where}.{dim}",
                    f"unknown dimension (expected {', '.join(self.dimensions)})",
                )
                continue
            if isinstance(points, bool) or not isinstance(points, int):
                r.fail(f"{key}.{dim}", f"{where}.{dim}", f"{points!r} is not a whole number")
                continue
            if not SCORE_MIN <= points <= SCORE_MAX:
                r.fail(
                    f"{key}.{dim}",
                    f"{where}.{dim}",
                    f"{points} is outside {SCORE_MIN}..{SCORE_MAX}",
                )
                continue
            out[dim] = points
        return out

    def _only(self, spec: dict[str, Any], key: str, where: str, allowed: tuple[str, ...]) -> None:
        for name in spec:
            if name not in allowed:
                self.r.fail(
                    f"{key}.{name}",
                    f"{where}: {name}",
                    f"unknown key (expected {', '.join(allowed)})",
                )

    # -- the graph -----------------------------------------------------------------------

    def _graph(self, nodes: Mapping[str, Node], roles: tuple[Role, ...]) -> None:
        r = self.r
        cycle = find_cycle(nodes)
        if cycle is not None:
            r.fail(
                f"nodes.{cycle[0]}",
                f"node {cycle[0]}",
                "the story loops back: " + " → ".join(cycle) + " (a scenario must always end)",
            )
            return
        seen = set(reachable(nodes, [role.start for role in roles]))
        for node_id in nodes:
            if node_id not in seen:
                r.fail(f"nodes.{node_id}", f"node {node_id}", "unreachable from any role's start")
        for role in roles:
            ends = [n for n in reachable(nodes, [role.start]) if nodes[n].kind is NodeKind.ENDING]
            if len(ends) < MIN_ENDINGS_PER_ROLE:
                r.fail(
                    f"roles.{role.id}",
                    f"roles.{role.id}",
                    f"reaches {len(ends)} ending(s) ({MIN_ENDINGS_PER_ROLE} at least: "
                    "the choices must matter)",
                )
