"""Several replicas on one database: one leader sweeps and sends, the others stand by and
take over within seconds when it dies.

The election itself runs in this process (two LeaderElections on one database); the
replicas are real `xueyong run` processes against the emulator, as an operator runs them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.replicas import RoundRobinProxy, free_port
from bench.seed import seed_trainees
from bot.config import load_settings
from bot.core import Core, build_core
from bot.db.engine import create_engine
from bot.db.models import DueItem, OutboxMessage
from bot.domain.notices import Audience
from bot.leader import APPLICATION_NAME_PREFIX, LeaderElection, current_leader
from bot.metrics import parse_text
from bot.sandbox.emulator import BotAPIEmulator
from bot.sandbox.limits import TelegramLimits
from bot.services.broadcasts import Notice
from handlers.updates import ALIVE_SECONDS
from tests.conftest import Backend
from tests.e2e.harness import TOKEN, process_env, spawn_bot

pytestmark = pytest.mark.e2e
RETRY = 0.2  # seconds between attempts in the in-process elections


@dataclass
class Candidate:
    """One replica's election, with a log of what it was told to do."""

    name: str
    engine: AsyncEngine
    events: list[str] = field(default_factory=list)
    nudges: int = 0
    election: LeaderElection | None = None

    def build(self) -> LeaderElection:
        async def elected() -> None:
            self.events.append("lead")

        async def lost() -> None:
            self.events.append("stand by")

        def nudged() -> None:
            self.nudges += 1

        self.election = LeaderElection(
            self.engine,
            replica_id=self.name,
            retry_seconds=RETRY,
            on_elected=elected,
            on_lost=lost,
            on_nudge=nudged,
        )
        return self.election

    @property
    def leads(self) -> bool:
        return self.election is not None and self.election.is_leader


@pytest.fixture
async def engine(backend: Backend) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(backend.database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def eventually(check: Callable[[], bool | Awaitable[bool]], timeout: float = 10.0) -> float:
    """Seconds until `check()` (a plain or an async function) holds; TimeoutError after
    `timeout`. The replicas are other processes: this polls what they make visible."""
    started = time.monotonic()
    while True:
        outcome = check()
        done = outcome if isinstance(outcome, bool) else await outcome
        if done:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.02)


async def test_sqlite_single_process_always_leads(backend: Backend, engine: AsyncEngine) -> None:
    if backend.name != "sqlite":
        pytest.skip("SQLite has no server to hold a lock: the single process leads")
    one = Candidate("only", engine)
    election = one.build()
    await election.start()
    assert election.is_leader and one.events == ["lead"]
    await election.nudge_leader()  # nobody else to tell: a no-op
    await election.stop()
    assert not election.is_leader and one.events == ["lead", "stand by"]


async def test_one_leader_and_fast_takeover(backend: Backend, engine: AsyncEngine) -> None:
    if backend.name != "postgresql":
        pytest.skip("leader election by advisory lock needs PostgreSQL")
    a, b = Candidate("a", engine), Candidate("b", create_engine(backend.database_url))
    try:
        await a.build().start()
        await b.build().start()
        assert a.leads and not b.leads, "the first replica up leads, the second stands by"
        assert await current_leader(engine) == "a"
        await asyncio.sleep(RETRY * 5)  # several rounds of retries change nothing
        assert a.leads and not b.leads and b.events == []

        # A follower's nudge reaches the leader (NOTIFY), not itself.
        assert b.election is not None
        await b.election.nudge_leader()
        await eventually(lambda: a.nudges == 1)
        assert b.nudges == 0

        # The leader stops (a redeploy): it stops its work, then frees the lock.
        assert a.election is not None
        await a.election.stop()
        assert a.events == ["lead", "stand by"]
        took = await eventually(lambda: b.leads)
        assert took < RETRY * 3 + 1, f"take-over took {took:.2f} s"
        assert await current_leader(engine) == "b"
        assert b.events == ["lead"]
    finally:
        for c in (a, b):
            if c.election is not None:
                await c.election.stop()
        await b.engine.dispose()
    assert await current_leader(engine) is None


async def test_leader_that_loses_its_connection_steps_down(
    backend: Backend, engine: AsyncEngine
) -> None:
    """The server cuts the leader's lock connection (a network fault, an administrator's
    pg_terminate_backend): the other replica takes the lock, and the old leader notices at
    its next check and stops its work instead of running beside the new one."""
    if backend.name != "postgresql":
        pytest.skip("leader election by advisory lock needs PostgreSQL")
    a, b = Candidate("a", engine), Candidate("b", engine)
    try:
        await a.build().start()
        await b.build().start()
        assert a.leads and not b.leads
        async with engine.connect() as conn:
            killed = await conn.scalar(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = :name AND datname = current_database()"
                ),
                {"name": f"{APPLICATION_NAME_PREFIX}a"},
            )
        assert killed is True
        await eventually(lambda: b.leads and not a.leads)
        assert a.events == ["lead", "stand by"] and b.events == ["lead"]
        assert await current_leader(engine) == "b"
        await asyncio.sleep(RETRY * 5)  # a, a candidate again, does not win the held lock
        assert not a.leads and a.events == ["lead", "stand by"]
    finally:
        for c in (a, b):
            if c.election is not None:
                with contextlib.suppress(Exception):
                    await c.election.stop()


# -- real replicas: `xueyong run --webhook` processes behind one webhook ------------------

ORGANISER = 61
FIRST = 610_000
USERS = 120
ASKING = 24  # trainees who write to the bot while both replicas run
RATE = 15  # DELIVERY_RATE: the bot-wide limit, kept by the one delivery worker
# What the emulator allows: two senders at RATE would be refused (429); one has room for
# the jitter of a loaded machine bunching its evenly paced sends.
TELEGRAM_RATE = 25
CONCURRENCY = 8
LEADER_RETRY = 1.0
TAKEOVER_BOUND = 10.0  # seconds from SIGKILL of the leader to the other sending
NOTICE = "【通知】结业典礼改在周五下午三点，请准时到党校报告厅。"
WEBHOOK_PATH = "/telegram/webhook"


@dataclass
class Replica:
    name: str
    port: int
    log: Path
    process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def get(self, path: str) -> tuple[int, str]:
        async with aiohttp.ClientSession() as session, session.get(self.url + path) as answer:
            return answer.status, await answer.text()

    async def metrics(self) -> dict[str, float]:
        status, body = await self.get("/metrics")
        assert status == 200, body
        return parse_text(body)

    def sigkill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)


@dataclass
class Deployment:
    """Two replicas behind a round-robin proxy, an emulator with Telegram's flood limit,
    and the test's own view of the database."""

    backend: Backend
    emulator: BotAPIEmulator
    core: Core
    proxy: RoundRobinProxy
    replicas: dict[str, Replica]
    workdir: Path
    failpoints: dict[str, str] = field(default_factory=dict)  # replica -> XUEYONG_FAILPOINTS

    async def start(self) -> None:
        for replica in self.replicas.values():
            failpoints = self.failpoints.get(replica.name)
            extra = {"XUEYONG_FAILPOINTS": failpoints} if failpoints else {}
            env = process_env(
                self.backend,
                self.emulator,
                WEBHOOK_URL=self.proxy.url + WEBHOOK_PATH,
                HTTP_HOST="127.0.0.1",
                HTTP_PORT=str(replica.port),
                REPLICA_ID=replica.name,
                LEADER_RETRY_SECONDS=str(LEADER_RETRY),
                DELIVERY_RATE=str(RATE),
                DELIVERY_CONCURRENCY=str(CONCURRENCY),
                SWEEP_INTERVAL="0.5",
                QUIET_HOURS="off",
                **extra,
            )
            replica.process = await spawn_bot(env, "--webhook", log=replica.log)
        for replica in self.replicas.values():
            await eventually(functools.partial(self._ready, replica), timeout=90)

    async def _ready(self, replica: Replica) -> bool:
        assert replica.process is not None
        if replica.process.returncode is not None:
            raise AssertionError(f"{replica.name} exited: {replica.log.read_text()[-2000:]}")
        with contextlib.suppress(aiohttp.ClientError):
            status, _ = await replica.get("/readyz")
            return status == 200
        return False

    async def leader(self) -> Replica:
        name = await current_leader(self.core.engine)
        assert name in self.replicas, f"leader {name!r} is not one of {list(self.replicas)}"
        return self.replicas[name]

    async def leads(self, replica: Replica) -> bool:
        return await current_leader(self.core.engine) == replica.name

    def delivered(self) -> int:
        """Trainees who have the notice (whatever else the bot said to them)."""
        return sum(
            1
            for i in range(USERS)
            if any(m.get("text") == NOTICE for m in self.emulator.messages(FIRST + i))
        )

    async def broadcast_now(self) -> int:
        """An organiser's notice to every trainee, sent now (as the "send" button does)."""
        created = await self.core.services.cohorts.create(
            name="结业班",
            course_title="基层治理",
            ends_on=date(2026, 12, 1),
            timezone="Asia/Shanghai",
            organiser_telegram_ids=(ORGANISER,),
        )
        await seed_trainees(self.core, created.cohort.id, FIRST, USERS)
        draft = await self.core.services.broadcasts.create_draft(
            ORGANISER, created.cohort.id, Audience.TRAINEES, Notice(NOTICE)
        )
        assert draft is not None
        result = await self.core.services.broadcasts.confirm(ORGANISER, draft.id)
        assert result.recipients == USERS
        return draft.id

    async def stop(self) -> None:
        for replica in self.replicas.values():
            process = replica.process
            if process is not None and process.returncode is None:
                process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(process.wait(), 30)
                except TimeoutError:
                    process.kill()
                    await process.wait()
                    raise


@pytest.fixture
async def deployment(
    backend: Backend, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Deployment]:
    if backend.name != "postgresql" or backend.redis_url is None:
        pytest.skip("replicas share PostgreSQL (the leader lock) and Redis (FSM, update ids)")
    emulator = BotAPIEmulator(TOKEN)
    emulator.limiter = TelegramLimits(global_per_second=TELEGRAM_RATE)
    await emulator.start()
    emulator.add_user(ORGANISER, "组织者")
    for i in range(USERS):
        emulator.add_user(FIRST + i, f"学员{i}")
    core = build_core(load_settings(DATABASE_URL=backend.database_url, QUIET_HOURS="off"))
    await core.migrate()  # the deployment's migrate step, before the replicas start
    names = ("replica-a", "replica-b")
    replicas = {n: Replica(n, free_port(), tmp_path / f"{n}.log") for n in names}
    proxy = RoundRobinProxy([r.url for r in replicas.values()])
    await proxy.start()
    marker = request.node.get_closest_marker("failpoints")
    failpoints = dict(marker.args[0]) if marker is not None else {}
    deployed = Deployment(backend, emulator, core, proxy, replicas, tmp_path, failpoints)
    try:
        await deployed.start()
        yield deployed
    finally:
        try:
            await deployed.stop()
        finally:
            await proxy.stop()
            await core.close()
            await emulator.stop()
    refused = [
        (c.method, c.error_code, c.description)
        for c in emulator.errors()
        if not (c.error_code == 429 and _chat(c.params) == ORGANISER)
    ]
    assert refused == [], refused


def _chat(params: dict[str, object]) -> int | None:
    chat_id = params.get("chat_id")
    return int(str(chat_id)) if chat_id is not None else None


def bot_wide_429s(emulator: BotAPIEmulator) -> list[int | None]:
    """Sends refused for the bot-wide limit. Each trainee gets one notice, so no trainee's
    chat can hit the per-chat limit: a 429 there means the bot as a whole sent too fast.
    (The organiser's report is edited about once a second; an edit can meet the emulator's
    one-second window a few milliseconds early, and the worker waits and edits again.)"""
    return [
        _chat(c.params)
        for c in emulator.errors()
        if c.error_code == 429 and _chat(c.params) != ORGANISER
    ]


async def test_two_replicas_one_leader_each_notice_once(deployment: Deployment) -> None:
    emulator = deployment.emulator
    leader = await deployment.leader()
    (standby,) = (r for r in deployment.replicas.values() if r is not leader)
    assert (await leader.metrics())["xueyong_is_leader"] == 1
    assert (await standby.metrics())["xueyong_is_leader"] == 0

    # Updates: the proxy spreads them over both replicas, and each is answered once.
    asked = [FIRST + i for i in range(ASKING)]
    seqs = {user: emulator.send_text(user, "/help")["seq"] for user in asked}
    for user, seq in seqs.items():
        assert await emulator.wait_events(user, seq, timeout=30), f"{user} got no answer"
    assert await emulator.wait_webhook_delivered(timeout=30)
    assert all(emulator.delivered_count(user) == 1 for user in asked)
    assert set(deployment.proxy.answered) == {leader.url, standby.url}
    for replica in (leader, standby):
        assert (await replica.metrics())["xueyong_updates_total"] > 0, replica.name
    await asyncio.sleep(1.1)  # the replies leave Telegram's one-second window

    # A notice: only the leader's delivery worker sends it, once per trainee, at its rate.
    await deployment.broadcast_now()
    started = time.monotonic()
    await eventually(lambda: deployment.delivered() == USERS, timeout=60)
    took = time.monotonic() - started
    assert emulator.duplicates(lambda m: m.text if m.text == NOTICE else None) == {}
    assert bot_wide_429s(emulator) == [], "two senders, or one too fast"
    assert took >= (USERS - 1) / RATE * 0.9, (
        f"{USERS} notices in {took:.1f} s: faster than {RATE}/s"
    )
    # The leader counts each send once its answer is read (the notices and the report).
    outbox_sent = 'xueyong_messages_sent_total{sender="outbox"}'
    await eventually(lambda: _at_least(leader, outbox_sent, USERS + 1), timeout=10)
    assert (await standby.metrics())[outbox_sent] == 0
    assert await current_leader(deployment.core.engine) == leader.name


async def test_sigkill_of_the_leader_hands_over_within_seconds(deployment: Deployment) -> None:
    emulator = deployment.emulator
    leader = await deployment.leader()
    (standby,) = (r for r in deployment.replicas.values() if r is not leader)
    broadcast_id = await deployment.broadcast_now()
    await eventually(lambda: deployment.delivered() >= USERS // 3, timeout=60)

    leader.sigkill()
    killed = time.monotonic()
    assert leader.process is not None
    await leader.process.wait()
    at_kill = deployment.delivered()
    assert at_kill < USERS, "the kill came too late to test anything"
    elected = await eventually(lambda: deployment.leads(standby), timeout=TAKEOVER_BOUND)
    await eventually(lambda: deployment.delivered() > at_kill, timeout=TAKEOVER_BOUND * 2)
    resumed = time.monotonic() - killed
    print(f"\ntake-over: lock in {elected:.2f} s, sending again {resumed:.2f} s after SIGKILL")
    assert resumed < TAKEOVER_BOUND, f"sending resumed {resumed:.1f} s after the kill"
    assert (await standby.metrics())["xueyong_is_leader"] == 1

    await eventually(lambda: deployment.delivered() == USERS, timeout=60)
    await eventually(  # the organiser's report reaches its final state
        lambda: any("（已完成）" in (m.get("text") or "") for m in emulator.messages(ORGANISER)),
        timeout=30,
    )
    repeats = emulator.duplicates(lambda m: m.text if m.text == NOTICE else None)
    assert len(repeats) <= CONCURRENCY, f"more repeats than rows in flight: {repeats}"
    assert bot_wide_429s(emulator) == []
    async with deployment.core.uow() as uow:
        items = (
            await uow.session.scalars(select(DueItem).where(DueItem.kind == "broadcast_send"))
        ).all()
        rows = (
            await uow.session.scalars(
                select(OutboxMessage).where(OutboxMessage.purpose == "broadcast")
            )
        ).all()
    assert [i.status for i in items] == ["done"]
    assert len(rows) == USERS and {r.status for r in rows} == {"sent"}
    assert {r.broadcast_id for r in rows} == {broadcast_id}


async def _at_least(replica: Replica, metric: str, value: float) -> bool:
    return (await replica.metrics())[metric] >= value


@pytest.mark.failpoints({"replica-a": "update.start=1"})
async def test_an_update_whose_replica_died_is_handled_by_another(
    deployment: Deployment,
) -> None:
    """Replica A dies (SIGKILL at a failpoint) having claimed an update and before handling
    it. Telegram retries; replica B answers 503 while A's heartbeat lasts, then takes the
    claim over and handles it: every message is answered, once, within seconds."""
    emulator = deployment.emulator
    dying = deployment.replicas["replica-a"]
    asked = [FIRST + i for i in range(4)]  # round robin: at least one reaches replica A
    seqs = {user: emulator.send_text(user, "/help")["seq"] for user in asked}
    assert dying.process is not None
    await asyncio.wait_for(dying.process.wait(), timeout=30)
    died = time.monotonic()
    for user, seq in seqs.items():
        assert await emulator.wait_events(user, seq, timeout=ALIVE_SECONDS * 3), user
    answered = time.monotonic() - died
    print(f"\nthe dead replica's update answered {answered:.1f} s after it died")
    assert answered < ALIVE_SECONDS + 10, f"answered {answered:.1f} s after the kill"
    assert await emulator.wait_webhook_delivered(timeout=30)
    assert [emulator.delivered_count(user) for user in asked] == [1] * len(asked)
    assert dying.process.returncode == -signal.SIGKILL
