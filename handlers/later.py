"""Work a handler starts but need not wait for: the update is answered at once, the rest
follows in the chat a moment later (e.g. the self-check's diagnosis with its chart, ~0.1 s
of CPU that would otherwise hold the answer's handler and a concurrency slot).

Failures are logged, not lost silently; shutdown waits for what is still running
(bot.app, like the handlers in flight)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)

_running: set[asyncio.Task[None]] = set()


async def _guarded(work: Coroutine[Any, Any, None], what: str) -> None:
    try:
        await work
    except Exception:
        log.exception("follow-up work failed: %s", what)


def after_reply(work: Coroutine[Any, Any, None], what: str) -> None:
    task = asyncio.create_task(_guarded(work, what), name=f"after-reply: {what}")
    _running.add(task)
    task.add_done_callback(_running.discard)


def running() -> set[asyncio.Task[None]]:
    return set(_running)
