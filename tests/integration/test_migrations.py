"""The Alembic migrations build exactly the schema the models describe, on every backend."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection

from bot.db.engine import create_engine
from bot.db.migrate import upgrade_to_head
from bot.db.models import Base
from tests.conftest import Backend


async def test_migrations_match_the_models(backend: Backend) -> None:
    engine = create_engine(backend.database_url)
    try:
        await upgrade_to_head(engine)
        await upgrade_to_head(engine)  # a second run is a no-op

        def diff(connection: Connection) -> list[object]:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))

        async with engine.connect() as connection:
            assert await connection.run_sync(diff) == []
    finally:
        await engine.dispose()


async def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'db' / 'x.sqlite3'}")
    try:
        async with engine.connect() as connection:
            mode = (await connection.execute(text("PRAGMA journal_mode"))).scalar()
            timeout = (await connection.execute(text("PRAGMA busy_timeout"))).scalar()
            fks = (await connection.execute(text("PRAGMA foreign_keys"))).scalar()
        assert (mode, timeout, fks) == ("wal", 15000, 1)
    finally:
        await engine.dispose()


async def test_replicas_started_together_migrate_once(backend: Backend, tmp_path: Path) -> None:
    """Three processes starting at the same moment on an empty database (replicas without the
    compose file's migrate job): one builds the schema, the others wait and find it built."""
    env = {**os.environ, "DATABASE_URL": backend.database_url, "BOT_TOKEN": ""}
    runs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "migrate", env=env, cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        for _ in range(3)
    ]  # fmt: skip
    outputs = await asyncio.gather(*(run.communicate() for run in runs))
    for run, (output, _) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, output.decode()[-2000:]
    engine = create_engine(backend.database_url)
    try:
        async with engine.connect() as connection:
            versions = await connection.execute(text("SELECT version_num FROM alembic_version"))
            assert len(versions.all()) == 1
    finally:
        await engine.dispose()
