"""LTSI under load: N trainees answer the full day-30 self-check at once, through the real bot.

    .venv/bin/python -m bench.ltsi [--trainees 200] [--database-url URL] [--time-limit 120]

The bot under test runs in this process the way `xueyong run` runs it (build_app +
run_polling), with an outer middleware on the dispatcher's updates that times each one: the
server-side time, from the update entering the dispatcher to its handler returning, Bot API
calls included. The emulator and the phones run in a child process (this module again, with
`--role load`), so that the load generator never runs on the bot's event loop.

Two phases on the same emulator, in the same run:

* bare: a bare aiogram Dispatcher whose only handler answers callback queries; every phone
  presses its button 49 times, each time as soon as the previous press is answered. This is
  the ceiling of this machine, aiogram and the emulator;
* real: the day-30 wave opens (a sweep), the delivery worker sends the invitations, then
  every phone presses "开始自评" and answers the 48 questions, each as soon as the bot has
  edited the message to show it (49 presses a phone, as in the bare phase). A press the bot
  answers with an error toast is pressed again (3 times at most), as a person would.

A phase stops pressing after --time-limit seconds (what was handled until then is measured),
so that a run stays within a few minutes however slow the bot is.

Prints updates/s (callback updates handled / time from the first to the last), the
server-side time per update (p50/p95/p99/max), and beside it, to tell queueing from work:
the wait for a handler slot before it (from the getUpdates reply that brought the update to
its entering the dispatcher: HANDLER_CONCURRENCY updates are handled at once, the others of
a batch wait their turn there, outside the server-side time), and the update's own time on
the event loop (the CPU time of the steps of its handling, inside the server-side time; the
rest of the server-side time is waiting: for the database, a lock, a Bot API reply, or its
turn on a busy loop), "database is locked" errors (raised in
handlers or logged anywhere in the bot), handler errors, and the ratio of the real bot's
throughput to the bare bot's, against the targets: p99 under 50 ms, no lock errors, at least
half the bare bot's throughput (exit status 1 when one is missed).

Without --database-url a fresh SQLite file is used. With a PostgreSQL URL a fresh database
is created on that server (the URL's own database only serves to create it) and dropped at
the end, so migrations start clean. The bot's log goes to a file in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import random
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.seed import seed_trainees
from bot.domain.ports import MovableClock
from bot.sandbox.emulator import BotAPIEmulator

if TYPE_CHECKING:
    from aiogram.types import TelegramObject

JSON = dict[str, Any]

TOKEN = "123456789:BENCH-token-for-the-emulator"
ORGANISER = 42
FIRST_TRAINEE = 1_000_000
ENDS_ON = date(2026, 11, 30)
# 10:05 in Shanghai on day 30: the day-30 wave (10:00) is due, the course-end one is over.
DAY30 = datetime(2026, 12, 30, 2, 5, tzinfo=UTC)
QUESTIONS = 48
PRESSES = QUESTIONS + 1  # "开始自评" + 48 answers; the bare phase presses as often
BARE_DATA = "bare"
STEP_TIMEOUT = 60.0  # one press without an answer for this long fails the phone
RETRIES = 3  # a press answered by an error toast is pressed again, this many times at most
PROGRESS_EVERY = 2.0
P99_TARGET_MS = 50.0
RATIO_TARGET = 0.5
LOCKED = "database is locked"
ROOT = Path(__file__).resolve().parents[1]


def trainee_ids(count: int) -> list[int]:
    return [FIRST_TRAINEE + i for i in range(count)]


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


# -- the load process: the emulator and the phones ------------------------------------------


class LoadEmulator(BotAPIEmulator):
    """The emulator, plus a wake-up per chat for the phones that live in its process.

    `wait_events` (behind the control API's wait) wakes every waiting phone on every event
    and each rescans its chat: with 200 phones waiting seconds for the bot, that took the
    load generator 60% of a core, on a machine of 2 cores that the bot needs. Here a phone
    sleeps until something happens in its own chat.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._wakeups: dict[int, asyncio.Event] = {}

    def _add_event(self, chat: Any, kind: str, direction: str, message: Any, **kw: Any) -> Any:
        event = super()._add_event(chat, kind, direction, message, **kw)
        wakeup = self._wakeups.get(chat.id)
        if wakeup is not None:
            wakeup.set()
        return event

    async def next_event(
        self,
        chat_id: int,
        after_seq: int,
        kinds: tuple[str, ...],
        predicate: Callable[[JSON], bool] = lambda _: True,
        timeout: float = STEP_TIMEOUT,
    ) -> JSON:
        """The first event by the bot in the chat after `after_seq`, of one of `kinds`, that
        satisfies `predicate`; waits for it (TimeoutError after `timeout` seconds)."""
        wakeup = self._wakeups.setdefault(chat_id, asyncio.Event())
        deadline = time.monotonic() + timeout
        while True:
            wakeup.clear()
            for event in self.events(chat_id, after_seq, kinds=kinds, direction="out"):
                if predicate(event):
                    return event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"nothing from the bot in chat {chat_id} for {timeout:.0f} s")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await wakeup.wait()


class PhoneError(Exception):
    """The bot showed a phone something it should not have (a toast, a wrong question)."""


class TimeLimit(Exception):
    """The phase's time limit passed: the phone stops pressing (and has not failed)."""


def _buttons(message: JSON) -> list[JSON]:
    return [button for row in message.get("buttons") or [] for button in row]


def _data(message: JSON, wanted: Callable[[str], bool]) -> str | None:
    for button in _buttons(message):
        data = button.get("callback_data")
        if data is not None and wanted(data):
            return str(data)
    return None


@dataclass
class Tally:
    """What the phones did: presses made, and the time from each press to its answer."""

    deadline: float  # time.monotonic() after which no phone presses again
    presses: int = 0
    rounds: list[float] = field(default_factory=list)
    toasts: int = 0  # a press answered by a toast (an error) instead of the next question
    think_seconds: float = 0.0  # a phone's mean pause before each press

    async def think(self, rng: random.Random) -> None:
        """A person reading the question: between half and one and a half times the mean."""
        if self.think_seconds > 0:
            await asyncio.sleep(self.think_seconds * rng.uniform(0.5, 1.5))

    def press(self, emu: LoadEmulator, user_id: int, message_id: int, data: str) -> JSON:
        if time.monotonic() > self.deadline:
            raise TimeLimit
        self.presses += 1
        return emu.press(user_id, message_id, data=data)


async def tap_bare(emu: LoadEmulator, user_id: int, tally: Tally) -> None:
    """The bare phase: press the bare bot's button PRESSES times, each after the last
    press was answered."""
    sent = await emu.next_event(
        user_id, 0, ("message",), lambda e: _data(e["message"], BARE_DATA.__eq__) is not None
    )
    message_id = sent["message_id"]
    rng = random.Random(user_id)
    for _ in range(PRESSES):
        await tally.think(rng)
        started = time.perf_counter()
        pressed = tally.press(emu, user_id, message_id, BARE_DATA)
        await emu.next_event(user_id, pressed["seq"], ("callback_answer",))
        tally.rounds.append(time.perf_counter() - started)


async def answer_form(emu: LoadEmulator, user_id: int, tally: Tally) -> None:
    """The real phase: start the day-30 check from its invitation and answer all questions,
    each as soon as the bot shows it."""
    rng = random.Random(user_id)
    invited = await emu.next_event(
        user_id, 0, ("message",), lambda e: "第30天" in (e["message"].get("text") or "")
    )
    invitation = invited["message"]
    start = _data(invitation, lambda d: d.startswith("lq:") and d.endswith(":s"))
    if start is None:
        raise PhoneError("the invitation has no start button")
    response_id, message_id = int(start.split(":")[1]), invitation["message_id"]

    def edit_or_toast(event: JSON) -> bool:
        if event["message_id"] != message_id:
            return False
        return event["kind"] == "edit" or bool((event["answer"] or {}).get("text"))

    async def press(data: str) -> str:
        """Press, and return the text the bot edits the message to. A toast instead (the
        bot's apology for an error) is what a person retries: the same button, again."""
        await tally.think(rng)
        started = time.perf_counter()
        for _ in range(1 + RETRIES):
            pressed = tally.press(emu, user_id, message_id, data)
            event = await emu.next_event(
                user_id, pressed["seq"], ("edit", "callback_answer"), edit_or_toast
            )
            if event["kind"] == "edit":
                tally.rounds.append(time.perf_counter() - started)
                return str(event["message"].get("text") or "")
            tally.toasts += 1
        raise PhoneError(f"toast {event['answer']['text']!r} after {data}, {RETRIES} retries")

    text = await press(start)
    for position in range(QUESTIONS):
        if f"第 {position + 1}/{QUESTIONS} 题" not in text:
            raise PhoneError(f"expected question {position + 1}, saw {text[:60]!r}")
        text = await press(f"lq:{response_id}:{position}:{rng.randint(1, 5)}")
    if "完成" not in text:
        raise PhoneError(f"the last answer did not finish the check: {text[:60]!r}")


PHONES: dict[str, Callable[[LoadEmulator, int, Tally], Awaitable[None]]] = {
    "bare": tap_bare,
    "real": answer_form,
}


async def run_phones(
    emu: LoadEmulator, ids: list[int], phase: str, limit: float, think: float
) -> JSON:
    """Every phone at once, for `limit` seconds at most; what they saw, and which of the
    bot's Bot API calls were refused."""
    phone = PHONES[phase]
    tally = Tally(deadline=time.monotonic() + limit, think_seconds=think)
    first_call = len(emu.calls)
    cpu, wall = time.process_time(), time.perf_counter()

    async def one(user_id: int) -> str | None:
        try:
            await phone(emu, user_id, tally)
        except TimeLimit:
            return "stopped"
        except Exception as exc:  # a phone's failure is a figure, not the end of the run
            return f"{user_id}: {type(exc).__name__}: {exc}"
        return None

    results = await asyncio.gather(*(one(user_id) for user_id in ids))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    failures = [problem for problem in results if problem not in (None, "stopped")]
    refused = Counter(
        f"{c.method}: {c.error_code} {c.description}" for c in emu.calls[first_call:] if not c.ok
    )
    rounds = sorted(tally.rounds)
    return {
        "phase": phase,
        "phones": len(ids),
        "failed": len(failures),
        "stopped": results.count("stopped"),
        "failures": failures[:5],
        "presses": tally.presses,
        "toasts": tally.toasts,
        "roundtrip_ms": [1000 * percentile(rounds, q) for q in (50, 95, 99)],
        "seconds": wall,
        "cpu_seconds": cpu,
        "refused": dict(refused.most_common(5)),
        "refused_total": sum(refused.values()),
    }


def emit(payload: JSON) -> None:
    print(json.dumps(payload, ensure_ascii=False), flush=True)


async def load_main(trainees: int, think: float) -> None:
    """The child process: serve the emulator, then run the phases the bench asks for."""
    # self_check re-validates the emulator's own answers against the spec (a test of the
    # emulator, not of the bot): off, to keep the load generator light. Calls are still
    # validated, and there are no flood limits (limiter None), as the bench is about the bot.
    emu = LoadEmulator(TOKEN, clock=MovableClock(DAY30).now, self_check=False)
    base = await emu.start()
    ids = trainee_ids(trainees)
    emu.add_user(ORGANISER, "组织者")
    for index, user_id in enumerate(ids):
        emu.add_user(user_id, f"学员{index + 1}")
    emit({"url": base})
    try:
        while len(command := (await asyncio.to_thread(sys.stdin.readline)).split()) == 2:
            phase, limit = command
            emit(await run_phones(emu, ids, phase, float(limit), think))
    finally:
        await emu.stop()


# -- the bench process: the bot under test --------------------------------------------------


class LoadProcess:
    """The child process with the emulator and the phones; talks JSON lines over pipes."""

    def __init__(self, process: asyncio.subprocess.Process, url: str) -> None:
        self.process = process
        self.url = url

    @classmethod
    async def start(cls, trainees: int, think: float) -> LoadProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.ltsi",
            "--role",
            "load",
            "--trainees",
            str(trainees),
            "--think",
            str(think),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        load = cls(process, "")
        load.url = (await load._read(60))["url"]
        return load

    async def _read(self, timeout: float) -> JSON:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        if not line:
            raise RuntimeError("the load process ended (see its errors above)")
        result: JSON = json.loads(line)
        return result

    async def run(self, phase: str, limit: float) -> JSON:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{phase} {limit}\n".encode())
        await self.process.stdin.drain()
        return await self._read(limit + 2 * STEP_TIMEOUT)

    async def stop(self) -> None:
        if self.process.returncode is None:
            assert self.process.stdin is not None
            with contextlib.suppress(ConnectionError):
                self.process.stdin.write(b"quit\n")
                self.process.stdin.close()
            try:
                await asyncio.wait_for(self.process.wait(), 15)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


class OnLoop:
    """Awaits a coroutine and adds up the CPU time of its steps on the event loop's thread:
    the work of one update, without what it waits for (a handler slot, the database, a
    lock, a Bot API reply, or its turn while other updates run). Work done outside the
    coroutine's own steps on its behalf (aiohttp's and asyncpg's protocol callbacks,
    aiosqlite's threads) is left out: "bot CPU per update" has it all, undivided."""

    __slots__ = ("_coro", "seconds")

    def __init__(self, coro: Coroutine[Any, Any, Any]) -> None:
        self._coro = coro
        self.seconds = 0.0

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, value, error = self._coro, None, None
        while True:
            started = time.thread_time()
            try:
                signal = coro.send(value) if error is None else coro.throw(error)
            except StopIteration as stop:
                return stop.value
            finally:
                self.seconds += time.thread_time() - started
            try:
                value, error = (yield signal), None
            except BaseException as exc:  # cancellation: passed on to the coroutine
                value, error = None, exc


@dataclass
class Timing:
    """An outer middleware on `dispatcher.update`: server-side time of each callback update,
    its own CPU time on the loop, and what the handlers raised. (aiogram's ErrorsMiddleware
    sits outside it, so a handler error passes through here before the bot's error handler
    answers it.) As a request middleware of the bot's session (`received`), it notes when
    each update arrived with getUpdates: the time from then to the dispatcher is the wait
    for a handler slot."""

    durations: list[float] = field(default_factory=list)
    on_loop: list[float] = field(default_factory=list)
    slot_waits: list[float] = field(default_factory=list)
    arrived: dict[int, float] = field(default_factory=dict)
    first: float | None = None
    last: float | None = None
    in_flight: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    locked: int = 0

    async def received(self, make_request: Any, bot: Any, method: Any) -> Any:
        from aiogram.methods import GetUpdates

        result = await make_request(bot, method)
        if isinstance(method, GetUpdates) and result:
            now = time.perf_counter()
            for update in result:
                self.arrived[update.update_id] = now
        return result

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        started = time.perf_counter()
        arrived = self.arrived.pop(getattr(event, "update_id", -1), None)
        self.in_flight += 1
        work = OnLoop(handler(event, data))  # type: ignore[arg-type]
        try:
            return await work
        except Exception as exc:
            first_line = (str(exc).splitlines() or [""])[0]
            self.errors[f"{type(exc).__name__}: {first_line[:90]}"] += 1
            if LOCKED in str(exc):
                self.locked += 1
            raise
        finally:
            ended = time.perf_counter()
            self.in_flight -= 1
            if getattr(event, "callback_query", None) is not None:
                self.durations.append(ended - started)
                self.on_loop.append(work.seconds)
                if arrived is not None:
                    self.slot_waits.append(started - arrived)
                self.first = started if self.first is None else self.first
                self.last = ended

    @property
    def count(self) -> int:
        return len(self.durations)


class LockCounter(logging.Handler):
    """Counts log records (message or traceback) that say "database is locked"; those of
    the bot's error handler are left out, the timing middleware counts them already."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0
        self._format = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "handlers.errors":
            return
        text = record.getMessage()
        if record.exc_info:
            text += self._format.formatException(record.exc_info)
        if LOCKED in text:
            self.count += 1


def cpu_seconds() -> tuple[float, float]:
    """CPU time of this process (every thread: aiosqlite's, the chart's) and of this thread,
    the one the event loop runs on."""
    return time.process_time(), time.thread_time()


def since(start: tuple[float, float]) -> tuple[float, float]:
    now = cpu_seconds()
    return now[0] - start[0], now[1] - start[1]


@dataclass
class Phase:
    name: str
    timing: Timing
    load: JSON
    cpu: tuple[float, float]  # CPU seconds of the bot's process, and of its event loop
    logged_locks: int = 0

    @property
    def seconds(self) -> float:
        t = self.timing
        return (t.last - t.first) if t.first is not None and t.last is not None else 0.0

    @property
    def rate(self) -> float:
        return self.timing.count / self.seconds if self.seconds else 0.0

    def ms(self, q: float, figures: str = "durations") -> float:
        return 1000 * percentile(sorted(getattr(self.timing, figures)), q)

    def three(self, figures: str) -> str:
        """p50/p95/p99 of one of the timing's lists, in ms."""
        return "/".join(f"{self.ms(q, figures):.1f}" for q in (50, 95, 99))

    @property
    def locks(self) -> int:
        return self.timing.locked + self.logged_locks


async def show_progress(label: str, timing: Timing, expected: int) -> None:
    before, started = 0, time.perf_counter()
    while True:
        await asyncio.sleep(PROGRESS_EVERY)
        done = timing.count
        print(
            f"  {label}: {done:>6}/{expected} updates handled, "
            f"{(done - before) / PROGRESS_EVERY:6.0f}/s now, "
            f"{time.perf_counter() - started:5.0f} s",
            flush=True,
        )
        before = done


async def drive(
    load: LoadProcess,
    phase: str,
    timing: Timing,
    expected: int,
    bot: asyncio.Task[None],
    limit: float,
) -> JSON:
    """Let the phones loose; return what they report once the bot has finished every update
    they caused (the diagnosis is still being sent when a phone sees its last edit)."""
    progress = asyncio.create_task(show_progress(phase, timing, expected))
    phones = asyncio.create_task(load.run(phase, limit))
    try:
        await asyncio.wait({phones, bot}, return_when=asyncio.FIRST_COMPLETED)
        if not phones.done():
            bot.result()  # raises what stopped the bot
            raise RuntimeError("the bot stopped polling")
        result = phones.result()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (  # noqa: ASYNC110 (a benchmark probe)
            timing.in_flight or timing.count < result["presses"]
        ):
            await asyncio.sleep(0.05)
    finally:
        progress.cancel()
        phones.cancel()
    return result


async def seed(url: str, trainees: int, clock: MovableClock) -> None:
    """A cohort that ended 30 days ago (its waves planned as on creation) and its trainees,
    enrolled in one go (bench.seed: the chat's enrolment is not what is measured here)."""
    from bot.config import load_settings
    from bot.core import build_core

    core = build_core(load_settings(DATABASE_URL=url), clock=clock)
    await core.migrate()
    try:
        created = await core.services.cohorts.create(
            name="2026秋季社区书记班",
            course_title="基层治理能力提升专题培训",
            ends_on=ENDS_ON,
            timezone="Asia/Shanghai",
            invites_expire=DAY30 + timedelta(days=1),
            organiser_telegram_ids=(ORGANISER,),
        )
        await seed_trainees(core, created.cohort.id, FIRST_TRAINEE, trainees)
    finally:
        await core.close()


async def bare_phase(load: LoadProcess, trainees: int, limit: float) -> Phase:
    """A Dispatcher with one handler that only answers callbacks, on the same emulator."""
    from aiogram import Dispatcher, Router
    from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup

    from bot.app import build_bot
    from bot.config import load_settings

    settings = load_settings(BOT_TOKEN=TOKEN, TELEGRAM_API_BASE=load.url)
    bot = build_bot(settings, TOKEN)
    router = Router(name="bare")

    @router.callback_query()
    async def answer(query: CallbackQuery) -> None:
        await query.answer()

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    timing = Timing()
    dispatcher.update.outer_middleware(timing)
    bot.session.middleware(timing.received)
    markup = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="👍", callback_data=BARE_DATA)]]
    )
    try:
        await bot.delete_webhook(drop_pending_updates=True)
        gate = asyncio.Semaphore(32)

        async def send(telegram_id: int) -> None:
            async with gate:
                await bot.send_message(telegram_id, "按这个按钮", reply_markup=markup)

        await asyncio.gather(*(send(telegram_id) for telegram_id in trainee_ids(trainees)))
        polling = asyncio.create_task(
            dispatcher.start_polling(
                bot, polling_timeout=2, handle_signals=False, close_bot_session=False
            )
        )
        cpu = cpu_seconds()
        try:
            result = await drive(load, "bare", timing, trainees * PRESSES, polling, limit)
        finally:
            cpu = since(cpu)
            with contextlib.suppress(RuntimeError):
                await dispatcher.stop_polling()
            await asyncio.wait_for(polling, 30)
        # The last batch is not confirmed yet: the real bot must not get it.
        await bot.delete_webhook(drop_pending_updates=True)
    finally:
        await bot.session.close()
    return Phase("bare", timing, result, cpu)


async def real_phase(
    load: LoadProcess, url: str, trainees: int, clock: MovableClock, limit: float
) -> Phase:
    """The bot as `xueyong run` runs it: the wave opens, invitations go out, phones answer."""
    from bot.app import build_app, run_polling
    from bot.config import load_settings

    settings = load_settings(
        BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE=load.url,
        DATABASE_URL=url,
        REDIS_URL="",
        POLLING_TIMEOUT=2,
        DELIVERY_RATE=10_000,
        DELIVERY_CONCURRENCY=32,
    )
    app = build_app(settings, clock=clock)
    timing = Timing()
    app.dispatcher.update.outer_middleware(timing)
    app.bot.session.middleware(timing.received)
    started = asyncio.Event()

    async def on_startup() -> None:
        started.set()

    app.dispatcher.startup.register(on_startup)
    task = asyncio.create_task(run_polling(app, handle_signals=False))
    waiter = asyncio.create_task(started.wait())
    await asyncio.wait({waiter, task}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
    if not started.is_set():
        waiter.cancel()
        if task.done():
            task.result()  # raises what kept the bot from starting
        task.cancel()
        raise TimeoutError("the bot did not start")
    counter = LockCounter()
    logging.getLogger().addHandler(counter)
    try:
        await app.background.sweep()  # the scheduler's first sweep may have opened it
        await asyncio.wait_for(app.background.worker.wait_idle(), 120)
        sent = app.background.worker.stats.sent
        print(f"  real: the wave is open, {sent} invitations sent", flush=True)
        if sent < trainees:
            raise RuntimeError(f"only {sent} of {trainees} invitations were sent")
        counter.count = 0  # only what happens while the trainees answer
        cpu = cpu_seconds()
        result = await drive(load, "real", timing, trainees * PRESSES, task, limit)
        cpu = since(cpu)
    finally:
        logging.getLogger().removeHandler(counter)
        with contextlib.suppress(RuntimeError):
            await app.dispatcher.stop_polling()
        await asyncio.wait_for(task, 30)
    return Phase("real", timing, result, cpu, logged_locks=counter.count)


@contextlib.asynccontextmanager
async def database(admin_url: str | None, workdir: Path) -> AsyncIterator[str]:
    """A fresh SQLite file, or a fresh PostgreSQL database on `admin_url`'s server."""
    if not admin_url:
        yield f"sqlite+aiosqlite:///{workdir / 'bench.sqlite3'}"
        return
    import asyncpg
    from sqlalchemy.engine import make_url

    admin = make_url(admin_url)
    if admin.get_backend_name() != "postgresql":
        raise SystemExit("--database-url: a postgresql+asyncpg:// URL (or none for SQLite)")
    name = f"xy_bench_{uuid.uuid4().hex[:12]}"

    async def execute(sql: str) -> None:
        conn = await asyncpg.connect(
            host=admin.host,
            port=admin.port or 5432,
            user=admin.username,
            password=admin.password,
            database=admin.database or "postgres",
        )
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    await execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        await execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def print_figures(
    backend: str, trainees: int, real: Phase, bare: Phase, wall: float, think: float = 0.0
) -> bool:
    def roundtrip(p: Phase) -> str:
        p50, _, p99 = p.load["roundtrip_ms"]
        return f"{p50:.0f}/{p99:.0f} ms"

    def finished(p: Phase) -> str:
        done = p.load["phones"] - p.load["failed"] - p.load["stopped"]
        return f"{done}/{p.load['phones']}"

    rows: list[tuple[str, Callable[[Phase], str]]] = [
        ("callback updates handled", lambda p: f"{p.timing.count}"),
        ("time first to last update", lambda p: f"{p.seconds:.1f} s"),
        ("updates/s", lambda p: f"{p.rate:.0f}"),
        ("server time p50", lambda p: f"{p.ms(50):.1f} ms"),
        ("server time p95", lambda p: f"{p.ms(95):.1f} ms"),
        ("server time p99", lambda p: f"{p.ms(99):.1f} ms"),
        ("server time max", lambda p: f"{p.ms(100):.1f} ms"),
        ("  own CPU on loop p50/95/99", lambda p: f"{p.three('on_loop')} ms"),
        ("slot wait before p50/95/99", lambda p: f"{p.three('slot_waits')} ms"),
        ('"database is locked"', lambda p: f"{p.locks}"),
        ("handler errors", lambda p: f"{sum(p.timing.errors.values())}"),
        ("Bot API calls refused", lambda p: f"{p.load['refused_total']}"),
        ("error toasts (phone retried)", lambda p: f"{p.load['toasts']}"),
        ("phones finished", finished),
        ("phone round trip p50/p99", roundtrip),
        (
            "bot CPU per update",
            lambda p: "{:.1f} ms ({:.1f} loop)".format(
                *(1000 * c / max(1, p.timing.count) for c in p.cpu)
            ),
        ),
        ("load process CPU", lambda p: f"{p.load['cpu_seconds']:.0f} s"),
    ]
    print()
    pace = f", a pause of ~{think:g} s before each press" if think else ", each press at once"
    print(f"LTSI under load on {backend}: {trainees} trainees, {QUESTIONS} questions each{pace}")
    print(f"{'':28} {'real bot':>20} {'bare bot':>20}")
    for label, value in rows:
        print(f"{label:28} {value(real):>20} {value(bare):>20}")
    for phase in (real, bare):
        if phase.timing.errors:
            print(f"{phase.name} handler errors: {dict(phase.timing.errors)}")
        if phase.load["refused"]:
            print(f"{phase.name} refused calls: {phase.load['refused']}")
        for failure in phase.load["failures"]:
            print(f"{phase.name} phone failed: {failure}")
    ratio = real.rate / bare.rate if bare.rate else 0.0
    checks = [
        (f"p99 under {P99_TARGET_MS:.0f} ms", f"{real.ms(99):.1f} ms", real.ms(99) < P99_TARGET_MS),
        ('no "database is locked"', f"{real.locks}", real.locks == 0),
        (f"at least {RATIO_TARGET:.0%} of the bare bot", f"{ratio:.0%}", ratio >= RATIO_TARGET),
        (
            "every phone finished",
            f"{real.load['failed']} failed, {real.load['stopped']} stopped",
            real.load["failed"] == real.load["stopped"] == 0,
        ),
    ]
    print()
    print(f"ratio real/bare {ratio:.2f} ({real.rate:.0f} / {bare.rate:.0f} updates/s)")
    for label, figure, ok in checks:
        print(f"target: {label:33} {figure:>22}  {verdict(ok)}")
    print(f"wall time of the run: {wall:.0f} s")
    return all(ok for _, _, ok in checks)


async def bench_main(
    trainees: int, admin_url: str | None, limit: float, think: float = 0.0
) -> bool:
    wall = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="xy-bench-ltsi-"))
    log_path = workdir / "bot.log"
    logging.basicConfig(
        filename=log_path, level=logging.WARNING, format="%(asctime)s %(name)s %(message)s"
    )
    backend = "PostgreSQL" if admin_url else "SQLite"
    print(f"LTSI load on {backend}; bot log: {log_path}", flush=True)
    # One clock for seeding and the bot: day 30 at 10:05 in Shanghai, running on from there.
    clock = MovableClock(DAY30)
    async with database(admin_url, workdir) as url:
        load = await LoadProcess.start(trainees, think)
        try:
            print(f"seeding: a cohort and {trainees} trainees ...", flush=True)
            await seed(url, trainees, clock)
            print("bare bot: a Dispatcher that only answers callbacks ...", flush=True)
            bare = await bare_phase(load, trainees, limit)
            print("real bot: the day-30 self-check ...", flush=True)
            real = await real_phase(load, url, trainees, clock, limit)
        finally:
            await load.stop()
    return print_figures(backend, trainees, real, bare, time.perf_counter() - wall, think)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trainees", type=int, default=200)
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL server to create a database on; SQLite if unset",
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        default=120.0,
        help="seconds after which the phones of a phase stop pressing (default 120)",
    )
    parser.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="a phone's mean pause in seconds before each press (0: at once, the default; "
        "a person takes 3-10 s a question)",
    )
    parser.add_argument(
        "--role", choices=("bench", "load"), default="bench", help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.role == "load":
        asyncio.run(load_main(args.trainees, args.think))
        return
    passed = asyncio.run(bench_main(args.trainees, args.database_url, args.time_limit, args.think))
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
