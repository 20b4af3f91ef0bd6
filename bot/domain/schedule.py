"""Rules about when pushes may go out: quiet hours and retry back-off."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily window, in the cohort's local time, when nobody is disturbed by a push.

    The window may cross midnight (21:00–08:00, the default). Equal ends mean no quiet hours.
    """

    start: time = time(21, 0)
    end: time = time(8, 0)

    def contains(self, local: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def next_allowed(self, moment: datetime, timezone: str) -> datetime:
        """`moment` itself when outside the window, else the window's end (in UTC)."""
        zone = ZoneInfo(timezone)
        local = moment.astimezone(zone)
        if not self.contains(local.time().replace(tzinfo=None)):
            return moment
        day = local.date()
        if local.time().replace(tzinfo=None) >= self.end:
            day += timedelta(days=1)
        return datetime.combine(day, self.end, tzinfo=zone).astimezone(UTC)

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        """'21:00-08:00' → QuietHours; '' or 'off' → no quiet hours."""
        text = text.strip()
        if text.lower() in {"", "off", "none"}:
            return cls(time(0), time(0))
        start, _, end = text.partition("-")
        return cls(time.fromisoformat(start.strip()), time.fromisoformat(end.strip()))


def retry_delay(attempt: int, *, base: float = 5.0, cap: float = 600.0) -> timedelta:
    """Back-off after the `attempt`-th failed try (1-based): 5 s, 10 s, 20 s ... ≤ 10 min."""
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    return timedelta(seconds=min(cap, base * 2 ** (attempt - 1)))
