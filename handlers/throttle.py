"""Per-user flood control: a token bucket per person, checked before any handler runs.

Each person may send `burst` updates at once and `rate` a second after that. An update
beyond it is dropped before it reaches a handler (no database work, no reply), and the
person gets one polite "slow down" per notice window, so a script hammering the bot costs
little and everyone else is answered as usual. With REDIS_URL set the buckets live in
Redis (one Lua script, Redis's own clock), so all replicas share them; otherwise they live
in this process.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aiogram import BaseMiddleware, Bot, Dispatcher
from aiogram.exceptions import TelegramAPIError
from aiogram.fsm.storage.base import BaseStorage
from aiogram.types import TelegramObject, Update, User
from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.config import Settings
from bot.content import Texts, Translator
from bot.services.users import UserService

log = logging.getLogger(__name__)

NOTICE_SECONDS = 10.0  # at most one "slow down" per person in this many seconds
MEMORY_MAX_USERS = 50_000  # in-process buckets kept; the least recently used go first
REDIS_PREFIX = "xueyong:throttle:"


class Verdict(enum.Enum):
    ALLOW = "allow"
    DROP = "drop"
    DROP_AND_NOTICE = "notice"  # dropped, and the first drop of its notice window


class Buckets(Protocol):
    async def take(self, user_id: int) -> Verdict: ...


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float
    noticed_at: float = -math.inf


class MemoryBuckets:
    """Token buckets in this process (a single replica)."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        notice_seconds: float = NOTICE_SECONDS,
        now: Callable[[], float] = time.monotonic,
        max_users: int = MEMORY_MAX_USERS,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.notice_seconds = notice_seconds
        self._now = now
        self._max_users = max_users
        self._buckets: OrderedDict[int, _Bucket] = OrderedDict()

    async def take(self, user_id: int) -> Verdict:
        now = self._now()
        bucket = self._buckets.get(user_id)
        if bucket is None:
            bucket = self._buckets[user_id] = _Bucket(float(self.burst), now)
            if len(self._buckets) > self._max_users:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(user_id)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return Verdict.ALLOW
        if now - bucket.noticed_at >= self.notice_seconds:
            bucket.noticed_at = now
            return Verdict.DROP_AND_NOTICE
        return Verdict.DROP


# KEYS[1] the bucket (a hash: tokens, at), KEYS[2] the notice marker; ARGV rate (per
# second), burst, notice window (ms), and optionally the time (seconds; else Redis's clock,
# the same for every replica). Returns 1 allow, 0 drop, 2 drop and notice.
_TAKE_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[4])
if now == nil then
  local clock = redis.call('TIME')
  now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
end
local saved = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(saved[1])
local at = tonumber(saved[2])
if tokens == nil or at == nil then
  tokens = burst
else
  tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
end
local verdict = 0
if tokens >= 1 then
  tokens = tokens - 1
  verdict = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
if verdict == 0 and redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[3]) then
  verdict = 2
end
return verdict
"""


class RedisBuckets:
    """Token buckets in Redis, shared by every replica behind one webhook."""

    def __init__(
        self,
        redis: Redis,
        rate: float,
        burst: int,
        *,
        notice_seconds: float = NOTICE_SECONDS,
        prefix: str = REDIS_PREFIX,
        now: Callable[[], float] | None = None,  # tests; None: Redis's clock
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.notice_seconds = notice_seconds
        self._prefix = prefix
        self._now = now
        self._script = redis.register_script(_TAKE_SCRIPT)

    async def take(self, user_id: int) -> Verdict:
        key = f"{self._prefix}{user_id}"
        args: list[float | int] = [self.rate, self.burst, int(self.notice_seconds * 1000)]
        if self._now is not None:
            args.append(self._now())
        try:
            result = await self._script(keys=[key, f"{key}:notice"], args=args)
        except RedisError as exc:  # flood control is no reason to turn everyone away
            log.warning("throttle: Redis did not answer (%s); letting the update through", exc)
            return Verdict.ALLOW
        return {1: Verdict.ALLOW, 2: Verdict.DROP_AND_NOTICE}.get(int(result), Verdict.DROP)


def build_buckets(storage: BaseStorage, rate: float, burst: int) -> Buckets:
    """In Redis when the FSM storage is (REDIS_URL set; its connection is reused), else here."""
    from aiogram.fsm.storage.redis import RedisStorage

    if isinstance(storage, RedisStorage):
        return RedisBuckets(storage.redis, rate, burst)
    return MemoryBuckets(rate, burst)


def install_throttle(
    dispatcher: Dispatcher,
    settings: Settings,
    storage: BaseStorage,
    users: UserService,
    texts: Texts,
) -> None:
    """Register the throttle (unless THROTTLE_RATE is 0) as an outer middleware on updates,
    ahead of aiogram's FSM middleware: that one holds a per-person lock (event isolation)
    while an update is handled, and a flood's surplus should be dropped at once, not queue
    for the lock one by one while holding the handler slots everyone else is waiting for."""
    if settings.throttle_rate <= 0:
        return
    buckets = build_buckets(storage, settings.throttle_rate, settings.throttle_burst)
    outer = dispatcher.update.outer_middleware
    outer.unregister(dispatcher.fsm)
    outer.register(ThrottleMiddleware(buckets, users, texts))
    outer.register(dispatcher.fsm)


class ThrottleMiddleware(BaseMiddleware):
    """An outer middleware on updates: lets through what the sender's bucket allows."""

    def __init__(self, buckets: Buckets, users: UserService, texts: Texts) -> None:
        self._buckets = buckets
        self._users = users
        self._texts = texts

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None or user.is_bot or not isinstance(event, Update):
            return await handler(event, data)
        verdict = await self._buckets.take(user.id)
        if verdict is Verdict.ALLOW:
            return await handler(event, data)
        if verdict is Verdict.DROP_AND_NOTICE:
            log.info("throttling updates from user %s", user.id)
            bot: Bot | None = data.get("bot")
            if bot is not None:
                await self._notice(bot, event, user)
        return None

    async def _notice(self, bot: Bot, update: Update, user: User) -> None:
        """The one "slow down" of this window: a toast for a button, else a message in a
        private chat (nothing in groups, where the bot does not chat)."""
        t = Translator(self._texts, (await self._users.context(user.id)).locale)
        with contextlib.suppress(TelegramAPIError):
            if update.callback_query is not None:
                await bot.answer_callback_query(
                    update.callback_query.id, t.plain("throttle.slow_down")
                )
            elif update.message is not None and update.message.chat.type == "private":
                await bot.send_message(update.message.chat.id, t("throttle.slow_down"))
