"""The command menu (the "☰" list in the chat) shows each person the commands of their roles.

Everyone gets the default menu: the commands of a trainee (most people) and those everyone
has. A mentor or an organiser gets a menu for their own chat (BotCommandScopeChat) with
their commands added, set once per process after the first update they send in which their
roles show, in their language. A trainee is never shown /broadcast or /match that would only
refuse them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault, TelegramObject

from bot.content import Texts, Translator
from bot.services.users import UserContext

log = logging.getLogger(__name__)

# In menu order.
BOT_COMMANDS = (
    "start",
    "help",
    "plan",
    "reflect",
    "check",
    "practice",
    "portfolio",
    "cases",
    "mentor",
    "me",
    "lang",
    "cancel",
    "mydata",
    "delete_my_data",
    "broadcast",
    "broadcasts",
    "report",
    "match",
    "digest",
    "log",
)
EVERYONE = frozenset({"start", "help", "me", "lang", "cancel", "mydata", "delete_my_data"})
TRAINEE = frozenset({"plan", "reflect", "check", "practice", "portfolio", "cases", "mentor"})
MENTOR = frozenset({"digest", "log", "cases"})
ORGANISER = frozenset({"broadcast", "broadcasts", "report", "match", "digest", "cases"})
DEFAULT_MENU = tuple(c for c in BOT_COMMANDS if c in EVERYONE | TRAINEE)


def menu_of(*, trainee: bool, mentor: bool, organiser: bool) -> tuple[str, ...]:
    """The commands of someone with these roles (no role yet: a trainee's)."""
    shown = set(EVERYONE)
    if trainee or not (mentor or organiser):
        shown |= TRAINEE
    if mentor:
        shown |= MENTOR
    if organiser:
        shown |= ORGANISER
    return tuple(c for c in BOT_COMMANDS if c in shown)


def _commands(texts: Texts, locale: str, names: tuple[str, ...]) -> list[BotCommand]:
    return [BotCommand(command=c, description=texts.plain(locale, f"commands.{c}")) for c in names]


async def set_default_menu(bot: Bot, texts: Texts) -> None:
    """The default menu in each language; the default locale for every other language."""
    for locale in texts.locales:
        commands = _commands(texts, locale, DEFAULT_MENU)
        language = None if locale == texts.default_locale else locale.split("-")[0]
        await bot.set_my_commands(commands, BotCommandScopeDefault(), language_code=language)
        if locale == texts.default_locale:
            await bot.set_my_commands(
                commands, BotCommandScopeDefault(), language_code=locale.split("-")[0]
            )


class RoleMenus(BaseMiddleware):
    """After a mentor's or organiser's update is handled, gives their chat its menu (once per
    process for each menu and language: a restart sets it again at the next update)."""

    def __init__(self, texts: Texts) -> None:
        self._texts = texts
        self._set: dict[int, tuple[tuple[str, ...], str]] = {}

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        result = await handler(event, data)
        ctx: UserContext | None = data.get("ctx")
        t: Translator | None = data.get("t")
        chat = data.get("event_chat")
        bot: Bot | None = data.get("bot")
        if ctx is None or t is None or bot is None or chat is None or chat.type != "private":
            return result
        user = ctx.user
        names = menu_of(
            trainee=user is not None and user.is_trainee,
            mentor=user is not None and user.is_mentor,
            organiser=ctx.is_organiser,
        )
        locale = t.locale
        wanted = (names, locale)
        if self._set.get(chat.id, (DEFAULT_MENU, locale)) == wanted:
            return result
        try:
            if names == DEFAULT_MENU:
                await bot.delete_my_commands(BotCommandScopeChat(chat_id=chat.id))
            else:
                scope = BotCommandScopeChat(chat_id=chat.id)
                await bot.set_my_commands(_commands(self._texts, locale, names), scope)
        except TelegramAPIError as exc:  # the menu is a convenience: the reply went out
            log.warning("could not set the menu of a chat: %s", exc)
            return result
        self._set[chat.id] = wanted
        return result
