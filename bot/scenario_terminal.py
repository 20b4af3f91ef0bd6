"""`xueyong scenario check | play`: the scenario authors' tools, in a terminal.

`check` reports every problem of the files given (all of content/scenarios/ by default),
each with its file, line and node. `play` walks one scenario as a trainee would in the chat,
with numbers instead of buttons, and ends with the same debrief (scores per dimension, path
against the recommended one, the expert's comment).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TextIO

from bot.content import Texts
from bot.content.scenarios import check_file, load_dimensions, scenario_files
from bot.domain.scenarios import (
    FREE_TEXT_LIMIT,
    Dimension,
    NodeKind,
    Play,
    compare_path,
    overall,
    percents,
)

_TAG = re.compile(r"<[^>]+>")


def check(paths: list[Path], content_dir: Path, texts: Texts, out: TextIO) -> int:
    """Exit status 0 when every file is sound, 1 otherwise."""
    dimensions = load_dimensions(content_dir)
    files = paths or scenario_files(content_dir)
    if not files:
        print(f"no scenario files in {content_dir / 'scenarios'}", file=out)
        return 1
    bad = 0
    for path in files:
        scenario, problems = check_file(path, dimensions, texts.area_ids())
        if problems:
            bad += 1
            for problem in problems:
                print(problem, file=out)
            continue
        assert scenario is not None
        parts = []
        for role in scenario.roles:
            low, high = scenario.decision_counts(role.id)
            ends = len(scenario.endings_of(role.id))
            parts.append(f"{role.id}: {low}–{high} decisions, {ends} endings")
        print(f"{path}: ok ({len(scenario.nodes)} nodes; {'; '.join(parts)})", file=out)
    if bad:
        print(f"{bad} of {len(files)} file(s) have problems", file=out)
    return 1 if bad else 0


def play(
    path: Path,
    content_dir: Path,
    texts: Texts,
    *,
    role_id: str | None,
    locale: str,
    read: Callable[[str], str],
    out: TextIO,
) -> int:
    dimensions = load_dimensions(content_dir)
    scenario, problems = check_file(path, dimensions, texts.area_ids())
    if scenario is None:
        for problem in problems:
            print(problem, file=out)
        return 1

    def say(key: str, **params: object) -> None:
        print(_plain(texts.render(locale, f"practice.{key}", **params)), file=out)
        print(file=out)

    if role_id is None:
        if len(scenario.roles) == 1:
            role_id = scenario.roles[0].id
        else:
            say("choose_role", title=scenario.title(locale), situation=scenario.situation(locale))
            for i, r in enumerate(scenario.roles, start=1):
                print(f"  {i}. {r.name(locale)} ({r.id})", file=out)
            role_id = scenario.roles[_ask(read, len(scenario.roles), out) - 1].id
    role = scenario.role(role_id)
    if role is None:
        print(f"no role {role_id!r} (roles: {', '.join(r.id for r in scenario.roles)})", file=out)
        return 2
    say(
        "intro",
        title=scenario.title(locale),
        role=role.name(locale),
        situation=scenario.situation(locale),
        brief=role.brief(locale),
    )
    game = Play.start(scenario, role.id)
    decisions = 0
    while not game.finished:
        node = game.current
        if node.kind is NodeKind.NARRATION:
            say("narration", text=node.text[locale])
            game.advance()
        elif node.kind is NodeKind.LINE:
            assert node.speaker is not None
            say("line", speaker=node.speaker[locale], text=node.text[locale])
            game.advance()
        elif node.kind is NodeKind.FREE_TEXT:
            say("free_text", text=node.text[locale], limit=FREE_TEXT_LIMIT, mentor=None)
            try:
                answer = read("> ").strip()
            except EOFError:
                raise SystemExit(130) from None
            print(f"[{node.id}] {answer or '—'}", file=out)
            game.advance()
        else:
            decisions += 1
            say("decision", number=decisions, text=node.text[locale])
            for i, c in enumerate(node.choices, start=1):
                print(f"  {i}. {c.label[locale]}", file=out)
            index = _ask(read, len(node.choices), out) - 1
            choice = game.choose(index)
            say(
                "feedback",
                feedback=choice.feedback[locale],
                points=point_labels(dimensions, choice.scores, locale, texts),
            )
    ending = game.current
    assert ending.debrief is not None and ending.expert is not None
    say("ending", title=ending.text[locale], debrief=ending.debrief[locale])
    print(_plain(texts.render(locale, "practice.scores_header")), file=out)
    raw = game.raw_scores()
    shown = percents(scenario, role.id, raw)
    for d in dimensions:
        value = shown[d.id]
        line = (
            texts.render(locale, "practice.score_none", name=d.name(locale))
            if value is None
            else texts.render(
                locale,
                "practice.score_line",
                name=d.name(locale),
                bar=bar(value),
                percent=value,
                raw=signed(raw[d.id]),
            )
        )
        print(_plain(line), file=out)
    total = overall(shown)
    if total is not None:
        print(_plain(texts.render(locale, "practice.total_line", percent=total)), file=out)
    print(file=out)
    say("path_header")
    entries = compare_path(scenario, game.steps)
    for number, entry in enumerate(entries, start=1):
        node = scenario.node(entry.node)
        chosen = node.choices[entry.chosen].label[locale]
        recommended = node.choices[entry.recommended].label[locale]
        key = "path_same" if entry.matches else "path_differs"
        print(
            _plain(
                texts.render(
                    locale,
                    f"practice.{key}",
                    number=number,
                    chosen=chosen,
                    recommended=recommended,
                )
            ),
            file=out,
        )
    print(file=out)
    say("expert", expert=ending.expert[locale])
    return 0


def _ask(read: Callable[[str], str], count: int, out: TextIO) -> int:
    while True:
        try:
            raw = read(f"[1-{count}] > ")
        except EOFError:
            raise SystemExit(130) from None
        if raw.strip().isdigit() and 1 <= int(raw) <= count:
            return int(raw)
        print(f"1–{count}?", file=out)


def _plain(rendered: str) -> str:
    return html.unescape(_TAG.sub("", rendered))


def signed(value: int) -> str:
    return f"+{value}" if value > 0 else str(value)


def bar(percent: int, width: int = 10) -> str:
    filled = round(percent * width / 100)
    return "█" * filled + "░" * (width - filled)


def point_labels(
    dimensions: tuple[Dimension, ...], scores: Mapping[str, int], locale: str, texts: Texts
) -> list[str]:
    """ "依法依规 +2" for each dimension a choice moves (in the dimensions' order)."""
    return [
        texts.plain(locale, "practice.point", name=d.name(locale), value=signed(scores[d.id]))
        for d in dimensions
        if scores.get(d.id)
    ]
