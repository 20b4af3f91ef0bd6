"""The FSM storage of a bot without Redis: the database, read once per key, written through."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import StorageKey
from sqlalchemy import func, select

from bot.config import load_settings
from bot.core import Core, build_core
from bot.db.models import FsmRecord
from bot.domain.ports import MovableClock
from bot.fsm_storage import DatabaseStorage
from tests.conftest import Backend

START = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


class Reflecting(StatesGroup):
    answer = State()


def key(user: int, bot_id: int = 42) -> StorageKey:
    return StorageKey(bot_id=bot_id, chat_id=user, user_id=user)


@pytest.fixture
async def core(backend: Backend) -> AsyncIterator[Core]:
    core = build_core(load_settings(DATABASE_URL=backend.database_url), clock=MovableClock(START))
    await core.migrate()
    try:
        yield core
    finally:
        await core.close()


async def rows(core: Core) -> int:
    async with core.uow() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(FsmRecord)) or 0)


async def test_a_conversation_survives_a_new_process(core: Core) -> None:
    storage = DatabaseStorage(core.uow, core.clock)
    assert await storage.get_state(key(1)) is None and await storage.get_data(key(1)) == {}
    await storage.set_state(key(1), Reflecting.answer)
    await storage.set_data(key(1), {"reflection": 7, "title": "加装电梯议事会"})
    assert await storage.update_data(key(1), {"question": 2}) == {
        "reflection": 7,
        "title": "加装电梯议事会",
        "question": 2,
    }
    assert await storage.get_state(key(2)) is None  # another person, another key
    assert await storage.get_state(key(1, bot_id=43)) is None  # another bot

    restarted = DatabaseStorage(core.uow, core.clock)
    assert await restarted.get_state(key(1)) == "Reflecting:answer"
    assert await restarted.get_data(key(1)) == {
        "reflection": 7,
        "title": "加装电梯议事会",
        "question": 2,
    }
    async with core.uow() as uow:
        [row] = (await uow.session.scalars(select(FsmRecord))).all()
    assert (row.user_id, row.state) == (1, "Reflecting:answer")
    assert START <= row.updated_at <= core.clock.now()
    assert "加装电梯议事会" in row.data  # readable JSON, not escapes


async def test_a_cleared_conversation_leaves_no_row(core: Core) -> None:
    storage = DatabaseStorage(core.uow, core.clock)
    await storage.set_state(key(1), "Plan:goal")
    await storage.set_data(key(1), {"plan": 3})
    await storage.set_state(key(2), "Plan:goal")
    assert await rows(core) == 2
    await storage.set_state(key(1), None)
    await storage.set_data(key(1), {})  # FSMContext.clear()
    assert await rows(core) == 1
    assert await DatabaseStorage(core.uow, core.clock).get_state(key(1)) is None
    # Data without a state is kept (a choice remembered before a conversation starts).
    await storage.set_state(key(2), None)
    await storage.update_data(key(2), {"locale": "en"})
    assert await DatabaseStorage(core.uow, core.clock).get_data(key(2)) == {"locale": "en"}


async def test_what_json_cannot_hold_is_refused_and_the_cache_is_a_copy(core: Core) -> None:
    storage = DatabaseStorage(core.uow, core.clock, cache_size=2)
    with pytest.raises(TypeError):
        await storage.set_data(key(1), {"when": datetime(2026, 12, 1)})
    data = {"ids": [1, 2]}
    await storage.set_data(key(1), data)
    data["ids"].append(3)  # the caller's dict changed afterwards
    got = await storage.get_data(key(1))
    got["x"] = 1
    assert await storage.get_data(key(1)) == {"ids": [1, 2]}
    # Beyond the cache's size, keys are read from the database again.
    for user in (2, 3, 4):
        await storage.set_state(key(user), f"S:{user}")
    assert [await storage.get_state(key(u)) for u in (1, 2, 3, 4)] == [None, "S:2", "S:3", "S:4"]
    assert await storage.get_data(key(1)) == {"ids": [1, 2]}
