"""Last resort: unknown commands and buttons that no longer mean anything."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery, Message

from bot.content import Translator

router = Router(name=__name__)


@router.message(F.chat.type == "private")
async def unknown_message(message: Message, t: Translator) -> None:
    await message.answer(t("unknown"))


@router.callback_query()
async def unknown_button(query: CallbackQuery, t: Translator) -> None:
    await query.answer(t.plain("problem.stale_button"))
