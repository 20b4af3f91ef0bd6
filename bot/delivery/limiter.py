"""Telegram's speed limits, kept on our side so that 429s are the exception.

Bot-wide: at most `per_second` messages a second, paced evenly. Per private chat: one
message a second. Per group: `group_per_minute` a minute. A 429 pauses every sender.
All in real (monotonic) seconds: the sandbox's movable clock never speeds up Telegram.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

Sleep = Callable[[float], Awaitable[None]]


class SendLimiter:
    def __init__(
        self,
        per_second: float,
        *,
        per_chat_interval: float = 1.0,
        group_per_minute: int = 20,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        self._interval = 1.0 / per_second
        self._chat_interval = per_chat_interval
        self._group_per_minute = group_per_minute
        self._now = monotonic
        self._sleep = sleep
        self._next_slot = 0.0
        self._paused_until = 0.0
        self._chat_next: dict[int, float] = {}
        self._group_sent: dict[int, deque[float]] = {}
        self._last_prune = 0.0

    def pause(self, seconds: float) -> None:
        """Telegram said 429 retry_after: nobody sends before then."""
        self._paused_until = max(self._paused_until, self._now() + seconds)

    @property
    def paused_for(self) -> float:
        return max(0.0, self._paused_until - self._now())

    def _wait_for(self, chat_id: int, is_group: bool, now: float) -> float:
        wait = max(self._paused_until, self._next_slot, self._chat_next.get(chat_id, 0.0)) - now
        if is_group:
            sent = self._group_sent.get(chat_id)
            if sent is not None:
                while sent and sent[0] <= now - 60.0:
                    sent.popleft()
                if len(sent) >= self._group_per_minute:
                    wait = max(wait, sent[0] + 60.0 - now)
        return wait

    async def acquire(self, chat_id: int, *, is_group: bool = False) -> None:
        """Wait until a message to `chat_id` may be sent, and take that slot."""
        while True:
            now = self._now()
            wait = self._wait_for(chat_id, is_group, now)
            if wait <= 0:
                break
            await self._sleep(wait)
        self._next_slot = max(self._next_slot, now) + self._interval
        self._chat_next[chat_id] = now + self._chat_interval
        if is_group:
            self._group_sent.setdefault(chat_id, deque()).append(now)
        self._prune(now)

    def _prune(self, now: float) -> None:
        """Forget chats whose limits have run out, so memory stays bounded."""
        if now - self._last_prune < 10.0:
            return
        self._last_prune = now
        self._chat_next = {c: t for c, t in self._chat_next.items() if t > now}
        self._group_sent = {c: q for c, q in self._group_sent.items() if q and q[-1] > now - 60}
