"""Editing a message the person pressed a button on.

Telegram refuses an edit that would leave a message as it is ("message is not modified"): a
second press of the button that shows the current view, or a button pressed on a message
that already shows what the press asks for. The press carries the message as the person
sees it, so the handler can tell beforehand and not ask at all.
"""

from __future__ import annotations

from typing import Any

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import InlineKeyboardMarkup, Message

from bot.telegram_html import HTMLParseError, parse_html


def _entities(message: Message) -> list[dict[str, Any]]:
    return [entity.model_dump(exclude_none=True) for entity in message.entities or ()]


def _markup(markup: InlineKeyboardMarkup | None) -> Any:
    if markup is None or not markup.inline_keyboard:
        return None
    return markup.model_dump(exclude_none=True)


def shows(message: Message, text: str, markup: InlineKeyboardMarkup | None) -> bool:
    """Whether ``message`` already shows ``text`` (HTML, as the bot sends it) and ``markup``."""
    if message.text is None:
        return False
    try:
        parsed = parse_html(text, strict_ampersand=False)
    except HTMLParseError:
        return False  # Telegram will say what is wrong with it
    return (
        parsed.text.rstrip() == message.text.rstrip()
        and parsed.entities_api() == _entities(message)
        and _markup(markup) == _markup(message.reply_markup)
    )


async def edit_text(
    message: Message, text: str, markup: InlineKeyboardMarkup | None = None
) -> None:
    """Show ``text`` and ``markup`` in ``message`` unless it shows them already."""
    if shows(message, text, markup):
        return
    try:
        await message.edit_text(text, reply_markup=markup)
    except TelegramBadRequest as exc:
        # Two presses at once: both saw the old view, the later edit changes nothing.
        if "message is not modified" not in exc.message:
            raise
