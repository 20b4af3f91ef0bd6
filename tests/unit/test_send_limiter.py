"""The bot-side limiter, on a fake clock: no real waiting in tests."""

from __future__ import annotations

import asyncio

from bot.delivery.limiter import SendLimiter


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def limiter(clock: FakeTime, rate: float = 25, **kw: object) -> SendLimiter:
    return SendLimiter(rate, monotonic=clock.monotonic, sleep=clock.sleep, **kw)  # type: ignore[arg-type]


async def test_global_rate_is_paced_evenly() -> None:
    clock = FakeTime()
    lim = limiter(clock, rate=25)
    start = clock.now
    for chat in range(100):
        await lim.acquire(chat)
    # 100 messages at 25/s: the 100th may go at 99/25 s after the first.
    assert abs((clock.now - start) - 99 / 25) < 1e-9


async def test_one_message_a_second_per_private_chat() -> None:
    clock = FakeTime()
    lim = limiter(clock, rate=1000)
    start = clock.now
    for _ in range(3):
        await lim.acquire(42)
    assert abs((clock.now - start) - 2.0) < 1e-9


async def test_groups_get_twenty_a_minute() -> None:
    clock = FakeTime()
    lim = limiter(clock, rate=1000, per_chat_interval=0.0, group_per_minute=20)
    start = clock.now
    for _ in range(21):
        await lim.acquire(-100, is_group=True)
    assert clock.now - start >= 60.0


async def test_retry_after_pauses_everyone() -> None:
    clock = FakeTime()
    lim = limiter(clock, rate=1000)
    await lim.acquire(1)
    lim.pause(7)
    assert lim.paused_for == 7
    before = clock.now
    await lim.acquire(2)  # another chat waits too
    assert clock.now - before >= 7


async def test_memory_of_chats_is_pruned() -> None:
    clock = FakeTime()
    lim = limiter(clock, rate=10_000)
    for chat in range(5000):
        await lim.acquire(chat)
    clock.now += 30
    await lim.acquire(999_999)
    assert len(lim._chat_next) == 1
