"""Cost of one sweep: it must grow with the due items, not with everyone enrolled.

    .venv/bin/python -m bench.sweep [--database-url URL]

Seeds N trainees (each with a future due item, as LTSI waves will be), makes D items due,
and times one sweep whose handler enqueues one outbox row per item (a realistic push).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from bench.seed import seed_trainees
from bot.config import load_settings
from bot.core import build_core
from bot.domain.delivery import Purpose
from bot.domain.ports import MovableClock
from bot.services.outbox import outbox_row
from bot.services.scheduling import Due, due_row
from bot.services.uow import UnitOfWork


async def push(uow: UnitOfWork, due: Due, now: datetime) -> None:
    await uow.outbox.enqueue(
        [
            outbox_row(
                f"bench:{due.key}",
                int(due.payload["chat"]),
                "text",
                {"text": "提醒"},
                purpose=Purpose.REMINDER,
                now=now,
            )
        ]
    )


async def measure(url: str, trainees: int, due: int) -> tuple[float, float]:
    core = build_core(load_settings(DATABASE_URL=url), clock=MovableClock())
    await core.migrate()
    try:
        created = await core.services.cohorts.create(
            name="bench", course_title="bench", ends_on=date(2030, 1, 1), timezone="Asia/Shanghai"
        )
        await seed_trainees(core, created.cohort.id, 10_000_000, trainees)
        core.sweeper.register("bench_push", push)
        now = core.clock.now()
        rows = [
            due_row("bench_push", f"later:{i}", now + timedelta(days=30), now, payload={"chat": i})
            for i in range(trainees)
        ] + [due_row("bench_push", f"now:{i}", now, now, payload={"chat": i}) for i in range(due)]
        for start in range(0, len(rows), 5000):
            async with core.uow() as uow:
                await uow.due.schedule(rows[start : start + 5000])
                await uow.commit()
        async with core.engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                await connection.execute(text("ANALYZE"))
                await connection.commit()
        # A sweep with nothing due: the fixed cost of looking.
        started = time.perf_counter()
        empty_core_now = now - timedelta(seconds=1)
        async with core.uow() as uow:
            await uow.due.due_ids(empty_core_now, 200)
        idle = time.perf_counter() - started
        report = await core.sweeper.sweep()
        assert report.done == due, report
        return report.seconds, idle
    finally:
        await core.close()


async def fresh_url(base: str | None, tag: str) -> tuple[str, str | None]:
    if not base:
        directory = tempfile.mkdtemp(prefix="xy-bench-")
        return f"sqlite+aiosqlite:///{Path(directory) / f'{tag}.sqlite3'}", None
    from tests.conftest import _create_pg_database

    return await _create_pg_database(base)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--database-url", default=None, help="PostgreSQL admin URL; SQLite if unset"
    )
    args = parser.parse_args()
    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(f"sweep cost on {backend}")
    print(f"{'trainees':>9} {'due':>6} {'sweep s':>8} {'ms/item':>8} {'idle ms':>8}")
    for trainees, due in ((10_000, 1_000), (100_000, 100), (100_000, 1_000)):
        url, db_name = await fresh_url(args.database_url, f"{trainees}-{due}")
        try:
            seconds, idle = await measure(url, trainees, due)
        finally:
            if db_name and args.database_url:
                from tests.conftest import _drop_pg_database

                await _drop_pg_database(args.database_url, db_name)
        print(
            f"{trainees:>9} {due:>6} {seconds:>8.2f} {seconds * 1000 / due:>8.2f} "
            f"{idle * 1000:>8.2f}"
        )


if __name__ == "__main__":
    asyncio.run(main())
