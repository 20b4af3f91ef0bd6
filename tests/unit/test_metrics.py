"""Metrics: the Prometheus text the bot serves, and the outbox gauges read from the database
(on SQLite, and on PostgreSQL when TEST_DATABASE_URL is set)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.config import load_settings
from bot.core import Core, build_core
from bot.delivery.counting import sends_message
from bot.domain.delivery import OutboxStatus, Purpose
from bot.metrics import CONTENT_TYPE, OUTBOX, REPLIES, Counter, Metrics, observe_outbox, parse_text
from bot.services.outbox import outbox_row
from tests.conftest import Backend

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
NAMES = (
    "xueyong_updates_total",
    "xueyong_handler_errors_total",
    "xueyong_messages_sent_total",
    "xueyong_telegram_429_total",
    "xueyong_telegram_403_total",
    "xueyong_outbox_depth",
    "xueyong_outbox_oldest_due_age_seconds",
    "xueyong_is_leader",
)


class FixedClock:
    def now(self) -> datetime:
        return NOW


def test_every_agreed_metric_is_exposed_with_help_and_type() -> None:
    text = Metrics().render()
    for name in NAMES:
        assert f"# HELP {name} " in text
        kind = "counter" if name.endswith("_total") else "gauge"
        assert f"# TYPE {name} {kind}\n" in text
    samples = parse_text(text)
    # Counters by sender exist from the start, so that the first increase is seen by rate().
    assert samples['xueyong_messages_sent_total{sender="outbox"}'] == 0
    assert samples['xueyong_telegram_429_total{sender="replies"}'] == 0
    assert samples["xueyong_updates_total"] == 0
    assert CONTENT_TYPE.startswith("text/plain; version=0.0.4")
    assert text.endswith("\n")


def test_counters_count_and_gauges_hold() -> None:
    metrics = Metrics()
    metrics.updates.inc()
    metrics.updates.inc(2)
    metrics.messages_sent.inc(sender=OUTBOX)
    metrics.telegram_403.inc(sender=REPLIES)
    metrics.outbox_oldest_due_age.set(12.5)
    samples = parse_text(metrics.render())
    assert samples["xueyong_updates_total"] == 3
    assert samples['xueyong_messages_sent_total{sender="outbox"}'] == 1
    assert samples['xueyong_messages_sent_total{sender="replies"}'] == 0
    assert samples['xueyong_telegram_403_total{sender="replies"}'] == 1
    assert samples["xueyong_outbox_oldest_due_age_seconds"] == 12.5
    assert metrics.messages_sent.value(sender=OUTBOX) == 1
    with pytest.raises(ValueError):
        metrics.updates.inc(-1)


def test_label_values_are_escaped() -> None:
    counter = Counter("x_total", "x", initial=())
    counter.inc(kind='a "quoted"\\path\nnext')
    assert list(counter.lines())[-1] == 'x_total{kind="a \\"quoted\\"\\\\path\\nnext"} 1'


@pytest.mark.parametrize(
    ("method", "counts"),
    [
        ("sendMessage", True),
        ("sendPhoto", True),
        ("sendDocument", True),
        ("copyMessage", True),
        ("sendChatAction", False),
        ("editMessageText", False),
        ("answerCallbackQuery", False),
        ("getUpdates", False),
    ],
)
def test_what_counts_as_a_message_sent(method: str, counts: bool) -> None:
    assert sends_message(method) is counts


@pytest.fixture
async def core(backend: Backend) -> AsyncIterator[Core]:
    core = build_core(load_settings(DATABASE_URL=backend.database_url), clock=FixedClock())
    await core.migrate()
    try:
        yield core
    finally:
        await core.close()


async def enqueue(core: Core, key: str, due: datetime, status: OutboxStatus) -> None:
    row = outbox_row(
        key, 1, "text", {"text": "x"}, purpose=Purpose.REMINDER, now=NOW, not_before=due
    )
    row["status"] = status.value
    async with core.uow() as uow:
        await uow.outbox.enqueue([row])
        await uow.commit()


async def test_outbox_gauges_count_due_rows_and_the_oldest_wait(core: Core) -> None:
    metrics = Metrics()
    await observe_outbox(metrics, core.uow, core.clock)
    assert (metrics.outbox_depth.value(), metrics.outbox_oldest_due_age.value()) == (0, 0)

    await enqueue(core, "a", NOW - timedelta(seconds=90), OutboxStatus.PENDING)
    await enqueue(core, "b", NOW - timedelta(seconds=10), OutboxStatus.PENDING)
    await enqueue(core, "later", NOW + timedelta(hours=1), OutboxStatus.PENDING)  # not due
    await enqueue(core, "sent", NOW - timedelta(hours=1), OutboxStatus.SENT)
    await enqueue(core, "blocked", NOW - timedelta(hours=2), OutboxStatus.BLOCKED)
    await observe_outbox(metrics, core.uow, core.clock)
    samples = parse_text(metrics.render())
    assert samples["xueyong_outbox_depth"] == 2
    assert samples["xueyong_outbox_oldest_due_age_seconds"] == 90
