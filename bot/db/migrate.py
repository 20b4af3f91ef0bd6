"""Run Alembic migrations from code, on the application's own async engine."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Held for the migration's transaction: replicas started together migrate one at a time
# (the others then find the schema at head and do nothing).
MIGRATION_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"xueyong:migrate").digest()[:8], "big", signed=True
)


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


@contextlib.asynccontextmanager
async def _sqlite_file_lock(engine: AsyncEngine) -> AsyncIterator[None]:
    """SQLite has no advisory locks: an flock on a file beside the database does the same
    between processes (and between engines of one process: each opens its own file)."""
    database = make_url(str(engine.url)).database
    if engine.dialect.name != "sqlite" or database in (None, "", ":memory:"):
        yield
        return
    lock_file = await asyncio.to_thread(Path(f"{database}.migrate-lock").open, "a+b")
    try:
        await asyncio.to_thread(fcntl.flock, lock_file.fileno(), fcntl.LOCK_EX)
        yield
    finally:
        lock_file.close()  # releases the lock


async def upgrade_to_head(engine: AsyncEngine) -> None:
    cfg = alembic_config()

    def _upgrade(connection: Connection) -> None:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")

    async with _sqlite_file_lock(engine), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        await connection.run_sync(_upgrade)
