"""The FSM storage keeps conversations in the database: another process (another storage
on the same database) sees them, and they commit with the update's transaction."""

from __future__ import annotations

import pytest
from aiogram.fsm.storage.base import StorageKey
from sqlalchemy import event

from bot.storage import CURRENT_SESSION, DatabaseStorage, storage_key
from core.db import Database
from core.services.conversations import read_conversation, save_data, save_state
from tests.integration.bot.conftest import Harness

KEY = StorageKey(bot_id=1, chat_id=1001, user_id=1001)


async def test_a_conversation_survives_a_restart(db: Database) -> None:
    first = DatabaseStorage(db)
    await first.set_state(KEY, "Connect:login")
    await first.update_data(KEY, {"supplier_id": 7})
    second = DatabaseStorage(db)  # as a restarted or another bot process
    assert await second.get_state(KEY) == "Connect:login"
    assert await second.get_data(KEY) == {"supplier_id": 7}
    await second.set_state(KEY, None)
    await second.set_data(KEY, {})
    assert await first.get_state(KEY) is None
    assert await first.get_data(KEY) == {}


async def test_a_step_rolls_back_with_its_update(db: Database) -> None:
    storage = DatabaseStorage(db)
    await storage.set_state(KEY, "Connect:supplier")

    async def failing_step() -> None:
        async with db.transaction() as session:
            token = CURRENT_SESSION.set(session)
            try:
                await storage.set_state(KEY, "Connect:owner")
                assert await storage.get_state(KEY) == "Connect:owner"
                raise RuntimeError("the handler failed")
            finally:
                CURRENT_SESSION.reset(token)

    with pytest.raises(RuntimeError):
        await failing_step()
    assert await storage.get_state(KEY) == "Connect:supplier"


async def test_keys_of_other_people_are_apart(db: Database) -> None:
    storage = DatabaseStorage(db)
    other = StorageKey(bot_id=1, chat_id=1002, user_id=1002)
    await storage.set_state(KEY, "A:a")
    await storage.set_state(other, "B:b")
    assert (await storage.get_state(KEY), await storage.get_state(other)) == ("A:a", "B:b")


async def test_an_update_reads_its_state_inside_its_one_transaction(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # aiogram reads the state before any middleware of ours; read there, it cost every
    # update a read transaction of its own besides the update's one.
    _, code = await harness.workspace("Acme")
    marie = await harness.member("Marie", code)
    inside: list[bool] = []
    read = DatabaseStorage.get_state

    async def get_state(self: DatabaseStorage, key: StorageKey) -> str | None:
        inside.append(CURRENT_SESSION.get() is not None)
        return await read(self, key)

    monkeypatch.setattr(DatabaseStorage, "get_state", get_state)
    await marie.say("/help")
    await marie.wait_for_reply()
    await marie.say("/connect")
    await marie.wait_for_reply()
    assert inside
    assert all(inside)


async def test_a_step_written_twice_in_one_update_is_read_once_and_locked(db: Database) -> None:
    """On PostgreSQL the conversation's row is locked for the update (FOR UPDATE); on
    SQLite the update's transaction holds the database's write lock from its start, so
    the row it read is current and is not read again before each write."""
    key = storage_key(KEY)
    async with db.transaction() as session:
        await save_state(session=session, key=key, state="Connect:supplier")
    statements: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", seen)
    try:
        async with db.transaction() as session:
            row = await read_conversation(session=session, key=key)
            assert row is not None
            assert row.state == "Connect:supplier"
            await save_state(session=session, key=key, state="Connect:login")
            await save_data(session=session, key=key, data={"supplier_id": 7})
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", seen)
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    if db.backend == "sqlite":
        assert len(reads) == 1
    else:
        assert any("FOR UPDATE" in s for s in reads)
    storage = DatabaseStorage(db)
    assert (await storage.get_state(KEY), await storage.get_data(KEY)) == (
        "Connect:login",
        {"supplier_id": 7},
    )
