"""A worker waiting for work hears of it as the commit that made it lands, not at its poll.

The fetch waiting for a 2FA code is the first such worker: the code is typed in the chat
(the bot's process) or relayed from mail (the mail process), and the run goes on at once.
On PostgreSQL the wake-up crosses processes (LISTEN/NOTIFY); in one process it is an
event; and a rolled-back transaction wakes nobody.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.engine import make_url

from core.db import Database, create_database
from core.jobs.wakeups import CHALLENGES, Wakeups, wake
from tests.conftest import PG_URL

LONG = 30.0  # the poll the wake-up makes unnecessary


async def test_a_commit_wakes_a_waiter_of_the_same_process_at_once(db: Database) -> None:
    watch = await db.wakeups.watch(CHALLENGES)
    waiter = asyncio.create_task(db.wakeups.wait(watch, seconds=LONG))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    started = time.monotonic()
    async with db.transaction() as session:
        wake(session, CHALLENGES)
    assert await asyncio.wait_for(waiter, 5) is True
    assert time.monotonic() - started < 5


async def test_a_rolled_back_transaction_wakes_nobody(db: Database) -> None:
    watch = await db.wakeups.watch(CHALLENGES)
    with pytest.raises(RuntimeError):
        await _refused(db)
    assert await db.wakeups.wait(watch, seconds=0.3) is False


async def _refused(db: Database) -> None:
    async with db.transaction() as session:
        wake(session, CHALLENGES)
        raise RuntimeError("the answer was refused")


async def test_a_commit_between_the_look_and_the_wait_is_not_missed(db: Database) -> None:
    watch = await db.wakeups.watch(CHALLENGES)  # taken before looking for the work
    async with db.transaction() as session:  # lands while the waiter is still looking
        wake(session, CHALLENGES)
    started = time.monotonic()
    assert await db.wakeups.wait(watch, seconds=LONG) is True
    assert time.monotonic() - started < 1


async def test_an_unknown_channel_is_a_programming_error() -> None:
    wakeups = Wakeups(make_url("sqlite+aiosqlite://"))
    with pytest.raises(ValueError, match="unknown wake-up channel"):
        await wakeups.watch("nothing")


COMMIT_ELSEWHERE = """
import asyncio, sys
from sqlalchemy.engine import make_url
from core.db import create_database
from core.jobs.wakeups import CHALLENGES, Wakeups, wake
async def main():
    schema = {"server_settings": {"search_path": sys.argv[2]}}
    db = create_database(make_url(sys.argv[1]), connect_args=schema)
    async with db.transaction() as session:
        wake(session, CHALLENGES)
    await db.dispose()
asyncio.run(main())
"""


@pytest.fixture
async def pg_db(pg_schema: str) -> AsyncIterator[Database]:
    database = create_database(
        make_url(PG_URL), connect_args={"server_settings": {"search_path": pg_schema}}
    )
    yield database
    await database.dispose()


@pytest.mark.postgres
async def test_on_postgresql_a_commit_in_another_process_wakes_the_waiter(
    pg_db: Database, pg_schema: str
) -> None:
    watch = await pg_db.wakeups.watch(CHALLENGES)
    waiter = asyncio.create_task(pg_db.wakeups.wait(watch, seconds=LONG))
    other = await asyncio.create_subprocess_exec(
        sys.executable, "-c", COMMIT_ELSEWHERE, PG_URL, pg_schema
    )
    assert await asyncio.wait_for(other.wait(), 60) == 0
    started = time.monotonic()
    assert await asyncio.wait_for(waiter, 10) is True
    assert time.monotonic() - started < 10


async def test_a_listener_that_cannot_connect_leaves_polling_and_is_not_retried_at_each_look(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The database refuses the LISTEN connection: work is still found by polling, and a
    worker's every look does not wait for a connection that cannot be made."""
    import asyncpg  # type: ignore[import-untyped]

    attempts: list[str] = []

    async def refused(dsn: str, **_: object) -> None:
        attempts.append(dsn)
        raise OSError("connection refused")

    monkeypatch.setattr(asyncpg, "connect", refused)
    wakeups = Wakeups(make_url("postgresql+asyncpg://courier:s3cret@127.0.0.1:5432/x"))
    for _ in range(5):
        watch = await wakeups.watch(CHALLENGES)
        assert await wakeups.wait(watch, seconds=0.01) is False
    assert len(attempts) == 1
    assert "polling only" in caplog.text
    assert "s3cret" not in caplog.text
