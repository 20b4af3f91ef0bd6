"""The Messenger for Telegram: outbox rows become Bot API calls; errors become domain errors."""

from __future__ import annotations

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import InlineKeyboardMarkup, Message

from bot.domain.delivery import Blocked, OutgoingMessage, Rejected, RetryAfter, Transient


class TelegramMessenger:
    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def deliver(self, message: OutgoingMessage) -> int | None:
        try:
            return await self._call(message)
        except TelegramRetryAfter as exc:
            raise RetryAfter(float(exc.retry_after)) from exc
        except TelegramForbiddenError as exc:
            raise Blocked(exc.message) from exc
        except TelegramBadRequest as exc:
            if message.method == "edit" and "message is not modified" in exc.message:
                return int(message.payload["message_id"])
            raise Rejected(exc.message) from exc
        except (TelegramNotFound, TelegramUnauthorizedError) as exc:
            raise Rejected(exc.message) from exc
        except (TelegramNetworkError, TelegramServerError) as exc:
            raise Transient(exc.message) from exc

    async def _call(self, message: OutgoingMessage) -> int | None:
        payload = message.payload
        markup = (
            InlineKeyboardMarkup.model_validate(payload["reply_markup"])
            if payload.get("reply_markup")
            else None
        )
        chat_id = message.chat_id
        sent: Message | bool
        if message.method == "text":
            sent = await self._bot.send_message(chat_id, payload["text"], reply_markup=markup)
        elif message.method == "photo":
            sent = await self._bot.send_photo(
                chat_id, payload["file_id"], caption=payload.get("caption"), reply_markup=markup
            )
        elif message.method == "document":
            sent = await self._bot.send_document(
                chat_id, payload["file_id"], caption=payload.get("caption"), reply_markup=markup
            )
        elif message.method == "edit":
            sent = await self._bot.edit_message_text(
                text=payload["text"],
                chat_id=chat_id,
                message_id=int(payload["message_id"]),
                reply_markup=markup,
            )
        else:
            raise Rejected(f"unknown outbox method {message.method!r}")
        return sent.message_id if isinstance(sent, Message) else None
