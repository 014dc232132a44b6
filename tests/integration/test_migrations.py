"""The migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

import core.models  # noqa: F401
from core.db import Database
from core.db.migrate import current_revision, head_revision, upgrade


async def test_the_migrated_schema_matches_the_models(db: Database) -> None:
    def _diff(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, SQLModel.metadata))

    async with db.engine.connect() as connection:
        differences = await connection.run_sync(_diff)
    assert differences == []
    assert await current_revision(db.engine) == head_revision()


def test_the_head_read_from_the_files_is_alembics_head() -> None:
    """Commands read the head without loading Alembic; Alembic itself must agree."""
    from alembic.script import ScriptDirectory

    from core.db.migrate import _config

    assert head_revision() == ScriptDirectory.from_config(_config()).get_current_head()


async def test_an_empty_database_has_no_revision(tmp_path: Path) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    try:
        assert await current_revision(engine) is None
    finally:
        await engine.dispose()


async def test_conversations_of_the_old_chat_handlers_are_dropped_on_upgrade(
    tmp_path: Path,
) -> None:
    """A person mid-way through an old step (a sealed password kept) is not left stuck on
    a step no handler answers any more: the row goes, and they start again."""
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        await upgrade(engine, "0013")
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO conversation (key, state, data, updated_at) "
                    "VALUES ('1:2:2:default', 'Connect:password', '{\"secret\": \"v1:x\"}', "
                    "'2026-12-01 10:00:00')"
                )
            )
        await upgrade(engine)
        async with engine.connect() as connection:
            left = (await connection.execute(text("SELECT count(*) FROM conversation"))).scalar()
        assert left == 0
    finally:
        await engine.dispose()
