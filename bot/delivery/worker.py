"""The delivery worker: sends outbox rows once, at Telegram's speed, surviving crashes.

Per row: mark "sending" (commit) → send → record the result (commit). A crash between the
send and the second commit leaves the row "sending"; at start-up such rows are sent again.
That window — the rows in flight at the moment of the crash, at most `concurrency` — is the
only place a message can be repeated; nothing is ever lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from sqlalchemy import update

from bot import failpoints
from bot.db.models import User
from bot.delivery.limiter import SendLimiter
from bot.domain.delivery import (
    Blocked,
    DeliveryError,
    Messenger,
    OutboxStatus,
    OutgoingMessage,
    Rejected,
    RetryAfter,
    Transient,
)
from bot.domain.ports import Clock
from bot.domain.schedule import retry_delay
from bot.services.uow import UowFactory

log = logging.getLogger(__name__)


@dataclass
class DeliveryStats:
    sent: int = 0
    blocked: int = 0
    failed: int = 0
    retried: int = 0
    rate_limited: int = 0
    recovered: int = 0
    crashes: int = 0  # unexpected exceptions: bugs, database trouble
    by_error: dict[str, int] = field(default_factory=dict)


class DeliveryWorker:
    def __init__(
        self,
        uow: UowFactory,
        clock: Clock,
        messenger: Messenger,
        limiter: SendLimiter,
        *,
        concurrency: int = 16,
        batch: int = 200,
        max_attempts: int = 5,
        idle_wait: float = 1.0,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._messenger = messenger
        self._limiter = limiter
        self._concurrency = concurrency
        self._batch = batch
        self._max_attempts = max_attempts
        self._idle_wait = idle_wait
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()  # set while nothing is ready to send
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self.stats = DeliveryStats()

    def wake(self) -> None:
        """Something was enqueued: look now instead of at the next idle tick."""
        self._idle.clear()
        self._wake.set()

    async def wait_idle(self) -> None:
        """Until the worker has sent all that is ready and recorded every result."""
        await self._idle.wait()

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self.run(), name="delivery-worker")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("the delivery worker had failed")
            self._task = None

    async def run(self) -> None:
        async with self._uow() as uow:
            self.stats.recovered += await uow.outbox.recover_in_flight()
            await uow.commit()
        while not self._stopping:
            try:
                sent_any = await self.run_once()
            except Exception:
                # A database hiccup must not kill delivery: log, wait a moment, go on.
                log.exception("delivery round failed")
                self.stats.crashes += 1
                sent_any = False
            if not sent_any:
                self._wake.clear()
                self._idle.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._idle_wait)

    async def run_once(self) -> bool:
        """Send what is ready now; False when there was nothing."""
        async with self._uow() as uow:
            ready = await uow.outbox.ready(self._clock.now(), self._batch)
        if not ready:
            return False
        gate = asyncio.Semaphore(self._concurrency)

        async def deliver(message: OutgoingMessage) -> None:
            async with gate:
                await self._deliver(message)

        await asyncio.gather(*(deliver(m) for m in ready))
        return True

    async def _deliver(self, message: OutgoingMessage) -> None:
        await self._limiter.acquire(message.chat_id, is_group=message.is_group)
        async with self._uow() as uow:
            if not await uow.outbox.mark_sending(message.id):
                return  # somebody else took it
            await uow.commit()
        attempt = message.attempts + 1
        try:
            try:
                message_id = await self._messenger.deliver(message)
            except DeliveryError:
                raise
            except Exception as exc:  # a bug or an unforeseen error: keep the row alive
                log.exception("unexpected error sending outbox row %s", message.id)
                self.stats.crashes += 1
                raise Transient(f"{type(exc).__name__}: {exc}") from exc
        except RetryAfter as exc:
            self.stats.rate_limited += 1
            self._limiter.pause(exc.seconds)
            # Flood control is not the row's fault: same attempt count, right back in line.
            await self._finish(message.id, status=OutboxStatus.PENDING, attempts=attempt - 1)
        except Blocked as exc:
            self.stats.blocked += 1
            await self._finish(message.id, status=OutboxStatus.BLOCKED, code=403, error=str(exc))
            if not message.is_group:
                await self._mark_inactive(message.chat_id)
        except Rejected as exc:
            self.stats.failed += 1
            self._count(str(exc))
            await self._finish(message.id, status=OutboxStatus.FAILED, code=400, error=str(exc))
        except Transient as exc:
            self._count(str(exc))
            if attempt >= self._max_attempts:
                self.stats.failed += 1
                await self._finish(message.id, status=OutboxStatus.FAILED, error=str(exc))
            else:
                self.stats.retried += 1
                await self._finish(
                    message.id,
                    status=OutboxStatus.PENDING,
                    error=str(exc),
                    next_attempt_at=self._clock.now() + retry_delay(attempt),
                )
        else:
            failpoints.hit("delivery.sent")
            self.stats.sent += 1
            await self._finish(message.id, status=OutboxStatus.SENT, message_id=message_id)

    def _count(self, error: str) -> None:
        key = error[:60]
        self.stats.by_error[key] = self.stats.by_error.get(key, 0) + 1

    async def _finish(
        self,
        row_id: int,
        *,
        status: OutboxStatus,
        code: int | None = None,
        error: str | None = None,
        message_id: int | None = None,
        attempts: int | None = None,
        next_attempt_at: object = None,
    ) -> None:
        values: dict[str, object] = {"status": status.value}
        if status is OutboxStatus.SENT:
            values["sent_at"] = self._clock.now()
            values["message_id"] = message_id
        if code is not None:
            values["error_code"] = code
        if error is not None:
            values["last_error"] = error[:500]
        if attempts is not None:
            values["attempts"] = attempts
        if next_attempt_at is not None:
            values["next_attempt_at"] = next_attempt_at
        async with self._uow() as uow:
            await uow.outbox.finish(row_id, **values)
            await uow.commit()

    async def _mark_inactive(self, telegram_id: int) -> None:
        async with self._uow() as uow:
            await uow.session.execute(
                update(User).where(User.telegram_id == telegram_id).values(is_active=False)
            )
            await uow.commit()
