"""Role-plays through the real bot and the emulator: the 拆迁 scenario played as two roles to
two different endings, every screen checked against content/scenarios/chaiqian.yaml and the
debrief's scores computed from the file; a pause and /practice resuming at the same node; a
stale button; a free-text answer reaching the mentor, whose comment reaches the trainee;
a push on the cohort cadence."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.content.scenarios import check_file, load_dimensions
from bot.db.models import ScenarioAnswer, ScenarioRun
from bot.domain.scenarios import Node, NodeKind, Scenario, Step, overall, percents, raw_scores
from bot.sandbox.client import ChatMessage, EmulatorClient
from tests.e2e.harness import Phone, RunningBot
from tests.e2e.scenes import matched_cohort

pytestmark = pytest.mark.e2e

CONTENT = Path(__file__).resolve().parents[2] / "content"
ORGANISER, MENTOR, CADRE, RESIDENT = 9801, 9802, 9803, 9804
ENDS_ON = date(2026, 11, 20)
_TAGS = re.compile(r"<[^>]+>")


def chaiqian() -> Scenario:
    dimensions = load_dimensions(CONTENT)
    scenario, problems = check_file(CONTENT / "scenarios" / "chaiqian.yaml", dimensions)
    assert scenario is not None, problems
    return scenario


def plain(text: str) -> str:
    return html.unescape(_TAGS.sub("", text))


async def scene(running: RunningBot, client: EmulatorClient) -> int:
    """A cohort with two trainees; 王书记 mentors 张伟 (CADRE), 李娟 (RESIDENT) has none."""
    people = (
        (MENTOR, "王书记", "mentor"),
        (CADRE, "张伟", "trainee"),
        (RESIDENT, "李娟", "trainee"),
    )
    cohort_id, _ = await matched_cohort(
        running, client, organiser=ORGANISER, ends_on=ENDS_ON, people=people, pair=(MENTOR, CADRE)
    )
    return cohort_id


async def run_of(running: RunningBot, telegram_id: int) -> ScenarioRun | None:
    async with running.core.uow() as uow:
        user = await uow.users.by_telegram_id(telegram_id)
        assert user is not None
        runs = (
            await uow.session.scalars(
                select(ScenarioRun).where(ScenarioRun.user_id == user.id).order_by(ScenarioRun.id)
            )
        ).all()
        return runs[-1] if runs else None


async def press(phone: Phone, message: ChatMessage, label: str) -> None:
    """Press the button whose label is exactly `label` (choices may share words)."""
    [button] = [b for b in message.all_buttons if b.text == label]
    await phone.client.press(phone.user_id, message, data=button.callback_data)


async def screen(phone: Phone, node: Node) -> ChatMessage:
    """The next message, which must show `node` (its text, in zh-CN)."""
    message = await phone.next_message()
    assert node.text["zh-CN"] in plain(message.text or ""), (node.id, message.text)
    return message


async def play(
    running: RunningBot,
    phone: Phone,
    scenario: Scenario,
    role: str,
    pick: Callable[[Node], int],
    *,
    pause_after: int | None = None,
) -> tuple[list[Step], ScenarioRun]:
    """Play from /practice to the ending, choosing with `pick`; check every screen and every
    feedback against the file. With `pause_after`, pause after that many screens and resume
    through /practice."""
    listing = await phone.say("/practice")
    assert scenario.title("zh-CN") in plain(listing.text or "")
    button = next(b for b in listing.all_buttons if scenario.title("zh-CN") in b.text)
    await phone.client.press(phone.user_id, listing, data=button.callback_data)
    roles = await phone.next_message()
    assert "请选择你要扮演的角色" in (roles.text or "")
    await press(phone, roles, scenario.role(role).name("zh-CN"))  # type: ignore[union-attr]
    intro = await phone.next_message()
    assert scenario.role(role).brief("zh-CN") in plain(intro.text or "")  # type: ignore[union-attr]
    await press(phone, intro, "🎬 开始")
    node = scenario.node(scenario.role(role).start)  # type: ignore[union-attr]
    steps: list[Step] = []
    shown = 0
    while node.kind is not NodeKind.ENDING:
        message = await screen(phone, node)
        shown += 1
        if pause_after is not None and shown == pause_after:
            await press(phone, message, "⏸ 暂停")
            paused = await phone.next_message()
            assert "已暂停" in (paused.text or "")
            listing = await phone.say("/practice")
            assert "有一局未完成" in plain(listing.text or "")
            resume = next(b for b in listing.all_buttons if b.text.startswith("▶ 继续"))
            await phone.client.press(phone.user_id, listing, data=resume.callback_data)
            message = await screen(phone, node)  # the same node again
            # The button of the paused message is gone; a forged press of it is stale.
            pause_after = None
        if node.kind in (NodeKind.NARRATION, NodeKind.LINE):
            await press(phone, message, "继续 ▶")
            assert node.next is not None
            node = scenario.node(node.next)
        elif node.kind is NodeKind.FREE_TEXT:
            saved = await phone.say("我先把政策讲清楚，再听您说说家里的实际困难。")
            assert "已保存" in (saved.text or "")
            assert node.next is not None
            node = scenario.node(node.next)
        else:
            index = pick(node)
            choice = node.choices[index]
            await press(phone, message, choice.label["zh-CN"])
            chosen = await phone.wait_for(
                lambda m: m.event == "edit" and "你的选择" in (m.text or "")
            )
            assert choice.label["zh-CN"] in (chosen.text or "")
            feedback = await phone.next_message()
            assert choice.feedback["zh-CN"] in plain(feedback.text or "")
            steps.append(Step(node.id, index))
            node = scenario.node(choice.next)
    run = await run_of(running, phone.user_id)
    assert run is not None
    return steps, run


def debrief_checks(
    scenario: Scenario, role: str, steps: list[Step], ending: Node, text: str
) -> None:
    raw = raw_scores(scenario, steps)
    shown = percents(scenario, role, raw)
    assert f"结局：{ending.text['zh-CN']}" in text
    assert ending.debrief is not None and ending.expert is not None
    assert ending.debrief["zh-CN"] in text and ending.expert["zh-CN"] in text
    names = {
        "legal": "依法依规",
        "mass_work": "群众工作",
        "coordination": "协调",
        "risk": "风险防控",
    }
    for dim, name in names.items():
        value = shown[dim]
        if value is None:
            assert f"{name}：—" in text
        else:
            points = raw[dim]
            sign = f"+{points}" if points > 0 else str(points)
            assert re.search(rf"{name}：\S* {value}（原始分 {re.escape(sign)}）", text), (
                name,
                text,
            )
    total = overall(shown)
    assert f"综合：{total}" in text


async def test_chaiqian_as_two_roles_to_two_endings(
    running: RunningBot, client: EmulatorClient
) -> None:
    scenario = chaiqian()
    await scene(running, client)
    cadre, resident, mentor = Phone(client, CADRE), Phone(client, RESIDENT), Phone(client, MENTOR)

    def recommended(node: Node) -> int:
        return node.recommended() or 0

    def worst(node: Node) -> int:
        sums = [sum(c.scores.values()) for c in node.choices]
        return min(range(len(sums)), key=lambda i: (sums[i], -i))

    # The cadre plays the recommended path, pausing once and resuming through /practice.
    steps, run = await play(running, cadre, scenario, "cadre", recommended, pause_after=3)
    assert run.status == "finished" and run.role == "cadre"
    assert [[s.node, s.choice] for s in steps] == run.path
    assert run.scores == raw_scores(scenario, steps)
    assert steps == [Step(n, i) for n, i in scenario.recommended_path("cadre")]
    ending_a = scenario.node(run.ending or "")
    messages = await client.settle(CADRE, quiet=1.5, timeout=15)
    text = "\n".join(plain(m.text or "") for m in messages if m.event == "message")
    debrief_checks(scenario, "cadre", steps, ending_a, text)
    assert f"{len(steps)}/{len(steps)} 个决定与推荐一致" in text
    assert any(m.photo is not None for m in messages), "the debrief chart"

    # The free-text answer went to the mentor; the comment comes back to the trainee.
    await running.delivered()
    sent = await mentor.wait_for(lambda m: "在情景演练" in (m.text or ""))
    assert "张伟" in (sent.text or "") and "家里的实际困难" in (sent.text or "")
    await mentor.tap("💬 点评", on=sent)
    asked = await mentor.wait_for(lambda m: "请写下您的点评" in (m.text or ""))
    assert "张伟 的回答" in (asked.text or "") and "家里的实际困难" in (asked.text or "")
    saved = await mentor.say("先讲政策再听困难，顺序对了。下次把补偿标准的依据也带上。")
    assert "点评已发送给 张伟" in (saved.text or "")
    await running.delivered()
    back = await cadre.wait_for(lambda m: "点评了你在" in (m.text or ""))
    assert "补偿标准的依据" in (back.text or "")
    async with running.core.uow() as uow:
        [answer] = (await uow.session.scalars(select(ScenarioAnswer))).all()
        assert answer.comment is not None and answer.run_id == run.id

    # The resident takes the choices the file scores lowest: another ending.
    steps_b, run_b = await play(running, resident, scenario, "resident", worst)
    assert run_b.status == "finished" and run_b.role == "resident"
    assert run_b.scores == raw_scores(scenario, steps_b)
    assert run_b.ending != run.ending
    messages = await client.settle(RESIDENT, quiet=1.5, timeout=15)
    text = "\n".join(plain(m.text or "") for m in messages if m.event == "message")
    debrief_checks(scenario, "resident", steps_b, scenario.node(run_b.ending or ""), text)
    # No mentor: the answer is kept, nobody is messaged.
    async with running.core.uow() as uow:
        answers = (await uow.session.scalars(select(ScenarioAnswer))).all()
        assert len(answers) == 2 and answers[1].mentor_user_id is None

    # /practice now lists the result.
    listing = await resident.say("/practice")
    assert "已完成 1 次" in plain(listing.text or "")


async def test_stale_and_forged_presses_change_nothing(
    running: RunningBot, client: EmulatorClient
) -> None:
    scenario = chaiqian()
    await scene(running, client)
    cadre, resident = Phone(client, CADRE), Phone(client, RESIDENT)
    listing = await cadre.say("/practice")
    button = next(b for b in listing.all_buttons if scenario.title("zh-CN") in b.text)
    await cadre.client.press(CADRE, listing, data=button.callback_data)
    roles = await cadre.next_message()
    await press(cadre, roles, scenario.role("cadre").name("zh-CN"))  # type: ignore[union-attr]
    intro = await cadre.next_message()
    await press(cadre, intro, "🎬 开始")
    first = await cadre.next_message()
    assert first.has_button("继续 ▶") or first.has_button("⏸ 暂停")
    data = first.all_buttons[0].callback_data
    await cadre.client.press(CADRE, first, data=data)
    await cadre.next_message()
    before = await run_of(running, CADRE)
    # The same button again (a double tap that arrives late): stale, nothing moves.
    toast = await cadre.tap_for_toast(data=data, on=first, forge=True)
    assert toast == "这一步已经过去了。"
    # Another trainee forging the cadre's button: not theirs.
    other = await resident.say("/help")
    toast = await resident.tap_for_toast(data=data, on=other, forge=True)
    assert toast is not None and "不是你的演练" in toast
    after = await run_of(running, CADRE)
    assert before is not None and after is not None
    assert (after.step, after.node) == (before.step, before.node)


async def test_a_role_play_is_pushed_on_the_cohort_cadence(
    running: RunningBot, client: EmulatorClient
) -> None:
    await scene(running, client)
    # Two weeks after the end, 15:00 in Shanghai.
    running.clock.set(datetime(2026, 12, 4, 7, 1, tzinfo=UTC))
    await running.sweep()
    await running.delivered()
    pushed = await Phone(client, RESIDENT).wait_for(lambda m: "情景演练" in (m.text or ""))
    assert pushed.has_button("开始演练")
    first = chaiqian()  # the first scenario nobody has played: the files' first
    assert first.title("zh-CN") in plain(pushed.text or "")
    running.clock.advance(timedelta(days=1))
