"""SQLite's group commit: units queued for the writer share one COMMIT, and each still
returns only once its work is durable, alone in what it rolls back."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from core.db import Database


async def names(db: Database) -> list[str]:
    async with db.read() as session:
        rows = await (await session.connection()).execute(text("SELECT name FROM item"))
        return sorted(rows.scalars())


async def add(db: Database, name: str, elsewhere: Database | None = None) -> None:
    async with db.transaction() as session:
        await (await session.connection()).execute(
            text("INSERT INTO item (name) VALUES (:name)"), {"name": name}
        )
        await asyncio.sleep(0)  # the others queue meanwhile
    if elsewhere is not None:
        # Returned: durable, and there for every other connection to read.
        assert name in await names(elsewhere)


async def test_units_queued_together_share_one_commit_and_each_returns_durable(
    database: Database, other_process: Database, trips: list[str]
) -> None:
    await asyncio.gather(*(add(database, f"n{i}", other_process) for i in range(10)))
    assert await names(other_process) == sorted(f"n{i}" for i in range(10))
    assert 1 <= trips.count("commit") < 10


async def test_a_unit_that_fails_undoes_its_own_work_only(database: Database) -> None:
    async def fails() -> None:
        async with database.transaction() as session:
            await (await session.connection()).execute(text("INSERT INTO item (name) VALUES ('x')"))
            raise ValueError("refused")

    outcomes = await asyncio.gather(
        add(database, "a"), fails(), add(database, "b"), return_exceptions=True
    )
    assert [type(o).__name__ for o in outcomes] == ["NoneType", "ValueError", "NoneType"]
    assert await names(database) == ["a", "b"]


async def test_a_constraint_refused_leaves_the_others_of_the_group_alone(
    database: Database,
) -> None:
    outcomes = await asyncio.gather(
        add(database, "a"), add(database, "a"), add(database, "b"), return_exceptions=True
    )
    assert [type(o).__name__ for o in outcomes] == ["NoneType", "IntegrityError", "NoneType"]
    assert await names(database) == ["a", "b"]


async def test_a_database_failure_fails_every_unit_of_its_group_and_keeps_none(
    database: Database,
) -> None:
    async def breaks() -> None:
        async with database.transaction() as session:
            await (await session.connection()).execute(text("SELECT * FROM nowhere"))

    outcomes = await asyncio.gather(
        add(database, "a"), breaks(), add(database, "b"), return_exceptions=True
    )
    # "a" was in the transaction SQLite might have lost: told it failed, not kept.
    failed = [type(o).__name__ for o in outcomes]
    assert failed == ["OperationalError", "OperationalError", "NoneType"]
    assert await names(database) == ["b"]
    await add(database, "after")  # the next unit starts afresh
    assert "after" in await names(database)


async def test_a_unit_cancelled_in_the_queue_leaves_no_one_waiting(database: Database) -> None:
    first_in = asyncio.Event()
    let_go = asyncio.Event()

    async def holds() -> None:
        async with database.transaction() as session:
            await (await session.connection()).execute(text("INSERT INTO item (name) VALUES ('h')"))
            first_in.set()
            await let_go.wait()

    holder = asyncio.create_task(holds())
    await first_in.wait()
    queued = asyncio.create_task(add(database, "q"))
    await asyncio.sleep(0.01)
    let_go.set()  # "h" sees "q" queued and leaves the transaction open for it...
    await asyncio.sleep(0)
    queued.cancel()  # ...which gives up before its turn
    await asyncio.wait_for(holder, timeout=5)
    assert await names(database) == ["h"]
