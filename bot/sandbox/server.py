"""The offline sandbox: the Bot API emulator, the real bot polling it, and a web chat.

One aiohttp server on one port serves the emulator's Bot API (the bot talks to it),
its control API (`/_emu/`, what the page's "phones" use), the sandbox API (`/_sandbox/`:
personas, clock, time travel) and the page itself. Nothing here talks to Telegram.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import SecretStr

from bot.app import App, build_app, run_polling
from bot.config import DEFAULT_SQLITE_URL, Settings
from bot.domain.ports import MovableClock
from bot.sandbox.demo import PERSONAS, TIMEZONE, Demo, ensure_demo, next_event
from bot.sandbox.emulator import BotAPIEmulator

log = logging.getLogger(__name__)

SANDBOX_TOKEN = "1000000001:SANDBOX-never-sent-to-telegram"
SANDBOX_USERNAME = "xueyong_sandbox_bot"
SANDBOX_DATABASE_URL = "sqlite+aiosqlite:///data/sandbox.sqlite3"
WEB_DIR = Path(__file__).resolve().parent / "web"
ROLE_LABELS = {"organiser": "组织方", "mentor": "导师", "trainee": "学员", "visitor": "访客"}
MAX_TRAVEL = timedelta(days=400)


@dataclass
class Sandbox:
    url: str
    clock: MovableClock
    emulator: BotAPIEmulator
    bot_app: App
    demo: Demo
    runner: web.AppRunner
    polling: asyncio.Task[None]

    async def travel(self, delta: timedelta) -> None:
        """Move the sandbox clock forward and let whatever fell due happen now."""
        self.clock.advance(delta)
        await self.bot_app.background.sweep()

    async def stop(self) -> None:
        with contextlib.suppress(RuntimeError):
            await asyncio.wait_for(self.bot_app.dispatcher.stop_polling(), 15)
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(self.polling, 15)
        await self.emulator.stop()
        await self.runner.cleanup()


def sandbox_settings(settings: Settings, url: str) -> Settings:
    update: dict[str, Any] = {
        "bot_token": SecretStr(SANDBOX_TOKEN),
        "telegram_api_base": url,
        "redis_url": None,
        "polling_timeout": 5,
    }
    if settings.database_url == DEFAULT_SQLITE_URL:
        # Demo people and their chats stay out of a real bot's database.
        update["database_url"] = SANDBOX_DATABASE_URL
    return settings.model_copy(update=update)


async def start_sandbox(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    clock: MovableClock | None = None,
) -> Sandbox:
    clock = clock or MovableClock()
    emulator = BotAPIEmulator(SANDBOX_TOKEN, bot_username=SANDBOX_USERNAME, clock=clock.now)
    web_app = web.Application(client_max_size=50 * 1024 * 1024)
    emulator.add_routes(web_app.router)
    holder: dict[str, Sandbox] = {}
    SandboxAPI(holder).add_routes(web_app.router)
    runner = web.AppRunner(
        web_app, handler_cancellation=True, shutdown_timeout=1.0, access_log=None
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = next(a[1] for a in runner.addresses if isinstance(a, tuple))
    url = f"http://{host}:{bound}"

    bot_app = build_app(sandbox_settings(settings, url), clock=clock)
    await bot_app.core.migrate()
    demo = await ensure_demo(bot_app.core)
    for persona in PERSONAS:
        emulator.add_user(persona.telegram_id, persona.name, language_code="zh")
    started = asyncio.Event()

    async def on_startup() -> None:
        started.set()

    bot_app.dispatcher.startup.register(on_startup)
    polling = asyncio.create_task(run_polling(bot_app, handle_signals=False))
    waiter = asyncio.create_task(started.wait())
    done, _ = await asyncio.wait({waiter, polling}, timeout=60, return_when="FIRST_COMPLETED")
    if polling in done:
        waiter.cancel()
        await runner.cleanup()
        polling.result()
    sandbox = Sandbox(url, clock, emulator, bot_app, demo, runner, polling)
    holder["sandbox"] = sandbox
    return sandbox


class SandboxAPI:
    """`/_sandbox/`: what the page needs beyond the phones: personas, clock, travel."""

    def __init__(self, holder: dict[str, Sandbox]) -> None:
        self._holder = holder

    @property
    def sandbox(self) -> Sandbox:
        sandbox = self._holder.get("sandbox")
        if sandbox is None:
            raise web.HTTPServiceUnavailable(text="the sandbox is starting")
        return sandbox

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/", self.index)
        router.add_get("/_sandbox/state", self.state)
        router.add_post("/_sandbox/clock", self.clock)
        router.add_get("/_sandbox/commands", self.commands)
        if WEB_DIR.is_dir():
            router.add_static("/static/", WEB_DIR)

    async def index(self, request: web.Request) -> web.StreamResponse:
        page = WEB_DIR / "index.html"
        if not page.exists():
            return web.Response(text="the web chat is not built", status=404)
        return web.FileResponse(page, headers={"Cache-Control": "no-store"})

    async def state(self, request: web.Request) -> web.Response:
        return web.json_response(await self._state())

    async def _state(self) -> dict[str, Any]:
        sandbox = self.sandbox
        upcoming = await next_event(sandbox.bot_app.core)
        personas = []
        for persona in PERSONAS:
            chat = sandbox.emulator.chat_state(persona.telegram_id)
            personas.append(
                {
                    "id": persona.telegram_id,
                    "name": persona.name,
                    "role": persona.role,
                    "role_label": ROLE_LABELS[persona.role],
                    "last_seq": int(chat.get("last_seq", 0)) if isinstance(chat, dict) else 0,
                }
            )
        link = f"https://t.me/{SANDBOX_USERNAME}?start="
        return {
            "now": sandbox.clock.now().isoformat(),
            "timezone": TIMEZONE,
            "next_event": upcoming.isoformat() if upcoming else None,
            "bot": {"username": SANDBOX_USERNAME},
            "personas": personas,
            "invites": {
                "trainee": {
                    "code": sandbox.demo.trainee_code,
                    "link": link + sandbox.demo.trainee_code,
                },
                "mentor": {
                    "code": sandbox.demo.mentor_code,
                    "link": link + sandbox.demo.mentor_code,
                },
            },
            "sandbox_notice": "沙盒模式：不连接 Telegram，所有数据只保存在本机。"
            " Sandbox: never talks to Telegram; all data stays on this machine.",
        }

    async def clock(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            raise web.HTTPBadRequest(text="expected JSON") from None
        sandbox = self.sandbox
        if body.get("to_next_event"):
            upcoming = await next_event(sandbox.bot_app.core)
            if upcoming is None:
                raise web.HTTPConflict(text="nothing is scheduled")
            delta = max(timedelta(0), upcoming - sandbox.clock.now()) + timedelta(seconds=1)
        else:
            try:
                delta = timedelta(seconds=float(body.get("advance_seconds", 0)))
            except (TypeError, ValueError):
                raise web.HTTPBadRequest(text="advance_seconds must be a number") from None
            if not timedelta(0) < delta <= MAX_TRAVEL:
                raise web.HTTPBadRequest(text="advance_seconds must be positive (≤ 400 days)")
        await sandbox.travel(delta)
        return web.json_response(await self._state())

    async def commands(self, request: web.Request) -> web.Response:
        """The menu of a persona's chat (?chat=ID: their roles' commands), else the default."""
        lang = request.query.get("lang", "zh")
        emulator = self.sandbox.emulator
        chat = request.query.get("chat", "")
        if chat:
            try:
                commands = emulator.menu(int(chat), lang)
            except ValueError:
                raise web.HTTPBadRequest(text="chat must be a number") from None
        else:
            commands = emulator.commands(language_code=lang) or emulator.commands(language_code="")
        return web.json_response({"commands": commands})


async def run_sandbox(settings: Settings, *, host: str, port: int) -> None:
    """`xueyong sandbox`: serve until Ctrl-C."""
    sandbox = await start_sandbox(settings, host=host, port=port)
    print(f"Xueyong sandbox: open {sandbox.url} in a browser (Ctrl-C stops).", flush=True)
    print("The sandbox never talks to Telegram.", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await sandbox.stop()
