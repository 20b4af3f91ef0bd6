"""Per-update context: who is speaking, in which language."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.fsm.context import FSMContext
from aiogram.types import TelegramObject, User

from bot.content import Texts, Translator
from bot.services.users import UserService

LOCALE_KEY = "locale"


class UserContextMiddleware(BaseMiddleware):
    """Puts `ctx` (UserContext) and `t` (Translator in the user's language) into handler data.

    The language is the stored preference of a consented user, else the choice made with
    /lang before consent (kept only in FSM storage), else the default (zh-CN).
    """

    def __init__(self, users: UserService, texts: Texts) -> None:
        self._users = users
        self._texts = texts

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None:
            return await handler(event, data)
        ctx = await self._users.context(user.id)
        locale = ctx.locale
        if locale is None:
            state: FSMContext | None = data.get("state")
            if state is not None:
                locale = (await state.get_data()).get(LOCALE_KEY)
        data["ctx"] = ctx
        data["t"] = Translator(self._texts, locale)
        return await handler(event, data)
