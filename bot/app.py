"""The one place where everything is built and wired together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from aiogram import Bot, Dispatcher, methods
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage, StorageKey
from aiogram.fsm.storage.memory import SimpleEventIsolation
from aiogram.methods.base import Response
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import text

from bot.config import TELEGRAM_API_BASE, Settings
from bot.core import Core, build_core
from bot.delivery.counting import CountingMiddleware
from bot.delivery.limiter import SendLimiter
from bot.delivery.replies import RetryAfterMiddleware
from bot.delivery.telegram import TelegramMessenger
from bot.delivery.worker import DeliveryWorker
from bot.domain.ports import Clock
from bot.fsm_storage import DatabaseStorage
from bot.leader import LeaderElection
from bot.metrics import OUTBOX, REPLIES, Metrics
from bot.services.scheduling import SweepReport
from bot.web import WebServer

if TYPE_CHECKING:
    from handlers.updates import SeenUpdates

log = logging.getLogger(__name__)

SWEEP_JOB = "sweep"
SHUTDOWN_GRACE_SECONDS = 10
# A leader taking over from one that sent until moments ago waits this long before its
# first send, so that their sends do not add up past the bot-wide rate (or a chat's 1/s)
# within one second: Telegram would answer 429.
TAKEOVER_PAUSE_SECONDS = 1.0


class Background:
    """What runs beside the handlers: the sweep job (APScheduler) and the delivery worker.

    Only on the elected leader (bot.leader): with several replicas, one sweeps and sends,
    the others stand by and take over within LEADER_RETRY_SECONDS when it dies.
    """

    def __init__(self, core: Core, bot: Bot) -> None:
        settings = core.settings
        self.core = core
        self.bot = bot
        self.limiter = SendLimiter(settings.delivery_rate)
        self.worker = DeliveryWorker(
            core.uow,
            core.clock,
            TelegramMessenger(bot),
            self.limiter,
            concurrency=settings.delivery_concurrency,
            max_attempts=settings.delivery_max_attempts,
        )
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self.election = LeaderElection(
            core.engine,
            replica_id=settings.replica_id,
            retry_seconds=settings.leader_retry_seconds,
            on_elected=self._lead,
            on_lost=self._stand_by,
            on_nudge=self.sweep_soon,
        )
        self._lock = asyncio.Lock()
        self._started = False
        self._nudging: asyncio.Task[None] | None = None
        self._nudge_again = False
        self.last_sweep: SweepReport | None = None

    @property
    def is_leader(self) -> bool:
        return self.election.is_leader

    async def sweep(self) -> SweepReport:
        """One sweep of due items (never two at once), then wake the delivery worker."""
        async with self._lock:
            self.last_sweep = await self.core.sweeper.sweep()
        self.worker.wake()
        return self.last_sweep

    def sweep_soon(self) -> None:
        job = self.scheduler.get_job(SWEEP_JOB)
        if job is not None:
            job.modify(next_run_time=datetime.now(UTC))

    def _nudge(self) -> None:
        """A service enqueued something due now: sweep here, or tell the leader."""
        if self.is_leader:
            self.sweep_soon()
            return
        self._nudge_again = True
        if self._nudging is None or self._nudging.done():
            self._nudging = asyncio.create_task(self._nudge_leader())

    async def _nudge_leader(self) -> None:
        """NOTIFY the leader; once more if another nudge came while that was on its way."""
        while self._nudge_again:
            self._nudge_again = False
            await self.election.nudge_leader()

    async def _lead(self) -> None:
        if self.election.contested:
            self.limiter.pause(TAKEOVER_PAUSE_SECONDS)
        self.worker.start()
        self.scheduler.add_job(
            self.sweep,
            "interval",
            seconds=self.core.settings.sweep_interval,
            id=SWEEP_JOB,
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now(UTC),
            replace_existing=True,
        )

    async def _stand_by(self) -> None:
        if self.scheduler.get_job(SWEEP_JOB) is not None:
            self.scheduler.remove_job(SWEEP_JOB)
        async with self._lock:  # a sweep under way ends before the lock is let go
            pass
        await self.worker.stop()

    async def start(self) -> None:
        self.scheduler.start()
        self._started = True
        await self.election.start()
        self.core.nudge.connect(self._nudge)

    async def stop(self) -> None:
        self.core.nudge.connect(None)
        await self.election.stop()
        if self._started:
            self._started = False
            self.scheduler.shutdown(wait=False)
        if self._nudging is not None:
            await asyncio.gather(self._nudging, return_exceptions=True)
        await self.worker.stop()
        await self.bot.session.close()


@dataclass
class App:
    core: Core
    bot: Bot
    dispatcher: Dispatcher
    storage: BaseStorage
    background: Background
    metrics: Metrics = field(default_factory=Metrics)
    # Readiness checks (bot.web /readyz): each raises or times out when its service is down.
    probes: dict[str, Callable[[], Awaitable[object]]] = field(default_factory=dict)
    _closed: bool = field(default=False, repr=False)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        from handlers import detach_routers

        await self.background.stop()
        detach_routers(self.dispatcher)
        await self.storage.close()
        await self.dispatcher.fsm.events_isolation.close()
        await self.bot.session.close()
        await self.core.close()


def build_storage(core: Core) -> tuple[BaseStorage, BaseEventIsolation]:
    """FSM storage and event isolation: Redis when REDIS_URL is set (shared by replicas),
    else the database (one process; a restart keeps every conversation where it was).

    Isolation makes several messages from one person that arrive together advance a
    conversation one step each instead of racing over the same step.
    """
    settings = core.settings
    if settings.redis_url:
        from aiogram.fsm.storage.redis import RedisStorage

        storage = RedisStorage.from_url(settings.redis_url)
        return storage, _InOrder(storage.create_isolation())
    return DatabaseStorage(core.uow, core.clock), SimpleEventIsolation()


class _InOrder(BaseEventIsolation):
    """Redis isolation (across processes) behind an in-process FIFO lock per key.

    The Redis lock is taken by polling (redis-py retries every 0.1 s), so of several
    updates from one person waiting in this process, any one may win it next: three quick
    answers could be stored out of order. asyncio.Lock wakes its waiters in arrival order,
    so within a process they keep the order they came in."""

    def __init__(self, inner: BaseEventIsolation) -> None:
        self._inner = inner
        self._local = SimpleEventIsolation()

    @contextlib.asynccontextmanager
    async def lock(self, key: StorageKey) -> AsyncGenerator[None, None]:
        from redis.exceptions import RedisError

        async with self._local.lock(key):
            held = self._inner.lock(key)
            await held.__aenter__()
            try:
                yield
            except BaseException:
                if not await held.__aexit__(*sys.exc_info()):
                    raise
            else:
                # The handler has done its work: a Redis error while letting go of the lock
                # must not turn it into a failed update (handled again later). The lock
                # expires on its own.
                try:
                    await held.__aexit__(None, None, None)
                except RedisError as exc:
                    log.warning("could not release a conversation lock: %s", exc)

    async def close(self) -> None:
        await self._inner.close()
        await self._local.close()


# pydantic keeps parametrised generic models such as Response[Message] only in a weak cache,
# and aiogram parametrises Response[...] on every Bot API call: once the garbage collector
# drops a type it is rebuilt, 2-9 ms of CPU each time (15-20% of the bot's time under load,
# bench.ltsi). Holding the types of the calls the bot makes keeps them built.
_RESPONSE_TYPES = tuple(
    Response[method.__returning__]  # type: ignore[name-defined]
    for method in (
        methods.GetUpdates,
        methods.GetMe,
        methods.SendMessage,
        methods.SendPhoto,
        methods.SendDocument,
        methods.EditMessageText,
        methods.EditMessageReplyMarkup,
        methods.AnswerCallbackQuery,
        methods.DeleteMessage,
        methods.SetMyCommands,
    )
)


def build_bot(settings: Settings, token: str, *, retry_replies: bool = False) -> Bot:
    base = settings.telegram_api_base.rstrip("/")
    session = (
        AiohttpSession()
        if base == TELEGRAM_API_BASE
        else AiohttpSession(api=TelegramAPIServer.from_base(base))
    )
    if retry_replies:
        session.middleware(RetryAfterMiddleware())
    return Bot(
        token,
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )


def build_app(settings: Settings, *, clock: Clock | None = None) -> App:
    from bot.inbox import ClearWhenHandled, Inbox, KeepFetched, replay
    from handlers import get_routers, later
    from handlers.menu import RoleMenus, set_default_menu
    from handlers.middlewares import UserContextMiddleware
    from handlers.updates import UpdateGuard

    token = settings.token
    if not token:
        raise ValueError("BOT_TOKEN is not set")
    core = build_core(settings, clock=clock)
    storage, isolation = build_storage(core)
    dispatcher = Dispatcher(storage=storage, events_isolation=isolation)
    # aiogram closes the FSM storage as its first shutdown step, before on_shutdown below
    # has let the updates in flight finish: on Redis they lost their connection mid-way (a
    # conversation lock never released, a state never written). App.close closes it last.
    dispatcher.shutdown.handlers[:] = [
        h for h in dispatcher.shutdown.handlers if h.callback != dispatcher.fsm.close
    ]
    dispatcher.workflow_data.update(core.services.as_workflow_data())
    dispatcher.workflow_data["texts"] = core.texts
    dispatcher.workflow_data["timezone"] = settings.tz_name
    metrics = Metrics()
    polling = not settings.webhook_url  # long polling: the only process receiving updates
    # Long polling keeps each fetched update until it is handled (bot/inbox.py).
    inbox = Inbox(core.uow, core.clock) if polling else None
    if inbox is not None:
        dispatcher.update.outer_middleware(ClearWhenHandled(inbox))
    # First of ours on every update: a repeated update_id goes no further (and is counted).
    seen = build_seen_updates(storage, sole=polling)
    dispatcher.update.outer_middleware(UpdateGuard(seen, metrics))
    context = UserContextMiddleware(core.services.users, core.texts)
    dispatcher.message.outer_middleware(context)
    dispatcher.callback_query.outer_middleware(context)
    menus = RoleMenus(core.texts)  # a mentor's or organiser's own menu, once their roles show
    dispatcher.message.outer_middleware(menus)
    dispatcher.callback_query.outer_middleware(menus)
    from handlers.throttle import install_throttle  # per-person flood control

    install_throttle(dispatcher, settings, storage, core.services.users, core.texts)
    dispatcher.include_routers(*get_routers())
    bot = build_bot(settings, token, retry_replies=True)
    bot.session.middleware(CountingMiddleware(metrics, REPLIES))  # inside the retries
    if inbox is not None:
        bot.session.middleware(KeepFetched(inbox))
    # The delivery worker speaks through a Bot of its own (no reply retries; see replies.py).
    outbox_bot = build_bot(settings, token)
    outbox_bot.session.middleware(CountingMiddleware(metrics, OUTBOX))
    background = Background(core, outbox_bot)
    app = App(core, bot, dispatcher, storage, background, metrics, build_probes(core, storage))

    async def on_startup(bot: Bot) -> None:
        await set_default_menu(bot, core.texts)
        await seen.start()  # alive before the first claim
        await background.start()
        if inbox is not None:  # before anything new is fetched
            await replay(inbox, dispatcher, bot)

    async def on_shutdown() -> None:
        # Polling has stopped; let the updates already being handled finish their work
        # (FSM writes, replies) before the storage and the sessions close under them.
        # aiogram keeps those tasks in a private set and does not wait for them itself.
        in_flight = set(getattr(dispatcher, "_handle_update_tasks", ()))
        if in_flight:
            await asyncio.wait(in_flight, timeout=SHUTDOWN_GRACE_SECONDS)
        following = later.running()  # what those handlers left to finish after their reply
        if following:
            await asyncio.wait(following, timeout=SHUTDOWN_GRACE_SECONDS)
        await background.stop()
        await seen.stop()

    dispatcher.startup.register(on_startup)
    dispatcher.shutdown.register(on_shutdown)
    return app


def build_seen_updates(storage: BaseStorage, *, sole: bool) -> SeenUpdates:
    """Where handled update_ids are remembered: the FSM's Redis, shared by every replica,
    else this process. `sole`: long polling, the only process receiving updates."""
    from aiogram.fsm.storage.redis import RedisStorage

    from handlers.updates import MemorySeenUpdates, RedisSeenUpdates

    if isinstance(storage, RedisStorage):
        return RedisSeenUpdates(storage.redis, sole=sole)
    return MemorySeenUpdates()


def build_probes(core: Core, storage: BaseStorage) -> dict[str, Callable[[], Awaitable[object]]]:
    """What /readyz asks: the database, and Redis when the FSM lives there."""
    from aiogram.fsm.storage.redis import RedisStorage

    async def database() -> None:
        async with core.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    probes: dict[str, Callable[[], Awaitable[object]]] = {"database": database}
    if isinstance(storage, RedisStorage):
        redis = storage.redis

        async def redis_ping() -> None:
            await redis.ping()

        probes["redis"] = redis_ping
    return probes


async def run_polling(app: App, *, handle_signals: bool = True) -> None:
    """`xueyong run`: migrate, then long-poll until stopped. With HTTP_PORT set explicitly,
    the HTTP server answers /healthz, /readyz and /metrics meanwhile."""
    settings = app.core.settings
    server = (
        WebServer(app, host=settings.http_host, port=settings.http_port)
        if settings.http_port_set
        else None
    )
    try:
        if server is not None:
            await server.start()

            async def accept() -> None:
                server.accepting = True

            async def refuse() -> None:
                server.accepting = False

            app.dispatcher.startup.register(accept)
            app.dispatcher.shutdown.register(refuse)
        await app.core.migrate()
        me = await app.bot.get_me()
        await _leave_webhook(app.bot)
        log.info("polling as @%s", me.username)
        await app.dispatcher.start_polling(
            app.bot,
            polling_timeout=settings.polling_timeout,
            handle_signals=handle_signals,
            tasks_concurrency_limit=settings.handler_concurrency,
            close_bot_session=False,
        )
    finally:
        if server is not None:
            await server.stop()
        await app.close()


async def _leave_webhook(bot: Bot) -> None:
    """Telegram refuses getUpdates while a webhook is set (an earlier webhook deployment)."""
    info = await bot.get_webhook_info()
    if info.url:
        log.warning("a webhook was set; deleting it to use long polling")
        await bot.delete_webhook()


async def run_webhook(
    app: App,
    *,
    handle_signals: bool = True,
    stop: asyncio.Event | None = None,
    ready: asyncio.Event | None = None,
) -> None:
    """`xueyong run --webhook` (or WEBHOOK_URL set): serve HTTP, migrate, start, register
    the webhook with its secret, and handle what Telegram posts until `stop` is set (or
    SIGTERM/SIGINT). Every replica registers the same URL and secret (idempotent). Stopping
    leaves the webhook registered: the other replicas carry on, and Telegram keeps what it
    could not deliver until one answers."""
    settings = app.core.settings
    endpoint = settings.webhook_endpoint
    if endpoint is None:
        raise ValueError("WEBHOOK_URL is not set: webhook mode needs the bot's public https URL")
    secret = settings.webhook_secret_token
    stop = stop or asyncio.Event()
    dispatcher = app.dispatcher
    server = WebServer(
        app,
        host=settings.http_host,
        port=settings.http_port,
        webhook_path=settings.webhook_path,
        secret_token=secret,
    )
    workflow = {"dispatcher": dispatcher, "bots": [app.bot], **dispatcher.workflow_data}
    started = False
    try:
        await server.start()  # /healthz at once; /readyz and the webhook once started
        await app.core.migrate()
        me = await app.bot.get_me()
        await dispatcher.emit_startup(bot=app.bot, **workflow)
        started = True
        server.accepting = True
        await app.bot.set_webhook(
            endpoint,
            secret_token=secret,
            allowed_updates=dispatcher.resolve_used_update_types(),
        )
        log.info("webhook mode as @%s", me.username)
        if ready is not None:
            ready.set()
        with _stop_on_signals(stop, enabled=handle_signals):
            await stop.wait()
    finally:
        await server.stop()  # refuses new updates, finishes those in hand
        if started:
            await dispatcher.emit_shutdown(bot=app.bot, **workflow)
        await app.close()


@contextmanager
def _stop_on_signals(stop: asyncio.Event, *, enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        yield
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
