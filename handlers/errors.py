"""When a handler fails: log it, and tell the person instead of leaving them in silence."""

from __future__ import annotations

import contextlib
import logging

from aiogram import Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import ErrorEvent

from bot.content import Texts, Translator

log = logging.getLogger(__name__)
router = Router(name=__name__)


@router.errors()
async def on_error(event: ErrorEvent, texts: Texts) -> bool:
    update = event.update
    log.error(
        "handler failed on update %s: %s",
        update.update_id,
        type(event.exception).__name__,
        exc_info=event.exception,
    )
    message = update.message or (update.callback_query and update.callback_query.message)
    user = update.message.from_user if update.message else None
    if update.callback_query is not None:
        user = update.callback_query.from_user
    t = Translator(texts, None)
    with contextlib.suppress(TelegramAPIError):
        if update.callback_query is not None:
            await update.callback_query.answer(t.plain("error"), show_alert=True)
        elif message is not None and user is not None and event.update.bot is not None:
            await event.update.bot.send_message(user.id, t("error"))
    return True
