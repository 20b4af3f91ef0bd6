"""Ports: the small interfaces through which the domain and services meet the outside world."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Where time comes from. Always returns an aware datetime in UTC."""

    def now(self) -> datetime: ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class MovableClock:
    """A clock that runs with the wall clock but can be moved forward.

    The sandbox and the tests use it to watch a 60-day journey in a minute: time keeps
    flowing, and `advance` adds a fixed offset on top.
    """

    def __init__(self, start: datetime | None = None) -> None:
        real = datetime.now(UTC)
        self._offset = (start - real) if start is not None else timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("time only moves forward")
        self._offset += delta
        return self.now()

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("moment must be timezone-aware")
        self._offset = moment - datetime.now(UTC)
