"""The emulator's data model: users, chats, messages, files, events and errors.

Everything here is plain state; the behaviour lives in :mod:`bot.sandbox.emulator`.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from bot.telegram_html import entities_to_html

from .spec import UploadedFile

JSON = dict[str, Any]

# -- errors ---------------------------------------------------------------------------------


class APIError(Exception):
    """A Bot API error response (``{"ok": false, "error_code": ..., "description": ...}``)."""

    def __init__(
        self, error_code: int, description: str, parameters: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = dict(parameters) if parameters else None

    def envelope(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(reason: str) -> APIError:
    return APIError(400, f"Bad Request: {reason}")


class ControlError(Exception):
    """A refused phone-side action (HTTP 400/404 on the control API)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


# -- extension points --------------------------------------------------------------------------


class RateLimiter(Protocol):
    """Decides whether a sending call may proceed (the hook for flood limits)."""

    def check(self, method: str, chat_id: int, now: datetime) -> float | None:
        """Seconds the bot has to wait before retrying (-> 429), or None to allow the call.

        Called for every call that would write to a chat, once it is otherwise valid and
        just before it takes effect: an allowed call is a sent message. ``now`` is the
        emulator's (movable) date; limiters of real send rates use a monotonic clock of
        their own instead (see :class:`bot.sandbox.limits.TelegramLimits`).
        """
        ...


@dataclass
class WebhookConfig:
    """What ``setWebhook`` stored. Delivery is not implemented yet (see module docs)."""

    url: str = ""
    secret_token: str | None = None
    max_connections: int = 40
    allowed_updates: list[str] | None = None
    ip_address: str | None = None


# -- recorded state --------------------------------------------------------------------------


class RecordedCall(NamedTuple):
    """One Bot API call, as the emulator saw and answered it."""

    method: str
    params: JSON
    ok: bool
    error_code: int | None  # 0: the connection was dropped (an injected network failure)
    description: str | None
    injected: bool = False  # the answer was a failure injected by a test

    def to_json(self) -> JSON:
        return self._asdict()


@dataclass
class EmuUser:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "zh-hans"
    blocked: bool = False
    started: bool = True  # False: the user never wrote to the bot, it can't message them

    def to_api(self) -> JSON:
        data: JSON = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        if self.language_code:
            data["language_code"] = self.language_code
        return data

    def to_json(self) -> JSON:
        return {**self.to_api(), "blocked": self.blocked, "started": self.started}


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    kind: str  # photo, document, audio, video, animation, voice, sticker
    file_path: str
    data: bytes = field(repr=False)
    file_name: str | None = None
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None
    source_url: str | None = None

    @property
    def size(self) -> int:
        return len(self.data)

    def to_api_file(self) -> JSON:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.size,
            "file_path": self.file_path,
        }


@dataclass
class StoredMessage:
    message_id: int
    chat: JSON  # the Chat object as embedded in messages
    sender: JSON  # the User object ("from")
    direction: str  # "in": user -> bot, "out": bot -> user
    date: int
    text: str | None = None
    entities: list[JSON] = field(default_factory=list)
    caption: str | None = None
    caption_entities: list[JSON] = field(default_factory=list)
    media: JSON = field(default_factory=dict)  # e.g. {"photo": [...]} or {"document": {...}}
    reply_markup: JSON | None = None  # inline keyboard: echoed in the API
    keyboard: JSON | None = None  # reply keyboard / remove / force reply: not echoed
    reply_to: StoredMessage | None = None
    forward_origin: JSON | None = None
    edit_date: int | None = None
    deleted: bool = False
    source: str | None = None  # the text/caption as the bot sent it (e.g. HTML)

    @property
    def chat_id(self) -> int:
        return int(self.chat["id"])

    def content_kind(self) -> str:
        if self.text is not None:
            return "text"
        return next(iter(self.media), "other")

    def to_api(self, *, with_reply: bool = True) -> JSON:
        data: JSON = {
            "message_id": self.message_id,
            "from": self.sender,
            "chat": self.chat,
            "date": self.date,
        }
        if self.forward_origin is not None:
            data["forward_origin"] = self.forward_origin
        if with_reply and self.reply_to is not None:
            data["reply_to_message"] = self.reply_to.to_api(with_reply=False)
        if self.edit_date is not None:
            data["edit_date"] = self.edit_date
        if self.text is not None:
            data["text"] = self.text
            if self.entities:
                data["entities"] = self.entities
        data.update(self.media)
        if self.caption:
            data["caption"] = self.caption
            if self.caption_entities:
                data["caption_entities"] = self.caption_entities
        if self.reply_markup is not None:
            data["reply_markup"] = self.reply_markup
        return data

    def inaccessible(self) -> JSON:
        return {"chat": self.chat, "message_id": self.message_id, "date": 0}

    def inline_buttons(self) -> Iterator[JSON]:
        if self.reply_markup is None:
            return
        for row in self.reply_markup.get("inline_keyboard", []):
            yield from row

    def view(self, seq: int) -> JSON:
        """The message as the control API shows it (the state as of event ``seq``)."""
        text = self.text if self.text is not None else self.caption
        entities = self.entities if self.text is not None else self.caption_entities
        photo = self.media.get("photo")
        return {
            "seq": seq,
            "chat_id": self.chat_id,
            "message_id": self.message_id,
            "direction": self.direction,
            "kind": self.content_kind(),
            "from": self.sender,
            "date": self.date,
            "text": text,
            "html": entities_to_html(text, entities) if text is not None else None,
            "entities": list(entities),
            "caption": self.caption,
            "reply_markup": self.reply_markup,
            "buttons": [
                [
                    {
                        "text": button.get("text", ""),
                        "callback_data": button.get("callback_data"),
                        "url": button.get("url"),
                    }
                    for button in row
                ]
                for row in (self.reply_markup or {}).get("inline_keyboard", [])
            ],
            "keyboard": keyboard_rows(self.keyboard),
            "photo": photo[-1] if photo else None,
            "document": self.media.get("document"),
            "media": self.media,
            "reply_to_message_id": self.reply_to.message_id if self.reply_to else None,
            "edited": self.edit_date is not None,
            "edit_date": self.edit_date,
            "deleted": self.deleted,
        }


def keyboard_rows(markup: JSON | None) -> list[list[str]] | None:
    if not markup or "keyboard" not in markup:
        return None
    return [[str(button.get("text", "")) for button in row] for row in markup["keyboard"]]


@dataclass
class ChatEvent:
    seq: int
    chat_id: int
    kind: str  # message, edit, delete, press, callback_answer
    direction: str  # "in" (the user did it) or "out" (the bot did it)
    message_id: int | None
    message: JSON | None = None  # StoredMessage.view() at the time of the event
    answer: JSON | None = None  # for callback_answer

    def to_json(self) -> JSON:
        return {
            "seq": self.seq,
            "chat_id": self.chat_id,
            "kind": self.kind,
            "direction": self.direction,
            "message_id": self.message_id,
            "message": self.message,
            "answer": self.answer,
        }


@dataclass
class EmuChat:
    id: int
    type: str  # private, group, supergroup
    title: str | None = None
    user: EmuUser | None = None  # the other party of a private chat
    next_message_id: int = 1
    messages: dict[int, StoredMessage] = field(default_factory=dict)
    events: list[ChatEvent] = field(default_factory=list)
    reply_keyboard: JSON | None = None  # the reply keyboard the user currently sees
    last_action: str | None = None
    menu_button: JSON | None = None

    def to_api(self) -> JSON:
        if self.type == "private" and self.user is not None:
            data: JSON = {"id": self.id, "first_name": self.user.first_name}
            if self.user.last_name:
                data["last_name"] = self.user.last_name
            if self.user.username:
                data["username"] = self.user.username
            data["type"] = "private"
            return data
        return {"id": self.id, "title": self.title or str(self.id), "type": self.type}

    @property
    def chat_instance(self) -> str:
        return str((self.id * 2654435761 + 1442695040888963407) % 10**19)

    def take_message_id(self) -> int:
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id


@dataclass
class PendingUpdate:
    update_id: int
    type: str
    payload: JSON

    def to_api(self) -> JSON:
        return {"update_id": self.update_id, self.type: self.payload}


@dataclass
class CallbackRecord:
    id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str
    press_seq: int
    answered: bool = False
    answer: JSON | None = None


class Signal:
    """Wakes up waiters when state changes (no locks, no polling)."""

    def __init__(self) -> None:
        self._waiters: set[asyncio.Future[None]] = set()

    def notify(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def wait_for(self, predicate: Callable[[], bool], seconds: float) -> bool:
        """Wait until ``predicate()`` is true or ``seconds`` passed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, seconds)
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.add(waiter)
            try:
                await asyncio.wait({waiter}, timeout=remaining)
            finally:
                self._waiters.discard(waiter)
                if not waiter.done():
                    waiter.cancel()
        return True


# -- media -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MediaKind:
    name: str  # the parameter / Message field: photo, document, ...
    folder: str  # first part of file_path
    id_prefix: str
    captioned: bool = True


MEDIA_KINDS: dict[str, MediaKind] = {
    kind.name: kind
    for kind in (
        MediaKind("photo", "photos", "AgAC"),
        MediaKind("document", "documents", "BQAC"),
        MediaKind("audio", "music", "CQAC"),
        MediaKind("video", "videos", "BAAC"),
        MediaKind("animation", "animations", "CgAC"),
        MediaKind("voice", "voice", "AwAC"),
        MediaKind("sticker", "stickers", "CAAC", captioned=False),
    )
}


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG, GIF or JPEG image (None if unknown)."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    if data[:2] == b"\xff\xd8":
        index = 2
        while index + 9 < len(data):
            if data[index] != 0xFF:
                index += 1
                continue
            marker = data[index + 1]
            if marker in (0xD8, 0x01, 0xFF) or 0xD0 <= marker <= 0xD7:
                index += 1 if marker == 0xFF else 2
                continue
            (segment_length,) = struct.unpack(">H", data[index + 2 : index + 4])
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height, width = struct.unpack(">HH", data[index + 5 : index + 9])
                return int(width), int(height)
            index += 2 + int(segment_length)
    return None


def scaled_size(width: int, height: int, limit: int) -> tuple[int, int]:
    biggest = max(width, height)
    if biggest <= limit:
        return width, height
    return max(1, width * limit // biggest), max(1, height * limit // biggest)


def iter_inline_buttons(markup: JSON | None) -> Iterator[JSON]:
    if markup:
        for row in markup.get("inline_keyboard", []):
            yield from row


def jsonable(value: Any) -> Any:
    if isinstance(value, UploadedFile):
        return {"uploaded_file": value.summary()}
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    return value
