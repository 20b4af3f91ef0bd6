"""Broadcast benchmark: a notice to N trainees through the real bot and the emulator.

    .venv/bin/python -m bench.broadcast [--users 10000] [--rate 25] [--kill-at 0.5]

The emulator enforces Telegram's limits (30 messages/s overall, 1/s per chat). The bot runs
as `xueyong run` in a child process; the organiser composes and sends the notice in the chat.
Half-way (--kill-at) the bot is killed with SIGKILL and started again. Prints the achieved
rate, its ratio to the configured one, 429s, duplicates, losses and the bot's peak memory.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from bench.seed import seed_trainees
from bot.config import load_settings
from bot.core import build_core
from bot.domain.ports import MovableClock
from bot.sandbox.client import EmulatorClient
from bot.sandbox.emulator import BotAPIEmulator
from bot.sandbox.limits import TelegramLimits

TOKEN = "123456789:BENCH-token-for-the-emulator"
ORGANISER = 42
FIRST_TRAINEE = 1_000_000
NOTICE = "【结业通知】请各位学员于本周五前在群内提交实践转化计划书。"
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Bot:
    env: dict[str, str]
    log_path: Path
    process: asyncio.subprocess.Process | None = None
    peak_rss_kb: int = 0
    starts: list[float] = field(default_factory=list)

    async def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "run",
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=log,
            )
        self.starts.append(time.monotonic())

    def sample_memory(self) -> None:
        if self.process is None:
            return
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return
        for line in status.splitlines():
            if line.startswith(("VmHWM:", "VmRSS:")):
                self.peak_rss_kb = max(self.peak_rss_kb, int(line.split()[1]))

    async def kill(self) -> None:
        assert self.process is not None
        self.sample_memory()
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.sample_memory()
            self.process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(self.process.wait(), 30)


def delivered(emulator: BotAPIEmulator, users: int) -> int:
    count = emulator.delivered_count
    return sum(1 for i in range(users) if count(FIRST_TRAINEE + i) > 0)


async def send_notice(client: EmulatorClient) -> None:
    async def next_message() -> object:
        return await client.wait_for(ORGANISER, lambda m: m.event == "message", timeout=60)

    await client.send_text(ORGANISER, "/broadcast")
    choose = await next_message()
    await client.press(ORGANISER, choose, text="仅学员")  # type: ignore[arg-type]
    await next_message()
    await client.send_text(ORGANISER, NOTICE)
    for _ in range(3):  # preview header, preview, options
        options = await next_message()
    await client.press(ORGANISER, options, text="立即发送")  # type: ignore[arg-type]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=25.0, help="the bot's DELIVERY_RATE")
    parser.add_argument("--telegram-rate", type=float, default=30.0, help="emulated limit")
    parser.add_argument("--kill-at", type=float, default=0.5, help="0 for no SIGKILL")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="xy-bench-"))
    url = args.database_url or f"sqlite+aiosqlite:///{workdir / 'bench.sqlite3'}"
    emulator = BotAPIEmulator(TOKEN)
    emulator.limiter = TelegramLimits(global_per_second=args.telegram_rate)
    base = await emulator.start()

    print(f"seeding {args.users} trainees ...", flush=True)
    core = build_core(load_settings(DATABASE_URL=url), clock=MovableClock())
    await core.migrate()
    created = await core.services.cohorts.create(
        name="基层治理能力提升班",
        course_title="bench",
        ends_on=date(2030, 1, 1),
        timezone="Asia/Shanghai",
        organiser_telegram_ids=(ORGANISER,),
    )
    await seed_trainees(core, created.cohort.id, FIRST_TRAINEE, args.users)
    await core.close()
    emulator.add_user(ORGANISER, "组织者")
    for i in range(args.users):
        emulator.add_user(FIRST_TRAINEE + i, f"学员{i}")

    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    env.update(
        BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE=base,
        DATABASE_URL=url,
        REDIS_URL="",
        DELIVERY_RATE=str(args.rate),
        QUIET_HOURS="off",
        POLLING_TIMEOUT="2",
        SWEEP_INTERVAL="1",
    )
    bot = Bot(env, workdir / "bot.log")
    print(f"bot log: {bot.log_path}", flush=True)
    await bot.start()
    async with EmulatorClient(base) as client:
        await send_notice(client)
        print("notice sent by the organiser; delivering ...", flush=True)
        killed = args.kill_at <= 0
        samples: list[tuple[float, int]] = []
        started = time.monotonic()
        downtime = 0.0
        last_print = 0.0
        while True:
            await asyncio.sleep(0.5)
            bot.sample_memory()
            now, done = time.monotonic(), delivered(emulator, args.users)
            samples.append((now, done))
            if now - last_print >= 10:
                last_print = now
                rate = done / max(1e-9, now - started - downtime)
                print(f"  {done:>6}/{args.users} delivered, {rate:5.1f}/s", flush=True)
            if not killed and done >= args.users * args.kill_at:
                killed = True
                kill_time = time.monotonic()
                await bot.kill()
                print(f"  SIGKILL at {done} delivered; restarting", flush=True)
                await bot.start()
                # Time until deliveries resume counts as downtime, not as slow sending.
                while delivered(emulator, args.users) == done:  # noqa: ASYNC110 (a benchmark probe)
                    await asyncio.sleep(0.05)
                downtime = time.monotonic() - kill_time
            if done >= args.users:
                break
            if now - started > args.users / args.rate * 3 + 120:
                print("  giving up: too slow", flush=True)
                break
        finished = time.monotonic()
        await bot.stop()

    total = delivered(emulator, args.users)
    sending_time = finished - started - downtime
    # Sustained rate: between 5% and 95% delivered, leaving out start-up and the tail.
    lo = next(t for t, d in samples if d >= args.users * 0.05)
    hi = next((t for t, d in samples if d >= args.users * 0.95), finished)
    d_lo = next(d for t, d in samples if t == lo)
    d_hi = next((d for t, d in samples if t == hi), total)
    sustained = (d_hi - d_lo) / max(1e-9, hi - lo - (downtime if args.kill_at > 0 else 0))
    stats = emulator.stats()
    dup = emulator.duplicates(lambda m: m.text if m.text == NOTICE else None)
    await emulator.stop()

    print()
    print(f"recipients            {args.users}")
    print(f"configured rate       {args.rate:.1f} msg/s (emulator enforces {args.telegram_rate}/s)")
    print(
        f"achieved rate         {total / sending_time:.2f} msg/s overall, "
        f"{sustained:.2f} msg/s sustained (5%-95%)"
    )
    print(f"ratio to configured   {sustained / args.rate:.1%}")
    print(f"429 answered          {stats['too_many_requests']}")
    print(f"duplicates            {sum(len(v) for v in dup.values())} (chats: {len(dup)})")
    print(f"losses                {args.users - total}")
    restart = f"yes, downtime {downtime:.1f} s" if args.kill_at > 0 else "no"
    print(f"SIGKILL + restart     {restart}")
    print(f"bot peak memory       {bot.peak_rss_kb / 1024:.0f} MiB (VmHWM of the bot process)")
    print(f"wall time             {finished - started:.0f} s")


if __name__ == "__main__":
    asyncio.run(main())
