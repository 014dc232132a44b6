"""Applies and inspects Alembic migrations on an async engine.

`python -m core.db.migrate revision "message"` writes a new migration by comparing the
models with a fresh SQLite database migrated to head.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "no migration found"
    return head


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    def _run(connection: Connection) -> None:
        command.upgrade(_config(connection), revision)

    async with engine.begin() as connection:
        await connection.run_sync(_run)


async def current_revision(engine: AsyncEngine) -> str | None:
    def _read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as connection:
        return await connection.run_sync(_read)


async def _autogenerate(message: str) -> None:
    from core.db.database import create_engine

    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(make_url(f"sqlite+aiosqlite:///{tmp}/autogen.db"))
        await upgrade(engine)

        def _revise(connection: Connection) -> None:
            command.revision(_config(connection), message=message, autogenerate=True)

        async with engine.begin() as connection:
            await connection.run_sync(_revise)
        await engine.dispose()


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "revision":
        sys.exit('usage: python -m core.db.migrate revision "what changed"')
    asyncio.run(_autogenerate(sys.argv[2]))
