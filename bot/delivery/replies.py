"""Direct replies that meet flood control wait and try again instead of failing the handler."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType

if TYPE_CHECKING:
    from aiogram import Bot

log = logging.getLogger(__name__)


class RetryAfterMiddleware(BaseRequestMiddleware):
    """A reply is owed to the person who just wrote: on 429 wait `retry_after`, then resend.

    Used on the handlers' Bot only; the delivery worker has its own Bot, because a 429 there
    must pause every push at once (DeliveryWorker), not just one call.
    """

    def __init__(self, max_retries: int = 3, max_wait: float = 30.0) -> None:
        self._max_retries = max_retries
        self._max_wait = max_wait

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        attempt = 0
        while True:
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                attempt += 1
                if attempt > self._max_retries or exc.retry_after > self._max_wait:
                    raise
                log.info(
                    "flood control on %s: waiting %s s", type(method).__name__, exc.retry_after
                )
                await asyncio.sleep(exc.retry_after)
