"""The real bot, started the way `xueyong run` starts it, talking HTTP to the emulator."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.app import App, build_app, run_polling
from bot.config import Settings, load_settings
from bot.core import Core
from bot.domain.enrolment import (
    EnrolStep,
    check_bio,
    check_capacity,
    check_district,
    check_name,
    check_position,
    check_unit_name,
    check_unit_type,
)
from bot.domain.ports import MovableClock
from bot.sandbox.client import ChatMessage, EmulatorClient
from bot.sandbox.emulator import BotAPIEmulator
from tests.conftest import Backend

TOKEN = "123456789:TEST-token-for-the-emulator"
ROOT = Path(__file__).resolve().parents[2]
START = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


@dataclass
class RunningBot:
    backend: Backend
    emulator: BotAPIEmulator
    clock: MovableClock
    app: App | None = None
    task: asyncio.Task[None] | None = None
    extra_settings: dict[str, object] = field(default_factory=dict)
    # Bot API error codes this test provokes on purpose (e.g. 403 from a blocked user).
    allowed_errors: set[int] = field(default_factory=set)

    def settings(self) -> Settings:
        return load_settings(
            BOT_TOKEN=TOKEN,
            TELEGRAM_API_BASE=self.emulator.base_url,
            DATABASE_URL=self.backend.database_url,
            REDIS_URL=self.backend.redis_url or "",
            POLLING_TIMEOUT=5,
            **self.extra_settings,
        )

    async def start(self) -> App:
        app = build_app(self.settings(), clock=self.clock)
        started = asyncio.Event()

        async def on_startup() -> None:
            started.set()

        app.dispatcher.startup.register(on_startup)
        self.app = app
        self.task = asyncio.create_task(run_polling(app, handle_signals=False))
        waiter = asyncio.create_task(started.wait())
        done, _ = await asyncio.wait({waiter, self.task}, timeout=30, return_when="FIRST_COMPLETED")
        if self.task in done:
            waiter.cancel()
            self.task.result()  # raises what made the bot fail to start
        if waiter not in done:
            raise TimeoutError("the bot did not start")
        await self.emulator.wait_for_poller(timeout=10)
        return app

    async def stop(self) -> None:
        if self.app is None or self.task is None:
            return
        crashes = self.app.background.worker.stats.crashes
        # Let the poller confirm what it has fetched (the offset of its next getUpdates):
        # stopped earlier, the emulator hands the last update out again after a restart,
        # as Telegram would. Handling a repeated update_id once is issue 9's.
        await self.emulator.wait_for_poller(timeout=5)
        try:
            with contextlib.suppress(RuntimeError):  # polling may not have started
                await asyncio.wait_for(self.app.dispatcher.stop_polling(), timeout=15)
            await asyncio.wait_for(self.task, timeout=15)
        except TimeoutError:
            for task in asyncio.all_tasks():
                task.print_stack()
            raise
        self.app = None
        self.task = None
        assert crashes == 0, "the delivery worker hit unexpected errors (see the log)"

    async def restart(self) -> App:
        """Stop and start again on the same database (and Redis): what a redeploy does."""
        await self.stop()
        return await self.start()

    @property
    def core(self) -> Core:
        assert self.app is not None
        return self.app.core

    async def sweep(self) -> None:
        """Run the sweep job now (what the scheduler does every few seconds)."""
        assert self.app is not None
        await self.app.background.sweep()

    async def delivered(self) -> None:
        """Until the delivery worker has sent what is due and recorded the results."""
        assert self.app is not None
        self.app.background.worker.wake()
        await asyncio.wait_for(self.app.background.worker.wait_idle(), timeout=30)

    def advance(self, delta: timedelta) -> None:
        self.clock.advance(delta)
        if self.app is not None:
            self.app.background.worker.wake()


async def enrol(
    core: Core,
    telegram_id: int,
    code: str,
    name: str,
    *,
    unit: str = "和平里社区",
    position: str = "网格员",
    capacity: int | None = None,
    district: str = "东城区",
    areas: tuple[str, ...] = ("elevator",),
    strengths: tuple[str, ...] = ("leader_support",),
    bio: str | None = None,
) -> None:
    """Enrol someone through the services (setting the scene for tests of other features).
    A mentor gets `areas`, `capacity` (3 by default), `strengths` and `bio` (None: skipped)."""
    svc = core.services.enrolment
    result = await svc.consent(telegram_id, code, "zh-CN")
    assert result.state.next_step is EnrolStep.NAME, result
    await svc.answer(telegram_id, EnrolStep.NAME, check_name(name))
    await svc.answer(telegram_id, EnrolStep.UNIT_TYPE, check_unit_type("community"))
    await svc.answer(telegram_id, EnrolStep.UNIT_NAME, check_unit_name(unit))
    await svc.answer(telegram_id, EnrolStep.DISTRICT, check_district(district))
    state = await svc.answer(telegram_id, EnrolStep.POSITION, check_position(position))
    if state.next_step is EnrolStep.MENTOR_AREAS:
        for area in areas:
            await svc.toggle_mentor_area(telegram_id, area, core.texts.area_ids())
        await svc.answer(telegram_id, EnrolStep.MENTOR_CAPACITY, check_capacity(str(capacity or 3)))
        for strength in strengths:
            await svc.toggle_mentor_strength(telegram_id, strength, core.texts.strength_ids())
        if bio is None:
            state = await svc.skip_bio(telegram_id)
        else:
            state = await svc.answer(telegram_id, EnrolStep.MENTOR_BIO, check_bio(bio))
    assert state.next_step is None, state


class Phone:
    """One person's phone: type, tap buttons, read what the bot shows."""

    def __init__(self, client: EmulatorClient, user_id: int) -> None:
        self.client = client
        self.user_id = user_id

    async def send(self, text: str) -> None:
        await self.client.send_text(self.user_id, text)

    async def say(self, text: str, timeout: float = 10.0) -> ChatMessage:
        """Send text; return the next new message from the bot (edits are skipped)."""
        await self.client.send_text(self.user_id, text)
        return await self.next_message(timeout)

    async def next_message(self, timeout: float = 10.0) -> ChatMessage:
        return await self.client.wait_for(
            self.user_id, lambda m: m.event == "message", timeout=timeout
        )

    async def wait_for(
        self, predicate: Callable[[ChatMessage], bool], timeout: float = 10.0
    ) -> ChatMessage:
        return await self.client.wait_for(self.user_id, predicate, timeout=timeout)

    async def tap(self, label: str, on: ChatMessage | None = None) -> None:
        message = on or await self._latest_with(label)
        await self.client.press(self.user_id, message, text=message.button(label).text)

    async def tap_then_read(
        self, label: str, on: ChatMessage | None = None, timeout: float = 10.0
    ) -> ChatMessage:
        await self.tap(label, on)
        return await self.next_message(timeout)

    async def tap_for_toast(
        self,
        label: str | None = None,
        on: ChatMessage | None = None,
        data: str | None = None,
        forge: bool = False,
        timeout: float = 10.0,
    ) -> str | None:
        """Press a button (or forge a press with `data`) and return the toast text."""
        if data is not None:
            assert on is not None
            pressed = await self.client.press(self.user_id, on, data=data, forge=forge)
        else:
            assert label is not None
            message = on or await self._latest_with(label)
            pressed = await self.client.press(
                self.user_id, message, text=message.button(label).text
            )
        events = await self.client.wait(
            self.user_id, pressed.seq, timeout, kinds=("callback_answer",), direction="out"
        )
        if not events:
            raise TimeoutError("the bot did not answer the button press")
        answer = events[0].get("answer") or {}
        text = answer.get("text")
        return str(text) if text is not None else None

    async def _latest_with(self, label: str) -> ChatMessage:
        for message in reversed(await self.client.bot_messages(self.user_id)):
            if not message.deleted and message.has_button(label):
                return message
        raise AssertionError(f"no message in chat {self.user_id} has a button {label!r}")

    async def transcript(self) -> list[str]:
        return [m.text or "" for m in await self.client.bot_messages(self.user_id)]


def process_env(backend: Backend, emulator: BotAPIEmulator, **extra: str) -> dict[str, str]:
    """The environment of a `xueyong ...` child process pointed at the emulator."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "DATABASE_"))}
    env.update(
        BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE=emulator.base_url,
        DATABASE_URL=backend.database_url,
        REDIS_URL=backend.redis_url or "",
        POLLING_TIMEOUT="2",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


async def spawn_bot(env: dict[str, str], *args: str, log: Path) -> asyncio.subprocess.Process:
    """`python -m bot run` as an operator starts it. Its log goes to `log` (a pipe nobody
    reads would fill up and block the bot); stdout stays a pipe for what it prints."""
    with log.open("ab") as stderr:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            *args,
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
        )
