"""What the bot counts, for Prometheus: counters and gauges, rendered as its text format.

Hand-written rather than prometheus-client: a handful of metrics, one registry per App (the
tests and the sandbox build several apps in one process), and no global state.
Counters only go up; gauges are read when /metrics is scraped (the outbox from the database,
leadership from the election). Every replica reports the same outbox gauges: aggregate them
with max(), not sum().
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC

from bot.domain.ports import Clock
from bot.services.uow import UowFactory

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Who made a Bot API call: handlers answering an update, or the delivery worker.
REPLIES = "replies"
OUTBOX = "outbox"

Labels = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in labels) + "}"


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if value != int(value) else str(int(value))


@dataclass
class _Metric:
    name: str
    help: str
    kind: str  # counter | gauge
    values: dict[Labels, float] = field(default_factory=dict)

    def lines(self) -> Iterator[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} {self.kind}"
        for labels, value in sorted(self.values.items()):
            yield f"{self.name}{_labels(labels)} {_number(value)}"

    def value(self, **labels: str) -> float:
        return self.values.get(tuple(sorted(labels.items())), 0.0)


class Counter(_Metric):
    def __init__(self, name: str, help: str, *, initial: Iterable[dict[str, str]] = ({},)) -> None:
        super().__init__(name, help, "counter")
        for labels in initial:  # present from the start, so rate() sees the first increase
            self.values[tuple(sorted(labels.items()))] = 0.0

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        if amount < 0:
            raise ValueError("a counter only goes up")
        key = tuple(sorted(labels.items()))
        self.values[key] = self.values.get(key, 0.0) + amount


class Gauge(_Metric):
    def __init__(self, name: str, help: str) -> None:
        super().__init__(name, help, "gauge")
        self.values[()] = 0.0

    def set(self, value: float) -> None:
        self.values[()] = float(value)


class Metrics:
    """The bot's metrics (names are a contract with dashboards and alerts)."""

    def __init__(self) -> None:
        senders = ({"sender": REPLIES}, {"sender": OUTBOX})
        self.updates = Counter(
            "xueyong_updates_total", "Updates handled (a repeated update_id counts once)."
        )
        self.updates_repeated = Counter(
            "xueyong_updates_repeated_total",
            "Updates skipped because their update_id was handled already.",
        )
        self.handler_errors = Counter(
            "xueyong_handler_errors_total", "Updates whose handling raised an exception."
        )
        self.messages_sent = Counter(
            "xueyong_messages_sent_total",
            "Messages Telegram accepted, by sender (replies or outbox).",
            initial=senders,
        )
        self.telegram_429 = Counter(
            "xueyong_telegram_429_total",
            "Bot API calls refused with 429 (flood control), by sender.",
            initial=senders,
        )
        self.telegram_403 = Counter(
            "xueyong_telegram_403_total",
            "Bot API calls refused with 403 (blocked, deactivated), by sender.",
            initial=senders,
        )
        self.outbox_depth = Gauge(
            "xueyong_outbox_depth", "Outbox messages due now and not sent yet."
        )
        self.outbox_oldest_due_age = Gauge(
            "xueyong_outbox_oldest_due_age_seconds",
            "How long the oldest due, unsent outbox message has waited (0 when none).",
        )
        self.is_leader = Gauge(
            "xueyong_is_leader",
            "1 on the replica that runs the sweeper and the delivery worker, else 0.",
        )

    def all(self) -> list[_Metric]:
        return [
            self.updates,
            self.updates_repeated,
            self.handler_errors,
            self.messages_sent,
            self.telegram_429,
            self.telegram_403,
            self.outbox_depth,
            self.outbox_oldest_due_age,
            self.is_leader,
        ]

    def render(self) -> str:
        """The Prometheus text exposition format (version 0.0.4)."""
        return "".join(f"{line}\n" for metric in self.all() for line in metric.lines())


async def observe_outbox(metrics: Metrics, uow: UowFactory, clock: Clock) -> None:
    """Set the outbox gauges from the database (at scrape time)."""
    now = clock.now()
    async with uow() as work:
        depth, oldest = await work.outbox.depth(now)
    metrics.outbox_depth.set(depth)
    if oldest is None:
        metrics.outbox_oldest_due_age.set(0)
        return
    if oldest.tzinfo is None:  # SQLite hands back naive UTC
        oldest = oldest.replace(tzinfo=UTC)
    metrics.outbox_oldest_due_age.set(max(0.0, (now - oldest).total_seconds()))


def parse_text(text: str) -> dict[str, float]:
    """Samples of a Prometheus text page by `name{labels}` (for tests and checks)."""
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        samples[key] = float(value)
    return samples
