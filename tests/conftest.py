"""Shared fixtures: a fresh database per test, on SQLite always and on PostgreSQL (with Redis
FSM storage) when TEST_DATABASE_URL (and TEST_REDIS_URL) are set.

Under pytest-xdist (`-n N`) every worker has its own Redis database: gw0 the one named in
TEST_REDIS_URL, gw1 the one below it, and so on (each test flushes its worker's database).
PostgreSQL needs nothing: every test creates a database of its own.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy.engine import make_url


def _worker_redis_url(url: str, worker: str) -> str:
    """The Redis database of xdist worker `worker` ("gw<N>"; "" outside xdist): the one in
    `url` less N, so that workers never flush each other's data."""
    if not url or not worker.startswith("gw"):
        return url
    index = int(worker.removeprefix("gw"))
    if index == 0:
        return url
    parts = urlsplit(url)
    if "db=" in parts.query:
        raise pytest.UsageError(f"TEST_REDIS_URL: give the database as the path, not ?db=: {url}")
    base = int(parts.path.strip("/") or "0")
    if index > base:
        raise pytest.UsageError(
            f"TEST_REDIS_URL names Redis database {base}: too low for {index + 1} xdist workers,"
            " each of which takes the one below the previous one's"
        )
    return urlunsplit(parts._replace(path=f"/{base - index}"))


TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
TEST_REDIS_URL = _worker_redis_url(
    os.environ.get("TEST_REDIS_URL", ""), os.environ.get("PYTEST_XDIST_WORKER", "")
)


T = TypeVar("T")

# Every start of the bot (bot.core.build_core) reads and checks all of content/: about a
# second of CPU, mostly YAML parsing and compiling a thousand Jinja templates, for each of the
# hundreds of starts and restarts in the suite. What it gives depends on nothing but those
# files, so a test process reads them once for each version of them (the content's own tests
# call the loaders themselves, and a failed load is not remembered).
CONTENT_LOADERS = ("load_texts", "load_ltsi", "load_topics")


def _content_version(directory: Path) -> tuple[object, ...]:
    """The files under `directory` and which version of each (a file edited: another one)."""
    stats = ((str(p), p.stat()) for p in directory.rglob("*") if p.is_file())
    return (directory.resolve(), *sorted((n, s.st_mtime_ns, s.st_size) for n, s in stats))


def _read_once(load: Callable[..., T]) -> Callable[..., T]:
    results: dict[object, T] = {}

    @functools.wraps(load)
    def cached(content_dir: Path, *args: Any, **kwargs: Any) -> T:
        key = (_content_version(Path(content_dir)), args, tuple(sorted(kwargs.items())))
        if key not in results:
            results[key] = load(content_dir, *args, **kwargs)
        return results[key]

    return cached


@pytest.fixture(scope="session", autouse=True)
def _content_read_once() -> Iterator[None]:
    import bot.core

    with pytest.MonkeyPatch.context() as patch:
        for name in CONTENT_LOADERS:
            if hasattr(bot.core, name):
                patch.setattr(bot.core, name, _read_once(getattr(bot.core, name)))
        yield


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
