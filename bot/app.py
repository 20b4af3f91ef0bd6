"""The one place where everything is built and wired together."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiogram import Bot, Dispatcher, methods
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage, SimpleEventIsolation
from aiogram.methods.base import Response
from aiogram.types import BotCommand, BotCommandScopeDefault
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.config import TELEGRAM_API_BASE, Settings
from bot.content import Texts
from bot.core import Core, build_core
from bot.delivery.limiter import SendLimiter
from bot.delivery.replies import RetryAfterMiddleware
from bot.delivery.telegram import TelegramMessenger
from bot.delivery.worker import DeliveryWorker
from bot.domain.ports import Clock
from bot.services.scheduling import SweepReport

log = logging.getLogger(__name__)

BOT_COMMANDS = (
    "start",
    "help",
    "check",
    "me",
    "lang",
    "cancel",
    "mydata",
    "delete_my_data",
    "broadcast",
    "broadcasts",
    "report",
)
SWEEP_JOB = "sweep"
SHUTDOWN_GRACE_SECONDS = 10


class Background:
    """What runs beside the handlers: the sweep job (APScheduler) and the delivery worker."""

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
        self._lock = asyncio.Lock()
        self._started = False
        self.last_sweep: SweepReport | None = None

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

    async def start(self) -> None:
        self.worker.start()
        self.scheduler.add_job(
            self.sweep,
            "interval",
            seconds=self.core.settings.sweep_interval,
            id=SWEEP_JOB,
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now(UTC),
        )
        self.scheduler.start()
        self._started = True
        self.core.nudge.connect(self.sweep_soon)

    async def stop(self) -> None:
        self.core.nudge.connect(None)
        if self._started:
            self._started = False
            self.scheduler.shutdown(wait=False)
        await self.worker.stop()
        await self.bot.session.close()


@dataclass
class App:
    core: Core
    bot: Bot
    dispatcher: Dispatcher
    storage: BaseStorage
    background: Background
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


def build_storage(settings: Settings) -> tuple[BaseStorage, BaseEventIsolation]:
    """FSM storage and event isolation: Redis when REDIS_URL is set, else memory.

    Isolation makes several messages from one person that arrive together advance a
    conversation one step each instead of racing over the same step.
    """
    if settings.redis_url:
        from aiogram.fsm.storage.redis import RedisStorage

        storage = RedisStorage.from_url(settings.redis_url)
        return storage, storage.create_isolation()
    return MemoryStorage(), SimpleEventIsolation()


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
    from handlers import get_routers
    from handlers.middlewares import UserContextMiddleware

    token = settings.token
    if not token:
        raise ValueError("BOT_TOKEN is not set")
    core = build_core(settings, clock=clock)
    storage, isolation = build_storage(settings)
    dispatcher = Dispatcher(storage=storage, events_isolation=isolation)
    dispatcher.workflow_data.update(core.services.as_workflow_data())
    dispatcher.workflow_data["texts"] = core.texts
    dispatcher.workflow_data["timezone"] = settings.tz_name
    context = UserContextMiddleware(core.services.users, core.texts)
    dispatcher.message.outer_middleware(context)
    dispatcher.callback_query.outer_middleware(context)
    dispatcher.include_routers(*get_routers())
    bot = build_bot(settings, token, retry_replies=True)
    # The delivery worker speaks through a Bot of its own (no reply retries; see replies.py).
    background = Background(core, build_bot(settings, token))
    app = App(core, bot, dispatcher, storage, background)

    async def on_startup(bot: Bot) -> None:
        await set_commands(bot, core.texts)
        await background.start()

    async def on_shutdown() -> None:
        # Polling has stopped; let the updates already being handled finish their work
        # (FSM writes, replies) before the storage and the sessions close under them.
        # aiogram keeps those tasks in a private set and does not wait for them itself.
        in_flight = set(getattr(dispatcher, "_handle_update_tasks", ()))
        if in_flight:
            await asyncio.wait(in_flight, timeout=SHUTDOWN_GRACE_SECONDS)
        await background.stop()

    dispatcher.startup.register(on_startup)
    dispatcher.shutdown.register(on_shutdown)
    return app


async def set_commands(bot: Bot, texts: Texts) -> None:
    """The command menu, in each language; the default locale for everyone else."""
    for locale in texts.locales:
        commands = [
            BotCommand(command=c, description=texts.plain(locale, f"commands.{c}"))
            for c in BOT_COMMANDS
        ]
        language = None if locale == texts.default_locale else locale.split("-")[0]
        await bot.set_my_commands(commands, BotCommandScopeDefault(), language_code=language)
        if locale == texts.default_locale:
            await bot.set_my_commands(
                commands, BotCommandScopeDefault(), language_code=locale.split("-")[0]
            )


async def run_polling(app: App, *, handle_signals: bool = True) -> None:
    """`xueyong run`: migrate, then long-poll until stopped."""
    try:
        await app.core.migrate()
        me = await app.bot.get_me()
        log.info("polling as @%s", me.username)
        await app.dispatcher.start_polling(
            app.bot,
            polling_timeout=app.core.settings.polling_timeout,
            handle_signals=handle_signals,
            tasks_concurrency_limit=app.core.settings.handler_concurrency,
            close_bot_session=False,
        )
    finally:
        await app.close()
