"""Fixtures of the browser tests: headless Chromium and the real sandbox, in-process."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.domain.ports import MovableClock
from bot.sandbox.server import Sandbox, start_sandbox
from tests.browser.cdp import DEFAULT_CHROMIUM, Browser, Page

CHROMIUM = os.environ.get("CHROMIUM", DEFAULT_CHROMIUM)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
# Monday 23 November 2026, 10:00 in Shanghai: the sandbox clock starts here in tests.
START = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)

Screenshot = Callable[[str], Awaitable[Path]]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives the sandbox page in headless Chromium")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    # Remember each phase's outcome on the item, so fixtures can tell a failed test.
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(
            f"no Chromium at {CHROMIUM}: the project's set-up installs Debian's `chromium` "
            "package with apt-get when it runs as root (or set CHROMIUM=/path/to/chromium)"
        )
    browser = await Browser.launch(CHROMIUM)
    try:
        yield browser
    finally:
        await browser.close()


@pytest.fixture
async def page(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    page = await browser.new_page()
    yield page
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        # Keep what the page showed when the test failed.
        await page.screenshot(SCREENSHOTS / f"{_file_name(request.node.name)}-failure.png")


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    """The real sandbox (emulator, bot, demo cohort, page) on a free port."""
    settings = load_settings(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/sandbox.sqlite3")
    sandbox = await start_sandbox(settings, host="127.0.0.1", port=0, clock=MovableClock(START))
    try:
        yield sandbox
    finally:
        await sandbox.stop()


@pytest.fixture
def screenshot(page: Page, request: pytest.FixtureRequest) -> Screenshot:
    """``await screenshot("step")`` saves artifacts/screenshots/<test-name>-<step>.png."""

    async def take(step: str) -> Path:
        name = f"{_file_name(request.node.name)}-{_file_name(step)}.png"
        return await page.screenshot(SCREENSHOTS / name)

    return take


def _file_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")
