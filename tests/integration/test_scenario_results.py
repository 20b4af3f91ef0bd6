"""Scenario role-play results where the other features show a person's record, on a real
database: the growth portfolio (chat summary, HTML document, JSON copy) has a role-play
section only once there are finished plays; the mentor digest lists the plays finished since
the last digest and the answers still waiting for a comment, and a role-play counts as
activity; the organiser's report averages the cohort's plays per scenario and dimension.

The plays are computed from a small scenario of our own (content/ copied to a temporary
directory, its scenarios replaced), so that every 0–100 score below can be worked out by
hand; one test plays the real scenarios of content/scenarios/ into the portfolio.
"""

from __future__ import annotations

import html
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.config import load_settings
from bot.content import Translator
from bot.core import Core, build_core
from bot.db.models import ScenarioAnswer, ScenarioRun
from bot.domain.digest import weakest
from bot.domain.ltsi import split_messages
from bot.domain.notices import TEXT_LIMIT
from bot.domain.ports import MovableClock
from bot.domain.scenarios import NodeKind, Play, Scenario
from bot.services.mentoring import DigestView
from bot.services.portfolio_document import PortfolioDocument
from bot.services.scenarios import AnswerForMentor
from handlers.portfolio import summary_parts
from handlers.report import scenario_charts, scenario_parts
from tests.conftest import Backend
from tests.integration.test_mentoring_service import (
    LAST_DIGEST,
    NOW,
    START,
    last_digest_at,
    move_to,
    new_cohort,
    pair,
    person,
)

ROOT = Path(__file__).resolve().parents[2]
MENTOR, ORGANISER = 7410, 7400
ZHANG, LI, CHEN, DING = 7421, 7422, 7423, 7424
SCRIPT = "<script>alert('x')</script>"

# A scenario small enough to score by hand. Dimensions in content order: legal, mass_work,
# coordination, risk.
#   cadre:    d1 [0] legal +2 mass +1 (recommended) | [1] legal -1 mass -2 risk -1
#             → a free-text answer →
#             d2 [0] legal +1 risk +2 (recommended) → good | [1] legal -2 → bad
#             reachable: legal -3..3, mass -2..1, coordination 0..0 (not tested), risk -1..2
#   resident: d1 [0] coordination +2 (recommended) → calm | [1] coordination -2 mass +1 → loud
#             reachable: coordination -2..2, mass 0..1 (legal and risk not tested)
DRILL = """\
id: drill
area: mediation
title:
  zh-CN: 楼道堆物劝导
  en: Clearing a stairwell
summary:
  zh-CN: 三号楼楼道堆满杂物，消防检查在即。
  en: Stairwell 3 is full of clutter and the fire inspection is near.
situation:
  zh-CN: 幸福里社区三号楼楼道堆满纸箱和旧家具，下周消防检查。
  en: Stairwell 3 of Xingfuli is full of boxes and old furniture; the fire inspection is next week.
roles:
  cadre:
    name: {zh-CN: 社区干部, en: Community cadre}
    brief:
      zh-CN: 你是幸福里社区居委会委员。
      en: You sit on the Xingfuli residents' committee.
    start: cadre_d1
  resident:
    name: {zh-CN: 居民, en: Resident}
    brief:
      zh-CN: 你住在三号楼，楼道里的纸箱是你的。
      en: You live in building 3 and the boxes are yours.
    start: resident_d1
nodes:
  cadre_d1:
    decision:
      zh-CN: 你先怎么做？
      en: What do you do first?
    choices:
      - label: {zh-CN: 先入户沟通, en: Visit the residents first}
        scores: {legal: 2, mass_work: 1}
        feedback:
          zh-CN: 先沟通、讲清消防规定，居民更容易配合。
          en: Talking first and explaining the fire rules wins cooperation.
        recommended: true
        next: cadre_write
      - label: {zh-CN: 直接清走, en: Clear it all at once}
        scores: {legal: -1, mass_work: -2, risk: -1}
        feedback:
          zh-CN: 未经告知就清走，容易引发纠纷。
          en: Clearing without notice invites disputes.
        next: cadre_write
  cadre_write:
    free_text:
      zh-CN: 请写下你对堆物居民说的第一句话。
      en: Write the first sentence you would say to the resident.
    next: cadre_d2
  cadre_d2:
    decision:
      zh-CN: 居民不同意搬，怎么办？
      en: The resident refuses to move the boxes. What now?
    choices:
      - label: {zh-CN: 约定期限并帮忙搬, en: Agree a date and help}
        scores: {legal: 1, risk: 2}
        feedback:
          zh-CN: 给期限、给帮助，既守规矩又有人情。
          en: A deadline and a hand keep both the rules and the goodwill.
        recommended: true
        next: cadre_end_good
      - label: {zh-CN: 上报城管强制清理, en: Call in enforcement}
        scores: {legal: -2}
        feedback:
          zh-CN: 一上来就强制，程序和效果都不好。
          en: Forcing it at once is poor procedure and works badly.
        next: cadre_end_bad
  cadre_end_good:
    ending: {zh-CN: 楼道清空, en: Stairwell cleared}
    debrief:
      zh-CN: 居民按期搬走了杂物。
      en: The residents moved their things in time.
    expert:
      zh-CN: 先沟通后执法。
      en: Talk first, enforce last.
  cadre_end_bad:
    ending: {zh-CN: 居民投诉, en: A complaint}
    debrief:
      zh-CN: 居民打了 12345 投诉。
      en: The resident complained to the 12345 hotline.
    expert:
      zh-CN: 强制之前要告知。
      en: Notify before you enforce.
  resident_d1:
    decision:
      zh-CN: 干部来敲门，你怎么回应？
      en: A cadre knocks on your door. How do you respond?
    choices:
      - label: {zh-CN: 请他进来谈, en: Invite them in}
        scores: {coordination: 2}
        feedback:
          zh-CN: 坐下来谈，办法就多了。
          en: Sitting down together opens up options.
        recommended: true
        next: resident_end_calm
      - label: {zh-CN: 在群里发牢骚, en: Complain in the group chat}
        scores: {coordination: -2, mass_work: 1}
        feedback:
          zh-CN: 发泄情绪解决不了问题。
          en: Venting does not solve the problem.
        next: resident_end_loud
  resident_end_calm:
    ending: {zh-CN: 商量出办法, en: A plan agreed}
    debrief:
      zh-CN: 你和干部约好周六一起搬。
      en: You and the cadre agree to move the boxes on Saturday.
    expert:
      zh-CN: 配合是最快的办法。
      en: Cooperation is the fastest way.
  resident_end_loud:
    ending: {zh-CN: 邻里闹僵, en: Neighbours fall out}
    debrief:
      zh-CN: 群里吵成一团。
      en: The group chat turns into a row.
    expert:
      zh-CN: 情绪要有出口，但别在群里。
      en: Let off steam, but not in the group chat.
"""


@pytest.fixture
async def core(backend: Backend, tmp_path: Path) -> AsyncIterator[Core]:
    content = tmp_path / "content"
    shutil.copytree(ROOT / "content", content, ignore=shutil.ignore_patterns("scenarios"))
    (content / "scenarios").mkdir()
    (content / "scenarios" / "drill.yaml").write_text(DRILL, encoding="utf-8")
    settings = load_settings(DATABASE_URL=backend.database_url, CONTENT_DIR=str(content))
    core = build_core(settings, clock=MovableClock(START))
    await core.migrate()
    try:
        yield core
    finally:
        await core.close()


@dataclass(frozen=True)
class Played:
    run_id: int
    answer_ids: tuple[int, ...]


def walk(scenario: Scenario, role: str, choices: list[int]) -> tuple[Play, list[str]]:
    """The play that takes these choices in turn (stopping at a decision when they run
    out), and the free-text nodes on its way."""
    play = Play.start(scenario, role)
    picks = iter(choices)
    written = []
    while not play.finished:
        if play.current.kind is NodeKind.DECISION:
            pick = next(picks, None)
            if pick is None:
                break
            play.choose(pick)
        else:
            if play.current.kind is NodeKind.FREE_TEXT:
                written.append(play.node)
            play.advance()
    return play, written


async def played(
    core: Core,
    user_id: int,
    cohort_id: int,
    role: str,
    choices: list[int],
    at: datetime,
    *,
    answers: tuple[tuple[str, str | None, int | None], ...] = (),
    scenario_id: str = "drill",
    status: str = "finished",
) -> Played:
    """A play as ScenarioService leaves it: path, raw points and ending computed from the
    scenario; `answers` (text, comment, mentor user id) on its free-text nodes in turn."""
    scenario = core.services.scenarios.scenario(scenario_id)
    assert scenario is not None
    play, written = walk(scenario, role, choices)
    finished = status == "finished"
    async with core.uow() as uow:
        run = ScenarioRun(
            user_id=user_id,
            cohort_id=cohort_id,
            scenario_id=scenario.id,
            role=role,
            node=play.node,
            step=len(choices) + len(written),
            path=[[s.node, s.choice] for s in play.steps],
            scores=play.raw_scores() if finished else {},
            status=status,
            ending=play.node if finished else None,
            started_at=at - timedelta(minutes=20),
            updated_at=at,
            finished_at=at if finished else None,
        )
        uow.session.add(run)
        await uow.session.flush()
        rows = [
            ScenarioAnswer(
                run_id=run.id,
                user_id=user_id,
                node=node,
                text=text,
                created_at=at - timedelta(minutes=10),
                mentor_user_id=mentor,
                comment=comment,
                commented_at=at + timedelta(hours=1) if comment else None,
            )
            for node, (text, comment, mentor) in zip(written, answers, strict=False)
        ]
        uow.session.add_all(rows)
        await uow.session.flush()
        ids = tuple(r.id for r in rows)
        await uow.commit()
        return Played(run.id, ids)


async def people(core: Core) -> tuple[int, dict[str, int]]:
    """A cohort where MENTOR is matched with 张伟, 李娜, 陈晨 and 丁一."""
    cohort_id = await new_cohort(core, ORGANISER, "2026秋季社区书记班")
    ids = {
        "mentor": await person(core, cohort_id, MENTOR, "王导师", "mentor"),
        "zhang": await person(core, cohort_id, ZHANG, "张伟", "trainee"),
        "li": await person(core, cohort_id, LI, "李娜", "trainee"),
        "chen": await person(core, cohort_id, CHEN, "陈晨", "trainee"),
        "ding": await person(core, cohort_id, DING, "丁一", "trainee"),
    }
    for name in ("zhang", "li", "chen", "ding"):
        await pair(core, cohort_id, ids["mentor"], ids[name])
    return cohort_id, ids


# -- the portfolio ---------------------------------------------------------------------


async def plays_json(core: Core, telegram_id: int) -> list[dict[str, Any]] | None:
    """The role-plays of the person's PIPL copy (/mydata and the portfolio's JSON)."""
    data = await core.services.privacy.export(telegram_id)
    return None if data is None else data["scenario_plays"]


async def test_portfolio_shows_finished_plays_with_scores_answers_and_comments(
    core: Core,
) -> None:
    cohort_id, ids = await people(core)
    portfolio = core.services.portfolio
    zh = Translator(core.texts, "zh-CN")

    async def document(locale: str) -> str:
        made = await portfolio.document(ZHANG, locale)
        assert isinstance(made, PortfolioDocument)
        return made.data.decode("utf-8")

    # Nothing played: no section anywhere, an empty list in the JSON copy.
    found = await portfolio.portfolio(ZHANG)
    assert found is not None and found.plays == () and found.is_empty
    assert "🎭" not in "\n".join(summary_parts(found, portfolio.bank, zh))
    assert "情景演练" not in await document("zh-CN")
    assert (await plays_json(core, ZHANG)) == []

    # An unfinished play with an answer: still no section, but the JSON copy holds it.
    await played(
        core, ids["zhang"], cohort_id, "cadre", [0], START + timedelta(days=1),
        answers=(("还没写完的回答", None, ids["mentor"]),), status="playing",
    )  # fmt: skip
    found = await portfolio.portfolio(ZHANG)
    assert found is not None and found.plays == ()
    assert "情景演练" not in await document("zh-CN")
    [unfinished] = await plays_json(core, ZHANG) or []
    assert unfinished["status"] == "playing" and unfinished["ending"] is None
    assert [a["text"] for a in unfinished["answers"]] == ["还没写完的回答"]

    # Two finished plays: as the cadre (choices 1, 0) with a commented answer, and as the
    # resident (choice 0).
    first = START + timedelta(days=2)
    await played(
        core, ids["zhang"], cohort_id, "cadre", [1, 0], first,
        answers=((f"王阿姨，消防检查快到了 {SCRIPT}", f"开头很好 <b>{SCRIPT}", ids["mentor"]),),
    )  # fmt: skip
    await played(core, ids["zhang"], cohort_id, "resident", [0], first + timedelta(days=1))
    await played(core, ids["li"], cohort_id, "cadre", [0, 0], first)  # someone else's

    found = await portfolio.portfolio(ZHANG)
    assert found is not None and not found.is_empty
    cadre, resident = found.plays
    assert (cadre.title("zh-CN"), cadre.role("zh-CN"), cadre.ending("zh-CN")) == (
        "楼道堆物劝导",
        "社区干部",
        "楼道清空",
    )
    assert cadre.title("en") == "Clearing a stairwell"
    # legal -1+1 = 0 on -3..3 → 50; mass -2 on -2..1 → 0; risk -1+2 = 1 on -1..2 → 67;
    # coordination not tested; overall round((50 + 0 + 67) / 3) = 39.
    assert {s.dimension: (s.raw, s.percent) for s in cadre.scores} == {
        "legal": (0, 50),
        "mass_work": (-2, 0),
        "coordination": (0, None),
        "risk": (1, 67),
    }
    assert [s.name("zh-CN") for s in cadre.scores] == ["依法依规", "群众工作", "协调", "风险防控"]
    assert cadre.total == 39
    assert (cadre.recommended, cadre.decisions) == (1, 2)
    [answer] = cadre.answers
    assert answer.prompt("zh-CN") == "请写下你对堆物居民说的第一句话。"
    assert answer.text.startswith("王阿姨，消防检查快到了")
    assert (answer.commenter, answer.comment) == ("王导师", f"开头很好 <b>{SCRIPT}")
    assert cadre.comment_count == 1
    # coordination +2 on -2..2 → 100; mass 0 on 0..1 → 0; overall 50.
    assert {s.dimension: s.percent for s in resident.scores} == {
        "legal": None,
        "mass_work": 0,
        "coordination": 100,
        "risk": None,
    }
    assert resident.total == 50 and resident.answers == ()
    assert "李娜" not in repr(found)

    # The chat summary: one entry a play, the header with the first.
    parts = summary_parts(found, portfolio.bank, zh)
    plays = [p for p in parts if "《楼道堆物劝导》" in p]
    assert len(plays) == 2
    assert plays[0].startswith("🎭 <b>情景演练</b>：完成 2 次")
    assert "• 《楼道堆物劝导》社区干部（2026年11月25日）" in plays[0]
    assert "结局：楼道清空 · 综合 <b>39</b>" in plays[0]
    assert "依法依规 50 · 群众工作 0 · 协调 — · 风险防控 67" in plays[0]
    assert "✍️ 「王阿姨，消防检查快到了 &lt;script&gt;" in plays[0]
    assert "💬 导师 王导师的点评：「开头很好 &lt;b&gt;" in plays[0]
    assert "结局：商量出办法 · 综合 <b>50</b>" in plays[1]
    assert all(len(m) <= TEXT_LIMIT for m in split_messages(parts, TEXT_LIMIT))

    # The document, in Chinese and in English: escaped, with the scores and the comment.
    page = await document("zh-CN")
    assert "<script" not in page
    for text in (
        '<section id="scenarios">',
        "情景演练（2 次）",
        "楼道堆物劝导",
        "社区干部",
        "楼道清空",
        "商量出办法",
        "请写下你对堆物居民说的第一句话。",
        "王阿姨，消防检查快到了 &lt;script&gt;",
        "导师 王导师的点评",
        "开头很好 &lt;b&gt;&lt;script&gt;",
        "2 次决策中有 1 次",
        "<b>39</b>",
        'style="width: 67%"',
        "“—”表示这个角色的演练不考查该维度。",
    ):
        assert text in page, text
    english = await document("en")
    for text in ("Scenario role-plays (2)", "Clearing a stairwell", "Stairwell cleared"):
        assert text in english, text

    # The JSON copy: the stored points, path, answers and comments of every play.
    data = await plays_json(core, ZHANG)
    assert data is not None
    assert [(p["role"], p["status"]) for p in data] == [
        ("cadre", "playing"),
        ("cadre", "finished"),
        ("resident", "finished"),
    ]
    done = data[1]
    assert done["cohort"] == "2026秋季社区书记班"
    assert done["scenario"] == "drill" and done["ending"] == "cadre_end_good"
    assert done["points"] == {"legal": 0, "mass_work": -2, "coordination": 0, "risk": 1}
    assert done["path"] == [["cadre_d1", 1], ["cadre_d2", 0]]
    [written] = done["answers"]
    assert written["node"] == "cadre_write"
    assert written["comment"] == f"开头很好 <b>{SCRIPT}"
    assert written["commented_at"] is not None
    assert await plays_json(core, 999) is None


async def test_a_play_whose_scenario_left_the_content_stays_in_the_json_only(
    core: Core,
) -> None:
    cohort_id, ids = await people(core)
    await played(core, ids["zhang"], cohort_id, "cadre", [0, 0], START + timedelta(days=1))
    async with core.uow() as uow:
        run = await uow.session.get(ScenarioRun, 1)
        assert run is not None
        run.scenario_id = "gone"
        await uow.commit()
    found = await core.services.portfolio.portfolio(ZHANG)
    assert found is not None and found.plays == ()
    [kept] = await plays_json(core, ZHANG) or []
    assert kept["scenario"] == "gone" and kept["points"]["legal"] == 3


# -- the mentor digest -----------------------------------------------------------------


def entry_of(view: DigestView, name: str) -> str:
    [found] = [
        part
        for message in view.messages
        for part in message.text.split("\n\n")
        if f"<b>{name}</b>" in part.split("\n")[0]
    ]
    return found


def test_the_weakest_dimension_stands_out_or_is_none() -> None:
    order = ("legal", "mass_work", "coordination", "risk")
    assert weakest({"legal": 50, "mass_work": 0, "risk": 67}, order) == ("mass_work", 0)
    assert weakest({"legal": 40, "risk": 40, "mass_work": 90}, order) == ("legal", 40)
    assert weakest({"legal": 70, "risk": 70, "coordination": None}, order) is None
    assert weakest({"legal": 10, "risk": None}, order) is None  # one dimension tested
    assert weakest({}, order) is None


async def test_digest_lists_new_plays_and_answers_waiting_for_a_comment(core: Core) -> None:
    cohort_id, ids = await people(core)
    move_to(core, NOW)
    # 张伟: a cadre play before the last digest (answer commented), a resident play after.
    await played(
        core, ids["zhang"], cohort_id, "cadre", [1, 0], LAST_DIGEST - timedelta(days=3),
        answers=(("王阿姨，您好", "很好", ids["mentor"]),),
    )  # fmt: skip
    await played(core, ids["zhang"], cohort_id, "resident", [0], NOW - timedelta(days=1))
    # 李娜: a cadre play after the last digest, its answer still waiting.
    li = await played(
        core, ids["li"], cohort_id, "cadre", [0, 1], NOW - timedelta(hours=5),
        answers=(("阿姨，楼道堆物有火灾隐患\n第二行不显示", None, ids["mentor"]),),
    )  # fmt: skip
    # 陈晨: only a role-play under way, moved two days ago. 丁一: nothing at all.
    await played(
        core, ids["chen"], cohort_id, "cadre", [0], NOW - timedelta(days=2), status="playing"
    )
    await last_digest_at(core, cohort_id, LAST_DIGEST)

    views = await core.services.mentoring.digest(MENTOR)
    assert isinstance(views, list)
    [view] = views
    assert view.news
    zhang = entry_of(view, "张伟")
    # Resident: coordination 100, mass 0 → overall 50, the weakest is 群众工作.
    assert "🎭 新完成情景演练 1 次：" in zhang
    assert (
        "《楼道堆物劝导》居民 · 商量出办法 · 综合 50 · 最弱：群众工作 0（2026年12月15日）" in zhang
    )
    assert "楼道清空" not in zhang  # finished before the last digest
    assert "待点评" not in zhang  # the one answer has its comment
    li_entry = entry_of(view, "李娜")
    # Cadre [0, 1]: legal 2-2 = 0 → 50, mass 1 → 100, risk 0 → 33; overall 61.
    assert "《楼道堆物劝导》社区干部 · 居民投诉 · 综合 61 · 最弱：风险防控 33" in li_entry
    assert "💬 演练中的书面作答待点评 1 段：" in li_entry
    assert "「阿姨，楼道堆物有火灾隐患」（《楼道堆物劝导》，2026年12月16日）" in li_entry
    assert "第二行" not in li_entry
    buttons = [b for m in view.messages for b in m.buttons]
    [answer_id] = li.answer_ids
    assert ("💬 点评演练作答：李娜", f"prc:m:::{answer_id}:0:0") in buttons
    # A role-play under way is activity: 陈晨 is not inactive, 丁一 is.
    assert "需要关注" not in entry_of(view, "陈晨")
    assert "❗ 需要关注：23 天没有动态" in entry_of(view, "丁一")  # joined three weeks ago
    # The button leads to the comment the practice handler takes.
    found = await core.services.scenarios.answer_for_mentor(MENTOR, answer_id)
    assert isinstance(found, AnswerForMentor) and found.trainee == "李娜"

    # An organiser's look has the same entries without the mentor's buttons.
    mentor_id = ids["mentor"]
    seen = await core.services.mentoring.digest_of(ORGANISER, cohort_id, mentor_id, "en")
    assert isinstance(seen, DigestView)
    assert '"Clearing a stairwell" as Resident · A plan agreed · overall 50' in (
        "\n".join(m.text for m in seen.messages)
    )
    assert "1 role-play answer(s) waiting for a comment" in entry_of(seen, "李娜")
    assert all(not m.buttons for m in seen.messages)

    # Commented, the answer no longer waits; the scheduled digest of next week has no plays.
    await core.services.scenarios.comment(MENTOR, answer_id, "讲得清楚")
    await last_digest_at(core, cohort_id, NOW + timedelta(minutes=1))
    move_to(core, NOW + timedelta(minutes=2))
    again = await core.services.mentoring.digest(MENTOR)
    assert isinstance(again, list)
    [later] = again
    text = "\n".join(m.text for m in later.messages)
    assert "情景演练" not in text and "待点评" not in text


# -- the organiser's report --------------------------------------------------------------


async def test_report_averages_each_scenario_per_dimension_with_a_chart(core: Core) -> None:
    cohort_id, ids = await people(core)
    scenarios = core.services.scenarios
    zh = Translator(core.texts, "zh-CN")
    assert await scenarios.cohort_averages(cohort_id) == []
    assert scenario_parts([], scenarios.dimensions, zh) == []  # no section without plays

    at = START + timedelta(days=3)
    await played(core, ids["zhang"], cohort_id, "cadre", [1, 0], at)  # 50, 0, —, 67 → 39
    await played(core, ids["zhang"], cohort_id, "resident", [0], at)  # —, 0, 100, — → 50
    await played(core, ids["li"], cohort_id, "cadre", [0, 1], at)  # 50, 100, —, 33 → 61
    await played(core, ids["chen"], cohort_id, "cadre", [0], at, status="playing")
    await played(core, ids["ding"], cohort_id, "cadre", [0, 0], at, status="abandoned")
    other = await new_cohort(core, ORGANISER, "另一个班")
    await played(core, ids["ding"], other, "cadre", [0, 0], at)

    [stats] = await scenarios.cohort_averages(cohort_id)
    assert (stats.scenario.id, stats.plays, stats.trainees) == ("drill", 3, 2)
    assert stats.means["legal"] == pytest.approx(50.0)  # (50 + 50) / 2
    assert stats.means["mass_work"] == pytest.approx(100 / 3)  # (0 + 0 + 100) / 3
    assert stats.means["coordination"] == pytest.approx(100.0)  # the resident alone
    assert stats.means["risk"] == pytest.approx(50.0)  # (67 + 33) / 2
    assert stats.total == pytest.approx(50.0)  # (39 + 50 + 61) / 3

    [part] = scenario_parts([stats], scenarios.dimensions, zh)
    assert part.startswith("<b>🎭 情景演练</b>")
    assert "<b>《楼道堆物劝导》</b>：完成 3 次 · 2 人" in part
    assert "依法依规 50.0 · 群众工作 33.3 · 协调 100.0 · 风险防控 50.0 · 综合 <b>50.0</b>" in part
    en = Translator(core.texts, "en")
    assert "3 play(s) · 2 trainee(s)" in scenario_parts([stats], scenarios.dimensions, en)[0]

    [chart] = scenario_charts([stats], scenarios.dimensions, "2026秋季社区书记班", zh)
    assert chart.startswith(b"\x89PNG")
    # More scenarios than a chart has series: one chart for every three.
    many = [replace(stats, plays=n) for n in range(1, 5)]
    charts = scenario_charts(many, scenarios.dimensions, "2026秋季社区书记班", zh)
    assert len(charts) == 2 and all(c.startswith(b"\x89PNG") for c in charts)


# -- the real scenarios ------------------------------------------------------------------


async def test_the_real_scenarios_show_in_the_portfolio(backend: Backend) -> None:
    core = build_core(load_settings(DATABASE_URL=backend.database_url), clock=MovableClock(START))
    await core.migrate()
    try:
        real = core.services.scenarios.scenarios
        if not real:
            pytest.skip("content/scenarios/ has no scenario yet")
        cohort_id, ids = await people(core)
        at = START + timedelta(days=2)
        for scenario in real:
            for role in scenario.roles:
                choices = [i for _, i in scenario.recommended_path(role.id)]
                _, written = walk(scenario, role.id, choices)
                await played(
                    core,
                    ids["zhang"],
                    cohort_id,
                    role.id,
                    choices,
                    at,
                    answers=tuple(("我的回答", "导师点评", ids["mentor"]) for _ in written),
                    scenario_id=scenario.id,
                )
        found = await core.services.portfolio.portfolio(ZHANG)
        assert found is not None
        assert len(found.plays) == sum(len(s.roles) for s in real)
        assert all(p.total is not None and len(p.scores) == 4 for p in found.plays)
        made = await core.services.portfolio.document(ZHANG, "zh-CN")
        assert isinstance(made, PortfolioDocument)
        page = made.data.decode("utf-8")
        zh = Translator(core.texts, "zh-CN")
        parts = summary_parts(found, core.services.portfolio.bank, zh)
        split_messages(parts, TEXT_LIMIT)  # ValueError if an entry did not fit a message
        for scenario in real:
            assert html.escape(scenario.title("zh-CN")) in page, scenario.id
            assert any(f"《{html.escape(scenario.title('zh-CN'))}》" in p for p in parts)
        stats = await core.services.scenarios.cohort_averages(cohort_id)
        assert [s.scenario.id for s in stats] == [s.id for s in real]
        assert all(s.trainees == 1 and s.plays == len(s.scenario.roles) for s in stats)
        charts = scenario_charts(stats, core.services.scenarios.dimensions, "书记班", zh)
        assert len(charts) == -(-len(real) // 3)
    finally:
        await core.close()
