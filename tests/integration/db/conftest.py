"""An SQLite file with one table, the trips to SQLite's thread, and a second engine on
the file as another process would have it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from core.db import Database, create_database


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = create_database(make_url(f"sqlite+aiosqlite:///{tmp_path / 'items.db'}"))
    async with db.engine.begin() as connection:
        await connection.execute(
            text("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL)")
        )
    yield db
    await db.dispose()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each call aiosqlite hands to its thread, by the function's name."""
    seen: list[str] = []
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return seen


@pytest.fixture
async def other_process(tmp_path: Path) -> AsyncIterator[Database]:
    """A second engine on the same file, as another process has, that waits 0.2 s at most
    for SQLite's write lock."""
    db = create_database(make_url(f"sqlite+aiosqlite:///{tmp_path / 'items.db'}"))

    @event.listens_for(db.engine.sync_engine, "connect")
    def _impatient(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.cursor().execute("PRAGMA busy_timeout=200")

    yield db
    await db.dispose()
