"""Long polling loses nothing when the process dies mid-update.

Telegram counts an update as delivered once getUpdates is called with a higher offset, and
aiogram asks for the next batch while it is still handling the last one: a process killed
at that moment would lose the updates it was handling (a reflection, a consent). So the
polling bot writes every fetched batch to the database (`inbox_updates`) before it asks for
more, deletes an update once its handling has ended (handled, skipped as a repeat, or
failed), and at start-up handles again what a killed predecessor left there, in arrival
order, before fetching anything new.

A webhook needs none of this: Telegram sends an update again until a replica has answered
it 200, and bot.web answers only after handling.

What it costs: one INSERT per fetched batch and one DELETE per update. The window that
remains: an update whose handlers had finished at the instant of a kill, but whose row was
not yet deleted, is handled again after the restart and answered a second time (with
REDIS_URL set, not if handlers.updates had already marked it handled).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiogram import BaseMiddleware, Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiogram.types import TelegramObject, Update
from sqlalchemy import delete, select

from bot.db.models import InboxUpdate
from bot.db.queue import insert_ignoring_duplicates

if TYPE_CHECKING:
    from aiogram import Dispatcher

    from bot.domain.ports import Clock
    from bot.services.uow import UowFactory

log = logging.getLogger(__name__)


class Inbox:
    """The `inbox_updates` table."""

    def __init__(self, uow: UowFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def keep(self, updates: list[Update]) -> None:
        if not updates:
            return
        now = self._clock.now()
        rows = [
            {
                "update_id": u.update_id,
                "payload": u.model_dump_json(exclude_unset=True),
                "received_at": now,
            }
            for u in updates
        ]
        async with self._uow() as uow:
            await insert_ignoring_duplicates(uow.session, InboxUpdate, rows, "update_id")
            await uow.commit()

    async def done(self, update_id: int) -> None:
        async with self._uow() as uow:
            await uow.session.execute(delete(InboxUpdate).where(InboxUpdate.update_id == update_id))
            await uow.commit()

    async def left(self) -> list[str]:
        """The payloads of updates not handled to the end, oldest first."""
        async with self._uow() as uow:
            result = await uow.session.scalars(
                select(InboxUpdate.payload).order_by(InboxUpdate.update_id)
            )
            return list(result)


class KeepFetched(BaseRequestMiddleware):
    """On the polling bot's session: a fetched batch is in the inbox before getUpdates
    returns it, so before the next getUpdates confirms it to Telegram. If the write fails,
    aiogram's poller backs off and fetches the same batch again (it was not confirmed)."""

    def __init__(self, inbox: Inbox) -> None:
        self._inbox = inbox

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        result = await make_request(bot, method)
        # aiogram hands back the method's result here (the annotation says Response).
        if isinstance(method, GetUpdates):
            fetched: Any = result
            await self._inbox.keep(list(fetched))
        return result


class ClearWhenHandled(BaseMiddleware):
    """The outermost middleware on updates: the row goes once handling has ended, however it
    ended. Not when it was cancelled (the process is stopping): the update is handled
    again at the next start."""

    def __init__(self, inbox: Inbox) -> None:
        self._inbox = inbox

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        assert isinstance(event, Update)
        try:
            return await handler(event, data)
        finally:
            if not _cancelling():
                try:
                    await self._inbox.done(event.update_id)
                except Exception:  # handled already; a leftover row means one repeat
                    log.exception("could not clear update %s from the inbox", event.update_id)


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def replay(inbox: Inbox, dispatcher: Dispatcher, bot: Bot) -> int:
    """Handle what a killed predecessor left in the inbox, one after another (a person's
    messages keep their order). Returns how many there were."""
    payloads = await inbox.left()
    for payload in payloads:
        update = Update.model_validate_json(payload, context={"bot": bot})
        log.warning("handling update %s left by a process that stopped", update.update_id)
        try:
            await dispatcher.feed_update(bot, update)
        except Exception:
            log.exception("update %s failed again", update.update_id)
    return len(payloads)
