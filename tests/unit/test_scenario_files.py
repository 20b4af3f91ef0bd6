"""The scenario checker (bot.content.scenarios): broken files are refused, every problem is
reported with its file, line and node, and the bot does not start with a broken scenario.
Also: the shipped scenarios (content/scenarios/*.yaml) meet what our own content promises."""

from __future__ import annotations

import copy
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import load_settings
from bot.content import ContentError, load_texts
from bot.content.scenarios import (
    LIMITS,
    Problem,
    ScenarioError,
    check_file,
    load_dimensions,
    load_scenarios,
    scenario_files,
)
from bot.domain.scenarios import (
    NodeKind,
    Scenario,
    Step,
    overall,
    percents,
    raw_scores,
    reachable,
)

ROOT = Path(__file__).resolve().parents[2]
CONTENT = ROOT / "content"
MINI = ROOT / "tests" / "fixtures" / "scenarios" / "mini.yaml"
DIMENSIONS = load_dimensions(CONTENT)
AREAS = load_texts(CONTENT).area_ids()
BASE: dict[str, Any] = yaml.safe_load(MINI.read_text(encoding="utf-8"))

Data = dict[str, Any]


# -- helpers -------------------------------------------------------------------------------


def dump(data: Data) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=1000)


def write(tmp_path: Path, data: Data | str, name: str = "mini") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(data if isinstance(data, str) else dump(data), encoding="utf-8")
    return path


def check(path: Path) -> list[Problem]:
    scenario, problems = check_file(path, DIMENSIONS, AREAS)
    assert (scenario is None) == bool(problems)
    return problems


def broken(tmp_path: Path, change: Callable[[Data], object]) -> tuple[Path, list[Problem]]:
    """The fixture with one change, written to tmp_path and checked."""
    data = copy.deepcopy(BASE)
    change(data)
    path = write(tmp_path, data)
    return path, check(path)


def line_of(path: Path, *keys: str) -> int:
    """The line (1-based) of the first key, then of each next key after it."""
    lines = path.read_text(encoding="utf-8").splitlines()
    at = 0
    for key in keys:
        pattern = re.compile(rf"^\s*(- )?{re.escape(key)}:")
        at = next(i for i in range(at, len(lines)) if pattern.match(lines[i])) + 1
    return at


def one(problems: list[Problem], where: str) -> Problem:
    found = [p for p in problems if p.where == where]
    assert len(found) == 1, (where, [str(p) for p in problems])
    return found[0]


def node(data: Data, node_id: str) -> Data:
    return data["nodes"][node_id]  # type: ignore[no-any-return]


def choice(data: Data, node_id: str, index: int) -> Data:
    return node(data, node_id)["choices"][index]  # type: ignore[no-any-return]


# -- a sound file --------------------------------------------------------------------------


def test_a_valid_file_passes(tmp_path: Path) -> None:
    scenario, problems = check_file(MINI, DIMENSIONS, AREAS)
    assert problems == []
    assert scenario is not None
    assert scenario.id == "mini" and scenario.area == "mediation"
    assert [r.id for r in scenario.roles] == ["cadre", "resident"]
    assert scenario.node("cadre_wang").kind is NodeKind.LINE
    assert scenario.node("cadre_d1").choices[1].scores == {"legal": -1, "mass_work": 1}
    assert scenario.node("cadre_d1").choices[0].label["en"] == "Let him finish first"
    assert scenario.source == str(MINI)
    # dumped again (flow style gone, keys in another layout) it is still the same scenario
    assert check(write(tmp_path, copy.deepcopy(BASE))) == []


def test_texts_at_their_limits_pass(tmp_path: Path) -> None:
    def change(d: Data) -> None:
        choice(d, "cadre_d1", 0)["label"] = {"zh-CN": "听" * 40, "en": "x" * 40}
        d["title"]["en"] = "t" * LIMITS["title"]

    assert broken(tmp_path, change)[1] == []


# -- the graph -----------------------------------------------------------------------------


def test_unreachable_node(tmp_path: Path) -> None:
    def change(d: Data) -> None:
        d["nodes"]["cadre_orphan"] = {
            "narration": {"zh-CN": "没人到这里。", "en": "Nobody gets here."},
            "next": "end_good",
        }

    path, problems = broken(tmp_path, change)
    p = one(problems, "node cadre_orphan")
    assert "unreachable" in p.message
    assert p.path == path and p.line == line_of(path, "cadre_orphan")
    assert str(p).startswith(f"{path}:{p.line}: node cadre_orphan: unreachable")
    assert len(problems) == 1


def test_dead_end_without_next(tmp_path: Path) -> None:
    def change(d: Data) -> None:
        del node(d, "cadre_write")["next"]
        del choice(d, "res_d1", 1)["next"]

    path, problems = broken(tmp_path, change)
    p = one(problems, "node cadre_write")
    assert "dead end" in p.message and "`next`" in p.message
    assert p.line == line_of(path, "cadre_write")
    p = one(problems, "node res_d1, choices[2]")
    assert "dead end" in p.message
    assert p.line == line_of(path, "res_d1", "choices", "label", "label")
    # the missing links are the problem; no follow-up noise about unreachable nodes
    assert len(problems) == 2


def test_next_names_a_missing_node(tmp_path: Path) -> None:
    def change(d: Data) -> None:
        node(d, "cadre_wang")["next"] = "cadre_nowhere"
        choice(d, "cadre_d1", 1)["next"] = "cadre_ghost"

    path, problems = broken(tmp_path, change)
    p = one(problems, "node cadre_wang, next")
    assert p.message == "no node 'cadre_nowhere'"
    assert p.line == line_of(path, "cadre_wang", "next")
    p = one(problems, "node cadre_d1, choices[2].next")
    assert p.message == "no node 'cadre_ghost'"
    assert p.line == line_of(path, "cadre_d1", "choices", "label", "label", "next")
    assert len(problems) == 2


def test_next_that_is_not_a_node_id(tmp_path: Path) -> None:
    def change(d: Data) -> None:
        node(d, "cadre_intro")["next"] = ["cadre_wang"]

    path, problems = broken(tmp_path, change)
    p = one(problems, "node cadre_intro, next")
    assert p.message == "must be a node id"
    assert p.line == line_of(path, "cadre_intro", "next")


def test_cycle(tmp_path: Path) -> None:
    def change(d: Data) -> None:
        node(d, "cadre_write")["next"] = "cadre_d1"  # d1 → d2 → write → d1

    path, problems = broken(tmp_path, change)
    assert len(problems) == 1, [str(p) for p in problems]
    p = problems[0]
    assert p.where.startswith("node cadre_")
    assert "loops back" in p.message
    loop = p.message.split(": ", 1)[1].split(" (")[0].split(" → ")
    assert loop[0] == loop[-1]
    assert set(loop) == {"cadre_d1", "cadre_d2", "cadre_write"}
    assert p.line == line_of(path, p.where.removeprefix("node "))


def test_role_start_missing(tmp_path: Path) -> None:
    def change(d: Data) -> None:
        del d["roles"]["cadre"]["start"]

    path, problems = broken(tmp_path, change)
    p = one(problems, "roles.cadre.start")
    assert "first node is missing" in p.message
    assert p.line == line_of(path, "roles", "cadre")


def test_role_start_names_a_missing_node(tmp_path: Path) -> None:
    def change(d: Data) -> None:
        d["roles"]["resident"]["start"] = "res_ghost"

    path, problems = broken(tmp_path, change)
    p = one(problems, "roles.resident.start")
    assert p.message == "no node 'res_ghost'"
    assert p.line == line_of(path, "resident", "start")
    assert len(problems) == 1  # res_intro is then unreachable, but that follows from it


def test_role_reaching_only_one_ending(tmp_path: Path) -> None:
    def change(d: Data) -> None:
        choice(d, "res_d1", 1)["next"] = "end_good"

    path, problems = broken(tmp_path, change)
    p = one(problems, "roles.resident")
    assert "1 ending(s)" in p.message and "2 at least" in p.message
    assert p.line == line_of(path, "roles", "resident")
    assert len(problems) == 1


def test_duplicate_node_id(tmp_path: Path) -> None:
    text = dump(BASE) + (
        "  cadre_intro:\n"
        "    narration:\n"
        "      zh-CN: 又一个开头。\n"
        "      en: Another start.\n"
        "    next: cadre_wang\n"
    )
    path = write(tmp_path, text)
    problems = check(path)
    assert len(problems) == 1, [str(p) for p in problems]
    p = problems[0]
    assert p.where == "node cadre_intro"
    assert "appears twice" in p.message
    assert f"first at line {line_of(path, 'cadre_intro')}" in p.message
    assert p.line == len(text.splitlines()) - 4


def test_duplicate_text_key(tmp_path: Path) -> None:
    text = dump(BASE).replace(
        "      en: What do you do first?\n",
        "      en: What do you do first?\n      en: And now?\n",
    )
    path = write(tmp_path, text)
    problems = check(path)
    assert len(problems) == 1
    assert problems[0].where == "nodes.cadre_d1.decision.en"
    assert problems[0].line == line_of(path, "cadre_d1", "decision", "en", "en")


# -- decisions -----------------------------------------------------------------------------


def test_too_few_choices(tmp_path: Path) -> None:
    def change(d: Data) -> None:
        del node(d, "res_d1")["choices"][1]

    path, problems = broken(tmp_path, change)
    p = one(problems, "node res_d1, choices")
    assert p.message.startswith("1 choices") and "2 to 4" in p.message
    assert p.line == line_of(path, "res_d1", "choices")


def test_too_many_choices(tmp_path: Path) -> None:
    def change(d: Data) -> None:
        extra = copy.deepcopy(choice(d, "cadre_d1", 1))
        extra["label"] = {"zh-CN": "先打电话问问领导", "en": "Call your boss"}
        extra2 = copy.deepcopy(extra)
        extra2["label"] = {"zh-CN": "当场拍照取证", "en": "Take photos as evidence"}
        node(d, "cadre_d1")["choices"] += [extra, extra2]

    path, problems = broken(tmp_path, change)
    p = one(problems, "node cadre_d1, choices")
    assert p.message.startswith("5 choices")
    assert p.line == line_of(path, "cadre_d1", "choices")
    assert len(problems) == 1


@pytest.mark.parametrize(("marks", "count"), [((False, False, False), 0), ((True, True, False), 2)])
def test_exactly_one_recommended_choice(
    tmp_path: Path, marks: tuple[bool, ...], count: int
) -> None:
    def change(d: Data) -> None:
        for i, mark in enumerate(marks):
            c = choice(d, "cadre_d1", i)
            c.pop("recommended", None)
            if mark:
                c["recommended"] = True

    path, problems = broken(tmp_path, change)
    p = one(problems, "node cadre_d1, choices")
    assert p.message.startswith(f"{count} choices are marked `recommended: true`")
    assert p.line == line_of(path, "cadre_d1", "choices")


def test_recommended_must_be_a_boolean(tmp_path: Path) -> None:
    def change(d: Data) -> None:
        choice(d, "res_d1", 0)["recommended"] = "yes please"

    _, problems = broken(tmp_path, change)
    assert one(problems, "node res_d1, choices[1].recommended").message == "must be true or false"


def test_two_choices_with_the_same_label(tmp_path: Path) -> None:
    def change(d: Data) -> None:
        choice(d, "res_d1", 1)["label"] = dict(choice(d, "res_d1", 0)["label"])

    _, problems = broken(tmp_path, change)
    assert "same label" in one(problems, "node res_d1, choices").message


@pytest.mark.parametrize(
    ("en", "length"),
    [
        ("x" * 41, 41),
        # 40 code points, but Telegram counts UTF-16 units and 🙂 is two of them
        ("Talk to him 🙂 " + "x" * 26, 41),
    ],
)
def test_button_label_over_the_limit(tmp_path: Path, en: str, length: int) -> None:
    def change(d: Data) -> None:
        choice(d, "cadre_d1", 2)["label"]["en"] = en

    path, problems = broken(tmp_path, change)
    p = one(problems, "node cadre_d1, choices[3].label.en")
    assert p.message == f"text is {length} characters long (40 at most)"
    assert p.line == line_of(path, "cadre_d1", "choices", "label", "label", "label", "en")
    assert len(problems) == 1


def test_chinese_label_over_the_limit(tmp_path: Path) -> None:
    def change(d: Data) -> None:
        choice(d, "cadre_d1", 0)["label"]["zh-CN"] = "先" * 41

    _, problems = broken(tmp_path, change)
    p = one(problems, "node cadre_d1, choices[1].label.zh-CN")
    assert "41 characters" in p.message


@pytest.mark.parametrize(
    ("points", "message"),
    [
        (3, "3 is outside -2..2"),
        (-3, "-3 is outside -2..2"),
        (1.5, "1.5 is not a whole number"),
        ("high", "'high' is not a whole number"),
        (True, "True is not a whole number"),
    ],
)
def test_bad_score(tmp_path: Path, points: object, message: str) -> None:
    def change(d: Data) -> None:
        choice(d, "cadre_d2", 1)["scores"]["risk"] = points

    path, problems = broken(tmp_path, change)
    p = one(problems, "node cadre_d2, choices[2].scores.risk")
    assert p.message == message
    assert p.line == line_of(path, "cadre_d2", "choices", "label", "label", "scores", "risk")
    assert len(problems) == 1


def test_unknown_dimension(tmp_path: Path) -> None:
    def change(d: Data) -> None:
        choice(d, "res_d1", 0)["scores"]["empathy"] = 1

    path, problems = broken(tmp_path, change)
    p = one(problems, "node res_d1, choices[1].scores.empathy")
    assert p.message.startswith("unknown dimension")
    assert "legal, mass_work, coordination, risk" in p.message
    assert p.line == line_of(path, "res_d1", "empathy")


def test_scores_that_are_not_a_mapping(tmp_path: Path) -> None:
    def change(d: Data) -> None:
        choice(d, "res_d1", 0)["scores"] = [1, 2]

    _, problems = broken(tmp_path, change)
    assert one(problems, "node res_d1, choices[1].scores").message.startswith("expected points")


# -- texts ---------------------------------------------------------------------------------


def test_missing_english_translation(tmp_path: Path) -> None:
    def change(d: Data) -> None:
        del node(d, "cadre_d1")["decision"]["en"]

    path, problems = broken(tmp_path, change)
    p = one(problems, "node cadre_d1, decision.en")
    assert p.message == "translation is missing"
    assert p.line == line_of(path, "cadre_d1", "decision")
    assert len(problems) == 1


def test_missing_chinese_translation(tmp_path: Path) -> None:
    def change(d: Data) -> None:
        del choice(d, "res_d1", 1)["feedback"]["zh-CN"]
        d["roles"]["resident"]["name"] = {"en": "Resident"}

    path, problems = broken(tmp_path, change)
    p = one(problems, "node res_d1, choices[2].feedback.zh-CN")
    assert p.message == "translation is missing"
    assert p.line == line_of(path, "res_d1", "choices", "label", "label", "feedback")
    p = one(problems, "roles.resident.name.zh-CN")
    assert p.line == line_of(path, "roles", "resident", "name")


def test_empty_text_and_one_text_for_all(tmp_path: Path) -> None:
    def change(d: Data) -> None:
        node(d, "end_bad")["debrief"]["en"] = "  "
        node(d, "end_good")["expert"] = "只有中文"

    _, problems = broken(tmp_path, change)
    assert one(problems, "node end_bad, debrief.en").message == "expected non-empty text"
    assert "per locale" in one(problems, "node end_good, expert").message


def test_a_text_yaml_reads_as_a_boolean(tmp_path: Path) -> None:
    text = MINI.read_text(encoding="utf-8").replace("en: Wait and see what others do", "en: No")
    path = write(tmp_path, text)
    p = one(check(path), "node res_d1, choices[2].label.en")
    assert "False" in p.message and "quote" in p.message
    assert p.line == line_of(path, "res_d1", "choices", "label", "label", "en")


def test_unknown_locale(tmp_path: Path) -> None:
    def change(d: Data) -> None:
        node(d, "cadre_intro")["narration"]["zh-TW"] = "週一上午。"

    path, problems = broken(tmp_path, change)
    p = one(problems, "node cadre_intro, narration.zh-TW")
    assert p.message.startswith("unknown locale")
    assert p.line == line_of(path, "cadre_intro", "zh-TW")
    assert len(problems) == 1


def test_a_comma_inside_a_flow_mapping(tmp_path: Path) -> None:
    text = MINI.read_text(encoding="utf-8").replace(
        "    decision:\n      zh-CN: 你先怎么做？\n      en: What do you do first?\n",
        "    decision: {zh-CN: 你先怎么做？, en: Well, what first}\n",
    )
    path = write(tmp_path, text)
    p = one(check(path), "node cadre_d1, decision.what first")
    assert "unknown locale" in p.message and "quote" in p.message
    assert p.line == line_of(path, "cadre_d1", "decision")


def test_title_over_the_limit_and_on_two_lines(tmp_path: Path) -> None:
    def change(d: Data) -> None:
        d["title"]["zh-CN"] = "楼" * 41
        d["summary"]["en"] = "one\ntwo"

    _, problems = broken(tmp_path, change)
    assert "41 characters" in one(problems, "title.zh-CN").message
    assert one(problems, "summary.en").message == "must be one line"


# -- structure -----------------------------------------------------------------------------


def test_unknown_keys(tmp_path: Path) -> None:
    def change(d: Data) -> None:
        d["titel"] = "typo"
        node(d, "cadre_intro")["nxt"] = "cadre_wang"
        choice(d, "cadre_d2", 1)["recomended"] = True
        d["roles"]["cadre"]["goal"] = "x"

    path, problems = broken(tmp_path, change)
    p = one(problems, "titel")
    assert p.message.startswith("unknown key") and p.line == line_of(path, "titel")
    p = one(problems, "node cadre_intro: nxt")
    assert p.message.startswith("unknown key (expected narration, next)")
    assert p.line == line_of(path, "cadre_intro", "nxt")
    p = one(problems, "node cadre_d2, choices[2]: recomended")
    assert p.line == line_of(path, "cadre_d2", "recomended")
    assert one(problems, "roles.cadre: goal").message.startswith("unknown key")
    assert len(problems) == 4


def test_node_with_two_kind_keys(tmp_path: Path) -> None:
    def change(d: Data) -> None:
        node(d, "cadre_wang")["narration"] = {"zh-CN": "王大爷进门。", "en": "Mr Wang comes in."}

    path, problems = broken(tmp_path, change)
    p = one(problems, "node cadre_wang")
    assert p.message.startswith("needs exactly one of narration, line, decision")
    assert "(found: narration, line)" in p.message
    assert p.line == line_of(path, "cadre_wang")
    # cadre_intro's `next` points at the broken node: no second "no node" problem for it
    assert len(problems) == 1


def test_node_with_no_kind_key(tmp_path: Path) -> None:
    def change(d: Data) -> None:
        node(d, "cadre_intro")["text"] = node(d, "cadre_intro").pop("narration")

    _, problems = broken(tmp_path, change)
    assert "(found: none)" in one(problems, "node cadre_intro").message
    assert len(problems) == 1  # cadre.start names it: reported once


@pytest.mark.parametrize("bad_id", ["Cadre_X", "cadre-x", "1cadre"])
def test_bad_node_id(tmp_path: Path, bad_id: str) -> None:
    def change(d: Data) -> None:
        d["nodes"][bad_id] = d["nodes"].pop("cadre_write")

    _, problems = broken(tmp_path, change)
    assert "lowercase" in one(problems, f"node {bad_id}").message


def test_id_is_not_the_file_name(tmp_path: Path) -> None:
    path = write(tmp_path, copy.deepcopy(BASE), name="stairwell")
    problems = check(path)
    assert len(problems) == 1
    p = problems[0]
    assert p.where == "id" and p.line == 1 and p.path == path
    assert p.message == "'mini' must be the file's name (stairwell)"


def test_unknown_area(tmp_path: Path) -> None:
    def change(d: Data) -> None:
        d["area"] = "space_travel"

    _, problems = broken(tmp_path, change)
    assert "content/areas.yaml" in one(problems, "area").message


def test_invalid_yaml_flow_mapping_colon(tmp_path: Path) -> None:
    text = MINI.read_text(encoding="utf-8").replace(
        "    decision:\n      zh-CN: 你先怎么做？\n      en: What do you do first?\n",
        "    decision: {zh-CN: 你先怎么做？, en: First step: listen}\n",
    )
    path = write(tmp_path, text)
    problems = check(path)
    assert len(problems) == 1
    p = problems[0]
    assert p.where == "file" and p.path == path
    assert p.line == line_of(path, "cadre_d1", "decision")
    assert p.message.startswith("invalid YAML, column ")
    assert "'}'" in p.message and "quote" in p.message
    assert str(p).startswith(f"{path}:{p.line}: file: invalid YAML")


def test_invalid_yaml_indentation(tmp_path: Path) -> None:
    path = write(tmp_path, "id: mini\ntitle:\n  zh-CN: 标题\n en: Title\n")
    problems = check(path)
    assert len(problems) == 1
    assert problems[0].where == "file" and problems[0].line == 4
    assert "invalid YAML" in problems[0].message


@pytest.mark.parametrize("text", ["", "- a list\n- not a mapping\n"])
def test_not_a_mapping(tmp_path: Path, text: str) -> None:
    problems = check(write(tmp_path, text))
    assert [p.where for p in problems] == ["file"]
    assert problems[0].message.startswith("expected a mapping")


def test_missing_file(tmp_path: Path) -> None:
    problems = check(tmp_path / "nowhere.yaml")
    assert len(problems) == 1 and "cannot read" in problems[0].message


# -- everything at once --------------------------------------------------------------------


def test_every_problem_is_reported(tmp_path: Path) -> None:
    def change(d: Data) -> None:
        choice(d, "cadre_d1", 0)["label"]["en"] = "y" * 45
        choice(d, "cadre_d2", 0)["scores"] = {"legal": 5, "empathy": 1}
        del node(d, "res_intro")["narration"]["en"]
        node(d, "end_bad")["ending"]["fr"] = "Dispute"
        d["roles"]["resident"]["brief"]["zh-CN"] = "长" * 601
        del node(d, "res_d1")["choices"][0]["recommended"]

    path, problems = broken(tmp_path, change)
    assert {p.where for p in problems} == {
        "node cadre_d1, choices[1].label.en",
        "node cadre_d2, choices[1].scores.legal",
        "node cadre_d2, choices[1].scores.empathy",
        "node res_intro, narration.en",
        "node end_bad, ending.fr",
        "roles.resident.brief.zh-CN",
        "node res_d1, choices",
    }
    assert all(p.path == path and p.line is not None for p in problems)
    lines = [p.line for p in problems]
    assert len(set(lines)) == len(lines)  # each at its own place


def test_graph_problems_are_reported_with_text_problems(tmp_path: Path) -> None:
    def change(d: Data) -> None:
        node(d, "cadre_write")["next"] = "cadre_d1"  # a loop
        choice(d, "res_d1", 0)["label"]["en"] = "z" * 41

    _, problems = broken(tmp_path, change)
    assert len(problems) == 2
    assert any("loops back" in p.message for p in problems)
    assert one(problems, "node res_d1, choices[1].label.en")


def test_unreachable_is_reported_with_text_problems(tmp_path: Path) -> None:
    def change(d: Data) -> None:
        d["nodes"]["cadre_orphan"] = {
            "narration": {"zh-CN": "没人到这里。"},
            "next": "end_good",
        }

    _, problems = broken(tmp_path, change)
    assert {p.where for p in problems} == {"node cadre_orphan, narration.en", "node cadre_orphan"}


# -- loading -------------------------------------------------------------------------------


def _content_copy(tmp_path: Path, *scenarios: tuple[str, str]) -> Path:
    """content/ with the given scenario files instead of the shipped ones."""
    target = tmp_path / "content"
    shutil.copytree(CONTENT, target)
    shutil.rmtree(target / "scenarios")
    (target / "scenarios").mkdir()
    for name, text in scenarios:
        (target / "scenarios" / f"{name}.yaml").write_text(text, encoding="utf-8")
    return target


def test_load_scenarios(tmp_path: Path) -> None:
    content = _content_copy(tmp_path, ("mini", MINI.read_text(encoding="utf-8")))
    dimensions, scenarios = load_scenarios(content, AREAS)
    assert [d.id for d in dimensions] == ["legal", "mass_work", "coordination", "risk"]
    assert dimensions[0].name("zh-CN") == "依法依规"
    assert [s.id for s in scenarios] == ["mini"]


def test_load_scenarios_refuses_one_bad_file(tmp_path: Path) -> None:
    bad = copy.deepcopy(BASE)
    bad["id"] = "worse"
    choice(bad, "cadre_d1", 0)["scores"]["legal"] = 9
    del node(bad, "res_intro")["next"]
    content = _content_copy(
        tmp_path, ("mini", MINI.read_text(encoding="utf-8")), ("worse", dump(bad))
    )
    with pytest.raises(ScenarioError) as caught:
        load_scenarios(content, AREAS)
    error = caught.value
    assert isinstance(error, ContentError)
    assert len(error.problems) == 2
    assert all(p.path.name == "worse.yaml" for p in error.problems)
    assert "worse.yaml" in str(error) and "(and 1 more" in str(error)
    assert error.path.name == "worse.yaml" and error.line is not None


def test_load_dimensions_refuses_a_broken_competencies_file(tmp_path: Path) -> None:
    content = _content_copy(tmp_path)
    (content / "competencies.yaml").write_text("dimensions:\n  legal: {zh-CN: 依法}\n")
    with pytest.raises(ContentError) as caught:
        load_dimensions(content)
    assert "competencies.yaml" in str(caught.value)


def test_the_bot_refuses_to_start_with_a_broken_scenario(tmp_path: Path) -> None:
    from bot.core import build_core

    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    bad = copy.deepcopy(BASE)
    bad["id"] = "zz_broken"
    node(bad, "cadre_write")["next"] = "cadre_d1"
    (content / "scenarios" / "zz_broken.yaml").write_text(dump(bad), encoding="utf-8")
    settings = load_settings(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'x.sqlite3'}", CONTENT_DIR=str(content)
    )
    with pytest.raises(ContentError) as caught:
        build_core(settings)
    assert isinstance(caught.value, ScenarioError)
    assert any(
        p.path.name == "zz_broken.yaml" and "loops back" in p.message for p in caught.value.problems
    )


# -- the shipped scenarios -----------------------------------------------------------------

EXPECTED = ("chaiqian", "elevator", "owners_committee", "pets", "parking")
SHIPPED = sorted({p.stem for p in scenario_files(CONTENT)} | set(EXPECTED))
MIN_DECISIONS = 4


def shipped(scenario_id: str) -> Scenario:
    path = CONTENT / "scenarios" / f"{scenario_id}.yaml"
    assert path.exists(), f"{path} is missing"
    scenario, problems = check_file(path, DIMENSIONS, AREAS)
    assert problems == [], "\n".join(map(str, problems))
    assert scenario is not None
    return scenario


def test_there_are_at_least_five_scenarios() -> None:
    ids = {p.stem for p in scenario_files(CONTENT)}
    assert len(ids) >= 5
    assert set(EXPECTED) <= ids, f"missing: {sorted(set(EXPECTED) - ids)}"


@pytest.mark.parametrize("scenario_id", SHIPPED)
def test_shipped_scenario_passes_the_checker(scenario_id: str) -> None:
    shipped(scenario_id)


def test_chaiqian_has_three_roles() -> None:
    assert {r.id for r in shipped("chaiqian").roles} >= {"cadre", "resident", "lawyer"}


@pytest.mark.parametrize("scenario_id", SHIPPED)
def test_every_path_has_four_decisions_and_every_role_two_endings(scenario_id: str) -> None:
    scenario = shipped(scenario_id)
    for role in scenario.roles:
        low, _ = scenario.decision_counts(role.id)
        assert low >= MIN_DECISIONS, f"{scenario_id}/{role.id}: a path has only {low} decisions"
        ends = scenario.endings_of(role.id)
        assert len(ends) >= 2, f"{scenario_id}/{role.id}: endings {ends}"


@pytest.mark.parametrize("scenario_id", SHIPPED)
def test_every_scenario_has_a_free_text_node(scenario_id: str) -> None:
    scenario = shipped(scenario_id)
    seen = reachable(scenario.nodes, [r.start for r in scenario.roles])
    assert any(scenario.node(n).kind is NodeKind.FREE_TEXT for n in seen)


@pytest.mark.parametrize("scenario_id", SHIPPED)
def test_the_recommended_path_scores_well(scenario_id: str) -> None:
    """The debrief shows scores (some dimension is not flat for the role), and the path of the
    recommended choices is near the top of the role's scale, or the scores contradict the
    feedback."""
    scenario = shipped(scenario_id)
    for role in scenario.roles:
        bounds = scenario.bounds(role.id)
        assert any(high > low for low, high in bounds.values()), f"{scenario_id}/{role.id}"
        path = [Step(n, c) for n, c in scenario.recommended_path(role.id)]
        shown = percents(scenario, role.id, raw_scores(scenario, path))
        total = overall(shown)
        assert total is not None and total >= 70, f"{scenario_id}/{role.id}: {shown}"
