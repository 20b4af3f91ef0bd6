from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.domain.ports import MovableClock
from bot.sandbox.client import EmulatorClient
from bot.sandbox.emulator import BotAPIEmulator
from tests.conftest import Backend
from tests.e2e.harness import START, TOKEN, RunningBot


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
    backend: Backend, emulator: BotAPIEmulator, clock: MovableClock
) -> AsyncIterator[RunningBot]:
    bot = RunningBot(backend, emulator, clock)
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
