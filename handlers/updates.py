"""Every update, before any handler: handled once per update_id, and counted.

Telegram delivers an update again when it did not see it confirmed: a webhook answer that
came too late or never (a replica killed mid-request), or long polling restarted before it
confirmed its offset. The first delivery claims the update_id; a repeat of a handled update
is skipped. The claim lives in Redis when REDIS_URL is set (shared by every replica), else
in a bounded set in this process.

A claim is "in progress" (and names the process handling it) until the handling ends, then
"done". A repeat that arrives while the first is still in progress is not handled either;
in webhook mode it is answered 503 so that Telegram tries again later (bot.web). Nothing is
lost with a replica that dies mid-update: every process keeps a heartbeat key in Redis
(renewed every ALIVE_SECONDS / 4, expiring after ALIVE_SECONDS), and a claim in progress in
the name of a process whose heartbeat has expired is taken over by the next try; should
even that fail, the claim itself expires after CLAIM_SECONDS. With long polling there is one
process by construction (Telegram answers a second getUpdates 409 Conflict), so a claim in
progress in the name of another process is a dead predecessor's, killed mid-update: the
restarted bot takes the claim over at once. A handler that fails releases its claim, so a
later delivery may try again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol

from aiogram import BaseMiddleware, Bot
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.types import TelegramObject, Update

from bot import failpoints
from bot.metrics import Metrics

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

# Longer than Telegram waits for a webhook answer (about a minute), so that a slow handler
# is not run twice, and short enough that an update whose replica died is retried soon.
CLAIM_SECONDS = 120
# How long a handled update_id is remembered. Repeats come within minutes (a webhook retry,
# a restarted poller); an hour covers them at a few megabytes of Redis per million updates.
DONE_SECONDS = 3600
# A process not heard of for this long is taken for dead and its claims in progress are
# taken over (behind a webhook, Telegram's next try of the update is then handled). Long
# enough that a busy event loop renews in time (every ALIVE_SECONDS / 4).
ALIVE_SECONDS = 10
MEMORY_CAPACITY = 20_000
KEY_PREFIX = "xueyong:update"


class Claim(Enum):
    NEW = "new"
    IN_PROGRESS = "in_progress"
    DONE = "done"


class InProgress:
    """What handling a repeat of an update still in progress returns (see bot.web)."""


IN_PROGRESS = InProgress()


class SeenUpdates(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def claim(self, key: str) -> Claim: ...

    async def finish(self, key: str) -> None: ...

    async def release(self, key: str) -> None: ...


class MemorySeenUpdates:
    """One process: the most recent `capacity` update ids (oldest forgotten first)."""

    def __init__(self, capacity: int = MEMORY_CAPACITY) -> None:
        self._capacity = capacity
        self._seen: OrderedDict[str, Claim] = OrderedDict()

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def claim(self, key: str) -> Claim:
        state = self._seen.get(key)
        if state is not None:
            return state
        self._seen[key] = Claim.IN_PROGRESS
        while len(self._seen) > self._capacity:
            self._seen.popitem(last=False)
        return Claim.NEW

    async def finish(self, key: str) -> None:
        self._seen[key] = Claim.DONE

    async def release(self, key: str) -> None:
        self._seen.pop(key, None)


# Replace the claim only if it still holds what we read (another process may have moved it).
_TAKE_OVER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
"""
DONE = b"2"


ALIVE_PREFIX = "xueyong:alive"


class RedisSeenUpdates:
    """Every replica: SET NX with an expiry; "1:<process>" while in progress, "2" when done.

    Between start() and stop() the process keeps its heartbeat key alive; a claim in progress
    in the name of a process without one is taken over. `sole`: this process is the only one
    receiving updates (long polling), so any other process's claim in progress is taken over.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        owner: str | None = None,
        sole: bool = False,
        claim_seconds: int = CLAIM_SECONDS,
        done_seconds: int = DONE_SECONDS,
        alive_seconds: float = ALIVE_SECONDS,
    ) -> None:
        self._redis = redis
        self._owner = owner or uuid.uuid4().hex
        self._mine = b"1:" + self._owner.encode()
        self._sole = sole
        self._claim_seconds = claim_seconds
        self._done_seconds = done_seconds
        self._alive_seconds = alive_seconds
        self._heartbeat: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Announce this process alive (before it claims anything) and keep it so."""
        if self._heartbeat is None:
            try:
                await self._beat()
            except Exception as exc:  # Redis away: /readyz says so; the beats go on trying
                log.warning("heartbeat not started: %s", exc)
            self._heartbeat = asyncio.create_task(self._beat_forever(), name="update-heartbeat")

    async def stop(self) -> None:
        """Stop the heartbeat (the updates in flight have ended) and say so at once."""
        task, self._heartbeat = self._heartbeat, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        try:
            await self._redis.delete(self._alive_key(self._owner.encode()))
        except Exception as exc:  # it expires by itself
            log.warning("could not clear the heartbeat: %s", exc)

    @staticmethod
    def _alive_key(owner: bytes) -> str:
        return f"{ALIVE_PREFIX}:{owner.decode(errors='replace')}"

    async def _beat(self) -> None:
        key = self._alive_key(self._owner.encode())
        await self._redis.set(key, b"1", px=int(self._alive_seconds * 1000))

    async def _beat_forever(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(self._alive_seconds / 4)
            try:
                await self._beat()
            except Exception as exc:  # Redis away: the next beat may still come in time
                if not failing:
                    log.warning("heartbeat not renewed: %s", exc)
                failing = True
            else:
                if failing:
                    log.info("heartbeat renewed again")
                failing = False

    async def _gone(self, state: bytes | str) -> bool:
        """Whether the process named in a claim in progress is no longer alive."""
        if self._sole:
            return True
        owner = state[2:] if isinstance(state, bytes) else state[2:].encode()
        return not await self._redis.exists(self._alive_key(owner))

    async def claim(self, key: str) -> Claim:
        for _ in range(2):  # a second try if the claim expired between the two calls
            if await self._redis.set(key, self._mine, nx=True, ex=self._claim_seconds):
                return Claim.NEW
            state = await self._redis.get(key)
            if state is None:
                continue
            if state == DONE:
                return Claim.DONE
            if state != self._mine and await self._gone(state):
                taken = await self._redis.eval(
                    _TAKE_OVER, 1, key, state, self._mine, self._claim_seconds
                )
                if taken:
                    log.info("took over %s from a process that is gone", key)
                    return Claim.NEW
                continue
            return Claim.IN_PROGRESS
        return Claim.IN_PROGRESS

    async def finish(self, key: str) -> None:
        await self._redis.set(key, DONE, ex=self._done_seconds)

    async def release(self, key: str) -> None:
        await self._redis.delete(key)


def update_key(bot: Bot, update_id: int) -> str:
    """update_ids are per bot; the bot id keeps two bots on one Redis apart."""
    return f"{KEY_PREFIX}:{bot.id}:{update_id}"


class UpdateGuard(BaseMiddleware):
    """Outer middleware on `dispatcher.update`: claims the update_id, counts the outcome."""

    def __init__(self, seen: SeenUpdates, metrics: Metrics) -> None:
        self._seen = seen
        self._metrics = metrics

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        assert isinstance(event, Update)
        bot: Bot = data["bot"]
        key = update_key(bot, event.update_id)
        claim = await self._seen.claim(key)
        if claim is not Claim.NEW:
            self._metrics.updates_repeated.inc()
            log.info("update %s repeated (%s): skipped", event.update_id, claim.value)
            return IN_PROGRESS if claim is Claim.IN_PROGRESS else UNHANDLED
        failpoints.hit("update.start")
        try:
            result = await handler(event, data)
        except Exception:
            self._metrics.handler_errors.inc()
            self._metrics.updates.inc()
            await self._release(key)
            raise
        except BaseException:  # cancelled (shutting down): not handled, may come again
            await self._release(key)
            raise
        self._metrics.updates.inc()
        failpoints.hit("update.end")
        try:
            await self._seen.finish(key)
        except Exception as exc:  # handled all the same; a repeat would be handled again
            log.warning("could not mark update %s handled: %s", event.update_id, exc)
        return result

    async def _release(self, key: str) -> None:
        """Let a later delivery try again; if Redis is unreachable the claim expires."""
        try:
            await self._seen.release(key)
        except Exception as exc:
            log.warning("could not release the claim %s: %s", key, exc)
