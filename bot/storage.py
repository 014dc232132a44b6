"""aiogram's FSM storage over Courier's database, so several bot processes share the
conversations and a restart keeps them.

Inside an update, the storage writes through that update's transaction (the unit of work
the middleware opened), so a conversation's step commits with the work it did, or not
at all. Outside one (a prompt from elsewhere), it opens a short transaction of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey
from sqlmodel.ext.asyncio.session import AsyncSession

from core.db import Database
from core.services.conversations import read_conversation, save_data, save_state

#: The session of the update being handled, set by the unit-of-work middleware.
CURRENT_SESSION: ContextVar[AsyncSession | None] = ContextVar("courier_bot_session", default=None)


def storage_key(key: StorageKey) -> str:
    parts = [str(key.bot_id), str(key.chat_id), str(key.user_id)]
    if key.thread_id:
        parts.append(f"t{key.thread_id}")
    if key.business_connection_id:
        parts.append(f"b{key.business_connection_id}")
    parts.append(key.destiny)
    return ":".join(parts)


class DatabaseStorage(BaseStorage):
    def __init__(self, db: Database) -> None:
        self.db = db

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncSession]:
        current = CURRENT_SESSION.get()
        if current is not None:
            yield current
            return
        async with self.db.transaction() as session:
            yield session

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[AsyncSession]:
        current = CURRENT_SESSION.get()
        if current is not None:
            yield current
            return
        async with self.db.read() as session:
            yield session

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        async with self._writing() as session:
            await save_state(session=session, key=storage_key(key), state=value)

    async def get_state(self, key: StorageKey) -> str | None:
        async with self._reading() as session:
            row = await read_conversation(session=session, key=storage_key(key))
            return row.state if row is not None else None

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        async with self._writing() as session:
            await save_data(session=session, key=storage_key(key), data=dict(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        async with self._reading() as session:
            row = await read_conversation(session=session, key=storage_key(key))
            return dict(row.data) if row is not None else {}

    async def close(self) -> None:
        """The database belongs to the runtime, which closes it."""
