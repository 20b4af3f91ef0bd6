"""An in-process emulator of the Telegram Bot API (an aiohttp web server).

Two sides:

* the **Bot API side** (``/bot{token}/{method}``, ``/file/bot{token}/{path}``) behaves like
  api.telegram.org for the methods the bot uses: every call is validated against the Bot
  API specification (see :mod:`bot.sandbox.spec`), refused the way Telegram refuses it,
  and recorded in :attr:`BotAPIEmulator.calls`;
* the **phone side** (what users do: send messages, press buttons, block the bot) is
  available as Python methods and as a JSON control API under ``/_emu/``, used by tests
  (see :mod:`bot.sandbox.client`) and by a web chat page.

Every chat event (a message in either direction, an edit, a deletion, a button press, a
callback answer) gets a global, increasing ``seq``; waiting for events (getUpdates long
polling, ``/_emu/chats/{id}/wait``) is event driven and never sleep-polls.

Extension points for later work:

* rate limits: set :attr:`BotAPIEmulator.limiter` to a :class:`RateLimiter`; it is consulted
  before every sending/editing call and may answer 429 with ``parameters.retry_after``;
  :class:`bot.sandbox.limits.TelegramLimits` enforces Telegram's documented flood limits;
* failures on purpose: :meth:`BotAPIEmulator.inject_failures` makes the next matching calls
  answer an error (or drop the connection) without taking effect, for tests of retries;
* counters: :meth:`BotAPIEmulator.stats`, :meth:`BotAPIEmulator.delivered_count` and
  :meth:`BotAPIEmulator.duplicates` (e.g. double sends in a broadcast benchmark);
* webhook delivery: after ``setWebhook`` every update is POSTed as JSON to the url with the
  ``X-Telegram-Bot-Api-Secret-Token`` header, up to ``max_connections`` at once and one at a
  time per chat (in order); a non-2xx answer or a connection error is retried after
  :attr:`BotAPIEmulator.webhook_retry_delays`, as Telegram retries. Besides https, plain
  http is accepted for 127.0.0.1/localhost so that tests need no TLS. Each attempt is
  recorded in :attr:`BotAPIEmulator.webhook_deliveries`; :attr:`webhook_backends` spreads
  the POSTs over several replicas, round robin, as a reverse proxy would;
* group chats: chats have a ``type``; :meth:`BotAPIEmulator.add_group` registers one and
  users can post into it (``chat_id`` in the message payload).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import functools
import json
import logging
import mimetypes
import re
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import BodyPartReader, web

from bot.telegram_html import HTMLParseError, parse_html, utf16_len

from .emulator_control import ControlAPI
from .emulator_faults import CallStats, ConnectionDropped, FailurePlan, InjectedFailure
from .emulator_state import (
    JSON,
    MEDIA_KINDS,
    APIError,
    CallbackRecord,
    ChatEvent,
    ControlError,
    EmuChat,
    EmuUser,
    MediaKind,
    PendingUpdate,
    RateLimiter,
    RecordedCall,
    Signal,
    StoredFile,
    StoredMessage,
    WebhookConfig,
    bad_request,
    image_size,
    iter_inline_buttons,
    jsonable,
    keyboard_rows,
    scaled_size,
)
from .limits import retry_after_seconds
from .spec import BotAPISpec, SpecError, UploadedFile

__all__ = [
    "APIError",
    "BotAPIEmulator",
    "ConnectionDropped",
    "ControlError",
    "InjectedFailure",
    "RateLimiter",
    "RecordedCall",
    "WebhookConfig",
    "WebhookDelivery",
]

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_INLINE_BUTTONS = 100
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
MAX_WAIT_SECONDS = 120.0
DEFAULT_UPDATE_TYPES = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    }
)
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
# Inline keyboard button fields that give the button an action.
_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
# Parameters Telegram still honours although the current spec no longer lists them.
_LEGACY_PARAMS = ("reply_to_message_id", "allow_sending_without_reply", "disable_web_page_preview")
_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
_BOT_COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?=\s|$)")
_INT_RE = re.compile(r"-?\d+")

_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
_QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"

_dumps = functools.partial(json.dumps, ensure_ascii=False)
logger = logging.getLogger(__name__)

WEBHOOK_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram waits about a minute for a webhook's answer.
WEBHOOK_TIMEOUT_SECONDS = 60.0
# Telegram waits longer between tries; short here so that tests and benchmarks move on.
WEBHOOK_RETRY_DELAYS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0)
WEBHOOK_MAX_CONNECTIONS = 100
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_SECRET_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")


@dataclass(frozen=True)
class WebhookDelivery:
    """One POST of an update to the webhook and how it was answered."""

    update_id: int
    update: JSON
    status: int  # the HTTP status; 0: no answer (connection failed, timed out)
    error: str | None  # None: delivered (2xx)

    @property
    def delivered(self) -> bool:
        return self.error is None


def _update_chat(update: PendingUpdate) -> Hashable:
    """The chat an update belongs to (its updates are delivered in order, one at a time)."""
    payload = update.payload
    chat = payload.get("chat")
    if not isinstance(chat, dict):
        message = payload.get("message")
        chat = message.get("chat") if isinstance(message, dict) else None
    if isinstance(chat, dict) and "id" in chat:
        return ("chat", chat["id"])
    sender = payload.get("from")
    if isinstance(sender, dict) and "id" in sender:
        return ("user", sender["id"])
    return ("update", update.update_id)


_SEND_MEDIA_METHODS = {f"send{name}": name for name in MEDIA_KINDS}


def _is_valid_button_url(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        return bool(parts.netloc)
    return parts.scheme == "tg" and bool(parts.netloc or parts.path)


ApiHandler = Callable[[JSON], Awaitable[Any]]


class BotAPIEmulator:
    """The Telegram Bot API emulator. See the module docstring."""

    def __init__(
        self,
        token: str,
        *,
        bot_username: str = "xueyong_bot",
        bot_id: int = 7000000001,
        clock: Callable[[], datetime] | None = None,
        bot_first_name: str = "Xueyong",
        spec: BotAPISpec | None = None,
        self_check: bool = True,
    ) -> None:
        self.token = token
        self.bot_username = bot_username
        self.bot_id = bot_id
        self.bot_first_name = bot_first_name
        self.spec = spec or BotAPISpec.load()
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        # Validate every result against the spec: a bug in the emulator fails loudly (500).
        self.self_check = self_check
        # Consulted before every sending/editing call; None means "no flood limits".
        self.limiter: RateLimiter | None = None
        self.calls: list[RecordedCall] = []
        self.webhook = WebhookConfig()
        self.webhook_retry_delays: tuple[float, ...] = WEBHOOK_RETRY_DELAYS
        self.webhook_timeout = WEBHOOK_TIMEOUT_SECONDS
        self.webhook_deliveries: list[WebhookDelivery] = []
        # Stands in for a reverse proxy in front of several replicas: when set, each POST goes
        # to the next of these URLs in turn instead of the registered one.
        self.webhook_backends: list[str] = []
        self._next_backend = 0
        self._webhook_task: asyncio.Task[None] | None = None
        self._webhook_wake = asyncio.Event()
        self._webhook_signal = Signal()
        self._webhook_in_flight: dict[int, Hashable] = {}  # update_id -> its chat
        self._webhook_attempts: dict[int, int] = {}
        self._webhook_retry_at: dict[int, float] = {}  # update_id -> loop time
        self._webhook_last_error: tuple[int, str] | None = None
        self._stats = CallStats()
        self._failures = FailurePlan()

        self._users: dict[int, EmuUser] = {}
        self._chats: dict[int, EmuChat] = {}
        self._files: dict[str, StoredFile] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self._callbacks: dict[str, CallbackRecord] = {}
        self._updates: deque[PendingUpdate] = deque()  # in update_id order
        self._allowed_updates: frozenset[str] = DEFAULT_UPDATE_TYPES
        self._commands: dict[tuple[str, str], list[JSON]] = {}
        self._bot_texts: dict[tuple[str, str], str] = {}  # (kind, language) -> text
        self._default_menu_button: JSON | None = None
        self._next_update_id = 100_000_001
        self._next_file = 1
        self._next_callback = 1
        self._seq = 0
        self._poll_generation = 0
        self._closing = False
        self._updates_signal = Signal()
        self._poller_signal = Signal()
        self._waiting_pollers = 0
        self._events_signal = Signal()
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._handlers: dict[str, ApiHandler] = self._method_table()

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("the emulator is not started")
        return self._base_url

    @property
    def last_seq(self) -> int:
        return self._seq

    def now(self) -> datetime:
        return self.clock()

    def _unix_now(self) -> int:
        return int(self.clock().timestamp())

    def make_app(self) -> web.Application:
        """The aiohttp application (Bot API + control API); can be mounted as a sub-app."""
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES)
        self.add_routes(app.router)
        return app

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_route("*", "/bot{token}/{method}", self._handle_api)
        router.add_get("/file/bot{token}/{path:.+}", self._handle_file_download)
        ControlAPI(self).add_routes(router)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0: any free port); returns the base url."""
        if self._runner is not None:
            raise RuntimeError("the emulator is already started")
        self._closing = False
        # handler_cancellation: a poller that went away must not keep waiting here
        runner = web.AppRunner(
            self.make_app(), handler_cancellation=True, shutdown_timeout=1.0, access_log=None
        )
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = next(addr[1] for addr in runner.addresses if isinstance(addr, tuple))
        self._runner = runner
        self._base_url = f"http://{host}:{bound_port}"
        return self._base_url

    async def stop(self) -> None:
        """Stop serving; pending long polls and waits return at once."""
        self._closing = True
        self._updates_signal.notify()
        self._events_signal.notify()
        self._webhook_wake.set()
        if self._webhook_task is not None:
            task, self._webhook_task = self._webhook_task, None
            await task
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        self._base_url = None

    def reset(self) -> None:
        """Forget users, chats, files, updates and calls (ids and ``seq`` keep growing)."""
        self._users.clear()
        self._chats.clear()
        self._files.clear()
        self._files_by_path.clear()
        self._callbacks.clear()
        self._updates.clear()
        self._commands.clear()
        self._bot_texts.clear()
        self._default_menu_button = None
        self.calls.clear()
        self._stats.clear()
        self._failures.clear()
        self.webhook = WebhookConfig()
        self.webhook_deliveries.clear()
        self._webhook_attempts.clear()
        self._webhook_retry_at.clear()
        self._webhook_last_error = None
        self._webhook_wake.set()
        self._allowed_updates = DEFAULT_UPDATE_TYPES
        self._updates_signal.notify()
        self._events_signal.notify()

    # -- the Bot API over HTTP -------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.Response:
        method_name = request.match_info["method"]
        if request.match_info["token"] != self.token:
            error = APIError(401, "Unauthorized")
            self._record(method_name, {}, error)
            return web.json_response(error.envelope(), status=401, dumps=_dumps)
        try:
            params, files = await self._read_params(request)
        except (ValueError, UnicodeDecodeError) as exc:
            error = bad_request(f"can't parse request body: {exc}")
            self._record(method_name, {}, error)
            return web.json_response(error.envelope(), status=400, dumps=_dumps)
        try:
            body = await self.call_api(method_name, params, files)
        except ConnectionDropped:
            # An injected network failure: close the connection without answering.
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=500)  # never reaches the client
        status = 200 if body["ok"] else int(body["error_code"])
        return web.json_response(body, status=status, dumps=_dumps)

    async def _read_params(self, request: web.Request) -> tuple[JSON, dict[str, UploadedFile]]:
        params: JSON = dict(request.query)
        files: dict[str, UploadedFile] = {}
        if request.method != "POST" or not request.body_exists:
            return params, files
        content_type = request.content_type
        if content_type == "application/json":
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("the JSON body must be an object")
            params.update(body)
        elif content_type == "multipart/form-data":
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader) or part.name is None:
                    raise ValueError("unexpected nested multipart")
                if part.filename is not None:
                    data = await part.read(decode=True)
                    mime = part.headers.get("Content-Type", "application/octet-stream")
                    files[part.name] = UploadedFile(part.filename, mime.split(";")[0], bytes(data))
                else:
                    params[part.name] = await part.text()
        elif content_type == "application/x-www-form-urlencoded":
            form = await request.post()
            params.update({key: str(value) for key, value in form.items()})
        return params, files

    async def call_api(
        self,
        method_name: str,
        params: Mapping[str, Any],
        files: Mapping[str, UploadedFile] | None = None,
    ) -> JSON:
        """Execute one Bot API call; returns the response envelope (and records the call).

        Raises :class:`ConnectionDropped` for an injected network failure.
        """
        method = self.spec.resolve_method(method_name)
        if method is None:
            not_found = APIError(404, "Not Found")
            self._record(method_name, params, not_found)
            return not_found.envelope()
        failure = self._failures.take(method, params)
        if failure is not None:
            error = failure.error()
            self._record(method, params, error, injected=True)
            if failure.status == 0:
                raise ConnectionDropped(f"{method}: {failure.description}")
            return error.envelope()
        try:
            result = await self._execute(method, params, files)
        except APIError as exc:
            self._record(method, params, exc)
            return exc.envelope()
        except Exception as exc:  # a bug in the emulator: make it visible in the call log
            logger.exception("the emulator failed on %s", method)
            bug = APIError(500, f"Internal Server Error: {type(exc).__name__}: {exc}")
            self._record(method, params, bug)
            return bug.envelope()
        self._record(method, params, None)
        return {"ok": True, "result": result}

    async def _execute(
        self, method: str, params: Mapping[str, Any], files: Mapping[str, UploadedFile] | None
    ) -> Any:
        handler = self._handlers.get(method.lower())
        if handler is None:
            raise bad_request(f"method not supported by the emulator: {method}")
        params = self._legacy_params(params)
        for name in files or {}:
            # a file uploaded directly under a parameter's name (curl -F document=@x.pdf)
            if name in self.spec.methods[method].fields and name not in params:
                params[name] = f"attach://{name}"
        try:
            clean = self.spec.validate_call(method, params, files)
        except SpecError as exc:
            raise APIError(400, exc.description) from exc
        result = await handler(clean)
        if self.self_check:
            self._self_check(method, result)
        return result

    def _self_check(self, method: str, result: Any) -> None:
        try:
            self.spec.check_result(method, result)
        except SpecError as exc:
            raise APIError(
                500, f"Internal Server Error: the emulator built an invalid result: {exc.message}"
            ) from exc

    def _record(
        self,
        method: str,
        params: Mapping[str, Any],
        error: APIError | None,
        *,
        injected: bool = False,
    ) -> None:
        error_code = None if error is None else error.error_code
        self.calls.append(
            RecordedCall(
                method=method,
                params=jsonable(params),
                ok=error is None,
                error_code=error_code,
                description=None if error is None else error.description,
                injected=injected,
            )
        )
        self._stats.record_call(method, error_code, injected=injected)

    def errors(self) -> list[RecordedCall]:
        """The calls Telegram would have refused (including 429s and injected failures)."""
        return [call for call in self.calls if not call.ok]

    # -- failures on purpose, counters -------------------------------------------------------

    def inject_failures(
        self,
        method: str,
        chat_id: int | None,
        status: int,
        count: int = 1,
        description: str | None = None,
        *,
        retry_after: int | None = None,
    ) -> InjectedFailure:
        """The next ``count`` calls of ``method`` ("*": any) to ``chat_id`` (None: any chat)
        answer ``status`` without taking effect.

        ``status`` is an HTTP error status (e.g. 500, 502, 400 with a ``description`` such as
        "Bad Request: chat not found", 429 with ``retry_after``) or 0: the server closes the
        connection without answering (a network error). Rules are consumed in the order
        they were added.
        """
        if method != "*":
            canonical = self.spec.resolve_method(method)
            if canonical is None:
                raise ControlError(f"unknown method {method!r}")
            method = canonical
        try:
            return self._failures.add(method, chat_id, status, count, description, retry_after)
        except ValueError as exc:
            raise ControlError(str(exc)) from exc

    def injected_failures(self) -> list[JSON]:
        """The injected failures not used up yet."""
        return self._failures.pending()

    def clear_failures(self) -> None:
        self._failures.clear()

    def stats(self) -> JSON:
        """Counts: calls, messages delivered per method (sends and edits), 429 and 403
        answered, errors by code, injected failures, and bot messages per chat."""
        return self._stats.to_json()

    def delivered_count(self, chat_id: int) -> int:
        """How many messages the bot sent to a chat (edits not included)."""
        return self._stats.messages_per_chat[chat_id]

    def duplicates(
        self, key: Callable[[StoredMessage], Hashable | None]
    ) -> dict[int, list[Hashable]]:
        """Chats where two or more bot messages share the same ``key`` (e.g. their text):
        chat id -> the repeated keys, in order. Messages whose key is None are ignored."""
        found: dict[int, list[Hashable]] = {}
        for chat_id in self._stats.messages_per_chat:  # only chats the bot wrote in
            chat = self._chats.get(chat_id)
            if chat is None:
                continue
            seen: set[Hashable] = set()
            repeated: dict[Hashable, None] = {}
            for message in chat.messages.values():
                if message.direction != "out":
                    continue
                value = key(message)
                if value is None:
                    continue
                if value in seen:
                    repeated[value] = None
                seen.add(value)
            if repeated:
                found[chat_id] = list(repeated)
        return found

    @staticmethod
    def _legacy_params(params: Mapping[str, Any]) -> JSON:
        """Map parameters Telegram still accepts (but the spec dropped) to current ones."""
        result = dict(params)
        if not any(name in result for name in _LEGACY_PARAMS):
            return result
        reply_to = result.pop("reply_to_message_id", None)
        allow = result.pop("allow_sending_without_reply", None)
        if reply_to is not None and "reply_parameters" not in result:
            if isinstance(reply_to, str) and _INT_RE.fullmatch(reply_to):
                reply_to = int(reply_to)
            reply: JSON = {"message_id": reply_to}
            if allow is not None:
                reply["allow_sending_without_reply"] = allow in (True, "true", "True")
            result["reply_parameters"] = reply
        no_preview = result.pop("disable_web_page_preview", None)
        if no_preview is not None and "link_preview_options" not in result:
            result["link_preview_options"] = {"is_disabled": no_preview in (True, "true", "True")}
        return result

    async def _handle_file_download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(APIError(401, "Unauthorized").envelope(), status=401)
        stored = self._files_by_path.get(request.match_info["path"])
        if stored is None:
            return web.json_response(APIError(404, "Not Found").envelope(), status=404)
        return web.Response(
            body=stored.data, content_type=stored.mime_type or "application/octet-stream"
        )

    # -- Bot API methods ---------------------------------------------------------------------

    def _method_table(self) -> dict[str, ApiHandler]:
        table: dict[str, ApiHandler] = {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "logout": self._always_true,
            "close": self._always_true,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemycommands": self._delete_my_commands,
            "setmydescription": functools.partial(self._set_bot_text, "description", 512),
            "getmydescription": functools.partial(self._get_bot_text, "description"),
            "setmyshortdescription": functools.partial(
                self._set_bot_text, "short_description", 120
            ),
            "getmyshortdescription": functools.partial(self._get_bot_text, "short_description"),
            "setmyname": functools.partial(self._set_bot_text, "name", 64),
            "getmyname": functools.partial(self._get_bot_text, "name"),
            "setchatmenubutton": self._set_chat_menu_button,
            "getchatmenubutton": self._get_chat_menu_button,
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
            "editmessagecaption": self._edit_message_caption,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "deletemessage": self._delete_message,
            "deletemessages": self._delete_messages,
            "answercallbackquery": self._answer_callback_query,
            "sendchataction": self._send_chat_action,
            "getfile": self._get_file,
            "copymessage": self._copy_message,
            "forwardmessage": self._forward_message,
        }
        for method, kind in _SEND_MEDIA_METHODS.items():
            table[method] = functools.partial(self._send_media, kind)
        return table

    def bot_user(self) -> JSON:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    async def _always_true(self, params: JSON) -> bool:
        return True

    async def _get_me(self, params: JSON) -> JSON:
        return {
            **self.bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    # getUpdates & webhook

    async def _get_updates(self, params: JSON) -> list[JSON]:
        if self.webhook.url:
            raise APIError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = params.get("offset")
        limit = min(max(int(params.get("limit", 100)), 1), 100)
        timeout = min(max(float(params.get("timeout", 0)), 0.0), MAX_WAIT_SECONDS)
        if "allowed_updates" in params:
            self._allowed_updates = frozenset(params["allowed_updates"]) or DEFAULT_UPDATE_TYPES
        if offset is not None:
            self._confirm_updates(int(offset))
        self._poll_generation += 1
        generation = self._poll_generation

        def ready() -> bool:
            return self._closing or generation != self._poll_generation or self._has_deliverable()

        self._waiting_pollers += 1
        self._poller_signal.notify()
        try:
            await self._updates_signal.wait_for(ready, timeout)
        finally:
            self._waiting_pollers -= 1
        if generation != self._poll_generation:
            raise APIError(
                409,
                "Conflict: terminated by other getUpdates request; "
                "make sure that only one bot instance is running",
            )
        return [update.to_api() for update in self._deliverable(limit)]

    @property
    def polling(self) -> bool:
        """Whether a getUpdates long poll is waiting right now."""
        return self._waiting_pollers > 0

    async def wait_for_poller(self, timeout: float = 5.0) -> bool:
        """Wait until the bot is inside a getUpdates long poll (False on timeout)."""
        return await self._poller_signal.wait_for(lambda: self.polling, timeout)

    def _confirm_updates(self, offset: int) -> None:
        updates = self._updates
        if offset > 0:
            while updates and updates[0].update_id < offset:
                updates.popleft()
        elif offset < 0:
            while len(updates) > -offset:
                updates.popleft()

    def _deliverable(self, limit: int | None = None) -> list[PendingUpdate]:
        wanted = (u for u in self._updates if u.type in self._allowed_updates)
        return list(islice(wanted, limit))

    def _has_deliverable(self) -> bool:
        return any(u.type in self._allowed_updates for u in self._updates)

    def _enqueue_update(self, update_type: str, payload: JSON) -> PendingUpdate:
        """The single point every update goes through (webhook delivery hooks in here)."""
        update = PendingUpdate(self._next_update_id, update_type, payload)
        self._next_update_id += 1
        self._updates.append(update)
        self._updates_signal.notify()
        self._webhook_wake.set()
        return update

    @property
    def pending_updates(self) -> list[JSON]:
        return [update.to_api() for update in self._updates]

    async def _set_webhook(self, params: JSON) -> bool:
        url = params["url"]
        if url:
            parts = urlsplit(url)
            local = parts.scheme == "http" and parts.hostname in _LOCAL_HOSTS
            if not (parts.scheme == "https" or local) or not parts.hostname:
                raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_TOKEN_RE.fullmatch(secret):
            raise bad_request("secret token contains unallowed characters")
        max_connections = int(params.get("max_connections", 40))
        if url != self.webhook.url:
            self._webhook_last_error = None
        self.webhook = WebhookConfig(
            url=url,
            secret_token=secret,
            max_connections=min(max(max_connections, 1), WEBHOOK_MAX_CONNECTIONS),
            allowed_updates=params.get("allowed_updates"),
            ip_address=params.get("ip_address"),
        )
        if params.get("allowed_updates") is not None:
            self._allowed_updates = frozenset(params["allowed_updates"]) or DEFAULT_UPDATE_TYPES
        if params.get("drop_pending_updates"):
            self._updates.clear()
        if url and (self._webhook_task is None or self._webhook_task.done()):
            self._webhook_task = asyncio.create_task(self._webhook_loop(), name="emu-webhook")
        self._webhook_wake.set()
        return True

    async def _delete_webhook(self, params: JSON) -> bool:
        self.webhook = WebhookConfig()
        self._webhook_last_error = None
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self._updates_signal.notify()
        self._webhook_wake.set()
        return True

    # webhook delivery

    async def _webhook_loop(self) -> None:
        """Deliver pending updates while a webhook is set (one task per POST)."""
        loop = asyncio.get_running_loop()
        posts: set[asyncio.Task[None]] = set()
        timeout = aiohttp.ClientTimeout(total=self.webhook_timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            try:
                while not self._closing and self.webhook.url:
                    self._webhook_wake.clear()
                    wait = self._start_posts(session, posts, loop.time())
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._webhook_wake.wait(), wait)
                if not self._closing and posts:  # webhook deleted: let those under way end
                    await asyncio.wait(posts)
            finally:
                for task in posts:
                    task.cancel()
                await asyncio.gather(*posts, return_exceptions=True)
                self._webhook_in_flight.clear()
                self._webhook_signal.notify()

    def _start_posts(
        self, session: aiohttp.ClientSession, posts: set[asyncio.Task[None]], now: float
    ) -> float | None:
        """Start POSTs of what may go now; returns the seconds until a retry is due."""
        config = self.webhook
        busy = set(self._webhook_in_flight.values())
        next_retry: float | None = None
        for update in self._deliverable():
            if len(self._webhook_in_flight) >= config.max_connections:
                break
            if update.update_id in self._webhook_in_flight:
                continue
            chat = _update_chat(update)
            if chat in busy:
                continue
            busy.add(chat)  # the chat's later updates wait for this one
            retry_at = self._webhook_retry_at.get(update.update_id)
            if retry_at is not None and retry_at > now:
                next_retry = retry_at if next_retry is None else min(next_retry, retry_at)
                continue
            self._webhook_in_flight[update.update_id] = chat
            task = asyncio.create_task(self._post_update(session, config, update))
            posts.add(task)
            task.add_done_callback(posts.discard)
        return None if next_retry is None else max(0.0, next_retry - now)

    async def _post_update(
        self, session: aiohttp.ClientSession, config: WebhookConfig, update: PendingUpdate
    ) -> None:
        body = update.to_api()
        headers = {"Content-Type": "application/json"}
        if config.secret_token:
            headers[WEBHOOK_SECRET_HEADER] = config.secret_token
        url = config.url
        if self.webhook_backends:
            url = self.webhook_backends[self._next_backend % len(self.webhook_backends)]
            self._next_backend += 1
        status, error = 0, None
        try:
            async with session.post(url, data=_dumps(body).encode(), headers=headers) as r:
                await r.read()
                status = r.status
                if not 200 <= status < 300:
                    error = f"Wrong response from the webhook: {status} {r.reason}"
        except TimeoutError:
            error = "Read timeout expired"
        except (aiohttp.ClientError, OSError) as exc:
            error = f"Connection failed: {type(exc).__name__}"
        finally:
            self._webhook_in_flight.pop(update.update_id, None)
        self.webhook_deliveries.append(WebhookDelivery(update.update_id, body, status, error))
        if error is None:
            self._webhook_attempts.pop(update.update_id, None)
            self._webhook_retry_at.pop(update.update_id, None)
            with contextlib.suppress(ValueError):  # gone already (reset, dropped)
                self._updates.remove(update)
        else:
            attempt = self._webhook_attempts.get(update.update_id, 0) + 1
            self._webhook_attempts[update.update_id] = attempt
            delays = self.webhook_retry_delays
            delay = delays[min(attempt, len(delays)) - 1]
            self._webhook_retry_at[update.update_id] = asyncio.get_running_loop().time() + delay
            self._webhook_last_error = (self._unix_now(), error)
        self._webhook_wake.set()
        self._webhook_signal.notify()

    async def wait_webhook_delivered(self, timeout: float = 10.0) -> bool:
        """Until every pending update was answered 2xx by the webhook (False on timeout)."""
        return await self._webhook_signal.wait_for(
            lambda: not self._updates and not self._webhook_in_flight, timeout
        )

    def webhook_failures(self) -> list[WebhookDelivery]:
        """The deliveries the webhook did not accept (retried since)."""
        return [d for d in self.webhook_deliveries if not d.delivered]

    async def _get_webhook_info(self, params: JSON) -> JSON:
        info: JSON = {
            "url": self.webhook.url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook.url:
            info["max_connections"] = self.webhook.max_connections
            if self._webhook_last_error is not None:
                info["last_error_date"], info["last_error_message"] = self._webhook_last_error
            if self.webhook.ip_address:
                info["ip_address"] = self.webhook.ip_address
            if self.webhook.allowed_updates is not None:
                info["allowed_updates"] = self.webhook.allowed_updates
        return info

    # commands, descriptions, menu button

    def _commands_key(self, params: JSON) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        if "chat_id" in scope:
            scope = {**scope, "chat_id": self._chat(scope["chat_id"]).id}
        language = self._language_code(params)
        return _dumps(scope, sort_keys=True), language

    @staticmethod
    def _language_code(params: JSON) -> str:
        language = str(params.get("language_code") or "")
        if language and not re.fullmatch(r"[a-z]{2}", language):
            # Telegram wants a two-letter ISO 639-1 code here ("zh", not "zh-hans")
            raise bad_request("LANG_CODE_INVALID")
        return language

    async def _set_my_commands(self, params: JSON) -> bool:
        commands = params["commands"]
        if len(commands) > 100:
            raise bad_request("BOT_COMMANDS_TOO_MUCH")
        for command in commands:
            if not _COMMAND_RE.fullmatch(command["command"]):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(command["description"].strip()) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        key = self._commands_key(params)
        if commands:
            self._commands[key] = [dict(command) for command in commands]
        else:
            self._commands.pop(key, None)
        return True

    async def _get_my_commands(self, params: JSON) -> list[JSON]:
        return list(self._commands.get(self._commands_key(params), []))

    async def _delete_my_commands(self, params: JSON) -> bool:
        self._commands.pop(self._commands_key(params), None)
        return True

    def commands(self, scope: JSON | None = None, language_code: str = "") -> list[JSON]:
        """The commands the bot set for a scope and language (for tests)."""
        key = _dumps(scope or {"type": "default"}, sort_keys=True), language_code
        return list(self._commands.get(key, []))

    def menu(self, chat_id: int, language_code: str = "") -> list[JSON]:
        """The menu a user sees in their private chat with the bot, chosen as Telegram does:
        the chat's own scope, then all private chats, then the default; in each the user's
        language first, then the list without a language."""
        scopes = ({"type": "chat", "chat_id": chat_id}, {"type": "all_private_chats"}, None)
        for scope in scopes:
            for language in dict.fromkeys((language_code, "")):
                found = self.commands(scope, language)
                if found:
                    return found
        return []

    async def _set_bot_text(self, kind: str, limit: int, params: JSON) -> bool:
        value = str(params.get(kind) or "")
        if len(value) > limit:
            raise bad_request(f"{kind.replace('_', ' ')} is too long")
        key = (kind, self._language_code(params))
        if value:
            self._bot_texts[key] = value
        else:
            self._bot_texts.pop(key, None)
        return True

    async def _get_bot_text(self, kind: str, params: JSON) -> JSON:
        language = self._language_code(params)
        value = self._bot_texts.get((kind, language), self._bot_texts.get((kind, ""), ""))
        if kind == "name" and not value:
            value = self.bot_first_name
        return {kind: value}

    def bot_text(self, kind: str, language_code: str = "") -> str | None:
        """What setMyDescription/setMyShortDescription/setMyName stored (for tests)."""
        return self._bot_texts.get((kind, language_code))

    async def _set_chat_menu_button(self, params: JSON) -> bool:
        button = params.get("menu_button") or {"type": "default"}
        if "chat_id" in params:
            self._chat(params["chat_id"]).menu_button = button
        else:
            self._default_menu_button = button
        return True

    async def _get_chat_menu_button(self, params: JSON) -> JSON:
        if "chat_id" in params:
            button = self._chat(params["chat_id"]).menu_button
            if button is not None:
                return button
        return self._default_menu_button or {"type": "default"}

    # shared checks of sending methods

    def _chat(self, chat_id: Any) -> EmuChat:
        if isinstance(chat_id, str) and _INT_RE.fullmatch(chat_id):
            chat_id = int(chat_id)
        chat = self._chats.get(chat_id) if isinstance(chat_id, int) else None
        if chat is None:
            raise bad_request("chat not found")
        return chat

    def _check_can_write(self, method: str, chat: EmuChat) -> None:
        """The last checks of a call that writes to a chat: 403, then the flood limits."""
        self._check_recipient(chat)
        self._check_rate(method, chat)

    @staticmethod
    def _check_recipient(chat: EmuChat) -> None:
        if chat.type == "private" and chat.user is not None:
            if chat.user.blocked:
                raise APIError(403, "Forbidden: bot was blocked by the user")
            if not chat.user.started:
                raise APIError(403, "Forbidden: bot can't initiate conversation with a user")

    def _check_rate(self, method: str, chat: EmuChat) -> None:
        """Ask the limiter; call it only when nothing else can refuse the call (an allowed
        call takes a slot in the flood windows)."""
        if self.limiter is None:
            return
        retry_after = self.limiter.check(method, chat.id, self.now())
        if retry_after is not None:
            seconds = retry_after_seconds(retry_after)
            raise APIError(
                429, f"Too Many Requests: retry after {seconds}", {"retry_after": seconds}
            )

    def _format(
        self, text: str, parse_mode: str | None, entities: list[JSON] | None
    ) -> tuple[str, list[JSON]]:
        """Apply the parse mode: (plain text, entities)."""
        mode = (parse_mode or "").lower()
        if mode == "html":
            try:
                parsed = parse_html(text)
            except HTMLParseError as exc:
                raise APIError(400, exc.description) from exc
            return parsed.text, parsed.entities_api()
        if mode in ("markdown", "markdownv2"):
            raise bad_request(
                f"parse_mode {parse_mode} is not supported by the emulator (the bot uses HTML)"
            )
        if mode:
            raise bad_request(f"unsupported parse_mode {parse_mode}")
        length = utf16_len(text)
        for entity in entities or []:
            if entity["offset"] < 0 or entity["length"] <= 0:
                raise bad_request("can't parse entities: entity has invalid offset or length")
            if entity["offset"] + entity["length"] > length:
                raise bad_request("can't parse entities: entity is out of the text")
        return text, [dict(entity) for entity in entities or []]

    def _message_text(self, params: JSON) -> tuple[str, list[JSON]]:
        text, entities = self._format(
            params.get("text") or "", params.get("parse_mode"), params.get("entities")
        )
        if not text.strip():
            raise bad_request("message text is empty")
        if utf16_len(text) > MAX_TEXT_LENGTH:
            raise bad_request("message is too long")
        return text, entities

    def _caption(self, params: JSON) -> tuple[str | None, list[JSON]]:
        if not params.get("caption"):
            return None, []
        caption, entities = self._format(
            params["caption"], params.get("parse_mode"), params.get("caption_entities")
        )
        if utf16_len(caption) > MAX_CAPTION_LENGTH:
            raise bad_request("message caption is too long")
        return (caption or None), entities

    def _check_markup(self, markup: JSON | None) -> tuple[JSON | None, JSON | None]:
        """Validate reply_markup: (inline markup to echo, reply keyboard to remember)."""
        if markup is None:
            return None, None
        if "inline_keyboard" not in markup:
            for row in markup.get("keyboard", []):
                for button in row:
                    if not button.get("text"):
                        raise bad_request("keyboard button text must be non-empty")
            return None, markup
        buttons = list(iter_inline_buttons(markup))
        if len(buttons) > MAX_INLINE_BUTTONS:
            raise bad_request("reply markup is too long")
        for button in buttons:
            actions = [name for name in _BUTTON_ACTIONS if name in button]
            if not actions:
                raise bad_request(
                    "can't parse inline keyboard button: "
                    "Text buttons are unallowed in the inline keyboard"
                )
            if not button.get("text"):
                raise bad_request("can't parse inline keyboard button: text must be non-empty")
            if "callback_data" in button:
                size = len(button["callback_data"].encode("utf-8"))
                if not 1 <= size <= MAX_CALLBACK_DATA_BYTES:
                    raise bad_request("BUTTON_DATA_INVALID")
            if "url" in button and not _is_valid_button_url(button["url"]):
                raise bad_request("BUTTON_URL_INVALID")
        return (markup if buttons else None), None

    def _reply_target(self, chat: EmuChat, params: JSON) -> StoredMessage | None:
        reply = params.get("reply_parameters")
        if reply is None:
            return None
        source_chat = self._chat(reply["chat_id"]) if "chat_id" in reply else chat
        target = source_chat.messages.get(reply["message_id"])
        if target is None or target.deleted:
            if reply.get("allow_sending_without_reply"):
                return None
            raise bad_request("message to be replied not found")
        return target

    def _store_message(self, chat: EmuChat, message: StoredMessage) -> ChatEvent:
        chat.messages[message.message_id] = message
        if message.direction == "out":
            self._stats.record_message(chat.id)
        if message.direction == "out" and message.keyboard is not None:
            keyboard = message.keyboard
            chat.reply_keyboard = None if keyboard.get("remove_keyboard") else keyboard
        return self._add_event(chat, "message", message.direction, message)

    def _new_bot_message(self, chat: EmuChat, **fields: Any) -> StoredMessage:
        return StoredMessage(
            message_id=chat.take_message_id(),
            chat=chat.to_api(),
            sender=self.bot_user(),
            direction="out",
            date=self._unix_now(),
            **fields,
        )

    def _add_event(
        self,
        chat: EmuChat,
        kind: str,
        direction: str,
        message: StoredMessage | None,
        *,
        answer: JSON | None = None,
        message_id: int | None = None,
    ) -> ChatEvent:
        self._seq += 1
        event = ChatEvent(
            seq=self._seq,
            chat_id=chat.id,
            kind=kind,
            direction=direction,
            message_id=message.message_id if message is not None else message_id,
            message=message.view(self._seq) if message is not None else None,
            answer=answer,
        )
        chat.events.append(event)
        self._events_signal.notify()
        return event

    # sending

    async def _send_message(self, params: JSON) -> JSON:
        chat = self._chat(params["chat_id"])
        text, entities = self._message_text(params)
        inline, keyboard = self._check_markup(params.get("reply_markup"))
        reply_to = self._reply_target(chat, params)
        self._check_can_write("sendMessage", chat)
        message = self._new_bot_message(
            chat,
            text=text,
            entities=entities,
            reply_markup=inline,
            keyboard=keyboard,
            reply_to=reply_to,
            source=params["text"],
        )
        self._store_message(chat, message)
        return message.to_api()

    async def _send_media(self, kind_name: str, params: JSON) -> JSON:
        kind = MEDIA_KINDS[kind_name]
        method = "send" + kind_name.capitalize()
        chat = self._chat(params["chat_id"])
        caption, caption_entities = self._caption(params) if kind.captioned else (None, [])
        inline, keyboard = self._check_markup(params.get("reply_markup"))
        reply_to = self._reply_target(chat, params)
        stored = self._resolve_input_file(kind, params[kind_name])
        self._check_can_write(method, chat)
        message = self._new_bot_message(
            chat,
            caption=caption,
            caption_entities=caption_entities,
            media={kind_name: self._media_object(kind, stored, params)},
            reply_markup=inline,
            keyboard=keyboard,
            reply_to=reply_to,
            source=params.get("caption"),
        )
        self._store_message(chat, message)
        return message.to_api()

    def _resolve_input_file(self, kind: MediaKind, value: UploadedFile | str) -> StoredFile:
        if isinstance(value, UploadedFile):
            if not value.data:
                raise bad_request("file must be non-empty")
            mime = value.content_type
            if not mime or mime == "application/octet-stream":
                mime = mimetypes.guess_type(value.filename)[0] or "application/octet-stream"
            return self.store_file(kind.name, value.data, file_name=value.filename, mime_type=mime)
        if urlsplit(value).scheme in ("http", "https"):
            name = urlsplit(value).path.rsplit("/", 1)[-1] or None
            return self.store_file(
                kind.name,
                b"",
                file_name=name,
                mime_type=mimetypes.guess_type(name or "")[0],
                source_url=value,
            )
        stored = self._files.get(value)
        if stored is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        if stored.kind != kind.name:
            raise bad_request(f"can't use file of type {stored.kind} as {kind.name}")
        return stored

    def store_file(
        self,
        kind: str,
        data: bytes,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
        source_url: str | None = None,
    ) -> StoredFile:
        """Register a file (uploaded by the bot or sent by a user); assigns a file_id."""
        media_kind = MEDIA_KINDS[kind]
        number = self._next_file
        self._next_file += 1
        extension = ""
        if file_name and "." in file_name:
            extension = "." + file_name.rsplit(".", 1)[-1]
        elif mime_type:
            extension = mimetypes.guess_extension(mime_type) or ""
        size = image_size(data) if kind in ("photo", "sticker", "video", "animation") else None
        stored = StoredFile(
            file_id=f"{media_kind.id_prefix}AgADemu{number:08d}",
            file_unique_id=f"AQADemu{number:06d}",
            kind=kind,
            file_path=f"{media_kind.folder}/file_{number}{extension}",
            data=data,
            file_name=file_name,
            mime_type=mime_type,
            width=size[0] if size else None,
            height=size[1] if size else None,
            source_url=source_url,
        )
        self._files[stored.file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    def file(self, file_id: str) -> StoredFile | None:
        return self._files.get(file_id)

    def _media_object(self, kind: MediaKind, stored: StoredFile, params: Mapping[str, Any]) -> Any:
        base: JSON = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
        if kind.name == "photo":
            width, height = stored.width or 1280, stored.height or 960
            sizes = []
            if max(width, height) > 90:
                thumb_w, thumb_h = scaled_size(width, height, 90)
                sizes.append({**base, "width": thumb_w, "height": thumb_h, "file_size": 0})
            full_w, full_h = scaled_size(width, height, 1280)
            sizes.append({**base, "width": full_w, "height": full_h, "file_size": stored.size})
            return sizes
        if kind.name == "sticker":
            return {
                **base,
                "type": "regular",
                "width": stored.width or 512,
                "height": stored.height or 512,
                "is_animated": False,
                "is_video": False,
                **({"emoji": params["emoji"]} if params.get("emoji") else {}),
                "file_size": stored.size,
            }
        data: JSON = dict(base)
        if kind.name in ("video", "animation"):
            data["width"] = params.get("width") or stored.width or 640
            data["height"] = params.get("height") or stored.height or 480
        if kind.name in ("video", "animation", "audio", "voice"):
            data["duration"] = params.get("duration") or 0
        if kind.name != "voice" and stored.file_name:
            data["file_name"] = stored.file_name
        if stored.mime_type:
            data["mime_type"] = stored.mime_type
        data["file_size"] = stored.size
        return data

    async def _get_file(self, params: JSON) -> JSON:
        stored = self._files.get(params["file_id"])
        if stored is None:
            raise bad_request("invalid file_id")
        return stored.to_api_file()

    async def _send_chat_action(self, params: JSON) -> bool:
        chat = self._chat(params["chat_id"])
        if params["action"] not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        self._check_can_write("sendChatAction", chat)
        chat.last_action = params["action"]
        return True

    def _source_message(self, params: JSON, what: str) -> StoredMessage:
        source_chat = self._chat(params["from_chat_id"])
        source = source_chat.messages.get(params["message_id"])
        if source is None or source.deleted:
            raise bad_request(f"message to {what} not found")
        return source

    async def _copy_message(self, params: JSON) -> JSON:
        chat = self._chat(params["chat_id"])
        source = self._source_message(params, "copy")
        caption, caption_entities = source.caption, source.caption_entities
        if "caption" in params:
            caption, caption_entities = self._caption(params)
        inline, keyboard = self._check_markup(params.get("reply_markup"))
        reply_to = self._reply_target(chat, params)
        self._check_can_write("copyMessage", chat)
        message = self._new_bot_message(
            chat,
            text=source.text,
            entities=list(source.entities),
            caption=caption,
            caption_entities=list(caption_entities),
            media=dict(source.media),
            reply_markup=inline,
            keyboard=keyboard,
            reply_to=reply_to,
            source=source.source,
        )
        self._store_message(chat, message)
        return {"message_id": message.message_id}

    async def _forward_message(self, params: JSON) -> JSON:
        chat = self._chat(params["chat_id"])
        source = self._source_message(params, "forward")
        self._check_can_write("forwardMessage", chat)
        message = self._new_bot_message(
            chat,
            text=source.text,
            entities=list(source.entities),
            caption=source.caption,
            caption_entities=list(source.caption_entities),
            media=dict(source.media),
            forward_origin={"type": "user", "sender_user": source.sender, "date": source.date},
            source=source.source,
        )
        self._store_message(chat, message)
        return message.to_api()

    # editing and deleting

    def _message_to_edit(self, params: JSON) -> tuple[EmuChat, StoredMessage]:
        if "inline_message_id" in params:
            raise bad_request("inline messages are not supported by the emulator")
        if "chat_id" not in params:
            raise bad_request("chat_id is empty")
        if "message_id" not in params:
            raise bad_request("message identifier is not specified")
        chat = self._chat(params["chat_id"])
        message = chat.messages.get(params["message_id"])
        if message is None or message.deleted:
            raise bad_request("message to edit not found")
        if message.direction != "out":
            raise bad_request("message can't be edited")
        self._check_recipient(chat)
        return chat, message

    def _finish_edit(self, chat: EmuChat, message: StoredMessage) -> JSON:
        message.edit_date = self._unix_now()
        self._add_event(chat, "edit", "out", message)
        return message.to_api()

    async def _edit_message_text(self, params: JSON) -> JSON:
        chat, message = self._message_to_edit(params)
        if message.text is None:
            raise bad_request("there is no text in the message to edit")
        text, entities = self._message_text(params)
        # Like Telegram: an edit without reply_markup removes the inline keyboard.
        inline, _ = self._check_markup(params.get("reply_markup"))
        if (text, entities, inline) == (message.text, message.entities, message.reply_markup):
            raise APIError(400, _NOT_MODIFIED)
        self._check_rate("editMessageText", chat)
        message.text, message.entities, message.reply_markup = text, entities, inline
        message.source = params["text"]
        return self._finish_edit(chat, message)

    async def _edit_message_caption(self, params: JSON) -> JSON:
        chat, message = self._message_to_edit(params)
        if not message.media or message.content_kind() == "sticker":
            raise bad_request("there is no caption in the message to edit")
        caption, entities = self._caption(params)
        inline, _ = self._check_markup(params.get("reply_markup"))
        current = (message.caption, message.caption_entities, message.reply_markup)
        if (caption, entities, inline) == current:
            raise APIError(400, _NOT_MODIFIED)
        self._check_rate("editMessageCaption", chat)
        message.caption, message.caption_entities, message.reply_markup = caption, entities, inline
        message.source = params.get("caption")
        return self._finish_edit(chat, message)

    async def _edit_message_reply_markup(self, params: JSON) -> JSON:
        chat, message = self._message_to_edit(params)
        inline, _ = self._check_markup(params.get("reply_markup"))
        if inline == message.reply_markup:
            raise APIError(400, _NOT_MODIFIED)
        self._check_rate("editMessageReplyMarkup", chat)
        message.reply_markup = inline
        return self._finish_edit(chat, message)

    def _delete(self, chat: EmuChat, message_id: int) -> bool:
        message = chat.messages.get(message_id)
        if message is None or message.deleted:
            return False
        message.deleted = True
        self._add_event(chat, "delete", "out", message)
        return True

    async def _delete_message(self, params: JSON) -> bool:
        chat = self._chat(params["chat_id"])
        if not self._delete(chat, params["message_id"]):
            raise bad_request("message to delete not found")
        return True

    async def _delete_messages(self, params: JSON) -> bool:
        chat = self._chat(params["chat_id"])
        if not 1 <= len(params["message_ids"]) <= 100:
            raise bad_request("too many message identifiers specified")
        for message_id in params["message_ids"]:
            self._delete(chat, message_id)
        return True

    async def _answer_callback_query(self, params: JSON) -> bool:
        record = self._callbacks.get(params["callback_query_id"])
        if record is None or record.answered:
            raise APIError(400, _QUERY_TOO_OLD)
        text = params.get("text")
        if text is not None and len(text) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        record.answered = True
        record.answer = {
            "callback_query_id": record.id,
            "message_id": record.message_id,
            "data": record.data,
            "text": text,
            "show_alert": bool(params.get("show_alert", False)),
            "url": params.get("url"),
            "cache_time": params.get("cache_time", 0),
        }
        chat = self._chats[record.chat_id]
        event = self._add_event(
            chat, "callback_answer", "out", None, answer=record.answer, message_id=record.message_id
        )
        record.answer["seq"] = event.seq
        return True

    # -- the phone side ----------------------------------------------------------------------

    def add_user(
        self,
        user_id: int,
        first_name: str,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "zh-hans",
        *,
        started: bool = True,
    ) -> JSON:
        """Register a user (and their private chat with the bot)."""
        user = EmuUser(
            id=user_id,
            first_name=first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
            started=started,
        )
        existing = self._users.get(user_id)
        if existing is not None:
            user.blocked = existing.blocked
        self._users[user_id] = user
        chat = self._chats.get(user_id)
        if chat is None:
            self._chats[user_id] = EmuChat(id=user_id, type="private", user=user)
        else:
            chat.user = user
        return user.to_json()

    def add_group(self, chat_id: int, title: str, *, chat_type: str = "group") -> JSON:
        """Register a group chat the bot is a member of."""
        if chat_id >= 0:
            raise ControlError("group chat ids are negative")
        if chat_type not in ("group", "supergroup"):
            raise ControlError("chat_type must be group or supergroup")
        chat = EmuChat(id=chat_id, type=chat_type, title=title)
        self._chats[chat_id] = chat
        return chat.to_api()

    def users(self) -> list[JSON]:
        return [user.to_json() for user in self._users.values()]

    def _user(self, user_id: int, *, create: bool = False) -> EmuUser:
        user = self._users.get(user_id)
        if user is None:
            if not create:
                raise ControlError(f"unknown user {user_id}", status=404)
            self.add_user(user_id, f"User{user_id}")
            user = self._users[user_id]
        return user

    def _control_chat(self, chat_id: int) -> EmuChat:
        chat = self._chats.get(chat_id)
        if chat is None:
            raise ControlError(f"unknown chat {chat_id}", status=404)
        return chat

    def block(self, user_id: int) -> None:
        """The user blocks the bot (the bot gets a my_chat_member update)."""
        user = self._user(user_id)
        if not user.blocked:
            user.blocked = True
            self._member_update(user, old="member", new="kicked")

    def unblock(self, user_id: int) -> None:
        user = self._user(user_id)
        if user.blocked:
            user.blocked = False
            self._member_update(user, old="kicked", new="member")

    def _member_update(self, user: EmuUser, *, old: str, new: str) -> None:
        def member(status: str) -> JSON:
            data: JSON = {"status": status, "user": self.bot_user()}
            if status == "kicked":
                data["until_date"] = 0
            return data

        self._enqueue_update(
            "my_chat_member",
            {
                "chat": self._chats[user.id].to_api(),
                "from": user.to_api(),
                "date": self._unix_now(),
                "old_chat_member": member(old),
                "new_chat_member": member(new),
            },
        )

    def send_text(self, user_id: int, text: str, *, chat_id: int | None = None) -> JSON:
        """The user sends a text message; returns update_id, message_id, seq, chat_id."""
        payload: JSON = {"text": text}
        if chat_id is not None:
            payload["chat_id"] = chat_id
        return self.send(user_id, payload)

    def send(self, user_id: int, payload: Mapping[str, Any]) -> JSON:
        """The user sends a message: exactly one of text, photo, document, voice, sticker,
        location, contact; optionally caption, reply_to_message_id, chat_id (a group)."""
        payload = dict(payload)
        content_keys = ("text", "photo", "document", "voice", "sticker", "location", "contact")
        present = [key for key in content_keys if key in payload]
        if len(present) != 1:
            raise ControlError(f"a message needs exactly one of {', '.join(content_keys)}")
        known = {*content_keys, "caption", "reply_to_message_id", "chat_id"}
        unknown = sorted(set(payload) - known)
        if unknown:
            raise ControlError(f"unknown message field {unknown[0]!r}")
        user = self._user(user_id, create=True)
        chat = self._user_chat(user, payload.get("chat_id"))
        reply_to: StoredMessage | None = None
        if "reply_to_message_id" in payload:
            reply_to = chat.messages.get(int(payload["reply_to_message_id"]))
            if reply_to is None or reply_to.deleted:
                raise ControlError("the message to reply to does not exist")
        message = StoredMessage(
            message_id=0,  # assigned once the content is known to be valid
            chat=chat.to_api(),
            sender=user.to_api(),
            direction="in",
            date=self._unix_now(),
            reply_to=reply_to,
        )
        try:
            self._fill_user_content(message, present[0], payload)
        except (KeyError, TypeError, ValueError) as exc:
            raise ControlError(f"bad {present[0]} payload: {exc!r}") from exc
        if user.blocked:
            # Pressing "Restart" in a chat with a blocked bot unblocks it first.
            self.unblock(user_id)
        user.started = True
        message.message_id = chat.take_message_id()
        event = self._store_message(chat, message)
        update = self._enqueue_update("message", message.to_api())
        return {
            "update_id": update.update_id,
            "message_id": message.message_id,
            "seq": event.seq,
            "chat_id": chat.id,
        }

    def _user_chat(self, user: EmuUser, chat_id: Any) -> EmuChat:
        if chat_id is None:
            return self._chats[user.id]
        chat = self._control_chat(int(chat_id))
        if chat.type == "private" and chat.id != user.id:
            raise ControlError("a user can only write in their own private chat")
        return chat

    def _fill_user_content(self, message: StoredMessage, kind: str, payload: JSON) -> None:
        value = payload[kind]
        if kind == "text":
            if not isinstance(value, str) or not value.strip():
                raise ControlError("text must be a non-empty string")
            message.text = value
            match = _BOT_COMMAND_RE.match(value)
            if match is not None:
                message.entities = [
                    {"offset": 0, "length": utf16_len(match.group(0)), "type": "bot_command"}
                ]
            return
        if not isinstance(value, dict):
            raise ControlError(f"{kind} must be an object")
        if kind == "location":
            message.media = {
                "location": {
                    "latitude": float(value["latitude"]),
                    "longitude": float(value["longitude"]),
                }
            }
        elif kind == "contact":
            contact: JSON = {
                "phone_number": str(value["phone_number"]),
                "first_name": str(value.get("first_name") or message.sender["first_name"]),
            }
            for key in ("last_name", "user_id", "vcard"):
                if value.get(key) is not None:
                    contact[key] = value[key]
            message.media = {"contact": contact}
        else:
            message.media = {kind: self._user_file(kind, value)}
        caption = payload.get("caption")
        if caption and kind in ("photo", "document", "voice"):
            message.caption = str(caption)

    def _user_file(self, kind: str, spec: JSON) -> Any:
        """A synthetic file a user sends (``data_base64`` supplies real content)."""
        if "data_base64" in spec:
            try:
                data = base64.b64decode(spec["data_base64"], validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ControlError("data_base64 is not valid base64") from exc
        else:
            data = f"emulated {kind} {self._next_file}".encode()
        stored = self.store_file(
            kind,
            data,
            file_name=spec.get("file_name"),
            mime_type=spec.get("mime_type") or ("audio/ogg" if kind == "voice" else None),
        )
        if kind == "photo":
            stored.width = int(spec.get("width", stored.width or 1280))
            stored.height = int(spec.get("height", stored.height or 960))
        return self._media_object(MEDIA_KINDS[kind], stored, spec)

    def press(
        self,
        user_id: int,
        message_id: int,
        data: str | None = None,
        text: str | None = None,
        *,
        forge: bool = False,
        chat_id: int | None = None,
    ) -> JSON:
        """The user presses an inline button (by callback_data or by label).

        The message must be a bot message in the user's chat that currently shows the
        button; ``forge`` skips these checks (a stale or forged callback).
        """
        user = self._user(user_id)
        chat = self._user_chat(user, chat_id)
        message = chat.messages.get(message_id)
        if not forge:
            if message is None or message.deleted:
                raise ControlError(f"message {message_id} does not exist in chat {chat.id}")
            if message.direction != "out":
                raise ControlError(f"message {message_id} was not sent by the bot")
            data = self._find_button(message, data, text)
        elif data is None:
            raise ControlError("a forged press needs data")
        assert data is not None
        callback_id = str(4_000_000_000_000_000_000 + self._next_callback * 1000 + user_id % 1000)
        self._next_callback += 1
        query: JSON = {"id": callback_id, "from": user.to_api()}
        if message is None:
            query["message"] = {"chat": chat.to_api(), "message_id": message_id, "date": 0}
        elif message.deleted:
            query["message"] = message.inaccessible()
        else:
            query["message"] = message.to_api()
        query["chat_instance"] = chat.chat_instance
        query["data"] = data
        event = self._add_event(chat, "press", "in", None, message_id=message_id)
        event.answer = {"callback_query_id": callback_id, "data": data}
        self._callbacks[callback_id] = CallbackRecord(
            id=callback_id,
            user_id=user.id,
            chat_id=chat.id,
            message_id=message_id,
            data=data,
            press_seq=event.seq,
        )
        update = self._enqueue_update("callback_query", query)
        return {
            "update_id": update.update_id,
            "callback_query_id": callback_id,
            "seq": event.seq,
            "chat_id": chat.id,
            "message_id": message_id,
        }

    @staticmethod
    def _find_button(message: StoredMessage, data: str | None, text: str | None) -> str:
        callback_buttons = [b for b in message.inline_buttons() if "callback_data" in b]
        for button in callback_buttons:
            if data is not None and button["callback_data"] != data:
                continue
            if text is not None and button.get("text") != text:
                continue
            if data is None and text is None:
                break
            return str(button["callback_data"])
        shown = [f"{b.get('text')!r}={b['callback_data']!r}" for b in callback_buttons]
        wanted = " ".join(
            part
            for part in (f"data={data!r}" if data else "", f"text={text!r}" if text else "")
            if part
        )
        raise ControlError(
            f"message {message.message_id} has no callback button with {wanted or 'nothing'}; "
            f"its buttons: {', '.join(shown) or 'none'}"
        )

    # -- reading the conversation ------------------------------------------------------------

    def messages(self, chat_id: int, *, include_deleted: bool = True) -> list[JSON]:
        """All messages of a chat (both directions), in order, in their current state."""
        chat = self._control_chat(chat_id)
        last_seq: dict[int, int] = {}
        for event in chat.events:
            if event.message_id is not None and event.kind in ("message", "edit", "delete"):
                last_seq[event.message_id] = event.seq
        return [
            message.view(last_seq.get(message.message_id, 0))
            for message in sorted(chat.messages.values(), key=lambda m: m.message_id)
            if include_deleted or not message.deleted
        ]

    def events(
        self,
        chat_id: int,
        after_seq: int = 0,
        *,
        kinds: Iterable[str] | None = None,
        direction: str | None = None,
    ) -> list[JSON]:
        """Chat events with ``seq > after_seq`` (optionally filtered)."""
        chat = self._control_chat(chat_id)
        return [event.to_json() for event in self._matching(chat, after_seq, kinds, direction)]

    @staticmethod
    def _matching(
        chat: EmuChat, after_seq: int, kinds: Iterable[str] | None, direction: str | None
    ) -> list[ChatEvent]:
        wanted = frozenset(kinds) if kinds is not None else None
        return [
            event
            for event in chat.events
            if event.seq > after_seq
            and (wanted is None or event.kind in wanted)
            and (direction is None or event.direction == direction)
        ]

    async def wait_events(
        self,
        chat_id: int,
        after_seq: int,
        timeout: float,
        *,
        kinds: Iterable[str] | None = ("message", "edit"),
        direction: str | None = "out",
    ) -> list[JSON]:
        """Wait until the chat has matching events after ``after_seq`` ([] on timeout).

        By default: messages and edits made by the bot.
        """
        kinds = tuple(kinds) if kinds is not None else None
        chat = self._control_chat(chat_id)

        def ready() -> bool:
            return self._closing or bool(self._matching(chat, after_seq, kinds, direction))

        await self._events_signal.wait_for(ready, min(timeout, MAX_WAIT_SECONDS))
        return [event.to_json() for event in self._matching(chat, after_seq, kinds, direction)]

    def callback_answers(self, user_id: int) -> list[JSON]:
        """The answers (toasts/alerts) the bot gave to this user's button presses."""
        return [
            dict(record.answer)
            for record in self._callbacks.values()
            if record.user_id == user_id and record.answer is not None
        ]

    def chat_state(self, chat_id: int) -> JSON:
        chat = self._control_chat(chat_id)
        return {
            "chat": chat.to_api(),
            "reply_keyboard": keyboard_rows(chat.reply_keyboard),
            "last_action": chat.last_action,
            "menu_button": chat.menu_button,
            "last_seq": chat.events[-1].seq if chat.events else 0,
            "delivered": self.delivered_count(chat_id),
        }
