"""The emulator's control API: the phone side over HTTP, JSON in and out, under ``/_emu/``."""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .emulator_state import JSON, ControlError, StoredMessage
from .limits import TelegramLimits
from .spec import SpecError

if TYPE_CHECKING:
    from .emulator import BotAPIEmulator

__all__ = ["ControlAPI"]

_INT_RE = re.compile(r"-?\d+")
_dumps = functools.partial(json.dumps, ensure_ascii=False)


class ControlAPI:
    """The phone side over HTTP: JSON in, JSON out, under ``/_emu/``."""

    def __init__(self, emulator: BotAPIEmulator) -> None:
        self.emu = emulator

    def add_routes(self, router: web.UrlDispatcher) -> None:
        routes: list[tuple[str, str, Callable[[web.Request], Awaitable[Any]]]] = [
            ("GET", "/_emu/bot", self.bot),
            ("GET", "/_emu/users", self.list_users),
            ("POST", "/_emu/users", self.add_user),
            ("POST", "/_emu/groups", self.add_group),
            ("POST", "/_emu/users/{user_id}/messages", self.send),
            ("POST", "/_emu/users/{user_id}/press", self.press),
            ("POST", "/_emu/users/{user_id}/edit", self.edit),
            ("POST", "/_emu/updates", self.inject_update),
            ("POST", "/_emu/users/{user_id}/block", self.block),
            ("POST", "/_emu/users/{user_id}/unblock", self.unblock),
            ("GET", "/_emu/users/{user_id}/callback_answers", self.callback_answers),
            ("GET", "/_emu/chats/{chat_id}", self.chat),
            ("GET", "/_emu/chats/{chat_id}/messages", self.messages),
            ("GET", "/_emu/chats/{chat_id}/events", self.events),
            ("GET", "/_emu/chats/{chat_id}/wait", self.wait),
            ("GET", "/_emu/calls", self.calls),
            ("GET", "/_emu/files/{file_id}", self.file),
            ("GET", "/_emu/stats", self.stats),
            ("GET", "/_emu/duplicates", self.duplicates),
            ("GET", "/_emu/limits", self.get_limits),
            ("POST", "/_emu/limits", self.set_limits),
            ("GET", "/_emu/failures", self.get_failures),
            ("POST", "/_emu/failures", self.inject_failures),
            ("DELETE", "/_emu/failures", self.clear_failures),
            ("POST", "/_emu/reset", self.reset),
        ]
        for verb, path, handler in routes:
            router.add_route(verb, path, self._wrap(handler))

    @staticmethod
    def _wrap(
        handler: Callable[[web.Request], Awaitable[Any]],
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            try:
                result = await handler(request)
            except ControlError as exc:
                return web.json_response(
                    {"ok": False, "error": exc.message}, status=exc.status, dumps=_dumps
                )
            except (KeyError, TypeError, ValueError) as exc:
                return web.json_response(
                    {"ok": False, "error": f"bad request: {exc!r}"}, status=400, dumps=_dumps
                )
            if isinstance(result, web.StreamResponse):
                return result
            return web.json_response(result, dumps=_dumps)

        return wrapped

    @staticmethod
    async def _body(request: web.Request) -> JSON:
        if not request.body_exists:
            return {}
        body = await request.json()
        if not isinstance(body, dict):
            raise ControlError("the body must be a JSON object")
        return body

    @staticmethod
    def _int_field(body: JSON, name: str) -> int | None:
        value = body.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise ControlError(f"{name} must be an integer")
        return value

    @staticmethod
    def _int(request: web.Request, name: str) -> int:
        value = request.match_info[name]
        if not _INT_RE.fullmatch(value):
            raise ControlError(f"{name} must be an integer")
        return int(value)

    async def bot(self, request: web.Request) -> JSON:
        return {
            "bot": self.emu.bot_user(),
            "last_seq": self.emu.last_seq,
            "pending_updates": len(self.emu.pending_updates),
            "webhook": dataclasses.asdict(self.emu.webhook),
        }

    async def list_users(self, request: web.Request) -> JSON:
        return {"users": self.emu.users()}

    async def add_user(self, request: web.Request) -> JSON:
        body = await self._body(request)
        user_id = body.get("user_id", body.get("id"))
        if not isinstance(user_id, int) or isinstance(user_id, bool):
            raise ControlError("user_id must be an integer")
        return self.emu.add_user(
            user_id,
            str(body.get("first_name") or f"User{user_id}"),
            body.get("last_name"),
            body.get("username"),
            body.get("language_code", "zh-hans"),
            started=bool(body.get("started", True)),
        )

    async def add_group(self, request: web.Request) -> JSON:
        body = await self._body(request)
        return self.emu.add_group(
            int(body["chat_id"]), str(body["title"]), chat_type=body.get("type", "group")
        )

    async def send(self, request: web.Request) -> JSON:
        return self.emu.send(self._int(request, "user_id"), await self._body(request))

    async def press(self, request: web.Request) -> JSON:
        body = await self._body(request)
        if not isinstance(body.get("message_id"), int):
            raise ControlError("message_id must be an integer")
        return self.emu.press(
            self._int(request, "user_id"),
            body["message_id"],
            data=body.get("data"),
            text=body.get("text"),
            forge=bool(body.get("forge", False)),
            chat_id=body.get("chat_id"),
        )

    async def edit(self, request: web.Request) -> JSON:
        """The user edits a text message of theirs: ``{"message_id", "text"}`` (and
        ``chat_id`` for a group). The bot gets an ``edited_message`` update, as from
        Telegram, if it asked for that kind (``allowed_updates``); the answer carries it."""
        body = await self._body(request)
        message_id, text = body.get("message_id"), body.get("text")
        if not isinstance(message_id, int) or isinstance(message_id, bool):
            raise ControlError("message_id must be an integer")
        if not isinstance(text, str) or not text.strip():
            raise ControlError("text must be a non-empty string")
        user_id = self._int(request, "user_id")
        chat_id = self._int_field(body, "chat_id")
        chat = self.emu._control_chat(user_id if chat_id is None else chat_id)
        message = chat.messages.get(message_id)
        if message is None or message.deleted or message.direction != "in":
            raise ControlError(f"message {message_id} is not a user message in chat {chat.id}")
        if message.sender.get("id") != user_id or message.text is None:
            raise ControlError("only the sender can edit, and only a text message")
        message.text = text
        message.entities = []
        message.edit_date = self.emu._unix_now()
        update = self.emu._enqueue_update("edited_message", message.to_api())
        return {"update_id": update.update_id, "update": update.to_api()}

    async def inject_update(self, request: web.Request) -> JSON:
        """Any update, as raw Bot API JSON: ``{"type": "channel_post", "payload": {...}}``
        (kinds the phone side has no verb for: channel posts, reactions, ...). It is checked
        against the Update type of the spec, then queued like every other update."""
        body = await self._body(request)
        kind, payload = body.get("type"), body.get("payload")
        if not isinstance(kind, str) or kind == "update_id" or not isinstance(payload, dict):
            raise ControlError("type must name an Update field and payload be an object")
        if kind not in self.emu.spec.types["Update"].fields:
            raise ControlError(f"{kind!r} is not a kind of update")
        try:
            self.emu.spec.validate_value("Update", {"update_id": 1, kind: payload})
        except SpecError as exc:
            raise ControlError(exc.description) from exc
        update = self.emu._enqueue_update(kind, payload)
        return {"update_id": update.update_id, "update": update.to_api()}

    async def block(self, request: web.Request) -> JSON:
        self.emu.block(self._int(request, "user_id"))
        return {"ok": True}

    async def unblock(self, request: web.Request) -> JSON:
        self.emu.unblock(self._int(request, "user_id"))
        return {"ok": True}

    async def callback_answers(self, request: web.Request) -> JSON:
        return {"answers": self.emu.callback_answers(self._int(request, "user_id"))}

    async def chat(self, request: web.Request) -> JSON:
        return self.emu.chat_state(self._int(request, "chat_id"))

    async def messages(self, request: web.Request) -> JSON:
        chat_id = self._int(request, "chat_id")
        include_deleted = request.query.get("include_deleted", "1") not in ("0", "false")
        return {
            "messages": self.emu.messages(chat_id, include_deleted=include_deleted),
            "last_seq": self.emu.last_seq,
        }

    @staticmethod
    def _filters(request: web.Request) -> tuple[int, list[str] | None, str | None]:
        after_seq = int(request.query.get("after_seq", "0"))
        kinds_raw = request.query.get("kinds")
        kinds = [kind for kind in kinds_raw.split(",") if kind] if kinds_raw else None
        direction = request.query.get("direction")
        return after_seq, kinds, (None if direction in (None, "", "any") else direction)

    async def events(self, request: web.Request) -> JSON:
        after_seq, kinds, direction = self._filters(request)
        events = self.emu.events(
            self._int(request, "chat_id"), after_seq, kinds=kinds, direction=direction
        )
        return {"events": events, "last_seq": self.emu.last_seq}

    async def wait(self, request: web.Request) -> JSON | web.Response:
        after_seq, kinds, direction = self._filters(request)
        if "kinds" not in request.query:
            kinds = ["message", "edit"]
        if "direction" not in request.query:
            direction = "out"
        timeout = float(request.query.get("timeout", "5"))
        events = await self.emu.wait_events(
            self._int(request, "chat_id"), after_seq, timeout, kinds=kinds, direction=direction
        )
        if not events:
            return web.json_response(
                {"ok": False, "error": "timeout", "last_seq": self.emu.last_seq},
                status=408,
                dumps=_dumps,
            )
        return {"events": events, "last_seq": self.emu.last_seq}

    async def calls(self, request: web.Request) -> JSON:
        errors_only = request.query.get("errors_only", "0") not in ("0", "false", "")
        method = request.query.get("method")
        calls = self.emu.errors() if errors_only else self.emu.calls
        return {
            "calls": [
                call.to_json()
                for call in calls
                if method is None or call.method.lower() == method.lower()
            ]
        }

    async def file(self, request: web.Request) -> web.Response:
        stored = self.emu.file(request.match_info["file_id"])
        if stored is None:
            raise ControlError("unknown file_id", status=404)
        return web.Response(
            body=stored.data, content_type=stored.mime_type or "application/octet-stream"
        )

    async def reset(self, request: web.Request) -> JSON:
        self.emu.reset()
        return {"ok": True}

    # -- flood limits, failures on purpose, counters -------------------------------------

    async def stats(self, request: web.Request) -> JSON:
        return self.emu.stats()

    async def duplicates(self, request: web.Request) -> JSON:
        """Chats where bot messages repeat: ``?by=text`` (plain text or caption, the default)
        or ``?by=source`` (the text/caption as the bot sent it, e.g. HTML)."""
        by = request.query.get("by", "text")
        if by not in _DUPLICATE_KEYS:
            raise ControlError(f"by must be one of {', '.join(_DUPLICATE_KEYS)}")
        found = self.emu.duplicates(_DUPLICATE_KEYS[by])
        return {"duplicates": {str(chat_id): keys for chat_id, keys in found.items()}}

    def _limits(self) -> JSON:
        limiter = self.emu.limiter
        if limiter is None:
            return {"enabled": False}
        if isinstance(limiter, TelegramLimits):
            return limiter.to_json()
        return {"enabled": True, "custom": type(limiter).__name__}

    async def get_limits(self, request: web.Request) -> JSON:
        return self._limits()

    async def set_limits(self, request: web.Request) -> JSON:
        """Telegram's flood limits with these rates (defaults: Telegram's), or
        ``{"enabled": false}`` to switch them off. Windows start empty."""
        body = await self._body(request)
        if not body.get("enabled", True):
            self.emu.limiter = None
            return self._limits()
        unknown = sorted(set(body) - {"enabled", *_LIMIT_DEFAULTS})
        if unknown:
            raise ControlError(f"unknown limit {unknown[0]!r}")
        rates = {name: body.get(name, default) for name, default in _LIMIT_DEFAULTS.items()}
        for name, value in rates.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise ControlError(f"{name} must be a positive number")
        if not isinstance(rates["per_group_per_minute"], int):
            raise ControlError("per_group_per_minute must be an integer")
        self.emu.limiter = TelegramLimits(
            global_per_second=float(rates["global_per_second"]),
            per_chat_per_second=float(rates["per_chat_per_second"]),
            per_group_per_minute=int(rates["per_group_per_minute"]),
        )
        return self._limits()

    async def get_failures(self, request: web.Request) -> JSON:
        return {"failures": self.emu.injected_failures()}

    async def inject_failures(self, request: web.Request) -> JSON:
        """``{"method", "chat_id"?, "status", "count"?, "description"?, "retry_after"?}``."""
        body = await self._body(request)
        method = body.get("method")
        if not isinstance(method, str) or not method:
            raise ControlError("method must be a method name or '*'")
        status = self._int_field(body, "status")
        if status is None:
            raise ControlError("status is required")
        description = body.get("description")
        rule = self.emu.inject_failures(
            method,
            self._int_field(body, "chat_id"),
            status,
            self._int_field(body, "count") or 1,
            None if description is None else str(description),
            retry_after=self._int_field(body, "retry_after"),
        )
        return {"failure": rule.to_json(), "failures": self.emu.injected_failures()}

    async def clear_failures(self, request: web.Request) -> JSON:
        self.emu.clear_failures()
        return {"ok": True}


def _plain_text(message: StoredMessage) -> str | None:
    return message.text if message.text is not None else message.caption


def _source_text(message: StoredMessage) -> str | None:
    return message.source if message.source is not None else _plain_text(message)


_DUPLICATE_KEYS: dict[str, Callable[[StoredMessage], str | None]] = {
    "text": _plain_text,
    "source": _source_text,
}
_LIMIT_DEFAULTS: dict[str, float] = {
    "global_per_second": 30,
    "per_chat_per_second": 1,
    "per_group_per_minute": 20,
}
