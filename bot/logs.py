"""Logging: text or JSON lines, and a guard that keeps secrets and personal data out.

What the bot logs itself is ids, kinds and counts, never a name or an answer. The guard is
for what others put into a record: exception messages (a database error quotes the values it
was given, a validation error the input), library messages, URLs with the token in them.
Every line, message and traceback alike, goes through `Guard.scrub` before it is written:

* secrets: the bot token, the webhook secret and passwords in URLs are replaced, and so is
  anything shaped like a bot token;
* values: SQL parameter lists, pydantic `input_value=...` and quoted strings (how a repr
  shows a value) in messages and exception messages become `<redacted>`;
* words with non-ASCII letters become `<text>`: the bot's own log messages are English, so
  Chinese (or any accented) text in a line came from a person;
* exception messages are cut to MAX_EXCEPTION_CHARS.

Tracebacks keep their frames (file, line, function, source line: code, not data).
QUIET_LOGGERS are held at WARNING whatever the level: below it, SQLAlchemy and aiosqlite log
every statement with its parameters, and APScheduler two lines for every sweep (every few
seconds, all day).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from collections.abc import Iterable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TextIO

from bot.config import Settings

REDACTED = "<redacted>"
TEXT = "<text>"
MAX_EXCEPTION_CHARS = 500
# Loggers that would print personal data below WARNING.
QUIET_LOGGERS = ("sqlalchemy.engine", "sqlalchemy.pool", "aiosqlite", "apscheduler.executors")
# What every LogRecord has; anything else on a record came from `extra=`.
_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "taskName"}
)

_BOT_TOKEN_RE = re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{20,}")
_URL_PASSWORD_RE = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s/]+@", re.IGNORECASE)
_SQL_PARAMETERS_RE = re.compile(r"\[parameters: .*?\](?=\s*(?:\(|$|\n))", re.DOTALL)
# pydantic: "[type=..., input_value=<repr>, input_type=...]"; the repr may hold anything.
_INPUT_VALUE_RE = re.compile(r"input_value=.*?(?=, input_type=)|input_value=\S+", re.DOTALL)
_QUOTED_RE = re.compile(r"(?<!\w)'[^']*'(?!\w)|(?<!\w)\"[^\"]*\"(?!\w)")
# A word that holds at least one letter or digit outside ASCII.
_NON_ASCII_WORD_RE = re.compile(r"\w*[^\W\x00-\x7f]\w*")
_NON_ASCII_RUN_RE = re.compile(rf"{re.escape(TEXT)}(?:\s*{re.escape(TEXT)})+")


class Guard:
    """Scrubs one line of log output (see the module docstring)."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        # Longest first, so that a secret containing another is replaced whole.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def add_secret(self, secret: str | None) -> None:
        if secret and len(secret) >= 4 and secret not in self._secrets:
            self._secrets = sorted([*self._secrets, secret], key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        text = _BOT_TOKEN_RE.sub(REDACTED, text)
        text = _URL_PASSWORD_RE.sub(rf"\1{REDACTED}@", text)
        text = _SQL_PARAMETERS_RE.sub(f"[parameters: {REDACTED}]", text)
        text = _INPUT_VALUE_RE.sub(f"input_value={REDACTED}", text)
        text = _NON_ASCII_WORD_RE.sub(TEXT, text)
        return _NON_ASCII_RUN_RE.sub(TEXT, text)

    def scrub_message(self, text: str) -> str:
        """A log message or an exception message: `scrub`, and quoted values too."""
        return _QUOTED_RE.sub(REDACTED, self.scrub(text))

    def scrub_exception_message(self, text: str) -> str:
        text = self.scrub_message(text)
        if len(text) > MAX_EXCEPTION_CHARS:
            text = text[:MAX_EXCEPTION_CHARS] + "…"
        return text

    def exception(self, exc_info: tuple[Any, Any, Any]) -> str:
        """A traceback with every exception message in its chain scrubbed."""
        _, value, tb = exc_info
        if value is None:
            return ""
        return "".join(self._format(value, tb, seen=set())).rstrip("\n")

    def _format(
        self, exc: BaseException, tb: TracebackType | None, seen: set[int]
    ) -> Iterable[str]:
        seen.add(id(exc))
        cause, context = exc.__cause__, exc.__context__
        if cause is not None and id(cause) not in seen:
            yield from self._format(cause, cause.__traceback__, seen)
            yield "\nThe above exception was the direct cause of the following exception:\n\n"
        elif context is not None and not exc.__suppress_context__ and id(context) not in seen:
            yield from self._format(context, context.__traceback__, seen)
            yield "\nDuring handling of the above exception, another exception occurred:\n\n"
        if tb is not None:
            yield "Traceback (most recent call last):\n"
            yield from (self.scrub(line) for line in traceback.format_tb(tb))
        name = type(exc).__qualname__
        module = type(exc).__module__
        if module not in ("builtins", "__main__"):
            name = f"{module}.{name}"
        message = self.scrub_exception_message(str(exc))
        yield f"{name}: {message}\n" if message else f"{name}\n"


class TextFormatter(logging.Formatter):
    """`time level logger: message key=value...`, guarded; a traceback on the next lines."""

    def __init__(self, guard: Guard) -> None:
        super().__init__()
        self.guard = guard

    def format(self, record: logging.LogRecord) -> str:
        message = self.guard.scrub_message(record.getMessage())
        extra = "".join(f" {k}={self.guard.scrub(str(v))}" for k, v in _extra(record).items())
        line = f"{self.formatTime(record)} {record.levelname} {record.name}: {message}{extra}"
        if record.exc_info and record.exc_info[1] is not None:
            line += "\n" + self.guard.exception(record.exc_info)
        if record.stack_info:
            line += "\n" + self.guard.scrub(record.stack_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, extras, exception."""

    def __init__(self, guard: Guard, *, static: dict[str, str] | None = None) -> None:
        super().__init__()
        self.guard = guard
        self._static = static or {}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": self.guard.scrub_message(record.getMessage()),
            **self._static,
        }
        for key, value in _extra(record).items():
            entry.setdefault(key, _jsonable(value, self.guard))
        if record.exc_info and record.exc_info[1] is not None:
            entry["exc_type"] = type(record.exc_info[1]).__name__
            entry["exception"] = self.guard.exception(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.guard.scrub(record.stack_info)
        return json.dumps(entry, ensure_ascii=False)


def _extra(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS}


def _jsonable(value: Any, guard: Guard) -> Any:
    if isinstance(value, bool | int | float) or value is None:
        return value
    return guard.scrub(str(value))


def secrets_of(settings: Settings) -> list[str | None]:
    """What must never be written: the token (and its secret half), the webhook secret,
    and the passwords in the database and Redis URLs."""
    found: list[str | None] = []
    token = settings.token
    if token:
        found += [token, token.partition(":")[2]]
        found.append(settings.webhook_secret_token)
    elif settings.webhook_secret is not None:
        found.append(settings.webhook_secret.get_secret_value())
    for url in (settings.database_url, settings.redis_url):
        match = _URL_PASSWORD_RE.search(url or "")
        if match:
            found.append(match.group(0)[len(match.group(1)) : -1])
    return found


class GuardedHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler `setup_logging` puts on the root logger (one at a time). Without a
    stream it writes to whatever `sys.stderr` is at the time (pytest swaps it per test)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self._follows_stderr = stream is None

    def emit(self, record: logging.LogRecord) -> None:
        if self._follows_stderr:
            self.stream = sys.stderr
        super().emit(record)


def setup_logging(
    settings: Settings | None = None,
    *,
    level: int = logging.INFO,
    fmt: str | None = None,
    stream: TextIO | None = None,
    secrets: Iterable[str | None] = (),
    force: bool = True,
) -> GuardedHandler | None:
    """Send every log record through the guard to `stream` (stderr), as text or JSON lines
    (LOG_FORMAT). Replaces what an earlier call installed; returns the handler. With
    `force=False`, like logging.basicConfig, it leaves a root logger that already has
    handlers alone (a host such as pytest that captures logs itself)."""
    root = logging.getLogger()
    if not force and any(not isinstance(h, GuardedHandler) for h in root.handlers):
        return None
    guard = Guard([*secrets, *(secrets_of(settings) if settings is not None else [])])
    chosen = fmt or (settings.log_format if settings is not None else "text")
    formatter: logging.Formatter
    if chosen == "json":
        static = {"replica": settings.replica_id} if settings is not None else None
        formatter = JsonFormatter(guard, static=static)
    else:
        formatter = TextFormatter(guard)
    handler = GuardedHandler(stream)
    handler.setFormatter(formatter)
    remove_logging()
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(max(logging.WARNING, logger.level))
    return handler


def remove_logging() -> None:
    """Take out what `setup_logging` installed."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, GuardedHandler):
            root.removeHandler(handler)
            handler.close()
