"""An async client of the emulator's control API (``/_emu/``): the "phone" in tests.

Typical use in a test::

    async with EmulatorClient(base_url) as phone:
        await phone.add_user(42, "李雷")
        await phone.send_text(42, "/start")
        reply = await phone.next_reply(42)
        await phone.press(42, reply, text="继续")
        edited = await phone.next_reply(42)

``next_reply`` returns the bot's next message *or edit* in the user's chat after the
user's last action (``send_text``/``send``/``press``), then moves a per-user cursor past
it, so consecutive calls walk through the bot's replies in order. All waiting happens
server-side on events (no sleeping, no polling loops).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import aiohttp

__all__ = [
    "Button",
    "Call",
    "CallbackAnswer",
    "ChatMessage",
    "EmulatorClient",
    "EmulatorControlError",
    "EmulatorStats",
    "PressResult",
    "SentMessage",
]

JSON = dict[str, Any]
BOT_EVENT_KINDS = ("message", "edit")


class EmulatorControlError(Exception):
    """The emulator refused a phone-side action (e.g. pressing a button that isn't there)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Button:
    text: str
    callback_data: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class ChatMessage:
    """A message as the phone sees it (a snapshot as of event ``seq``)."""

    message_id: int
    seq: int
    chat_id: int
    direction: str  # "in" (user -> bot) or "out" (bot -> user)
    text: str | None  # the text, or the caption of a media message
    html: str | None  # text + entities rendered as Telegram HTML
    buttons: list[list[Button]]
    photo: JSON | None
    document: JSON | None
    date: int
    edited: bool
    deleted: bool = False
    event: str = "message"  # what produced this snapshot: message, edit, delete
    kind: str = "text"  # text, photo, document, voice, sticker, location, contact, ...
    caption: str | None = None
    entities: list[JSON] = field(default_factory=list)
    keyboard: list[list[str]] | None = None  # a reply keyboard sent with the message
    raw: JSON = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], event: str = "message") -> ChatMessage:
        return cls(
            message_id=int(data["message_id"]),
            seq=int(data["seq"]),
            chat_id=int(data["chat_id"]),
            direction=str(data["direction"]),
            text=data.get("text"),
            html=data.get("html"),
            buttons=[
                [
                    Button(
                        text=str(button["text"]),
                        callback_data=button.get("callback_data"),
                        url=button.get("url"),
                    )
                    for button in row
                ]
                for row in data.get("buttons") or []
            ],
            photo=data.get("photo"),
            document=data.get("document"),
            date=int(data["date"]),
            edited=bool(data.get("edited")),
            deleted=bool(data.get("deleted")),
            event=event,
            kind=str(data.get("kind", "text")),
            caption=data.get("caption"),
            entities=list(data.get("entities") or []),
            keyboard=data.get("keyboard"),
            raw=dict(data),
        )

    @property
    def all_buttons(self) -> list[Button]:
        return [button for row in self.buttons for button in row]

    @property
    def button_texts(self) -> list[str]:
        return [button.text for button in self.all_buttons]

    def button(self, text_contains: str) -> Button:
        """The first button whose label contains ``text_contains``."""
        for button in self.all_buttons:
            if text_contains in button.text:
                return button
        raise LookupError(
            f"no button containing {text_contains!r} in message {self.message_id}; "
            f"buttons: {self.button_texts}"
        )

    def has_button(self, text_contains: str) -> bool:
        return any(text_contains in button.text for button in self.all_buttons)


@dataclass(frozen=True)
class SentMessage:
    update_id: int
    message_id: int
    seq: int
    chat_id: int


@dataclass(frozen=True)
class PressResult:
    update_id: int
    callback_query_id: str
    seq: int
    chat_id: int
    message_id: int


@dataclass(frozen=True)
class CallbackAnswer:
    callback_query_id: str
    message_id: int
    data: str
    text: str | None
    show_alert: bool
    url: str | None
    seq: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CallbackAnswer:
        return cls(
            callback_query_id=str(data["callback_query_id"]),
            message_id=int(data["message_id"]),
            data=str(data["data"]),
            text=data.get("text"),
            show_alert=bool(data.get("show_alert")),
            url=data.get("url"),
            seq=int(data.get("seq", 0)),
        )


@dataclass(frozen=True)
class Call:
    method: str
    params: JSON
    ok: bool
    error_code: int | None
    description: str | None
    injected: bool = False


@dataclass(frozen=True)
class EmulatorStats:
    """What the emulator answered so far (``GET /_emu/stats``)."""

    calls: int
    delivered: dict[str, int]  # successful sends and edits, per method
    delivered_total: int
    too_many_requests: int  # 429 answered by the flood limits
    forbidden: int  # 403 answered (blocked user, user who never started the bot)
    errors: dict[int, int]  # every error answered (not injected), per code
    injected_failures: int
    chats: int  # chats that got at least one bot message
    messages: int  # bot messages sent (edits not included)
    max_per_chat: int
    histogram: dict[int, int]  # messages in a chat -> number of chats with that many
    raw: JSON = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EmulatorStats:
        per_chat = data["delivered_per_chat"]
        return cls(
            calls=int(data["calls"]),
            delivered={str(k): int(v) for k, v in data["delivered"].items()},
            delivered_total=int(data["delivered_total"]),
            too_many_requests=int(data["too_many_requests"]),
            forbidden=int(data["forbidden"]),
            errors={int(k): int(v) for k, v in data["errors"].items()},
            injected_failures=int(data["injected_failures"]),
            chats=int(per_chat["chats"]),
            messages=int(per_chat["messages"]),
            max_per_chat=int(per_chat["max"]),
            histogram={int(k): int(v) for k, v in per_chat["histogram"].items()},
            raw=dict(data),
        )


class EmulatorClient:
    """Drives the emulator's control API; owns an aiohttp session (use ``async with``)."""

    def __init__(self, base_url: str, *, session: aiohttp.ClientSession | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = session
        self._owns_session = session is None
        self._cursors: dict[int, int] = {}  # user/chat id -> seq of the last seen event

    async def __aenter__(self) -> Self:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    # -- transport -------------------------------------------------------------------------

    async def _request(
        self,
        verb: str,
        path: str,
        *,
        json_body: Mapping[str, Any] | None = None,
        query: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        allow_timeout: bool = False,
    ) -> JSON | None:
        if self._session is None:
            raise RuntimeError("use 'async with EmulatorClient(...)'")
        async with self._session.request(
            verb,
            f"{self.base_url}{path}",
            json=json_body,
            params=query,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as response:
            body = await response.json(content_type=None)
            if response.status == 408 and allow_timeout:
                return None
            if response.status >= 400:
                message = body.get("error") if isinstance(body, dict) else str(body)
                raise EmulatorControlError(response.status, str(message))
            if not isinstance(body, dict):
                raise EmulatorControlError(response.status, f"unexpected response: {body!r}")
            return body

    async def _get(self, path: str, **query: str) -> JSON:
        body = await self._request("GET", path, query=query)
        assert body is not None
        return body

    async def _post(self, path: str, body: Mapping[str, Any] | None = None) -> JSON:
        result = await self._request("POST", path, json_body=body or {})
        assert result is not None
        return result

    # -- users and what they do -------------------------------------------------------------

    async def add_user(
        self,
        user_id: int,
        first_name: str,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "zh-hans",
        *,
        started: bool = True,
    ) -> JSON:
        return await self._post(
            "/_emu/users",
            {
                "user_id": user_id,
                "first_name": first_name,
                "last_name": last_name,
                "username": username,
                "language_code": language_code,
                "started": started,
            },
        )

    async def add_group(self, chat_id: int, title: str, *, chat_type: str = "group") -> JSON:
        return await self._post(
            "/_emu/groups", {"chat_id": chat_id, "title": title, "type": chat_type}
        )

    async def send_text(self, user_id: int, text: str) -> SentMessage:
        return await self.send(user_id, text=text)

    async def send(self, user_id: int, **payload: Any) -> SentMessage:
        """Send any message: text=..., photo={...}, document={...}, voice=..., sticker=...,
        location={"latitude", "longitude"}, contact={...}; caption=, reply_to_message_id=,
        chat_id= (a group)."""
        body = await self._post(f"/_emu/users/{user_id}/messages", payload)
        sent = SentMessage(
            update_id=int(body["update_id"]),
            message_id=int(body["message_id"]),
            seq=int(body["seq"]),
            chat_id=int(body["chat_id"]),
        )
        self._cursors[sent.chat_id] = sent.seq
        return sent

    async def press(
        self,
        user_id: int,
        message_id: int | ChatMessage,
        data: str | None = None,
        text: str | None = None,
        forge: bool = False,
    ) -> PressResult:
        """Press an inline button of a bot message, by callback ``data`` or by label ``text``."""
        if isinstance(message_id, ChatMessage):
            message_id = message_id.message_id
        body: JSON = {"message_id": message_id, "forge": forge}
        if data is not None:
            body["data"] = data
        if text is not None:
            body["text"] = text
        result = await self._post(f"/_emu/users/{user_id}/press", body)
        pressed = PressResult(
            update_id=int(result["update_id"]),
            callback_query_id=str(result["callback_query_id"]),
            seq=int(result["seq"]),
            chat_id=int(result["chat_id"]),
            message_id=int(result["message_id"]),
        )
        self._cursors[pressed.chat_id] = pressed.seq
        return pressed

    async def edit_message(
        self, user_id: int, message_id: int | SentMessage, text: str, *, chat_id: int | None = None
    ) -> JSON:
        """The user edits a text message they sent: an ``edited_message`` update (delivered
        if the bot asked for that kind). Returns ``{"update_id", "update"}``."""
        if isinstance(message_id, SentMessage):
            chat_id = message_id.chat_id if chat_id is None else chat_id
            message_id = message_id.message_id
        body: JSON = {"message_id": message_id, "text": text}
        if chat_id is not None:
            body["chat_id"] = chat_id
        return await self._post(f"/_emu/users/{user_id}/edit", body)

    async def inject_update(self, kind: str, payload: Mapping[str, Any]) -> JSON:
        """Queue a raw update of any kind (checked against the spec's Update type):
        ``{"update_id", "update"}``."""
        return await self._post("/_emu/updates", {"type": kind, "payload": dict(payload)})

    async def channel_post(
        self, chat_id: int, title: str, text: str, *, message_id: int = 1, edited: bool = False
    ) -> JSON:
        """A post in a channel the bot administers (``channel_post``/``edited_channel_post``)."""
        chat = {"id": chat_id, "type": "channel", "title": title}
        payload: JSON = {
            "message_id": message_id,
            "chat": chat,
            "sender_chat": chat,
            "date": int(time.time()),
            "text": text,
        }
        if edited:
            payload["edit_date"] = payload["date"]
        kind = "edited_channel_post" if edited else "channel_post"
        return await self.inject_update(kind, payload)

    async def block(self, user_id: int) -> None:
        await self._post(f"/_emu/users/{user_id}/block")

    async def unblock(self, user_id: int) -> None:
        await self._post(f"/_emu/users/{user_id}/unblock")

    async def reset(self) -> None:
        await self._post("/_emu/reset")
        self._cursors.clear()

    # -- reading -----------------------------------------------------------------------------

    async def messages(self, chat_id: int, *, include_deleted: bool = True) -> list[ChatMessage]:
        body = await self._get(
            f"/_emu/chats/{chat_id}/messages", include_deleted="1" if include_deleted else "0"
        )
        return [ChatMessage.from_json(item) for item in body["messages"]]

    async def bot_messages(self, chat_id: int) -> list[ChatMessage]:
        return [m for m in await self.messages(chat_id) if m.direction == "out"]

    async def last_bot_message(self, chat_id: int) -> ChatMessage | None:
        messages = [m for m in await self.bot_messages(chat_id) if not m.deleted]
        return messages[-1] if messages else None

    async def chat(self, chat_id: int) -> JSON:
        return await self._get(f"/_emu/chats/{chat_id}")

    async def events(self, chat_id: int, after_seq: int = 0) -> list[JSON]:
        body = await self._get(f"/_emu/chats/{chat_id}/events", after_seq=str(after_seq))
        return list(body["events"])

    async def file_bytes(self, file_id: str) -> bytes:
        """The content of a file the bot sent or a user uploaded."""
        if self._session is None:
            raise RuntimeError("use 'async with EmulatorClient(...)'")
        async with self._session.get(f"{self.base_url}/_emu/files/{file_id}") as response:
            if response.status >= 400:
                raise EmulatorControlError(response.status, await response.text())
            return await response.read()

    async def callback_answers(self, user_id: int) -> list[CallbackAnswer]:
        body = await self._get(f"/_emu/users/{user_id}/callback_answers")
        return [CallbackAnswer.from_json(item) for item in body["answers"]]

    async def calls(self, errors_only: bool = False, method: str | None = None) -> list[Call]:
        query = {"errors_only": "1" if errors_only else "0"}
        if method is not None:
            query["method"] = method
        body = await self._get("/_emu/calls", **query)
        return [Call(**item) for item in body["calls"]]

    async def errors(self) -> list[Call]:
        return await self.calls(errors_only=True)

    # -- flood limits, failures on purpose, counters ----------------------------------------

    async def stats(self) -> EmulatorStats:
        return EmulatorStats.from_json(await self._get("/_emu/stats"))

    async def delivered_count(self, chat_id: int) -> int:
        """How many messages the bot sent to a chat (edits not included)."""
        return int((await self.chat(chat_id))["delivered"])

    async def duplicates(self, by: str = "text") -> dict[int, list[str]]:
        """Chats where two bot messages have the same ``text`` (or caption), or the same
        ``source`` (as the bot sent it): chat id -> the repeated texts."""
        body = await self._get("/_emu/duplicates", by=by)
        return {int(chat_id): list(keys) for chat_id, keys in body["duplicates"].items()}

    async def set_limits(
        self,
        global_per_second: float = 30,
        per_chat_per_second: float = 1,
        per_group_per_minute: int = 20,
        *,
        enabled: bool = True,
    ) -> JSON:
        """Enforce Telegram's flood limits (defaults: Telegram's), or none (``enabled=False``)."""
        if not enabled:
            return await self._post("/_emu/limits", {"enabled": False})
        return await self._post(
            "/_emu/limits",
            {
                "global_per_second": global_per_second,
                "per_chat_per_second": per_chat_per_second,
                "per_group_per_minute": per_group_per_minute,
            },
        )

    async def inject_failure(
        self,
        method: str,
        chat_id: int | None = None,
        status: int = 500,
        count: int = 1,
        description: str | None = None,
        *,
        retry_after: int | None = None,
    ) -> JSON:
        """The next ``count`` calls of ``method`` ("*": any) to ``chat_id`` (None: any) answer
        ``status`` without taking effect; status 0 drops the connection (a network error)."""
        body: JSON = {"method": method, "chat_id": chat_id, "status": status, "count": count}
        if description is not None:
            body["description"] = description
        if retry_after is not None:
            body["retry_after"] = retry_after
        return await self._post("/_emu/failures", body)

    async def clear_failures(self) -> None:
        await self._request("DELETE", "/_emu/failures")

    # -- waiting (server-side, event driven) ------------------------------------------------

    def cursor(self, chat_id: int) -> int:
        """The seq after which ``next_reply`` looks for the bot's next message."""
        return self._cursors.get(chat_id, 0)

    async def wait(
        self,
        chat_id: int,
        after_seq: int,
        timeout: float,
        *,
        kinds: tuple[str, ...] = BOT_EVENT_KINDS,
        direction: str = "out",
    ) -> list[JSON]:
        """Events after ``after_seq`` (by default: bot messages and edits); [] on timeout."""
        body = await self._request(
            "GET",
            f"/_emu/chats/{chat_id}/wait",
            query={
                "after_seq": str(after_seq),
                "timeout": f"{max(timeout, 0.0):.3f}",
                "kinds": ",".join(kinds),
                "direction": direction,
            },
            timeout=timeout + 10.0,
            allow_timeout=True,
        )
        return [] if body is None else list(body["events"])

    async def next_reply(self, user_id: int, timeout: float = 5.0) -> ChatMessage:
        """The bot's next message or edit in the chat after the user's last action."""
        events = await self.wait(user_id, self.cursor(user_id), timeout)
        if not events:
            raise TimeoutError(
                f"no bot message in chat {user_id} after seq {self.cursor(user_id)} "
                f"within {timeout:.1f}s"
            )
        return self._consume(user_id, events[0])

    def _consume(self, chat_id: int, event: Mapping[str, Any]) -> ChatMessage:
        self._cursors[chat_id] = int(event["seq"])
        return ChatMessage.from_json(event["message"], event=str(event["kind"]))

    async def wait_for(
        self,
        user_id: int,
        predicate: Callable[[ChatMessage], bool],
        timeout: float = 5.0,
    ) -> ChatMessage:
        """The next bot message/edit matching ``predicate`` (earlier ones are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no matching bot message in chat {user_id} in {timeout:.1f}s")
            events = await self.wait(user_id, self.cursor(user_id), remaining)
            for event in events:
                message = self._consume(user_id, event)
                if predicate(message):
                    return message

    async def settle(
        self, user_id: int, quiet: float = 0.3, timeout: float = 5.0
    ) -> list[ChatMessage]:
        """Collect the bot's messages/edits until it has been quiet for ``quiet`` seconds."""
        deadline = time.monotonic() + timeout
        collected: list[ChatMessage] = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"the bot kept talking in chat {user_id} for {timeout:.1f}s")
            events = await self.wait(user_id, self.cursor(user_id), min(quiet, remaining))
            if not events:
                return collected
            collected.extend(self._consume(user_id, event) for event in events)
