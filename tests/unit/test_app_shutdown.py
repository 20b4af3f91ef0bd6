"""Shutting down closes the FSM storage last: aiogram's own shutdown step closed it before
the updates in flight had finished, and on Redis they lost their connection mid-way."""

from __future__ import annotations

from pathlib import Path

from aiogram.fsm.storage.redis import RedisStorage

from bot.app import build_app
from bot.config import load_settings
from tests.e2e.harness import TOKEN


async def test_the_storage_outlives_the_updates_in_flight(tmp_path: Path) -> None:
    settings = load_settings(
        BOT_TOKEN=TOKEN,
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'x.sqlite3'}",
        REDIS_URL="redis://127.0.0.1:6379/0",  # never contacted here
    )
    app = build_app(settings)
    try:
        assert isinstance(app.storage, RedisStorage)
        steps = [h.callback for h in app.dispatcher.shutdown.handlers]
        assert app.dispatcher.fsm.close not in steps
        assert len(steps) == 1  # ours: wait for the updates in flight, then stop the rest
    finally:
        await app.close()  # closes the storage, after everything else
