"""Counts what Telegram answered to each Bot API call: messages accepted, 429s and 403s.

A request middleware on the Bot's session sees every call of its sender (the handlers'
replies or the delivery worker), including each try of a reply that flood control made wait.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramForbiddenError, TelegramRetryAfter
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType

from bot.metrics import Metrics

if TYPE_CHECKING:
    from aiogram import Bot

# Calls that put a new message into a chat (edits and chat actions do not).
_SENDING_EXTRA = frozenset({"copyMessage", "forwardMessage"})


def sends_message(method_name: str) -> bool:
    return (
        method_name.startswith("send") and method_name != "sendChatAction"
    ) or method_name in _SENDING_EXTRA


class CountingMiddleware(BaseRequestMiddleware):
    def __init__(self, metrics: Metrics, sender: str) -> None:
        self._metrics = metrics
        self._sender = sender

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        try:
            response = await make_request(bot, method)
        except TelegramRetryAfter:
            self._metrics.telegram_429.inc(sender=self._sender)
            raise
        except TelegramForbiddenError:
            self._metrics.telegram_403.inc(sender=self._sender)
            raise
        # Reaching here means Telegram said ok (errors are raised; aiogram hands back the
        # result itself despite the annotation).
        if sends_message(method.__api_method__):
            self._metrics.messages_sent.inc(sender=self._sender)
        return response
