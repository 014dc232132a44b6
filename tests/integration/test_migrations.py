"""The migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import core.models  # noqa: F401
from core.db import Database
from core.db.migrate import current_revision, head_revision


async def test_the_migrated_schema_matches_the_models(db: Database) -> None:
    def _diff(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, SQLModel.metadata))

    async with db.engine.connect() as connection:
        differences = await connection.run_sync(_diff)
    assert differences == []
    assert await current_revision(db.engine) == head_revision()
