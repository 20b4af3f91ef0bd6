"""Organisers' course notices: draft, preview, send now or later, receipts and reminders."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update

from bot.content import Texts
from bot.db.models import Broadcast, BroadcastAck
from bot.db.repositories import cohort_dto
from bot.domain.delivery import OutboxStatus, Purpose, ack_action, inline_keyboard
from bot.domain.model import CohortDTO
from bot.domain.notices import Audience, NoticeCheck, check_notice, excerpt, progress_bar
from bot.domain.ports import Clock
from bot.domain.schedule import QuietHours
from bot.services.outbox import outbox_row
from bot.services.scheduling import Due, due_row
from bot.services.uow import UnitOfWork, UowFactory

SEND_KIND = "broadcast_send"
REMIND_KIND = "broadcast_remind"


class BroadcastStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    DONE = "done"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Notice:
    text: str | None
    media_kind: str | None = None  # photo | document
    media_file_id: str | None = None
    media_name: str | None = None

    def check(self) -> NoticeCheck:
        return check_notice(self.text, has_media=self.media_kind is not None)


@dataclass(frozen=True, slots=True)
class Draft:
    id: int
    cohort: CohortDTO | None  # None: all the organiser's cohorts
    audience: Audience
    notice: Notice
    recipients: int
    ack_requested: bool
    reminder_hours: int
    status: BroadcastStatus


class ConfirmOutcome(StrEnum):
    QUEUED = "queued"
    SCHEDULED = "scheduled"
    ALREADY = "already"
    NOT_FOUND = "not_found"
    IN_THE_PAST = "in_the_past"


@dataclass(frozen=True, slots=True)
class Confirmation:
    outcome: ConfirmOutcome
    recipients: int = 0
    when: datetime | None = None


class AckOutcome(StrEnum):
    RECORDED = "recorded"
    ALREADY = "already"
    NOT_RECIPIENT = "not_recipient"


@dataclass(frozen=True, slots=True)
class BroadcastSummary:
    id: int
    cohort: str | None
    audience: Audience
    status: BroadcastStatus
    created_at: datetime
    scheduled_at: datetime | None
    total: int
    counts: dict[str, int]
    acked: int
    ack_requested: bool
    excerpt: str


class BroadcastService:
    def __init__(
        self,
        uow: UowFactory,
        clock: Clock,
        texts: Texts,
        *,
        organiser_ids: frozenset[int],
        quiet_hours: QuietHours,
        reminder_hours: int = 24,
        report_interval: timedelta = timedelta(seconds=3),
        nudge: Callable[[], None] = lambda: None,
        default_timezone: str = "Asia/Shanghai",
    ) -> None:
        self.default_timezone = default_timezone
        self._nudge = nudge
        self._uow = uow
        self._clock = clock
        self._texts = texts
        self._organiser_ids = organiser_ids
        self._quiet = quiet_hours
        self._reminder_hours = reminder_hours
        self._report_interval = report_interval
        self._last_report: dict[int, datetime] = {}
        self._last_text: dict[int, str] = {}

    def now(self) -> datetime:
        return self._clock.now()

    # -- organiser side ------------------------------------------------------------------

    async def cohorts_of(self, telegram_id: int) -> list[CohortDTO] | None:
        """The cohorts this person organises; None when they are no organiser at all."""
        async with self._uow() as uow:
            user = await uow.users.by_telegram_id(telegram_id)
            if user is None:
                return [] if telegram_id in self._organiser_ids else None
            cohorts = [cohort_dto(c) for c in await uow.broadcasts.organised_cohorts(user.id)]
            is_organiser = telegram_id in self._organiser_ids or any(
                r.role == "organiser" for r in user.roles
            )
            return cohorts if (cohorts or is_organiser) else None

    async def count_recipients(
        self, telegram_id: int, cohort_id: int | None, audience: Audience
    ) -> int | None:
        async with self._uow() as uow:
            cohort_ids = await self._allowed_cohorts(uow, telegram_id, cohort_id)
            if cohort_ids is None:
                return None
            return len(await uow.broadcasts.recipients(cohort_ids, audience.roles))

    async def _allowed_cohorts(
        self, uow: UnitOfWork, telegram_id: int, cohort_id: int | None
    ) -> list[int] | None:
        """The cohort ids a broadcast may reach: only the organiser's own."""
        user = await uow.users.by_telegram_id(telegram_id)
        if user is None:
            return None
        own = [c.id for c in await uow.broadcasts.organised_cohorts(user.id)]
        if cohort_id is None:
            return own or None
        return [cohort_id] if cohort_id in own else None

    async def create_draft(
        self, telegram_id: int, cohort_id: int | None, audience: Audience, notice: Notice
    ) -> Draft | None:
        now = self._clock.now()
        async with self._uow() as uow:
            cohort_ids = await self._allowed_cohorts(uow, telegram_id, cohort_id)
            user = await uow.users.by_telegram_id(telegram_id)
            if cohort_ids is None or user is None:
                return None
            broadcast = await uow.broadcasts.add(
                Broadcast(
                    organiser_user_id=user.id,
                    organiser_chat_id=telegram_id,
                    cohort_id=cohort_id,
                    audience=audience.value,
                    text=notice.text,
                    media_kind=notice.media_kind,
                    media_file_id=notice.media_file_id,
                    media_name=notice.media_name,
                    ack_requested=False,
                    reminder_minutes=self._reminder_hours * 60,
                    status=BroadcastStatus.DRAFT.value,
                    created_at=now,
                )
            )
            await uow.audit.record(
                now,
                "broadcast_drafted",
                actor_user_id=user.id,
                target_type="broadcast",
                target_id=broadcast.id,
                details={"cohort_id": cohort_id, "audience": audience.value},
            )
            draft = await self._draft(uow, broadcast, cohort_ids)
            await uow.commit()
            return draft

    async def _draft(self, uow: UnitOfWork, b: Broadcast, cohort_ids: list[int]) -> Draft:
        cohort = await uow.cohorts.get(b.cohort_id) if b.cohort_id else None
        audience = Audience(b.audience)
        return Draft(
            id=b.id,
            cohort=cohort_dto(cohort) if cohort else None,
            audience=audience,
            notice=Notice(b.text, b.media_kind, b.media_file_id, b.media_name),
            recipients=len(await uow.broadcasts.recipients(cohort_ids, audience.roles)),
            ack_requested=b.ack_requested,
            reminder_hours=(b.reminder_minutes or 0) // 60,
            status=BroadcastStatus(b.status),
        )

    async def get_draft(self, telegram_id: int, draft_id: int) -> Draft | None:
        async with self._uow() as uow:
            b = await self._own(uow, telegram_id, draft_id)
            if b is None:
                return None
            cohort_ids = await self._allowed_cohorts(uow, telegram_id, b.cohort_id) or []
            return await self._draft(uow, b, cohort_ids)

    async def _own(self, uow: UnitOfWork, telegram_id: int, broadcast_id: int) -> Broadcast | None:
        b = await uow.broadcasts.get(broadcast_id)
        return b if b is not None and b.organiser_chat_id == telegram_id else None

    async def toggle_ack(self, telegram_id: int, draft_id: int) -> Draft | None:
        async with self._uow() as uow:
            b = await self._own(uow, telegram_id, draft_id)
            if b is None or b.status != BroadcastStatus.DRAFT.value:
                return None
            b.ack_requested = not b.ack_requested
            cohort_ids = await self._allowed_cohorts(uow, telegram_id, b.cohort_id) or []
            draft = await self._draft(uow, b, cohort_ids)
            await uow.commit()
            return draft

    async def cancel(self, telegram_id: int, draft_id: int) -> bool:
        async with self._uow() as uow:
            result = await uow.session.execute(
                update(Broadcast)
                .where(
                    Broadcast.id == draft_id,
                    Broadcast.organiser_chat_id == telegram_id,
                    Broadcast.status == BroadcastStatus.DRAFT.value,
                )
                .values(status=BroadcastStatus.CANCELLED.value)
            )
            await uow.commit()
            return (result.rowcount or 0) == 1  # type: ignore[attr-defined]

    async def confirm(
        self, telegram_id: int, draft_id: int, when: datetime | None = None
    ) -> Confirmation:
        """Draft → scheduled, exactly once however often "send" is pressed."""
        now = self._clock.now()
        send_at = when or now
        if when is not None and when <= now:
            return Confirmation(ConfirmOutcome.IN_THE_PAST)
        async with self._uow() as uow:
            b = await self._own(uow, telegram_id, draft_id)
            if b is None:
                return Confirmation(ConfirmOutcome.NOT_FOUND)
            result = await uow.session.execute(
                update(Broadcast)
                .where(Broadcast.id == draft_id, Broadcast.status == BroadcastStatus.DRAFT.value)
                .values(status=BroadcastStatus.SCHEDULED.value, scheduled_at=send_at)
            )
            if (result.rowcount or 0) != 1:  # type: ignore[attr-defined]
                return Confirmation(ConfirmOutcome.ALREADY)
            await uow.due.schedule(
                [
                    due_row(
                        SEND_KIND,
                        f"broadcast:{draft_id}",
                        send_at,
                        now,
                        payload={"broadcast_id": draft_id},
                        cohort_id=b.cohort_id,
                    )
                ]
            )
            cohort_ids = await self._allowed_cohorts(uow, telegram_id, b.cohort_id) or []
            count = len(await uow.broadcasts.recipients(cohort_ids, Audience(b.audience).roles))
            await uow.audit.record(
                now,
                "broadcast_confirmed",
                actor_user_id=b.organiser_user_id,
                target_type="broadcast",
                target_id=b.id,
                details={"send_at": send_at.isoformat(), "recipients": count},
            )
            await uow.commit()
        if when is None:
            self._nudge()
        outcome = ConfirmOutcome.SCHEDULED if when else ConfirmOutcome.QUEUED
        return Confirmation(outcome, count, send_at)

    async def quiet_until(
        self, cohort: CohortDTO | None, at: datetime | None = None
    ) -> datetime | None:
        """When a notice sent at `at` (default now) would really go out, if quiet hours hold it."""
        moment = at or self._clock.now()
        timezone = cohort.timezone if cohort else self.default_timezone
        allowed = self._quiet.next_allowed(moment, timezone)
        return allowed if allowed > moment else None

    async def history(self, telegram_id: int, limit: int = 10) -> list[BroadcastSummary]:
        async with self._uow() as uow:
            user = await uow.users.by_telegram_id(telegram_id)
            if user is None:
                return []
            out = []
            for b in await uow.broadcasts.for_organiser(user.id, limit):
                cohort = await uow.cohorts.get(b.cohort_id) if b.cohort_id else None
                out.append(
                    BroadcastSummary(
                        id=b.id,
                        cohort=cohort.name if cohort else None,
                        audience=Audience(b.audience),
                        status=BroadcastStatus(b.status),
                        created_at=b.created_at,
                        scheduled_at=b.scheduled_at,
                        total=b.total,
                        counts=await uow.broadcasts.delivery_counts(b.id),
                        acked=await uow.broadcasts.ack_count(b.id),
                        ack_requested=b.ack_requested,
                        excerpt=excerpt(b.text or b.media_name),
                    )
                )
            return out

    # -- recipient side ------------------------------------------------------------------

    async def acknowledge(self, telegram_id: int, broadcast_id: int) -> AckOutcome:
        async with self._uow() as uow:
            user = await uow.users.by_telegram_id(telegram_id)
            if user is None or not await uow.broadcasts.was_recipient(broadcast_id, user.id):
                return AckOutcome.NOT_RECIPIENT
            already = await uow.session.scalar(
                select(BroadcastAck.id).where(
                    BroadcastAck.broadcast_id == broadcast_id, BroadcastAck.user_id == user.id
                )
            )
            if already is not None:
                return AckOutcome.ALREADY
            uow.session.add(
                BroadcastAck(broadcast_id=broadcast_id, user_id=user.id, at=self._clock.now())
            )
            await uow.commit()
            return AckOutcome.RECORDED

    # -- due items -----------------------------------------------------------------------

    async def send_due(self, uow: UnitOfWork, due: Due, now: datetime) -> None:
        """A confirmed broadcast's time has come: one outbox row per recipient."""
        b = await uow.broadcasts.get(int(due.payload["broadcast_id"]))
        if b is None or b.status != BroadcastStatus.SCHEDULED.value:
            return
        cohort_ids = await self._allowed_cohorts(uow, b.organiser_chat_id, b.cohort_id) or []
        recipients = await uow.broadcasts.recipients(cohort_ids, Audience(b.audience).roles)
        rows = []
        for r in recipients:
            rows.append(
                outbox_row(
                    f"bc:{b.id}:u:{r.user_id}",
                    r.chat_id,
                    *self._notice_message(b, r.locale),
                    purpose=Purpose.BROADCAST,
                    now=now,
                    not_before=self._quiet.next_allowed(now, r.timezone),
                    user_id=r.user_id,
                    broadcast_id=b.id,
                )
            )
        await uow.outbox.enqueue(rows)
        b.status = BroadcastStatus.SENDING.value
        b.total = len(rows)
        b.started_at = now
        organiser = await uow.users.by_telegram_id(b.organiser_chat_id)
        locale = organiser.locale if organiser else None
        await uow.outbox.enqueue(
            [
                outbox_row(
                    f"bc:{b.id}:report",
                    b.organiser_chat_id,
                    "text",
                    {"text": self._report_text(b, {}, 0, locale, final=False)},
                    purpose=Purpose.REPORT,
                    now=now,
                    broadcast_id=b.id,
                )
            ]
        )
        if b.ack_requested and b.reminder_minutes:
            await uow.due.schedule(
                [
                    due_row(
                        REMIND_KIND,
                        f"broadcast:{b.id}:remind",
                        now + timedelta(minutes=b.reminder_minutes),
                        now,
                        payload={"broadcast_id": b.id},
                        cohort_id=b.cohort_id,
                    )
                ]
            )

    def _notice_message(self, b: Broadcast, locale: str | None) -> tuple[str, dict[str, Any]]:
        payload: dict[str, Any] = {}
        if b.ack_requested:
            label = self._texts.plain(locale, "broadcast.ack_button")
            payload["reply_markup"] = inline_keyboard([[(label, ack_action(b.id))]])
        if b.media_kind is not None:
            payload["file_id"] = b.media_file_id
            if b.text:
                payload["caption"] = b.text
            return b.media_kind, payload
        payload["text"] = b.text or ""
        return "text", payload

    async def remind_due(self, uow: UnitOfWork, due: Due, now: datetime) -> None:
        b = await uow.broadcasts.get(int(due.payload["broadcast_id"]))
        if b is None:
            return
        rows = []
        cohort = await uow.cohorts.get(b.cohort_id) if b.cohort_id else None
        timezone = cohort.timezone if cohort else self.default_timezone
        for user_id, chat_id, locale in await uow.broadcasts.unacknowledged_recipients(b.id):
            label = self._texts.plain(locale, "broadcast.ack_button")
            rows.append(
                outbox_row(
                    f"bc:{b.id}:remind:{user_id}",
                    chat_id,
                    "text",
                    {
                        "text": self._texts.render(
                            locale, "broadcast.reminder", excerpt=excerpt(b.text or b.media_name)
                        ),
                        "reply_markup": inline_keyboard([[(label, ack_action(b.id))]]),
                    },
                    purpose=Purpose.REMINDER,
                    now=now,
                    not_before=self._quiet.next_allowed(now, timezone),
                    user_id=user_id,
                    broadcast_id=b.id,
                )
            )
        await uow.outbox.enqueue(rows)

    # -- progress reports ------------------------------------------------------------------

    async def refresh_reports(self) -> None:
        """Edit each sending broadcast's report with fresh counts; finish the complete ones."""
        now = self._clock.now()
        async with self._uow() as uow:
            for b in await uow.broadcasts.in_progress():
                last = self._last_report.get(b.id)
                counts = await uow.broadcasts.delivery_counts(b.id)
                waiting = counts.get("pending", 0) + counts.get("sending", 0)
                final = waiting == 0
                if not final and last is not None and now - last < self._report_interval:
                    continue
                message_id = await uow.broadcasts.report_message_id(b.id)
                if message_id is None:
                    continue  # the report itself has not gone out yet
                organiser = await uow.users.by_telegram_id(b.organiser_chat_id)
                locale = organiser.locale if organiser else None
                acked = await uow.broadcasts.ack_count(b.id)
                text = self._report_text(b, counts, acked, locale, final=final)
                shown = self._last_text.get(b.id) or self._report_text(
                    b, {}, 0, locale, final=False
                )  # what the report says now: the last edit, or the text it was sent with
                if text == shown:  # Telegram refuses an edit that changes nothing
                    self._last_report[b.id] = now
                    if final:
                        b.status = BroadcastStatus.DONE.value
                        b.finished_at = now
                        self._forget(b.id)
                    continue
                key = f"bc:{b.id}:report:{_digest(text)}"
                await uow.outbox.enqueue(
                    [
                        outbox_row(
                            key,
                            b.organiser_chat_id,
                            "edit",
                            {"text": text, "message_id": message_id},
                            purpose=Purpose.REPORT,
                            now=now,
                            broadcast_id=b.id,
                        )
                    ]
                )
                self._last_report[b.id] = now
                self._last_text[b.id] = text
                if final:
                    b.status = BroadcastStatus.DONE.value
                    b.finished_at = now
                    self._forget(b.id)
            await uow.commit()

    def _forget(self, broadcast_id: int) -> None:
        self._last_report.pop(broadcast_id, None)
        self._last_text.pop(broadcast_id, None)

    def _report_text(
        self, b: Broadcast, counts: dict[str, int], acked: int, locale: str | None, *, final: bool
    ) -> str:
        sent = counts.get(OutboxStatus.SENT.value, 0)
        blocked = counts.get(OutboxStatus.BLOCKED.value, 0)
        failed = counts.get(OutboxStatus.FAILED.value, 0)
        finished = sent + blocked + failed
        bar, percent = progress_bar(finished, b.total)
        return self._texts.render(
            locale,
            "broadcast.report",
            id=b.id,
            final=final,
            bar=bar,
            percent=percent,
            sent=sent,
            total=b.total,
            blocked=blocked,
            failed=failed,
            waiting=max(0, b.total - finished),
            ack=b.ack_requested,
            acked=acked,
        )


def _digest(text: str) -> str:
    """Names an edit by what it shows, so the same report text is never queued twice."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]
