"""The sandbox page in a real (headless) browser: someone without Telegram tries the bot."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.sandbox.demo import PERSONAS, WELCOME_NOTICE
from bot.sandbox.server import Sandbox
from tests.browser.cdp import Page
from tests.browser.conftest import START, Screenshot

pytestmark = pytest.mark.browser

SHANGHAI = ZoneInfo("Asia/Shanghai")
VISITOR = next(p.telegram_id for p in PERSONAS if p.role == "visitor")
TRAINEES = [p for p in PERSONAS if p.role == "trainee"]
NOTICE_TEXT = re.sub(r"<[^>]+>", "", WELCOME_NOTICE)


def js(value: object) -> str:
    """A Python value as a JavaScript literal."""
    return json.dumps(value, ensure_ascii=False)


async def open_page(page: Page, sandbox: Sandbox) -> None:
    await page.navigate(sandbox.url + "/")
    await page.wait_for(
        f"document.querySelectorAll('[data-persona-id]').length === {len(PERSONAS)}"
    )


async def select_persona(page: Page, telegram_id: int) -> None:
    await page.click(f'[data-persona-id="{telegram_id}"]')
    # The chat is loaded once the long poll runs; an empty chat shows its hint.
    await page.wait_for(
        f"document.querySelector('.persona.active')?.dataset.personaId === '{telegram_id}'"
        " && !document.querySelector('#chat .chat-loading')"
    )


async def bot_message(page: Page, contains: str, after: int = 0, timeout: float = 10.0) -> int:
    """Wait for a bot message newer than message ``after`` whose text contains ``contains``;
    returns its message id."""
    found = await page.wait_for(
        f"""(() => {{
          const all = [...document.querySelectorAll('#chat .msg[data-direction="out"]')];
          const hit = all.reverse().find((m) => Number(m.dataset.messageId) > {after}
            && m.textContent.includes({js(contains)}));
          return hit ? Number(hit.dataset.messageId) : 0;
        }})()""",
        timeout=timeout,
    )
    return int(found)


@dataclass(frozen=True)
class Bubble:
    """What a message bubble on the page shows."""

    text: str
    time: str  # as displayed, e.g. "11月24日 09:00"
    datetime: str  # the <time> element's ISO date
    edited: bool  # shows the "已编辑" mark
    buttons: list[str]  # inline button labels
    probe: str | None  # set by tag_message on this very DOM element


async def message_info(page: Page, message_id: int) -> Bubble:
    info = await page.evaluate(
        f"""(() => {{
          const m = document.querySelector('#chat .msg[data-message-id="{message_id}"]');
          if (!m) return null;
          return {{
            text: m.querySelector('.text')?.textContent ?? '',
            time: m.querySelector('.time')?.textContent ?? '',
            datetime: m.querySelector('.time')?.dateTime ?? '',
            edited: m.querySelector('.edited-mark') !== null,
            buttons: [...m.querySelectorAll('button.inline-btn')].map((b) => b.textContent),
            probe: m.__probe ?? null,
          }};
        }})()"""
    )
    assert isinstance(info, dict), f"message {message_id} is not on the page"
    return Bubble(**info)


async def tag_message(page: Page, message_id: int, probe: str) -> None:
    """Mark a bubble's DOM element, to tell later whether an edit kept the same element."""
    selector = f'#chat .msg[data-message-id="{message_id}"]'
    await page.evaluate(f"document.querySelector({js(selector)}).__probe = {js(probe)}")


async def say(page: Page, text: str) -> None:
    """Type into the composer and press Enter; wait for the message to be shown."""
    await page.click("#composer-input")
    await page.type(text)
    await page.press_enter()
    await page.wait_for(
        f"""[...document.querySelectorAll('#chat .msg[data-direction="in"]')]
              .some((m) => m.textContent.includes({js(text)}))"""
    )


async def toast_with(page: Page, text: str) -> None:
    await page.wait_for(
        f"[...document.querySelectorAll('.toast')].some((t) => t.textContent.includes({js(text)}))"
    )


def short_time(moment: datetime) -> str:
    local = moment.astimezone(SHANGHAI)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


async def test_visitor_enrols_in_the_browser_and_time_travel_brings_the_notice(
    page: Page, sandbox: Sandbox, screenshot: Screenshot
) -> None:
    await open_page(page, sandbox)
    banner = await page.evaluate("document.querySelector('#banner').textContent")
    assert "沙盒模式" in banner
    assert "不连接 Telegram" in banner
    assert "所有数据只保存在本机" in banner
    start = START.astimezone(SHANGHAI)
    await page.wait_for(
        "document.querySelector('#clock').textContent"
        f".startsWith('{start.year}年{start.month}月{start.day}日')"
    )
    await screenshot("opened")

    await select_persona(page, VISITOR)
    await page.click(text="用学员邀请链接报名")
    await page.wait_for(
        "[...document.querySelectorAll('#chat .msg[data-direction=\"in\"]')]"
        ".some((m) => m.textContent.startsWith('/start '))"
    )
    consent = await bot_message(page, "个人信息告知")
    info = await message_info(page, consent)
    assert "✅ 同意并继续" in info.buttons, info
    await tag_message(page, consent, "consent")
    await screenshot("consent")

    await page.click(text="✅ 同意并继续")
    await toast_with(page, "已记录您的同意")
    # The consent message loses its buttons in place: same element, marked as edited.
    await page.wait_for(
        f"document.querySelector('.msg[data-message-id=\"{consent}\"] .edited-mark') !== null"
    )
    info = await message_info(page, consent)
    assert info.buttons == [] and info.probe == "consent", info

    # Each question comes after the previous answer.
    asked = await bot_message(page, "请输入您的姓名", after=consent)
    await say(page, "周敏")
    asked = await bot_message(page, "您在哪一级单位工作", after=asked)
    await page.click(text="社区（居委会）", within=f'.msg[data-message-id="{asked}"]')
    asked = await bot_message(page, "请输入您的单位名称", after=asked)
    await say(page, "幸福里社区")
    asked = await bot_message(page, "所在的区县或街道", after=asked)
    await say(page, "东城区")
    asked = await bot_message(page, "请输入您的职务", after=asked)
    await say(page, "社区网格员")
    welcome = await bot_message(page, "报名完成", after=asked)
    await screenshot("enrolled")

    clock_before = await page.evaluate("document.querySelector('#clock').dataset.now")
    clock_text_before = await page.evaluate("document.querySelector('#clock').textContent")
    notice_id = 0
    for _ in range(4):  # the demo's notice is the next event, but allow a few steps
        await page.click("#btn-next-event")
        try:
            notice_id = await bot_message(page, NOTICE_TEXT[:8], after=welcome, timeout=5)
        except TimeoutError:
            continue
        break
    assert notice_id > welcome, "no scheduled message arrived after moving the clock"

    clock_after = await page.evaluate("document.querySelector('#clock').dataset.now")
    clock_text_after = await page.evaluate("document.querySelector('#clock').textContent")
    assert datetime.fromisoformat(clock_after) > datetime.fromisoformat(clock_before)
    assert clock_text_after != clock_text_before
    notice = await message_info(page, notice_id)
    assert notice.text == NOTICE_TEXT
    sent_at = datetime.fromisoformat(notice.datetime.replace("Z", "+00:00"))
    assert sent_at > datetime.fromisoformat(clock_before).astimezone(UTC)
    # Shown in sandbox time (Shanghai), on the day the clock now shows.
    assert notice.time == short_time(sent_at)
    day = notice.time.split(" ")[0]
    assert day in clock_text_after, (day, clock_text_after)
    await screenshot("notice")
    assert page.errors == []


async def test_pressing_a_button_edits_in_place_and_shows_the_toast(
    page: Page, sandbox: Sandbox, screenshot: Screenshot
) -> None:
    trainee, other = TRAINEES[0].telegram_id, TRAINEES[1].telegram_id
    await open_page(page, sandbox)
    await select_persona(page, trainee)

    # The command menu lists the bot's commands; one click sends one.
    await page.click("#btn-menu")
    await page.click('.menu-item[data-command="me"]')
    profile = await bot_message(page, TRAINEES[0].unit)  # /me shows the profile

    # The next event is the course-end self-check (16:00 today): one question at a time,
    # in one message edited in place.
    await page.click("#btn-next-event")
    invite = await bot_message(page, "结课快速自评", after=profile)
    await page.click(text="▶️ 开始自评", within=f'.msg[data-message-id="{invite}"]')
    await page.wait_for(
        f"document.querySelector('.msg[data-message-id=\"{invite}\"]')"
        "?.textContent.includes('第 1/16 题')"
    )
    await page.click(text="4 · 比较同意", within=f'.msg[data-message-id="{invite}"]')
    await page.wait_for(
        f"document.querySelector('.msg[data-message-id=\"{invite}\"]')"
        "?.textContent.includes('第 2/16 题')"
    )
    await screenshot("self_check")

    await page.click("#btn-next-event")
    notice = await bot_message(page, NOTICE_TEXT[:8], after=invite)
    info = await message_info(page, notice)
    assert info.buttons == ["✅ 收到"], info
    await tag_message(page, notice, "notice")

    await page.click(text="✅ 收到", within=f'.msg[data-message-id="{notice}"]')
    await toast_with(page, "已确认收到")
    await page.wait_for(
        f"document.querySelector('.msg[data-message-id=\"{notice}\"] .inline-btn')"
        "?.textContent === '✓ 已确认收到'"
    )
    info = await message_info(page, notice)
    assert info.probe == "notice" and info.edited, info
    assert (
        await page.evaluate(
            f"document.querySelectorAll('.msg[data-message-id=\"{notice}\"]').length"
        )
        == 1
    )
    await screenshot("acknowledged")

    # Another trainee got the self-check, the plan prompt that comes with it, and the notice
    # too: an unread badge (3), until their chat is opened.
    badge = f'[data-persona-id="{other}"] .badge'
    await page.wait_for(
        f"!document.querySelector({js(badge)}).hidden"
        f" && document.querySelector({js(badge)}).textContent === '3'"
    )
    await select_persona(page, other)
    await bot_message(page, NOTICE_TEXT[:8])
    assert await page.evaluate(f"document.querySelector({js(badge)}).hidden") is True
    # The chat just left has no unread messages, also after the next refresh.
    refreshes = await page.evaluate("Number(document.body.dataset.stateRefreshes)")
    await page.wait_for(f"Number(document.body.dataset.stateRefreshes) > {refreshes}", timeout=8)
    left = f'[data-persona-id="{trainee}"] .badge'
    assert await page.evaluate(f"document.querySelector({js(left)}).hidden") is True
    assert page.errors == []
