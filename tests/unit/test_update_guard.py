"""An update is handled once per update_id: a real aiogram Dispatcher with the guard, fed the
same update again while it is being handled, after it was handled, and after it failed; the
stores in memory and (when TEST_REDIS_URL is set) in Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiogram import Bot, Dispatcher, Router
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.types import Chat, Message, Update, User
from redis.asyncio import Redis

from bot.metrics import Metrics
from handlers.updates import (
    CLAIM_SECONDS,
    DONE_SECONDS,
    IN_PROGRESS,
    Claim,
    MemorySeenUpdates,
    RedisSeenUpdates,
    SeenUpdates,
    UpdateGuard,
    update_key,
)
from tests.conftest import TEST_REDIS_URL

TOKEN = "123456789:AAHk-test-token-for-the-guard-0123"


def an_update(update_id: int, text: str = "hello") -> Update:
    user = User(id=5, is_bot=False, first_name="A")
    message = Message(
        message_id=update_id,
        date=datetime(2026, 12, 1, tzinfo=UTC),
        chat=Chat(id=5, type="private"),
        from_user=user,
        text=text,
    )
    return Update(update_id=update_id, message=message)


class Harness:
    """A Dispatcher whose one handler can be held open, or made to fail."""

    def __init__(self, seen: SeenUpdates) -> None:
        self.metrics = Metrics()
        self.dispatcher = Dispatcher()
        self.dispatcher.update.outer_middleware(UpdateGuard(seen, self.metrics))
        self.bot = Bot(TOKEN)
        self.calls: list[str] = []
        self.release = asyncio.Event()
        self.entered = asyncio.Event()
        router = Router()

        @router.message()
        async def handle(message: Message) -> str:
            self.calls.append(message.text or "")
            self.entered.set()
            await self.release.wait()
            if message.text == "fail":
                raise RuntimeError("handler failed")
            return "handled"

        self.dispatcher.include_router(router)

    async def feed(self, update: Update) -> object:
        return await self.dispatcher.feed_update(self.bot, update)


@pytest.fixture(params=["memory", "redis"])
async def seen(request: pytest.FixtureRequest) -> AsyncIterator[SeenUpdates]:
    if request.param == "memory":
        yield MemorySeenUpdates()
        return
    if not TEST_REDIS_URL:
        pytest.skip("TEST_REDIS_URL is not set")
    redis = Redis.from_url(TEST_REDIS_URL)
    await redis.flushdb()
    seen = RedisSeenUpdates(redis)
    await seen.start()
    try:
        yield seen
    finally:
        await seen.stop()
        await redis.flushdb()
        await redis.aclose()


async def test_a_repeat_while_handling_is_in_progress_and_after_is_skipped(
    seen: SeenUpdates,
) -> None:
    h = Harness(seen)
    first = asyncio.create_task(h.feed(an_update(1)))
    await h.entered.wait()
    assert await h.feed(an_update(1)) is IN_PROGRESS  # bot.web answers 503: try later
    h.release.set()
    assert await first == "handled"
    assert await h.feed(an_update(1)) is UNHANDLED
    assert h.calls == ["hello"]
    assert h.metrics.updates.value() == 1
    assert h.metrics.updates_repeated.value() == 2
    assert await h.feed(an_update(2)) == "handled"  # another update_id is another update
    await h.bot.session.close()


async def test_a_failed_update_may_be_handled_again(seen: SeenUpdates) -> None:
    h = Harness(seen)
    h.release.set()
    with pytest.raises(RuntimeError):
        await h.feed(an_update(3, "fail"))
    assert h.metrics.handler_errors.value() == 1
    with pytest.raises(RuntimeError):
        await h.feed(an_update(3, "fail"))  # released: tried again, not skipped
    assert h.calls == ["fail", "fail"]
    assert h.metrics.updates_repeated.value() == 0
    await h.bot.session.close()


async def test_memory_forgets_the_oldest_beyond_its_capacity() -> None:
    seen = MemorySeenUpdates(capacity=3)
    for key in "abcd":
        assert await seen.claim(key) is Claim.NEW
        await seen.finish(key)
    assert await seen.claim("d") is Claim.DONE
    assert await seen.claim("a") is Claim.NEW  # forgotten


async def test_redis_claims_expire(seen: SeenUpdates) -> None:
    if not isinstance(seen, RedisSeenUpdates):
        pytest.skip("Redis only")
    redis = seen._redis
    key = update_key(Bot(TOKEN), 9)
    assert key == "xueyong:update:123456789:9"
    assert await seen.claim(key) is Claim.NEW
    assert 0 < await redis.ttl(key) <= CLAIM_SECONDS  # a dead replica's claim runs out
    await seen.finish(key)
    assert CLAIM_SECONDS < await redis.ttl(key) <= DONE_SECONDS
    assert await seen.claim(key) is Claim.DONE
    await seen.release(key)
    assert await seen.claim(key) is Claim.NEW


async def test_a_claim_is_taken_over_once_its_process_is_gone() -> None:
    """Behind a webhook: a claim in progress is respected while its process is alive (its
    heartbeat key renewed), and taken over by the next try once the heartbeat ran out."""
    if not TEST_REDIS_URL:
        pytest.skip("TEST_REDIS_URL is not set")
    redis = Redis.from_url(TEST_REDIS_URL)
    await redis.flushdb()
    killed = RedisSeenUpdates(redis, owner="killed", alive_seconds=5)
    replica = RedisSeenUpdates(redis, owner="replica")
    try:
        key = "xueyong:update:1:78"
        await killed.start()
        await replica.start()
        assert 0 < await redis.pttl("xueyong:alive:killed") <= 5000
        assert await killed.claim(key) is Claim.NEW
        assert await replica.claim(key) is Claim.IN_PROGRESS  # alive: Telegram tries later
        # SIGKILL: the heartbeat stops without a word, and its key runs out (Redis's own
        # clock; deleting it stands for the wait).
        assert killed._heartbeat is not None
        killed._heartbeat.cancel()
        await redis.delete("xueyong:alive:killed")
        assert await replica.claim(key) is Claim.NEW
        assert await redis.get(key) == b"1:replica"
        assert await killed.claim(key) is Claim.IN_PROGRESS  # the replica is alive
        await replica.finish(key)
        assert await replica.claim(key) is Claim.DONE  # a handled update is never taken over
        # A clean stop says so at once: its claims (none left in progress) are free to take.
        await replica.stop()
        assert await redis.exists("xueyong:alive:replica") == 0
    finally:
        await replica.stop()
        await redis.flushdb()
        await redis.aclose()


async def test_a_polling_bot_takes_over_a_claim_its_killed_predecessor_left() -> None:
    """Long polling: the only process receiving updates, so a claim in progress in another
    process's name was left by one killed mid-update; the repeat after the restart is
    handled at once, without waiting for the predecessor's heartbeat to run out."""
    if not TEST_REDIS_URL:
        pytest.skip("TEST_REDIS_URL is not set")
    redis = Redis.from_url(TEST_REDIS_URL)
    await redis.flushdb()
    killed = RedisSeenUpdates(redis, owner="killed", sole=True)
    try:
        key = "xueyong:update:1:77"
        await killed.start()  # killed: its heartbeat has not run out yet
        assert await killed.claim(key) is Claim.NEW
        restarted = RedisSeenUpdates(redis, owner="restarted", sole=True)
        assert await restarted.claim(key) is Claim.NEW
        assert await redis.get(key) == b"1:restarted"
        assert 0 < await redis.ttl(key) <= CLAIM_SECONDS
        assert await restarted.claim(key) is Claim.IN_PROGRESS  # its own: still in progress
        await restarted.finish(key)
        assert await killed.claim(key) is Claim.DONE  # a handled update is never taken over
        assert await restarted.claim(key) is Claim.DONE
    finally:
        await killed.stop()
        await redis.flushdb()
        await redis.aclose()
