"""The growth portfolio document in a real (headless) Chromium: the Chinese text is there
as text, the chart loads, nothing runs, and it reads on a phone and on a desktop."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import pytest

from bot.config import load_settings
from bot.core import build_core
from bot.domain.ports import MovableClock
from bot.services.portfolio import ExportRefusal
from tests.browser.cdp import Page
from tests.browser.conftest import SCREENSHOTS
from tests.integration.test_portfolio_service import (
    DAY30,
    SCRIPT,
    START,
    TRAINEE,
    complete,
    practice,
    setup,
)

pytestmark = pytest.mark.browser

PHONE = (390, 844)
DESKTOP = (1280, 900)


async def make_document(tmp_path: Path) -> Path:
    settings = load_settings(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/portfolio.sqlite3")
    core = build_core(settings, clock=MovableClock(START))
    await core.migrate()
    try:
        cohort_id = await setup(core)
        await practice(core, cohort_id, TRAINEE, "张伟")
        assert isinstance(core.clock, MovableClock)
        core.clock.set(DAY30)
        await core.sweeper.sweep()
        await complete(core, TRAINEE, low=("supervisor_support", "opportunity_to_use"))
        made = await core.services.portfolio.document(TRAINEE, "zh-CN")
    finally:
        await core.close()
    assert not isinstance(made, ExportRefusal)
    path = tmp_path / made.filename
    await asyncio.to_thread(_write, path, made.data)
    return path


async def full_page_screenshot(page: Page, target: Path) -> Path:
    height = int(await page.evaluate("document.documentElement.scrollHeight"))
    width = int(await page.evaluate("window.innerWidth"))
    result: dict[str, Any] = await page.send(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
        },
    )
    await asyncio.to_thread(_write, target, base64.b64decode(result["data"]))
    return target


def _write(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


async def test_portfolio_document_reads_in_chromium(page: Page, tmp_path: Path) -> None:
    path = await make_document(tmp_path)
    assert path.name == "成长档案-张伟-2026-12-30.html"

    await page.set_viewport(*DESKTOP)
    await page.navigate(path.as_uri())
    text = await page.evaluate("document.body.innerText")
    for shown in (
        "成长档案",
        "张伟",
        "基层治理能力提升专题培训",
        "张伟的目标：三个月内清理楼道堆物",
        "张伟：召开楼组长会议",
        "物业换人",
        f"张伟：开了会 {SCRIPT}",  # shown as text, not run
        "给张伟的点评：做得好 <b>",
        "领导的支持",
        "我学到了什么",
    ):
        assert shown in text, shown
    assert await page.evaluate("document.querySelectorAll('script').length") == 0
    assert await page.evaluate("document.title") == "张伟的成长档案 · 学用"
    # The chart is an inline image that decodes.
    assert await page.evaluate(
        "[...document.images].length === 1 && document.images[0].complete"
        " && document.images[0].naturalWidth === 1080"
    )
    assert page.errors == []
    await page.screenshot(SCREENSHOTS / "portfolio.png")

    # On a phone nothing is wider than the screen; the whole document as one picture.
    await page.set_viewport(*PHONE)
    await page.navigate(path.as_uri())
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE[0]
    image_width = await page.evaluate("document.images[0].getBoundingClientRect().width")
    assert 0 < image_width <= PHONE[0]
    await page.screenshot(SCREENSHOTS / "portfolio-phone.png")
    await full_page_screenshot(page, SCREENSHOTS / "portfolio-phone-full.png")
    await page.set_viewport(*DESKTOP)
    await full_page_screenshot(page, SCREENSHOTS / "portfolio-desktop-full.png")

    # Printed (to PDF), the page is white and unboxed.
    await page.send("Emulation.setEmulatedMedia", {"media": "print"})
    background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background in ("rgb(255, 255, 255)", "rgba(0, 0, 0, 0)")
