"""The offline sandbox over HTTP: demo cohort, personas, time travel (the page's API)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from bot.config import load_settings
from bot.domain.ports import MovableClock
from bot.sandbox.client import EmulatorClient
from bot.sandbox.server import Sandbox, start_sandbox
from tests.e2e.harness import Phone

pytestmark = pytest.mark.e2e
START = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    settings = load_settings(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'sandbox.sqlite3'}")
    sandbox = await start_sandbox(settings, port=0, clock=MovableClock(START))
    try:
        yield sandbox
    finally:
        await sandbox.stop()


async def get_state(url: str) -> dict[str, object]:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/_sandbox/state") as r:
        assert r.status == 200
        return dict(await r.json())


async def travel(url: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as http, http.post(f"{url}/_sandbox/clock", json=body) as r:
        return r.status, (await r.json() if r.status == 200 else {})


async def test_demo_cohort_and_time_travel(sandbox: Sandbox) -> None:
    state = await get_state(sandbox.url)
    now = datetime.fromisoformat(str(state["now"]))
    assert START <= now < START + timedelta(minutes=1)  # the sandbox clock keeps running
    personas = state["personas"]
    assert isinstance(personas, list) and len(personas) == 8
    # The course ends today: its quick self-check arrives at 16:00 Shanghai time; the
    # organiser's welcome notice is scheduled for 09:00 tomorrow.
    assert state["next_event"] == "2026-11-23T08:00:00+00:00"

    status, _ = await travel(sandbox.url, {"advance_seconds": -5})
    assert status == 400
    status, moved = await travel(sandbox.url, {"advance_seconds": 3600})
    assert status == 200
    assert datetime.fromisoformat(str(moved["now"])) >= now + timedelta(hours=1)

    async with EmulatorClient(sandbox.url) as client:
        trainee = Phone(client, 30002)
        status, moved = await travel(sandbox.url, {"to_next_event": True})
        assert status == 200
        check = await trainee.wait_for(lambda m: "结课快速自评" in (m.text or ""))
        # The practice-transfer plan's first prompt comes with it, before or after (one
        # message a second to a chat: it may be a second behind).
        await client.settle(30002, quiet=1.5, timeout=10)
        assert any("实践转化计划书" in text for text in await trainee.transcript())
        assert check.button_texts == ["▶️ 开始自评"]
        state = await get_state(sandbox.url)
        assert state["next_event"] == "2026-11-24T01:00:00+00:00"
        status, moved = await travel(sandbox.url, {"to_next_event": True})
        assert status == 200
        notice = await trainee.next_message()
        assert notice.text is not None and "实践转化计划书" in notice.text
        assert notice.button_texts == ["✅ 收到"]
        # The message carries sandbox time, not the wall clock.
        sent_at = datetime.fromtimestamp(notice.date, UTC)
        assert (
            datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
            <= sent_at
            < datetime(2026, 11, 24, 1, 1, tzinfo=UTC)
        )
        # Mentors were not in the audience.
        assert await client.bot_messages(20001) == []


async def test_visitor_enrols_with_the_demo_invite(sandbox: Sandbox) -> None:
    state = await get_state(sandbox.url)
    invites = state["invites"]
    assert isinstance(invites, dict)
    code = invites["trainee"]["code"]
    async with EmulatorClient(sandbox.url) as client:
        visitor = Phone(client, 40001)
        notice = await visitor.say(f"/start {code}")
        assert notice.text is not None and "2026秋季社区书记班（演示）" in notice.text
        await visitor.tap("同意并继续", on=notice)
        await visitor.next_message()
        await visitor.say("周明")
        await visitor.tap_then_read("村")
        await visitor.say("王家村")
        await visitor.say("东城区")
        welcome = await visitor.say("村支书")
        assert welcome.text is not None and "报名完成" in welcome.text


async def test_the_demo_survives_a_restart(tmp_path: Path) -> None:
    settings = load_settings(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'sandbox.sqlite3'}")
    first = await start_sandbox(settings, port=0, clock=MovableClock(START))
    code = first.demo.trainee_code
    await first.stop()
    second = await start_sandbox(settings, port=0, clock=MovableClock(START))
    try:
        assert second.demo.trainee_code == code
        state = await get_state(second.url)
        assert state["next_event"] == "2026-11-23T08:00:00+00:00"  # planned once
    finally:
        await second.stop()
