"""aiogram FSM storage in the database, for a bot without Redis.

Where the conversation stands (the step a person is at, and what that step needs to know:
which plan, which milestone, the title typed a moment ago) is kept in `fsm_states`, so a
restart of a single-process bot (the SQLite default) does not leave a person mid-reflection
with "没看懂" for their next answer: it goes on where it was.

The process is the only one using the table (several replicas share Redis instead), so it
reads a key from the database once and then from memory; every change is written through
at once, in the order it was made. Only people in a conversation have a row: a cleared
state deletes it.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, StateType, StorageKey
from sqlalchemy import delete, select

from bot.db.engine import insert_for
from bot.db.models import FsmRecord

if TYPE_CHECKING:
    from bot.domain.ports import Clock
    from bot.services.uow import UowFactory

# Keys remembered in memory (those without a conversation too, so that an update from a
# person who is in none costs no query); the oldest is read again from the database.
CACHE_SIZE = 50_000

_Entry = tuple[str | None, dict[str, Any]]
_EMPTY: _Entry = (None, {})


class DatabaseStorage(BaseStorage):
    def __init__(self, uow: UowFactory, clock: Clock, *, cache_size: int = CACHE_SIZE) -> None:
        self._uow = uow
        self._clock = clock
        self._keys = DefaultKeyBuilder(with_bot_id=True, with_destiny=True)
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self._cache_size = cache_size
        self._write = asyncio.Lock()

    async def _entry(self, key: StorageKey) -> tuple[str, _Entry]:
        name = self._keys.build(key)
        entry = self._cache.get(name)
        if entry is None:
            async with self._uow() as uow:
                row = (
                    await uow.session.execute(
                        select(FsmRecord.state, FsmRecord.data).where(FsmRecord.key == name)
                    )
                ).one_or_none()
            entry = _EMPTY if row is None else (row.state, json.loads(row.data))
            self._remember(name, entry)
        else:
            self._cache.move_to_end(name)
        return name, entry

    def _remember(self, name: str, entry: _Entry) -> None:
        self._cache[name] = entry
        self._cache.move_to_end(name)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    async def _store(self, key: StorageKey, name: str, entry: _Entry) -> None:
        self._remember(name, entry)
        state, data = entry
        async with self._write, self._uow() as uow, uow.writing():
            if state is None and not data:
                await uow.session.execute(delete(FsmRecord).where(FsmRecord.key == name))
            else:
                values = {
                    "key": name,
                    "user_id": key.user_id,
                    "state": state,
                    "data": json.dumps(data, ensure_ascii=False),
                    "updated_at": self._clock.now(),
                }
                stmt = insert_for(uow.session, FsmRecord).values(values)
                await uow.session.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["key"],
                        set_={k: stmt.excluded[k] for k in ("state", "data", "updated_at")},
                    )
                )
            await uow.commit()

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        name, (_, data) = await self._entry(key)
        value = state.state if isinstance(state, State) else state
        await self._store(key, name, (value, data))

    async def get_state(self, key: StorageKey) -> str | None:
        _, (state, _) = await self._entry(key)
        return state

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        name, (state, _) = await self._entry(key)
        # JSON, as in Redis: what cannot be written fails here, in the handler that wrote it.
        copied = json.loads(json.dumps(dict(data), ensure_ascii=False))
        await self._store(key, name, (state, copied))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        _, (_, data) = await self._entry(key)
        return dict(data)

    async def close(self) -> None:
        self._cache.clear()
