"""`xueyong scenario check | play`, run in-process through bot.__main__.main."""

from __future__ import annotations

import builtins
import copy
import functools
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import bot.__main__
from bot.__main__ import main
from bot.content import Texts, load_texts

ROOT = Path(__file__).resolve().parents[2]
MINI = ROOT / "tests" / "fixtures" / "scenarios" / "mini.yaml"


@functools.cache
def _texts(content_dir: Path, default_locale: str) -> Texts:
    return load_texts(content_dir, default_locale)


@pytest.fixture(autouse=True)
def _shipped_content(monkeypatch: pytest.MonkeyPatch) -> None:
    # the CLI reads its settings from the environment: use the repository's content
    monkeypatch.setenv("CONTENT_DIR", str(ROOT / "content"))
    # loading (and checking) every text takes a second: once per content dir is enough
    monkeypatch.setattr(bot.__main__, "load_texts", _texts)


def answers(monkeypatch: pytest.MonkeyPatch, *lines: str) -> list[str]:
    """Feed `input()`; returns the prompts it was called with."""
    prompts: list[str] = []
    feed: Iterator[str] = iter(lines)

    def fake_input(prompt: str = "") -> str:
        prompts.append(prompt)
        try:
            return next(feed)
        except StopIteration:
            raise EOFError from None

    monkeypatch.setattr(builtins, "input", fake_input)
    return prompts


def broken_copy(tmp_path: Path) -> Path:
    data = yaml.safe_load(MINI.read_text(encoding="utf-8"))
    data = copy.deepcopy(data)
    data["nodes"]["cadre_d1"]["choices"][0]["label"]["en"] = "x" * 41
    data["nodes"]["res_d1"]["choices"][1]["scores"] = {"coordination": 7}
    path = tmp_path / "mini.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


# -- check ---------------------------------------------------------------------------------


def test_check_a_valid_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenario", "check", str(MINI)]) == 0
    out = capsys.readouterr().out
    assert f"{MINI}: ok" in out
    assert "9 nodes" in out
    assert "cadre: 1–2 decisions, 2 endings" in out
    assert "resident: 1–1 decisions, 2 endings" in out


def test_check_a_broken_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = broken_copy(tmp_path)
    assert main(["scenario", "check", str(MINI), str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{MINI}: ok" in out
    assert re.search(
        rf"^{re.escape(str(bad))}:\d+: node cadre_d1, choices\[1\]\.label\.en: "
        r"text is 41 characters long \(40 at most\)$",
        out,
        re.M,
    )
    assert re.search(
        rf"^{re.escape(str(bad))}:\d+: node res_d1, choices\[2\]\.scores\.coordination: "
        r"7 is outside -2\.\.2$",
        out,
        re.M,
    )
    assert f"{bad}: ok" not in out
    assert "1 of 2 file(s) have problems" in out


def test_check_invalid_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "mini.yaml"
    bad.write_text(
        MINI.read_text(encoding="utf-8").replace(
            "    decision:\n      zh-CN: 你先怎么做？\n      en: What do you do first?\n",
            "    decision: {zh-CN: 你先怎么做？, en: First step: listen}\n",
        ),
        encoding="utf-8",
    )
    assert main(["scenario", "check", str(bad)]) == 1
    out = capsys.readouterr().out
    assert re.search(rf"^{re.escape(str(bad))}:\d+: file: invalid YAML, column \d+", out, re.M)


def test_check_every_shipped_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    """Without files: every file of content/scenarios/ (the shipped content must pass)."""
    status = main(["scenario", "check"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "pets.yaml: ok" in out


def test_check_with_no_scenario_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    content = tmp_path / "content"
    shutil.copytree(ROOT / "content", content)
    shutil.rmtree(content / "scenarios")
    (content / "scenarios").mkdir()
    monkeypatch.setenv("CONTENT_DIR", str(content))
    assert main(["scenario", "check"]) == 1
    assert "no scenario files" in capsys.readouterr().out


# -- play ----------------------------------------------------------------------------------


def test_play_the_recommended_path_in_english(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = answers(monkeypatch, "1", "2", "Please keep the stairwell clear.")
    status = main(["scenario", "play", str(MINI), "--role", "cadre", "--locale", "en"])
    out = capsys.readouterr().out
    assert status == 0, out
    # the intro, each node in order, the free text echoed back
    expected_in_order = [
        "Clutter in the stairwell",
        "Community cadre",
        "The stairwell of Building 3 in Xingfuli Community is full of boxes",
        "You sit on the Xingfuli residents' committee.",
        "On Monday morning Mr Wang comes to the residents' committee.",
        "Mr Wang",
        '"If nobody clears that stairwell, something terrible will happen!"',
        "What do you do first?",
        "  1. Let him finish first",
        "  2. Quote the fire rules",
        "  3. Send him to the property firm",
        "Listen first; let the anger settle.",  # the feedback
        "Legality and procedure +2",  # its points
        "Communication and empathy +1",
        "And next?",
        "  1. Promise to clear it today",
        "  2. Inspect with property and fire staff",
        "Everyone on site, by the rules.",
        "Write the first sentence of your stairwell notice.",
        "[cadre_write] Please keep the stairwell clear.",
        "Stairwell cleared",  # the ending
        "The fire inspection passes.",
        "Legality and procedure: ██████████ 100 (raw +3)",
        "Communication and empathy: — (this role does not test it)",
        "Coordination: — (this role does not test it)",
        "Risk control: ██████████ 100 (raw +1)",
        "Overall: 100",
        "1. ✅ Let him finish first",
        "2. ✅ Inspect with property and fire staff",
        "Follow the rules, and bring people with you.",  # the expert
    ]
    at = 0
    for text in expected_in_order:
        found = out.find(text, at)
        assert found >= 0, f"{text!r} not after position {at}:\n{out}"
        at = found + len(text)
    assert "<b>" not in out and "&quot;" not in out  # plain text, not Telegram HTML
    assert prompts == ["[1-3] > ", "[1-2] > ", "> "]


def test_play_another_path_shows_the_scores_and_the_differences(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    answers(monkeypatch, "2", "2", "")
    assert main(["scenario", "play", str(MINI), "--role", "cadre", "--locale", "en"]) == 0
    out = capsys.readouterr().out
    assert "The rules are right, the timing is not." in out
    assert "Legality and procedure -1" in out
    assert "Legality and procedure: █████░░░░░ 50 (raw 0)" in out
    assert "Risk control: ██████████ 100 (raw +1)" in out
    assert "Overall: 75" in out
    assert "1. ↔️ you: Quote the fire rules · recommended: Let him finish first" in out
    assert "2. ✅ Inspect with property and fire staff" in out
    assert "[cadre_write] —" in out  # an empty answer


def test_play_asks_again_on_a_wrong_number(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = answers(monkeypatch, "9", "x", "", "3")
    assert main(["scenario", "play", str(MINI), "--role", "cadre", "--locale", "en"]) == 0
    out = capsys.readouterr().out
    assert out.count("1–3?") == 3
    assert prompts == ["[1-3] > "] * 4
    assert "Passing the buck makes it worse." in out
    assert "The quarrel escalates" in out
    assert "Risk control: ░░░░░░░░░░ 0 (raw -2)" in out
    assert "Overall: 25" in out


def test_play_asks_for_the_role(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    answers(monkeypatch, "2", "2")
    assert main(["scenario", "play", str(MINI), "--locale", "en"]) == 0
    out = capsys.readouterr().out
    assert "  1. Community cadre (cadre)" in out
    assert "  2. Resident (resident)" in out
    assert "Two of the boxes are outside your own door." in out
    assert "If everyone waits, nothing moves." in out
    assert "Coordination -1" in out
    assert "Coordination: ░░░░░░░░░░ 0 (raw -1)" in out
    assert "Legality and procedure: — (this role does not test it)" in out
    assert "The quarrel escalates" in out


def test_play_in_chinese_by_default(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DEFAULT_LOCALE", "zh-CN")
    answers(monkeypatch, "1")
    assert main(["scenario", "play", str(MINI), "--role", "resident"]) == 0
    out = capsys.readouterr().out
    assert "你家门口也堆着两个纸箱。" in out
    assert "带动邻里，事半功倍。" in out
    assert "楼道清空" in out


def test_play_an_unknown_role(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    answers(monkeypatch)
    assert main(["scenario", "play", str(MINI), "--role", "mayor", "--locale", "en"]) == 2
    assert "no role 'mayor' (roles: cadre, resident)" in capsys.readouterr().out


def test_play_a_broken_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    answers(monkeypatch)
    bad = broken_copy(tmp_path)
    assert main(["scenario", "play", str(bad), "--role", "cadre", "--locale", "en"]) == 1
    out = capsys.readouterr().out
    assert "text is 41 characters long" in out
    assert "On Monday morning" not in out


def test_play_stops_at_the_end_of_input(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    answers(monkeypatch, "1")  # then EOF (Ctrl-D) at the second decision
    with pytest.raises(SystemExit) as stopped:
        main(["scenario", "play", str(MINI), "--role", "cadre", "--locale", "en"])
    assert stopped.value.code == 130
    assert "And next?" in capsys.readouterr().out
