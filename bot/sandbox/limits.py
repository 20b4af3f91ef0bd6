"""Telegram's flood limits for the emulator: sliding windows over real (monotonic) time.

Telegram documents three limits for bots (https://core.telegram.org/bots/faq):

* about 30 messages per second in total (across all chats);
* about 1 message per second in a single chat;
* at most 20 messages per minute in a group.

:class:`TelegramLimits` enforces them as sliding windows: a call is allowed when every
window it falls under has room, and then it takes one slot in each of them; a refused call
takes nothing. The wait it reports is the time until every full window has a free slot.

Time is measured with a monotonic clock (real seconds by default, injectable for tests),
never with the emulator's movable date clock: moving the bot's calendar forward by a week
must not free a flood window, and the bot's real send rate is what production will meet.

A rate ``r`` per second is enforced as "at most ``ceil(r)`` messages in any
``ceil(r) / r``-second window": exactly "r per second" for whole numbers (a burst of
``ceil(r)``), and one message every ``1/r`` seconds for rates below one.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = [
    "LIMITED_METHODS",
    "KeyedWindows",
    "LimitsConfig",
    "SlidingWindow",
    "TelegramLimits",
    "retry_after_seconds",
]

# The methods that send or edit a message in a chat: only these count and can be refused.
LIMITED_METHODS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendAudio",
        "sendVideo",
        "sendAnimation",
        "sendVoice",
        "sendSticker",
        "copyMessage",
        "forwardMessage",
        "editMessageText",
        "editMessageCaption",
        "editMessageReplyMarkup",
    }
)
_LIMITED_LOWER = frozenset(method.lower() for method in LIMITED_METHODS)
# Times closer than this are equal: float sums of clock steps (0.1 + 0.2 ...) must not keep
# an event in its window a few femtoseconds longer.
_EPSILON = 1e-9


def retry_after_seconds(wait: float) -> int:
    """The ``retry_after`` Telegram reports for a wait: whole seconds, rounded up, at least 1."""
    # The epsilon keeps float noise (1.0000000000000002 s) from adding a whole second.
    return max(1, math.ceil(wait - _EPSILON))


def _window(per_second: float) -> tuple[int, float]:
    """(capacity, period) of the sliding window for a rate per second (see module docs)."""
    if not per_second > 0:
        raise ValueError("a rate limit must be positive")
    capacity = max(1, math.ceil(per_second))
    return capacity, capacity / per_second


class SlidingWindow:
    """At most ``capacity`` events in any ``period``-second window (one shared counter)."""

    def __init__(self, capacity: int, period: float) -> None:
        if capacity < 1 or period <= 0:
            raise ValueError("a window needs a positive capacity and period")
        self.capacity = capacity
        self.period = period
        self._events: deque[float] = deque()  # times of the events still in the window

    def __len__(self) -> int:
        return len(self._events)

    def wait(self, now: float) -> float:
        """Seconds until the window has a free slot (0.0: there is one now)."""
        events = self._events
        while events and events[0] + self.period <= now + _EPSILON:
            events.popleft()
        if len(events) < self.capacity:
            return 0.0
        # The window is full: it frees up when its oldest event leaves it.
        return events[len(events) - self.capacity] + self.period - now

    def add(self, now: float) -> None:
        self._events.append(now)


class KeyedWindows:
    """One :class:`SlidingWindow` per key (e.g. per chat), expiring idle keys.

    Every event is also queued with its expiry time; as time passes the queue is drained
    from the front (times only grow), dropping each expired event from its key's window
    and forgetting keys whose window became empty. Each event is queued and dropped once,
    so every operation is O(1) amortised and memory holds only the events of the last
    ``period`` seconds, however many keys were ever seen.
    """

    def __init__(self, capacity: int, period: float) -> None:
        if capacity < 1 or period <= 0:
            raise ValueError("a window needs a positive capacity and period")
        self.capacity = capacity
        self.period = period
        self._events: dict[int, deque[float]] = {}
        self._expiries: deque[tuple[float, int]] = deque()

    def __len__(self) -> int:
        """The number of keys that still have events in their window."""
        return len(self._events)

    def expire(self, now: float) -> None:
        expiries = self._expiries
        while expiries and expiries[0][0] <= now + _EPSILON:
            _, key = expiries.popleft()
            events = self._events[key]
            events.popleft()  # a key's events expire in the order they happened
            if not events:
                del self._events[key]

    def wait(self, key: int, now: float) -> float:
        """Seconds until ``key``'s window has a free slot (0.0: there is one now)."""
        self.expire(now)
        events = self._events.get(key)
        if events is None or len(events) < self.capacity:
            return 0.0
        return events[len(events) - self.capacity] + self.period - now

    def add(self, key: int, now: float) -> None:
        events = self._events.get(key)
        if events is None:
            events = self._events[key] = deque()
        events.append(now)
        self._expiries.append((now + self.period, key))


@dataclass(frozen=True)
class LimitsConfig:
    global_per_second: float
    per_chat_per_second: float
    per_group_per_minute: int


class TelegramLimits:
    """Telegram's flood limits; a :class:`~bot.sandbox.emulator_state.RateLimiter`.

    Private chats have positive ids, groups and supergroups negative ones. Every chat is
    held to ``per_chat_per_second`` (Telegram: "avoid sending more than one message per
    second in a particular chat"); groups are also held to ``per_group_per_minute``.
    ``clock`` must be monotonic (it is never the emulator's date clock).
    """

    def __init__(
        self,
        global_per_second: float = 30,
        per_chat_per_second: float = 1,
        per_group_per_minute: int = 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_group_per_minute < 1:
            raise ValueError("per_group_per_minute must be at least 1")
        self.config = LimitsConfig(global_per_second, per_chat_per_second, per_group_per_minute)
        self.clock = clock
        self._global = SlidingWindow(*_window(global_per_second))
        self._chats = KeyedWindows(*_window(per_chat_per_second))
        self._groups = KeyedWindows(per_group_per_minute, 60.0)

    def check(self, method: str, chat_id: int, now: datetime) -> float | None:
        """Seconds to wait before retrying (a 429), or None: allowed, and counted.

        ``now`` is the emulator's date and deliberately ignored (see the module docs).
        """
        if method.lower() not in _LIMITED_LOWER:
            return None
        moment = self.clock()
        wait = max(self._global.wait(moment), self._chats.wait(chat_id, moment))
        is_group = chat_id < 0
        if is_group:
            wait = max(wait, self._groups.wait(chat_id, moment))
        if wait > 0:
            return wait
        self._global.add(moment)
        self._chats.add(chat_id, moment)
        if is_group:
            self._groups.add(chat_id, moment)
        return None

    def tracked_chats(self) -> int:
        """Chats with messages still inside a window (memory use, for tests)."""
        moment = self.clock()
        self._chats.expire(moment)
        self._groups.expire(moment)
        return len(self._chats) + len(self._groups)

    def to_json(self) -> dict[str, Any]:
        return {
            "enabled": True,
            "global_per_second": self.config.global_per_second,
            "per_chat_per_second": self.config.per_chat_per_second,
            "per_group_per_minute": self.config.per_group_per_minute,
        }
