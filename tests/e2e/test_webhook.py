"""Webhook mode through the emulator over HTTP: the emulator POSTs updates to the bot's
aiohttp server as Telegram would; the secret is checked, a repeated update is handled once,
/healthz, /readyz and /metrics answer, and the logs hold no names, answers or tokens."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import io
import json
import logging
import os
import socket
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.engine import make_url

from bot.__main__ import main
from bot.app import App, build_app, run_webhook
from bot.config import Settings, load_settings
from bot.db.models import User
from bot.domain.ports import MovableClock
from bot.logs import remove_logging, setup_logging
from bot.metrics import parse_text
from bot.sandbox.client import EmulatorClient
from bot.sandbox.emulator import BotAPIEmulator
from bot.web import SECRET_HEADER
from tests.conftest import TEST_DATABASE_URL, Backend, _admin_execute
from tests.e2e.harness import TOKEN, Phone, RunningBot
from tests.e2e.test_broadcast import ORGANISER, TRAINEES, cohort_with_members
from tests.e2e.test_delivery_errors import send_to_trainees
from tests.e2e.test_enrolment import make_cohort, says

pytestmark = pytest.mark.e2e

SECRET = hashlib.sha256(TOKEN.encode()).hexdigest()[:48]  # the default: derived from the token
USER = 4101


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class WebhookBot(RunningBot):
    """The real bot in webhook mode (`xueyong run --webhook`), its server on 127.0.0.1."""

    port: int = field(default_factory=free_port)
    # A test that takes the database away on purpose expects the delivery worker to notice.
    outage_expected: bool = False
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base}/telegram/webhook"

    def settings(self) -> Settings:
        values: dict[str, Any] = {
            "BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE": self.emulator.base_url,
            "DATABASE_URL": self.backend.database_url,
            "REDIS_URL": self.backend.redis_url or "",
            "WEBHOOK_URL": self.url,
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": self.port,
            "LEADER_RETRY_SECONDS": 0.2,
        }
        values.update(self.extra_settings)
        return load_settings(**values)

    async def start(self) -> App:
        app = build_app(self.settings(), clock=self.clock)
        self._stop = asyncio.Event()
        ready = asyncio.Event()
        self.app = app
        self.task = asyncio.create_task(
            run_webhook(app, handle_signals=False, stop=self._stop, ready=ready)
        )
        waiter = asyncio.create_task(ready.wait())
        done, _ = await asyncio.wait({waiter, self.task}, timeout=30, return_when="FIRST_COMPLETED")
        if self.task in done:
            waiter.cancel()
            self.task.result()  # raises what made the bot fail to start
        if waiter not in done:
            raise TimeoutError("the bot did not start")
        return app

    async def stop(self) -> None:
        if self.app is None or self.task is None:
            return
        crashes = self.app.background.worker.stats.crashes
        self._stop.set()
        await asyncio.wait_for(self.task, timeout=15)
        self.app = None
        self.task = None
        assert self.outage_expected or crashes == 0, "the delivery worker hit unexpected errors"

    async def metrics(self) -> dict[str, float]:
        async with aiohttp.ClientSession() as http, http.get(f"{self.base}/metrics") as r:
            assert r.status == 200
            assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            return parse_text(await r.text())


async def post_update(
    bot: WebhookBot, update: dict[str, Any], secret: str | None = SECRET
) -> tuple[int, str]:
    """POST an update to the bot's webhook as Telegram would (or as an impostor)."""
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    async with (
        aiohttp.ClientSession() as http,
        http.post(bot.url, json=update, headers=headers) as response,
    ):
        return response.status, await response.text()


async def get(bot: WebhookBot, path: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(f"{bot.base}{path}") as response:
        return response.status, await response.json()


@pytest.fixture
async def hooked(
    backend: Backend, emulator: BotAPIEmulator, clock: MovableClock
) -> AsyncIterator[WebhookBot]:
    bot = WebhookBot(backend, emulator, clock)
    await bot.start()
    try:
        yield bot
    finally:
        await bot.stop()
        refused = [
            (c.method, c.description)
            for c in emulator.errors()
            if c.error_code not in bot.allowed_errors and not c.injected
        ]
        assert refused == [], refused


async def delivered_update(emulator: BotAPIEmulator, text: str) -> dict[str, Any]:
    """The update the emulator POSTed for the last message starting with this text (the
    bot's reply can arrive before the bot has answered the POST: wait for the answers)."""
    assert await emulator.wait_webhook_delivered(timeout=10)
    for delivery in reversed(emulator.webhook_deliveries):
        message = delivery.update.get("message") or {}
        if delivery.delivered and str(message.get("text", "")).startswith(text):
            return delivery.update
    raise AssertionError(f"no delivered update has the text {text!r}")


async def user_row(bot: WebhookBot, telegram_id: int) -> User | None:
    async with bot.core.uow() as uow:
        found: User | None = await uow.session.scalar(
            select(User).where(User.telegram_id == telegram_id)
        )
        return found


async def up_to_the_name_question(bot: WebhookBot, client: EmulatorClient) -> Phone:
    code, _ = await make_cohort(bot)
    await client.add_user(USER, "三", last_name="张")
    phone = Phone(client, USER)
    notice = await phone.say(f"/start {code}")
    await phone.tap("同意并继续", on=notice)
    assert (await phone.next_message()).text == says("ask.name", limit=32)
    return phone


async def test_the_bot_answers_through_the_webhook(
    hooked: WebhookBot, client: EmulatorClient, emulator: BotAPIEmulator
) -> None:
    assert emulator.webhook.url == hooked.url
    assert emulator.webhook.secret_token == SECRET
    assert not emulator.polling  # nobody long-polls: updates arrive by POST
    await client.add_user(USER, "三", last_name="张")
    phone = Phone(client, USER)

    reply = await phone.say("/help")
    assert reply.text is not None and reply.text.startswith(says("help.header"))
    assert says("help.guest") in reply.text

    # A whole enrolment, buttons included, goes through the webhook.
    code, _ = await make_cohort(hooked)
    notice = await phone.say(f"/start {code}")
    await phone.tap("同意并继续", on=notice)
    await phone.next_message()
    await phone.say("张三")
    await phone.tap_then_read("社区（居委会）")
    await phone.say("和平里社区")
    await phone.say("东城区")
    welcome = await phone.say("网格员")
    assert welcome.text is not None and "报名完成" in welcome.text
    # The reply arrives while the bot is still answering the POST: wait for the answer.
    assert await emulator.wait_webhook_delivered(timeout=5)
    assert emulator.webhook_failures() == []
    assert len(emulator.webhook_deliveries) == 8


async def test_what_the_webhook_does_not_accept_is_delivered_again(
    hooked: WebhookBot, client: EmulatorClient, emulator: BotAPIEmulator
) -> None:
    # Behind a proxy: a replica that is down, a route that is wrong, then the live one.
    down = f"http://127.0.0.1:{free_port()}/telegram/webhook"
    emulator.webhook_backends = [down, f"{hooked.base}/wrong/path", hooked.url]
    await client.add_user(USER, "三")
    reply = await Phone(client, USER).say("/help")
    assert reply.text is not None and reply.text.startswith(says("help.header"))
    assert await emulator.wait_webhook_delivered(timeout=10)
    attempts = [(d.status, d.error) for d in emulator.webhook_deliveries]
    assert attempts == [
        (0, "Connection failed: ClientConnectorError"),
        (404, "Wrong response from the webhook: 404 Not Found"),
        (200, None),
    ]
    assert {d.update_id for d in emulator.webhook_deliveries} == {
        emulator.webhook_deliveries[0].update_id
    }
    assert hooked.app is not None
    info = await hooked.app.bot.get_webhook_info()
    assert (info.pending_update_count, info.last_error_message) == (0, attempts[1][1])


async def test_without_the_right_secret_nothing_is_handled(
    hooked: WebhookBot, client: EmulatorClient, emulator: BotAPIEmulator
) -> None:
    phone = await up_to_the_name_question(hooked, client)
    answered = len(await client.bot_messages(USER))
    # A name answer, made from the /start message the bot was sent before.
    start = await delivered_update(emulator, "/start")
    message = {**start["message"], "message_id": 900}
    message["text"] = "冒名者"
    del message["entities"]
    forged = {"update_id": 7, "message": message}
    before = await hooked.metrics()

    for secret in (None, "", "wrong-secret", SECRET[:-1]):
        status, _ = await post_update(hooked, forged, secret=secret)
        assert status == 401, secret
    assert len(await client.bot_messages(USER)) == answered, "no handler ran"
    user = await user_row(hooked, USER)
    assert user is not None and user.full_name is None
    after = await hooked.metrics()
    assert after["xueyong_updates_total"] == before["xueyong_updates_total"]

    # The same update with the secret is a valid answer: it was only the secret.
    status, _ = await post_update(hooked, forged)
    assert status == 200
    asked = await phone.next_message()
    assert asked.text is not None and asked.has_button("社区（居委会）")
    user = await user_row(hooked, USER)
    assert user is not None and user.full_name == "冒名者"


async def test_a_repeated_update_is_handled_once(
    hooked: WebhookBot, client: EmulatorClient, emulator: BotAPIEmulator, backend: Backend
) -> None:
    phone = await up_to_the_name_question(hooked, client)
    asked = await phone.say("张三")
    assert asked.has_button("社区（居委会）")
    answered = len(await client.bot_messages(USER))
    update = await delivered_update(emulator, "张三")

    # Telegram delivers it again (its answer was lost, say): 200, and nothing happens.
    # Handled again, the name would have been taken as an answer to the button question.
    status, _ = await post_update(hooked, update)
    assert status == 200
    assert len(await client.bot_messages(USER)) == answered
    metrics = await hooked.metrics()
    assert metrics["xueyong_updates_repeated_total"] == 1
    if backend.redis_url:  # remembered in Redis, where every replica looks
        redis = Redis.from_url(backend.redis_url)
        try:
            key = f"xueyong:update:{hooked.app.bot.id if hooked.app else 0}:{update['update_id']}"
            assert await redis.get(key) == b"2"
        finally:
            await redis.aclose()

    # The conversation carries on where it was.
    await phone.tap_then_read("社区（居委会）")
    user = await user_row(hooked, USER)
    assert user is not None and (user.full_name, user.unit_type) == ("张三", "community")


async def test_with_redis_a_repeat_is_skipped_by_a_new_process_too(
    hooked: WebhookBot, client: EmulatorClient, emulator: BotAPIEmulator, backend: Backend
) -> None:
    """What another replica, or this one restarted, knows of handled updates: Redis."""
    if not backend.redis_url:
        pytest.skip("without REDIS_URL handled update ids are kept by one process only")
    phone = await up_to_the_name_question(hooked, client)
    await phone.say("张三")
    update = await delivered_update(emulator, "张三")
    answered = len(await client.bot_messages(USER))
    await hooked.restart()  # a new process: nothing in memory
    status, _ = await post_update(hooked, update)
    assert status == 200
    assert len(await client.bot_messages(USER)) == answered
    assert (await hooked.metrics())["xueyong_updates_repeated_total"] == 1


async def test_health_and_readiness(hooked: WebhookBot, backend: Backend) -> None:
    assert await get(hooked, "/healthz") == (200, {"status": "ok"})
    assert await get(hooked, "/readyz") == (200, {"status": "ready"})

    hooked.outage_expected = True
    async with database_unreachable(hooked, backend):
        assert await get(hooked, "/readyz") == (
            503,
            {"status": "unavailable", "failed": ["database"]},
        )
        assert await get(hooked, "/healthz") == (200, {"status": "ok"})  # alive all the same
    assert await get(hooked, "/readyz") == (200, {"status": "ready"})
    # SQLite: connections in use while the pool was disposed were dropped unclosed (aiosqlite
    # warns when they are collected). Collect them here, where that is expected.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


@contextlib.asynccontextmanager
async def database_unreachable(bot: WebhookBot, backend: Backend) -> AsyncIterator[None]:
    """PostgreSQL: the database refuses connections and drops those it had. SQLite: the
    database file cannot be opened (a directory stands where it was)."""
    name = make_url(backend.database_url).database or ""
    if backend.name == "postgresql":
        await _admin_execute(TEST_DATABASE_URL, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await _admin_execute(
            TEST_DATABASE_URL,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{name}' AND pid <> pg_backend_pid()",
        )
    else:
        await bot.core.engine.dispose()
        _swap_for_a_directory(Path(name))
    try:
        yield
    finally:
        if backend.name == "postgresql":
            await _admin_execute(
                TEST_DATABASE_URL, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'
            )
        else:
            _swap_back(Path(name))


def _swap_for_a_directory(path: Path) -> None:
    path.rename(path.with_suffix(".away"))
    path.mkdir()


def _swap_back(path: Path) -> None:
    path.rmdir()
    path.with_suffix(".away").rename(path)


async def test_readiness_names_an_unreachable_redis(
    emulator: BotAPIEmulator, clock: MovableClock, tmp_path: Path
) -> None:
    backend = Backend("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'xueyong.sqlite3'}", None)
    bot = WebhookBot(backend, emulator, clock)
    bot.extra_settings["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"  # nobody listens
    await bot.start()
    try:
        assert await get(bot, "/readyz") == (503, {"status": "unavailable", "failed": ["redis"]})
        assert await get(bot, "/healthz") == (200, {"status": "ok"})
    finally:
        await bot.stop()


async def test_metrics_move_with_updates_and_sends(
    hooked: WebhookBot, client: EmulatorClient, emulator: BotAPIEmulator
) -> None:
    hooked.allowed_errors.add(403)
    start = await hooked.metrics()
    assert start["xueyong_is_leader"] == 1
    assert start['xueyong_messages_sent_total{sender="outbox"}'] == 0
    await cohort_with_members(hooked, client)
    organiser = Phone(client, ORGANISER)
    await organiser.say("/help")
    after_help = await hooked.metrics()
    assert after_help["xueyong_updates_total"] == start["xueyong_updates_total"] + 1
    assert (
        after_help['xueyong_messages_sent_total{sender="replies"}']
        == start['xueyong_messages_sent_total{sender="replies"}'] + 1
    )

    # A reply that fails is a handler error (the person is told something went wrong).
    emulator.inject_failures("sendMessage", ORGANISER, 502, count=1)
    error = await organiser.say("/help")
    assert error.text == says("error")
    assert (await hooked.metrics())["xueyong_handler_errors_total"] == 1

    # A broadcast: one trainee has blocked the bot (403), one send meets flood control (429).
    await client.block(TRAINEES[2])
    emulator.inject_failures("sendMessage", TRAINEES[1], 429, count=1, retry_after=1)
    await send_to_trainees(hooked, client, "明早八点集合")
    for telegram_id in TRAINEES[:2]:
        await Phone(client, telegram_id).next_message(timeout=15)
    await hooked.delivered()
    end = await hooked.metrics()
    assert end['xueyong_telegram_403_total{sender="outbox"}'] == 1
    assert end['xueyong_telegram_429_total{sender="outbox"}'] == 1
    assert end['xueyong_messages_sent_total{sender="outbox"}'] >= 2
    assert end["xueyong_outbox_depth"] == 0
    assert end["xueyong_outbox_oldest_due_age_seconds"] == 0
    assert end["xueyong_updates_total"] > after_help["xueyong_updates_total"]


async def test_polling_serves_health_and_metrics_when_http_port_is_set(
    backend: Backend, emulator: BotAPIEmulator, clock: MovableClock, client: EmulatorClient
) -> None:
    port = free_port()
    settings = {"HTTP_PORT": port, "HTTP_HOST": "127.0.0.1"}
    running = RunningBot(backend, emulator, clock, extra_settings=settings)
    # Left from an earlier webhook deployment: polling deletes it (else getUpdates is refused).
    assert (await emulator.call_api("setWebhook", {"url": "https://bot.example.org/hook"}))["ok"]
    await running.start()
    assert emulator.webhook.url == ""
    try:
        await client.add_user(USER, "三")
        await Phone(client, USER).say("/help")
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/readyz") as r:
                assert r.status == 200
            async with http.get(f"http://127.0.0.1:{port}/metrics") as r:
                assert parse_text(await r.text())["xueyong_updates_total"] == 1
            async with http.post(f"http://127.0.0.1:{port}/telegram/webhook", json={}) as r:
                assert r.status in (404, 405)  # no webhook in polling mode
    finally:
        await running.stop()


async def test_logs_hold_no_names_answers_or_tokens(
    backend: Backend, emulator: BotAPIEmulator, clock: MovableClock, client: EmulatorClient
) -> None:
    name, unit, position = "Quentin Marlowe", "Maple Court Residents Committee", "grid warden"
    captured = io.StringIO()
    bot = WebhookBot(backend, emulator, clock, extra_settings={"LOG_FORMAT": "json"})
    root_level = logging.getLogger().level
    setup_logging(bot.settings(), level=logging.DEBUG, stream=captured)
    try:
        await bot.start()
        try:
            code, _ = await make_cohort(bot)
            await client.add_user(USER, "Quentin", last_name="Marlowe", username="qmarlowe")
            phone = Phone(client, USER)
            notice = await phone.say(f"/start {code}")
            await phone.tap("同意并继续", on=notice)
            await phone.next_message()
            await phone.say(name)
            await phone.tap_then_read("社区（居委会）")
            await phone.say(unit)
            # This reply fails: the handler's error goes to the log with its traceback.
            emulator.inject_failures("sendMessage", USER, 502, count=1)
            assert (await phone.say("Riverside District")).text == says("error")
            welcome = await phone.say(position)
            assert welcome.text is not None and "Quentin Marlowe" not in welcome.text
            await post_update(bot, await delivered_update(emulator, position), secret="wrong")
        finally:
            await bot.stop()
    finally:
        remove_logging()
        logging.getLogger().setLevel(root_level)

    lines = captured.getvalue().splitlines()
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "message", "replica"} <= e.keys() for e in entries)
    loggers = {e["logger"] for e in entries}
    assert {"aiogram.event", "handlers.errors", "bot.web"} <= loggers, loggers
    failures = [e for e in entries if e["logger"] == "handlers.errors"]
    assert failures and "TelegramServerError" in failures[0]["exception"]
    text = captured.getvalue()
    for secret in (name, "Quentin", "Marlowe", "qmarlowe", unit, "Maple Court", position):
        assert secret not in text, secret
    assert "Riverside" not in text
    for secret in (TOKEN, TOKEN.split(":")[1], SECRET):
        assert secret not in text


def test_run_webhook_needs_a_webhook_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    for key in list(os.environ):
        if key.startswith(("WEBHOOK_", "BOT_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    assert main(["run", "--webhook"]) == 2
    assert "WEBHOOK_URL" in capsys.readouterr().err
