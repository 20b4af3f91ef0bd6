from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from bot.domain.ports import MovableClock
from bot.sandbox.client import EmulatorClient
from bot.sandbox.emulator import BotAPIEmulator
from tests.conftest import Backend
from tests.e2e.harness import START, TOKEN, RunningBot


@pytest.fixture(scope="session", autouse=True)
def _no_pause_after_closing_a_bot_session() -> Iterator[None]:
    """aiogram sleeps 250 ms after closing each HTTP session of a Bot, for SSL connections to
    shut down (aiohttp's "graceful shutdown" advice). The emulator speaks plain HTTP on
    loopback, so here that is only idle time: half a second at every stop and restart of the
    bot (two Bots). Everything else about closing stays aiogram's."""
    from aiogram.client.session.aiohttp import AiohttpSession

    async def close(self: AiohttpSession) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(AiohttpSession, "close", close)
        yield


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(START)


@pytest.fixture
async def emulator(clock: MovableClock) -> AsyncIterator[BotAPIEmulator]:
    emulator = BotAPIEmulator(TOKEN, clock=clock.now)
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()


@pytest.fixture
async def client(emulator: BotAPIEmulator) -> AsyncIterator[EmulatorClient]:
    async with EmulatorClient(emulator.base_url) as client:
        yield client


@pytest.fixture
async def running(
    request: pytest.FixtureRequest,
    backend: Backend,
    emulator: BotAPIEmulator,
    clock: MovableClock,
) -> AsyncIterator[RunningBot]:
    bot = RunningBot(backend, emulator, clock)
    if request.node.get_closest_marker("throttled") is None:
        # The test phones tap at machine speed, far beyond a person's 10 a second: flood
        # control (tested where marked `throttled`) would slow them like a flood.
        bot.extra_settings["THROTTLE_RATE"] = 0
    await bot.start()
    try:
        yield bot
    finally:
        await bot.stop()
        # Nothing the bot sent may have been refused by the (emulated) Bot API.
        refused = [
            (c.method, c.description)
            for c in emulator.errors()
            if c.error_code not in bot.allowed_errors and not c.injected
        ]
        assert refused == [], refused
