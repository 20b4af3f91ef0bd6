"""Named crash points for the reliability tests (the SIGKILL matrix in tests/e2e).

XUEYONG_FAILPOINTS="delivery.sent=3,sweep.item=2" makes the process SIGKILL itself the 3rd
time a message has been sent (before its result is committed) and the 2nd time a due item
has been committed. The kill is the real thing: no `finally`, no flush, no shutdown, exactly
as when the machine loses power or the kernel's OOM killer picks the bot.

The points (where they sit is their promise; tests rely on it):
- `sweep.item`: a due item's work and its "done" are committed; the next is not started.
- `delivery.sent`: Telegram accepted an outbox message; the row still says "sending".
- `update.start`: an update is claimed as being handled; no handler has run.
- `update.end`: an update's handlers have finished (replies sent, data committed); the
  update is not yet marked handled.

Unset (production), `hit()` is one dict lookup that finds nothing.
"""

from __future__ import annotations

import os
import signal
import sys

ENV = "XUEYONG_FAILPOINTS"


def _parse(spec: str) -> dict[str, int]:
    points: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, count = part.partition("=")
        points[name.strip()] = int(count) if count.strip() else 1
    return points


_armed = _parse(os.environ.get(ENV, ""))
_passed: dict[str, int] = {}


def hit(name: str) -> None:
    """Passing the point `name`: SIGKILL this process if it is armed for this pass."""
    if name not in _armed:
        return
    _passed[name] = _passed.get(name, 0) + 1
    if _passed[name] == _armed[name]:
        sys.stderr.write(f"failpoint {name} #{_passed[name]}: SIGKILL\n")
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)
