"""The bot's HTTP server: Telegram's webhook, /healthz, /readyz and /metrics.

* `POST WEBHOOK_PATH`: an update from Telegram. Without the right
  X-Telegram-Bot-Api-Secret-Token it is refused with 401 before anything reads it. The
  update is handled before the answer (at most HANDLER_CONCURRENCY at once), so a replica
  that dies mid-update never answered 200 and Telegram delivers it again; until the bot has
  started, and while it stops, the answer is 503 and Telegram tries again (another replica).
* `GET /healthz`: 200 while the process serves.
* `GET /readyz`: 200 when the bot has started and the database (and Redis, if configured)
  answer within PROBE_TIMEOUT_SECONDS; else 503 naming what failed.
* `GET /metrics`: Prometheus text (bot.metrics).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiogram.types import Update
from aiohttp import web
from pydantic import ValidationError

from bot.metrics import CONTENT_TYPE, observe_outbox
from handlers.updates import InProgress

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
PROBE_TIMEOUT_SECONDS = 3.0
# How long stopping waits for the updates being handled.
SHUTDOWN_TIMEOUT_SECONDS = 10.0
# Telegram tries again later after a 5xx; this says when (seconds) to clients that read it.
RETRY_AFTER_SECONDS = "1"

Probe = Callable[[], Awaitable[object]]


class WebServer:
    """One aiohttp server for the app; the webhook route only when `webhook_path` is set."""

    def __init__(
        self,
        app: App,
        *,
        host: str,
        port: int,
        webhook_path: str | None = None,
        secret_token: str | None = None,
    ) -> None:
        if webhook_path is not None and not secret_token:
            raise ValueError("a webhook needs a secret token")
        self.app = app
        self.host = host
        self.port = port
        self._webhook_path = webhook_path
        self._secret = (secret_token or "").encode()
        self._gate = asyncio.Semaphore(app.core.settings.handler_concurrency)
        self._runner: web.AppRunner | None = None
        # Set once the bot has started (handlers, background work); cleared when it stops.
        self.accepting = False

    def make_app(self) -> web.Application:
        web_app = web.Application()
        if self._webhook_path is not None:
            web_app.router.add_post(self._webhook_path, self._webhook)
        web_app.router.add_get("/healthz", self._healthz)
        web_app.router.add_get("/readyz", self._readyz)
        web_app.router.add_get("/metrics", self._metrics)
        return web_app

    async def start(self) -> None:
        runner = web.AppRunner(
            self.make_app(), access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        self.port = next(addr[1] for addr in runner.addresses if isinstance(addr, tuple))
        log.info(
            "serving http on port %s (%s)",
            self.port,
            "webhook, health, metrics" if self._webhook_path else "health, metrics",
        )

    async def stop(self) -> None:
        """Refuse new updates (503: Telegram retries elsewhere), finish those in hand, close."""
        self.accepting = False
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    # -- the webhook -----------------------------------------------------------------------

    async def _webhook(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            log.warning("webhook request refused: %s secret", "wrong" if given else "no")
            return web.Response(status=401, text="Unauthorized")
        if not self.accepting:
            return _retry_later()
        bot = self.app.bot
        try:
            body = await request.json()
            update = Update.model_validate(body, context={"bot": bot})
        except (ValueError, ValidationError) as exc:
            log.warning("webhook request refused: not an update (%s)", type(exc).__name__)
            return web.Response(status=400, text="Bad Request")
        async with self._gate:
            result = await self.app.dispatcher.feed_update(bot, update)
        if isinstance(result, InProgress):
            return _retry_later()  # a repeat of an update still being handled
        return web.json_response({})

    # -- health, readiness, metrics --------------------------------------------------------

    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _readyz(self, _request: web.Request) -> web.Response:
        failed = [] if self.accepting else ["started"]  # starting up, or stopping
        results = await asyncio.gather(
            *(self._probe(name, probe) for name, probe in self.app.probes.items())
        )
        failed += [name for name, ok in results if not ok]
        if failed:
            return web.json_response({"status": "unavailable", "failed": failed}, status=503)
        return web.json_response({"status": "ready"})

    async def _probe(self, name: str, probe: Probe) -> tuple[str, bool]:
        try:
            await asyncio.wait_for(probe(), PROBE_TIMEOUT_SECONDS)
        except Exception as exc:
            log.warning("readiness: %s does not answer (%s)", name, type(exc).__name__)
            return name, False
        return name, True

    async def _metrics(self, _request: web.Request) -> web.Response:
        app = self.app
        metrics = app.metrics
        metrics.is_leader.set(1 if app.background.is_leader else 0)
        try:
            await asyncio.wait_for(
                observe_outbox(metrics, app.core.uow, app.core.clock), PROBE_TIMEOUT_SECONDS
            )
        except Exception as exc:  # the counters still answer; the gauges keep their values
            log.warning("metrics: outbox not read (%s)", type(exc).__name__)
        return web.Response(body=metrics.render().encode(), headers={"Content-Type": CONTENT_TYPE})


def _retry_later() -> web.Response:
    return web.Response(
        status=503, text="Service Unavailable", headers={"Retry-After": RETRY_AFTER_SECONDS}
    )
