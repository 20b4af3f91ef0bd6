"""One replica vs three behind one webhook, on PostgreSQL + Redis, through the emulator.

    .venv/bin/python -m bench.replicas [--trainees 200] [--replicas 1,3] \
        [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres] \
        [--redis-url redis://127.0.0.1:6379/11] [--time-limit 120]

For each replica count, on a fresh database (created on the --database-url server, dropped
at the end) and a flushed Redis db: a cohort whose day-30 LTSI self-check is open now and
--trainees trainees; the replicas run as `xueyong run --webhook` child processes, each on
its own port, behind a round-robin reverse proxy (what nginx's upstream does: a request
goes to the next replica, one that refuses the connection is skipped); the emulator
(Telegram) posts every update to the proxy, at most 40 at once and one at a time per chat,
as Telegram does. The elected leader sweeps the wave open and sends the invitations; then
every trainee answers the 48 questions, each as soon as the bot shows it (bench.ltsi's
phones, in a child process of their own with the emulator).

Prints, per replica count: updates/s (presses handled / time from the first to the last)
and the handling time of a press as the phone sees it (press → the bot's edit showing the
next question: webhook delivery, proxy, handler, Bot API call), p50/p95/p99; how the
updates were spread over the replicas (their /metrics), handler errors and refused calls;
then the scaling ratio (updates/s of the most replicas / of the fewest).

Every process of the run (PostgreSQL, Redis, the emulator and phones, the proxy, the
replicas) shares this machine's cores: the ratio says what more processes buy on it, and
on a machine with a core per replica it would be higher. Load average is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import signal
import socket
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web

from bench.ltsi import FIRST_TRAINEE, ORGANISER, PRESSES, TOKEN, LoadProcess, database
from bench.seed import seed_trainees

JSON = dict[str, Any]
ROOT = Path(__file__).resolve().parents[1]
WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
TIMEZONE = "Asia/Shanghai"
READY_TIMEOUT = 90.0
INVITATIONS_TIMEOUT = 180.0
DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/11"


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, every thread) a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# -- the reverse proxy in front of the replicas ---------------------------------------------


@dataclass
class RoundRobinProxy:
    """Passes each request to the next replica, as a reverse proxy's upstream does. A replica
    that refuses the connection (stopped, killed) is skipped for the next one; any other
    failure answers 502, and Telegram delivers the update again later."""

    targets: list[str]  # base urls, e.g. http://127.0.0.1:8081
    answered: Counter[str] = field(default_factory=Counter)  # (target) -> requests answered
    refused: Counter[str] = field(default_factory=Counter)  # (target) -> connections refused
    _turn: itertools.cycle[int] = field(init=False)
    _runner: web.AppRunner | None = field(default=None, init=False)
    _session: aiohttp.ClientSession | None = field(default=None, init=False)
    url: str = field(default="", init=False)

    def __post_init__(self) -> None:
        self._turn = itertools.cycle(range(len(self.targets)))

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=90),
            connector=aiohttp.TCPConnector(limit=0),
        )
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = next(addr[1] for addr in self._runner.addresses if isinstance(addr, tuple))
        self.url = f"http://{host}:{bound}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        body = await request.read()
        headers = {
            name: value
            for name in (SECRET_HEADER, "Content-Type")
            if (value := request.headers.get(name)) is not None
        }
        for _ in range(len(self.targets)):
            target = self.targets[next(self._turn)]
            try:
                async with self._session.request(
                    request.method, target + request.path_qs, data=body, headers=headers
                ) as answer:
                    payload = await answer.read()
                    self.answered[target] += 1
                    return web.Response(
                        status=answer.status,
                        body=payload,
                        headers={"Content-Type": answer.headers.get("Content-Type", "text/plain")},
                    )
            except aiohttp.ClientConnectorError:
                self.refused[target] += 1
        return web.Response(status=502, text="Bad Gateway")


# -- the replicas ---------------------------------------------------------------------------


@dataclass
class Replica:
    """`xueyong run --webhook` in a child process, its HTTP server on `port`."""

    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "run",
                "--webhook",
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=log,
            )

    async def wait_ready(self, session: aiohttp.ClientSession, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.returncode is not None:
                raise RuntimeError(f"replica {self.name} exited; see {self.log_path}")
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"{self.url}/readyz") as answer:
                    if answer.status == 200:
                        return
            await asyncio.sleep(0.2)
        raise TimeoutError(f"replica {self.name} not ready after {timeout:.0f} s")

    def cpu(self) -> float:
        assert self.process is not None
        return cpu_seconds(self.process.pid)

    async def metrics(self, session: aiohttp.ClientSession) -> dict[str, float]:
        from bot.metrics import parse_text

        async with session.get(f"{self.url}/metrics") as answer:
            return parse_text(await answer.text())

    async def stop(self) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()
            await process.wait()


def replica_env(
    name: str, port: int, *, api_base: str, database_url: str, redis_url: str, webhook: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "DATABASE_"))}
    env.update(
        BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE=api_base,
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        WEBHOOK_URL=webhook,
        HTTP_HOST="127.0.0.1",
        HTTP_PORT=str(port),
        REPLICA_ID=name,
        QUIET_HOURS="off",
        DELIVERY_RATE="10000",  # the emulator sets no flood limits here: invitations at once
        DELIVERY_CONCURRENCY="32",
        PYTHONUNBUFFERED="1",
    )
    return env


# -- one run --------------------------------------------------------------------------------


def day30_open_now(now: datetime) -> tuple[datetime, Any]:
    """The end date of a cohort whose day-30 self-check opened within the last day."""
    from bot.domain.ltsi import WaveKind, WavePlan

    plan = WavePlan.default()
    today = now.astimezone(ZoneInfo(TIMEZONE)).date()
    for back in (30, 31):
        ends_on = today - timedelta(days=back)
        opens = plan.opens_at(WaveKind.DAY30, ends_on, TIMEZONE)
        if opens <= now:
            return opens, ends_on
    raise AssertionError("unreachable: a day-30 wave 31 days after the end has opened")


async def seed(url: str, trainees: int) -> None:
    from bot.config import load_settings
    from bot.core import build_core

    core = build_core(load_settings(DATABASE_URL=url, QUIET_HOURS="off"))
    await core.migrate()  # before the replicas start, as a deployment's migrate step does
    try:
        _, ends_on = day30_open_now(datetime.now(UTC))
        created = await core.services.cohorts.create(
            name="2026秋季社区书记班",
            course_title="基层治理能力提升专题培训",
            ends_on=ends_on,
            timezone=TIMEZONE,
            invites_expire=datetime.now(UTC) + timedelta(days=1),
            organiser_telegram_ids=(ORGANISER,),
        )
        await seed_trainees(core, created.cohort.id, FIRST_TRAINEE, trainees)
    finally:
        await core.close()


async def flush_redis(url: str) -> None:
    from redis.asyncio import Redis

    redis = Redis.from_url(url)
    try:
        await redis.flushdb()
    finally:
        await redis.aclose()


async def invitations_sent(url: str, trainees: int, timeout: float) -> None:
    """Until the leader has sent every invitation (nothing left in the outbox)."""
    from sqlalchemy import func, select

    from bot.db.engine import create_engine
    from bot.db.models import OutboxMessage

    engine = create_engine(url, pool_size=2)
    deadline = time.monotonic() + timeout
    try:
        while True:
            async with engine.connect() as conn:
                rows = (
                    await conn.execute(
                        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
                    )
                ).all()
            counts = {status: n for status, n in rows}
            waiting = counts.get("pending", 0) + counts.get("sending", 0)
            if counts.get("sent", 0) >= trainees and waiting == 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"invitations not all sent after {timeout:.0f} s: {counts}")
            await asyncio.sleep(0.5)
    finally:
        await engine.dispose()


@dataclass
class Result:
    replicas: int
    load: JSON
    per_replica: dict[str, float]  # replica -> updates handled
    handler_errors: float
    leaders: list[str]
    replicas_cpu: float  # CPU seconds of all replicas while the phones pressed
    proxy_cpu: float  # CPU seconds of this process (the proxy) meanwhile

    @property
    def handled(self) -> float:
        return sum(self.per_replica.values())

    @property
    def rate(self) -> float:
        seconds = float(self.load["seconds"])
        return self.load["presses"] / seconds if seconds else 0.0


async def run_once(
    count: int, trainees: int, admin_url: str, redis_url: str, limit: float, workdir: Path
) -> Result:
    async with database(admin_url, workdir) as url:
        await flush_redis(redis_url)  # update ids start again with a new emulator
        print(f"[{count} replica(s)] seeding a cohort and {trainees} trainees ...", flush=True)
        await seed(url, trainees)
        load = await LoadProcess.start(trainees, 0.0)
        ports = [free_port() for _ in range(count)]
        proxy = RoundRobinProxy([f"http://127.0.0.1:{port}" for port in ports])
        replicas: list[Replica] = []
        try:
            proxy_url = await proxy.start()
            for index, port in enumerate(ports):
                name = f"r{index + 1}"
                env = replica_env(
                    name,
                    port,
                    api_base=load.url,
                    database_url=url,
                    redis_url=redis_url,
                    webhook=proxy_url + WEBHOOK_PATH,
                )
                replicas.append(Replica(name, port, env, workdir / f"{count}-{name}.log"))
            await asyncio.gather(*(r.start() for r in replicas))
            async with aiohttp.ClientSession() as session:
                await asyncio.gather(*(r.wait_ready(session, READY_TIMEOUT) for r in replicas))
                print(f"[{count} replica(s)] ready; waiting for the invitations ...", flush=True)
                await invitations_sent(url, trainees, INVITATIONS_TIMEOUT)
                before = [await r.metrics(session) for r in replicas]
                print(f"[{count} replica(s)] {trainees} trainees answer ...", flush=True)
                cpu = sum(r.cpu() for r in replicas), time.process_time()
                outcome = await load.run("real", limit)
                await asyncio.sleep(1.0)  # the last updates' counters
                replicas_cpu = sum(r.cpu() for r in replicas) - cpu[0]
                proxy_cpu = time.process_time() - cpu[1]
                after = [await r.metrics(session) for r in replicas]
        finally:
            await asyncio.gather(*(r.stop() for r in replicas))
            await proxy.stop()
            await load.stop()
    updates = "xueyong_updates_total"
    return Result(
        replicas=count,
        load=outcome,
        per_replica={
            r.name: a.get(updates, 0) - b.get(updates, 0)
            for r, a, b in zip(replicas, after, before, strict=True)
        },
        handler_errors=sum(
            a.get("xueyong_handler_errors_total", 0) - b.get("xueyong_handler_errors_total", 0)
            for a, b in zip(after, before, strict=True)
        ),
        leaders=[
            r.name for r, a in zip(replicas, after, strict=True) if a.get("xueyong_is_leader")
        ],
        replicas_cpu=replicas_cpu,
        proxy_cpu=proxy_cpu,
    )


def print_results(results: list[Result], trainees: int) -> None:
    print()
    print(
        f"Replicas behind one webhook, PostgreSQL + Redis: {trainees} trainees answer the "
        f"day-30 self-check ({PRESSES} presses each, each as soon as the bot answers)"
    )
    header = f"{'':34}" + "".join(f"{f'{r.replicas} replica(s)':>20}" for r in results)
    print(header)

    def row(label: str, value: Any) -> None:
        print(f"{label:34}" + "".join(f"{value(r):>20}" for r in results))

    row("presses handled", lambda r: f"{r.load['presses']}")
    row("time (first to last)", lambda r: f"{r.load['seconds']:.1f} s")
    row("updates/s", lambda r: f"{r.rate:.1f}")
    for q, index in (("p50", 0), ("p95", 1), ("p99", 2)):
        row(f"handling time {q} (phone)", lambda r, i=index: f"{r.load['roundtrip_ms'][i]:.0f} ms")
    row(
        "updates per replica",
        lambda r: "/".join(f"{int(n)}" for n in r.per_replica.values()),
    )
    row("leader", lambda r: ",".join(r.leaders) or "none")
    row("replicas' CPU per update", lambda r: f"{1000 * r.replicas_cpu / max(1, r.handled):.1f} ms")
    row(
        "CPU s: replicas/phones+emu/proxy",
        lambda r: f"{r.replicas_cpu:.0f}/{r.load['cpu_seconds']:.0f}/{r.proxy_cpu:.0f}",
    )
    row("handler errors", lambda r: f"{int(r.handler_errors)}")
    row("Bot API calls refused", lambda r: f"{r.load['refused_total']}")
    row("phones failed / stopped", lambda r: f"{r.load['failed']} / {r.load['stopped']}")
    for result in results:
        for failure in result.load["failures"]:
            print(f"{result.replicas} replica(s): phone failed: {failure}")
        if result.load["refused"]:
            print(f"{result.replicas} replica(s): refused calls: {result.load['refused']}")
    if len(results) >= 2 and results[0].rate:
        first, last = results[0], results[-1]
        print(
            f"scaling ratio {last.replicas} vs {first.replicas} replica(s): "
            f"{last.rate / first.rate:.2f} ({last.rate:.1f} / {first.rate:.1f} updates/s)"
        )
    load1, load5, _ = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load1:.1f} (1 min), {load5:.1f} (5 min)")


async def bench_main(
    trainees: int, counts: list[int], admin_url: str, redis_url: str, limit: float
) -> bool:
    workdir = Path(tempfile.mkdtemp(prefix="xy-bench-replicas-"))
    print(f"replica logs: {workdir}", flush=True)
    results = [
        await run_once(count, trainees, admin_url, redis_url, limit, workdir) for count in counts
    ]
    print_results(results, trainees)
    return all(r.load["failed"] == 0 and r.handler_errors == 0 for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trainees", type=int, default=200)
    parser.add_argument("--replicas", default="1,3", help="replica counts to compare (default 1,3)")
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE_URL,
        help="PostgreSQL server to create each run's database on",
    )
    parser.add_argument(
        "--redis-url", default=DEFAULT_REDIS_URL, help="a Redis db this bench may flush"
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        default=120.0,
        help="seconds after which the phones stop pressing (default 120)",
    )
    args = parser.parse_args()
    counts = [int(part) for part in args.replicas.split(",") if part.strip()]
    passed = asyncio.run(
        bench_main(args.trainees, counts, args.database_url, args.redis_url, args.time_limit)
    )
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
