"""Shared fixtures: a fresh database per test, on SQLite always and on PostgreSQL (with Redis
FSM storage) when TEST_DATABASE_URL (and TEST_REDIS_URL) are set."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "")


@dataclass(frozen=True)
class Backend:
    """Where one run of a test keeps its data."""

    name: str
    database_url: str
    redis_url: str | None


def _backend_params() -> list[pytest.param]:  # type: ignore[valid-type]
    params = [pytest.param("sqlite", id="sqlite+memory")]
    if TEST_DATABASE_URL:
        label = "postgresql+redis" if TEST_REDIS_URL else "postgresql+memory"
        params.append(pytest.param("postgresql", id=label))
    return params


async def _admin_execute(admin_url: str, sql: str) -> None:
    """Run one statement on the PostgreSQL server of `admin_url` (outside a transaction)."""
    import asyncpg

    url = make_url(admin_url)
    conn = await asyncpg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        database=url.database or "postgres",
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _create_pg_database(admin_url: str) -> tuple[str, str]:
    """A fresh, empty database on that server: (its URL, its name)."""
    name = f"xy_test_{uuid.uuid4().hex[:12]}"
    await _admin_execute(admin_url, f'CREATE DATABASE "{name}"')
    url = make_url(admin_url).set(database=name)
    return url.render_as_string(hide_password=False), name


async def _drop_pg_database(admin_url: str, name: str) -> None:
    await _admin_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _flush_redis(url: str) -> None:
    from redis.asyncio import Redis

    redis = Redis.from_url(url)
    try:
        await redis.flushdb()
    finally:
        await redis.aclose()


@pytest.fixture(params=_backend_params())
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        yield Backend("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'xueyong.sqlite3'}", None)
        return
    url, name = await _create_pg_database(TEST_DATABASE_URL)
    if TEST_REDIS_URL:
        await _flush_redis(TEST_REDIS_URL)
    try:
        yield Backend("postgresql", url, TEST_REDIS_URL or None)
    finally:
        await _drop_pg_database(TEST_DATABASE_URL, name)
        if TEST_REDIS_URL:
            await _flush_redis(TEST_REDIS_URL)
