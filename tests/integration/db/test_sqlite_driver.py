"""Courier's SQLite driver: each statement is one trip to SQLite's thread, and SQLAlchemy
still gets what the standard adapter gives it (rows, counts, new ids, errors)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import CursorResult, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel.ext.asyncio.session import AsyncSession

from core.db import Database


async def run(session: AsyncSession, sql: str, params: Any = None) -> CursorResult[Any]:
    return await (await session.connection()).execute(text(sql), params)


async def test_a_select_crosses_to_sqlites_thread_once(
    database: Database, trips: list[str]
) -> None:
    async with database.transaction() as session:
        await run(session, "INSERT INTO item (name) VALUES ('a'), ('b')")
        trips.clear()
        rows = (await run(session, "SELECT id, name FROM item ORDER BY id")).all()
        assert trips == ["_in_thread"]
    assert [tuple(row) for row in rows] == [(1, "a"), (2, "b")]


async def test_counts_new_ids_and_returned_rows_reach_sqlalchemy(database: Database) -> None:
    async with database.transaction() as session:
        assert (await run(session, "INSERT INTO item (name) VALUES ('a')")).lastrowid == 1
        returned = await run(session, "INSERT INTO item (name) VALUES ('b'), ('c') RETURNING id")
        assert returned.scalars().all() == [2, 3]
        assert (await run(session, "UPDATE item SET name = name || '!'")).rowcount == 3
        empty = await run(session, "SELECT id FROM item WHERE name = 'none'")
        assert empty.all() == []
        assert list(empty.keys()) == ["id"]
    async with database.read() as session:
        names = (await run(session, "SELECT name FROM item ORDER BY id")).scalars()
        assert list(names) == ["a!", "b!", "c!"]


async def test_many_rows_at_once(database: Database) -> None:
    async with database.engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO item (name) VALUES (:name)"), [{"name": f"n{i}"} for i in range(50)]
        )
        count = (await connection.execute(text("SELECT count(*) FROM item"))).scalar_one()
    assert count == 50


async def test_a_failed_statement_is_sqlalchemys_error_and_the_unit_rolls_back(
    database: Database,
) -> None:
    async def twice() -> None:
        async with database.transaction() as session:
            await run(session, "INSERT INTO item (name) VALUES ('twice')")
            await run(session, "INSERT INTO item (name) VALUES (:n)", {"n": "twice"})

    with pytest.raises(IntegrityError) as caught:
        await twice()
    assert "UNIQUE constraint failed" in str(caught.value)
    assert "'twice'" not in str(caught.value)  # parameters stay hidden, as before
    async with database.read() as session:
        assert (await run(session, "SELECT count(*) FROM item")).scalar_one() == 0
    # The connection went back to the pool in working order.
    async with database.transaction() as session:
        await run(session, "INSERT INTO item (name) VALUES ('after')")
    async with database.read() as session:
        assert (await run(session, "SELECT name FROM item")).scalar_one() == "after"


async def test_streamed_results_keep_working(database: Database) -> None:
    async with database.engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO item (name) VALUES (:name)"), [{"name": f"n{i}"} for i in range(5)]
        )
        result = await connection.stream(text("SELECT name FROM item ORDER BY id"))
        names = [row[0] async for row in result]
    assert names == [f"n{i}" for i in range(5)]


async def test_a_unit_of_one_statement_crosses_twice_its_begin_riding_with_the_statement(
    database: Database, trips: list[str]
) -> None:
    async with database.transaction() as session:
        await run(session, "INSERT INTO item (name) VALUES ('a')")
    # BEGIN IMMEDIATE went with the INSERT; after the commit, no rollback is sent back.
    assert trips == ["_in_thread", "commit"]
    trips.clear()
    async with database.transaction():
        pass  # nothing asked of the database: no trip at all
    assert trips == []


async def write(db: Database) -> None:
    async with db.transaction() as session:
        await run(session, "INSERT INTO item (name) VALUES (hex(randomblob(8)))")


def locked_out() -> Any:
    return pytest.raises(OperationalError, match="database is locked")


async def test_the_write_lock_is_held_from_the_units_first_statement_even_a_read(
    database: Database, other_process: Database
) -> None:
    async with database.transaction() as session:
        await write(other_process)  # BEGIN held back: nothing is locked yet
        await run(session, "SELECT count(*) FROM item")
        with locked_out():
            await write(other_process)
    await write(other_process)  # committed, released
    async with database.read() as session:
        assert (await run(session, "SELECT count(*) FROM item")).scalar_one() == 2


async def test_a_streamed_first_statement_opens_its_transaction_first(
    database: Database, other_process: Database
) -> None:
    async with database.transaction() as session:
        result = await (await session.connection()).stream(text("SELECT name FROM item"))
        assert [tuple(row) async for row in result] == []
        with locked_out():
            await write(other_process)


async def test_a_first_statement_that_fails_leaves_the_connection_clean(
    database: Database, trips: list[str]
) -> None:
    with pytest.raises(OperationalError):
        async with database.transaction() as session:
            await run(session, "SELECT nothing FROM nowhere")
    # Back to the unit's savepoint, then, since SQLite may have ended the transaction
    # itself, the whole of it rolled back (core/db/group_commit.py).
    assert trips == ["_in_thread", "_in_thread", "rollback"]
    async with database.transaction() as session:
        await run(session, "INSERT INTO item (name) VALUES ('after')")
    async with database.read() as session:
        assert (await run(session, "SELECT name FROM item")).scalar_one() == "after"
