"""A pooled PostgreSQL connection the server dropped while it sat idle is replaced before
a unit of work uses it; one that answered a moment ago is used without a check."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection
from sqlalchemy.engine import make_url

from core.db import Database, create_database, liveness
from tests.conftest import PG_URL

pytestmark = pytest.mark.parametrize(
    "db", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


async def _backend_pid(db: Database) -> int:
    async with db.transaction() as session:
        return int(await session.scalar(text("SELECT pg_backend_pid()")))


async def _terminate(pid: int) -> None:
    """The server ends that connection, as a restart or a proxy would."""
    admin = create_database(make_url(PG_URL))
    try:
        async with admin.engine.connect() as connection:
            ended = await connection.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        assert ended
    finally:
        await admin.dispose()


async def test_a_connection_dropped_while_idle_is_replaced_before_use(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As after a server restart or a proxy's idle timeout: the next unit works."""
    dropped = await _backend_pid(db)
    await _terminate(dropped)
    monkeypatch.setattr(liveness, "TRUSTED_SECONDS", 0.0)  # idle long enough to be checked

    assert await _backend_pid(db) != dropped


async def test_a_connection_that_just_answered_is_not_checked_again(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _backend_pid(db)  # the pool holds a connection now
    pings: list[object] = []
    real: Any = AsyncAdapt_asyncpg_connection.ping

    def ping(self: AsyncAdapt_asyncpg_connection) -> None:
        pings.append(self)
        real(self)

    monkeypatch.setattr(AsyncAdapt_asyncpg_connection, "ping", ping)
    for _ in range(3):
        await _backend_pid(db)
    assert pings == []

    monkeypatch.setattr(liveness, "TRUSTED_SECONDS", 0.0)
    await _backend_pid(db)
    assert len(pings) == 1
