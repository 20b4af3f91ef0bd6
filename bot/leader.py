"""Which replica runs the sweeper and the delivery worker: the holder of one PostgreSQL lock.

Any number of replicas handle updates, but only one at a time sweeps due items and sends the
outbox, so the bot-wide rate limit and the outbox order stay in one process. The leader is
whoever holds a session-level advisory lock (`pg_try_advisory_lock`) on a connection of its
own, outside the pool. The others try again every `retry_seconds`. When the leader dies its
connection closes, PostgreSQL releases the lock, and the next attempt of another replica
wins: take-over within a few seconds, with no lease to expire and no clock to trust.

The leader checks its connection every `retry_seconds`; when a check fails, or gets no
answer within max(2 × retry_seconds, 5 s), it stops its work (`on_lost`) and becomes a
candidate again. PostgreSQL drops a vanished peer's connection, and with it the lock, only
once the TCP keep-alives set on that connection fail, and they are set to take longer
than that (about 13 s of silence with the default 2 s, against 7 s), so a leader cut off
from the database has stopped before another replica can take the lock.

Followers hand "something is due now" to the leader with NOTIFY on `NUDGE_CHANNEL`; the
leader LISTENs on its lock connection and sweeps at once instead of at its next tick.

On SQLite (one process, no server) the only replica is always the leader.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

# One fixed 64-bit key for "the Xueyong leader". Advisory locks are per database, so two
# deployments on two databases of one server elect their leaders independently.
LEADER_LOCK_KEY = int.from_bytes(hashlib.sha256(b"xueyong:leader").digest()[:8], "big", signed=True)
NUDGE_CHANNEL = "xueyong_nudge"
# The lock connection's name in pg_stat_activity: "who leads?" is one query away.
APPLICATION_NAME_PREFIX = "xueyong-leader:"
# How long the server waits before it probes (at least; longer than the leader takes to
# notice it is cut off), how often, and how many probes fail before it closes the
# connection of a replica that vanished without closing it (network loss).
KEEPALIVE_IDLE_SECONDS = 5
KEEPALIVE_INTERVAL_SECONDS = 2
KEEPALIVE_COUNT = 3
CONNECT_TIMEOUT_SECONDS = 5.0
MIN_QUERY_TIMEOUT_SECONDS = 5.0

Callback = Callable[[], Awaitable[None]]


class LeaderElection:
    """Holds or waits for the leader lock; runs `on_elected` / `on_lost` as that changes."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        replica_id: str,
        retry_seconds: float,
        on_elected: Callback,
        on_lost: Callback,
        on_nudge: Callable[[], None] | None = None,
        key: int = LEADER_LOCK_KEY,
    ) -> None:
        if retry_seconds <= 0:
            raise ValueError("retry_seconds must be positive")
        self._engine = engine
        self.replica_id = replica_id
        self._retry = retry_seconds
        self._query_timeout = max(2 * retry_seconds, MIN_QUERY_TIMEOUT_SECONDS)
        # Cut off, this leader stops within retry + query timeout of its last good check;
        # the server frees its lock keep-alive idle + interval × count after that check.
        self._keepalive_idle = max(
            KEEPALIVE_IDLE_SECONDS, math.ceil(retry_seconds + self._query_timeout)
        )
        self._on_elected = on_elected
        self._on_lost = on_lost
        self._on_nudge = on_nudge
        self._key = key
        self._uses_lock = engine.dialect.name == "postgresql"
        self._lock_engine: AsyncEngine | None = None
        self._conn: AsyncConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._leader = False
        self._working = False  # on_elected began and on_lost has not finished
        self._unreachable = False
        self._stopping = False
        # Another replica held the lock at one of our attempts: when we win, we take over
        # from a leader that was working moments ago.
        self.contested = False

    @property
    def is_leader(self) -> bool:
        return self._leader

    async def start(self) -> None:
        """Make the first attempt now (a lone replica leads when this returns), then keep
        trying, or checking the held lock, in the background."""
        if not self._uses_lock:
            await self._become_leader()
            return
        self._lock_engine = create_async_engine(
            self._engine.url,
            poolclass=NullPool,
            connect_args={
                "timeout": CONNECT_TIMEOUT_SECONDS,
                "server_settings": {
                    "application_name": f"{APPLICATION_NAME_PREFIX}{self.replica_id}"[:63],
                    "tcp_keepalives_idle": str(self._keepalive_idle),
                    "tcp_keepalives_interval": str(KEEPALIVE_INTERVAL_SECONDS),
                    "tcp_keepalives_count": str(KEEPALIVE_COUNT),
                },
            },
        )
        self._stopping = False
        await self._attempt()
        self._task = asyncio.create_task(self._run(), name="leader-election")

    async def stop(self) -> None:
        """Stop the work if leading, then release the lock (closing its connection)."""
        self._stopping = True
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            # Python 3.11's wait_for can swallow a cancellation that lands as its inner call
            # completes (gh-86296); the loop then ends at its next turn (_stopping), and is
            # cancelled again meanwhile, so stopping never hangs on it.
            while not task.done():
                await asyncio.wait({task}, timeout=self._retry)
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._leader or self._working:
            await self._step_down(release=True)
        await self._drop_connection(release=False)
        if self._lock_engine is not None:
            await self._lock_engine.dispose()
            self._lock_engine = None

    async def nudge_leader(self) -> None:
        """Tell the leader, wherever it runs, that something is due now."""
        if not self._uses_lock:
            return
        try:
            async with self._engine.connect() as conn:
                await conn.execute(
                    text("SELECT pg_notify(:channel, '')"), {"channel": NUDGE_CHANNEL}
                )
                await conn.commit()
        except Exception as exc:  # the leader sweeps at its next tick anyway
            log.warning("could not nudge the leader: %s", type(exc).__name__)

    # -- the loop ------------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self._retry)
            if self._leader:
                if not await self._alive():
                    log.warning("leader lock connection lost; stepping down", extra=self._extra())
                    await self._step_down(release=False)
            else:
                await self._attempt()

    async def _attempt(self) -> None:
        try:
            conn = await self._connection()
            won = await asyncio.wait_for(
                conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key}),
                self._query_timeout,
            )
        except Exception as exc:  # the database is unreachable: try again next time
            if not self._unreachable:  # once per outage, not every few seconds
                log.warning(
                    "leader election: database unreachable (%s); retrying every %g s",
                    type(exc).__name__,
                    self._retry,
                    extra=self._extra(),
                )
                self._unreachable = True
            await self._drop_connection(release=False)
            return
        if self._unreachable:
            log.info("leader election: database reachable again", extra=self._extra())
            self._unreachable = False
        if not won:
            self.contested = True
        if won:
            try:
                await self._listen(conn)
            except Exception as exc:
                log.warning("cannot LISTEN for nudges: %s", type(exc).__name__)
            await self._become_leader()

    async def _alive(self) -> bool:
        """The held connection still answers (then the server still holds our lock)."""
        if self._conn is None:
            return False
        try:
            await asyncio.wait_for(self._conn.scalar(text("SELECT 1")), self._query_timeout)
        except Exception:
            return False
        return True

    async def _become_leader(self) -> None:
        self._leader = True
        log.info("elected leader: sweeper and delivery worker start", extra=self._extra())
        self._working = True
        try:
            await self._on_elected()
        except Exception:
            log.exception("starting the leader's work failed; stepping down")
            await self._step_down(release=True)

    async def _step_down(self, *, release: bool) -> None:
        self._leader = False
        try:
            await self._on_lost()
        except Exception:
            log.exception("stopping the leader's work failed")
        self._working = False
        log.info("no longer leader: sweeper and delivery worker stopped", extra=self._extra())
        if self._uses_lock:
            # A fresh connection for the next attempt; closing this one frees the lock.
            await self._drop_connection(release=release)

    # -- the lock connection -------------------------------------------------------------

    async def _connection(self) -> AsyncConnection:
        if self._conn is None:
            assert self._lock_engine is not None
            conn = await self._lock_engine.connect()
            # Autocommit: an open transaction would sit "idle in transaction" for as long
            # as this replica leads, and could be cut by idle_in_transaction_session_timeout.
            self._conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    async def _listen(self, conn: AsyncConnection) -> None:
        if self._on_nudge is None:
            return
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection
        on_nudge = self._on_nudge

        def notified(*_args: object) -> None:
            if self._leader:
                on_nudge()

        await driver.add_listener(NUDGE_CHANNEL, notified)

    async def _drop_connection(self, *, release: bool) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if release:
                await asyncio.wait_for(
                    conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self._key}),
                    self._query_timeout,
                )
            await asyncio.wait_for(conn.close(), self._query_timeout)
        except Exception:
            # Unresponsive: abandon the socket; the server frees the lock when it notices.
            with contextlib.suppress(Exception):
                await conn.invalidate()

    def _extra(self) -> dict[str, object]:
        return {"replica_id": self.replica_id}


async def current_leader(engine: AsyncEngine) -> str | None:
    """The REPLICA_ID of the replica holding the leader lock now (None: nobody leads)."""
    query = text(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.granted AND l.database = ("
        "   SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND l.classid = ((CAST(:key AS bigint) >> 32) & 4294967295)::oid"
        " AND l.objid = (CAST(:key AS bigint) & 4294967295)::oid AND l.objsubid = 1"
    )
    async with engine.connect() as conn:
        name = await conn.scalar(query, {"key": LEADER_LOCK_KEY})
    if name is None:
        return None
    return str(name).removeprefix(APPLICATION_NAME_PREFIX)
