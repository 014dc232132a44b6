"""Applies and inspects Alembic migrations on an async engine.

`python -m core.db.migrate revision "message"` writes a new migration by comparing the
models with a fresh SQLite database migrated to head.
"""

from __future__ import annotations

import ast
import asyncio
import sys
import tempfile
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Connection

MIGRATIONS = Path(__file__).parent / "migrations"
VERSIONS = MIGRATIONS / "versions"


def _config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _assigned(module: ast.Module, name: str) -> str | None:
    for node in module.body:
        target: ast.expr
        if isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id == name and value is not None:
            found = ast.literal_eval(value)
            return found if isinstance(found, str) else None
    return None


@cache
def head_revision() -> str:
    """The newest migration, read from the files' `revision` and `down_revision` lines.

    Every command checks the schema against it; Alembic's own ScriptDirectory would import
    Alembic, Mako and every migration first, a fifth of a second on each `courier` launch.
    Alembic itself is loaded only to upgrade. A test holds this reading to Alembic's.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in VERSIONS.glob("*.py"):
        module = ast.parse(path.read_text(encoding="utf-8"))
        revision = _assigned(module, "revision")
        if revision is None:
            continue
        revisions.add(revision)
        parent = _assigned(module, "down_revision")
        if parent is not None:
            parents.add(parent)
    heads = revisions - parents
    assert len(heads) == 1, f"migrations must have one head, found {sorted(heads)}"
    return heads.pop()


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    from alembic import command

    def _run(connection: Connection) -> None:
        command.upgrade(_config(connection), revision)

    async with engine.begin() as connection:
        await connection.run_sync(_run)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The schema's revision, from Alembic's own table; None for an empty database."""
    async with engine.connect() as connection:
        try:
            found = await connection.scalar(text("SELECT version_num FROM alembic_version"))
        except (OperationalError, ProgrammingError, DBAPIError) as err:
            if "alembic_version" not in str(err):
                raise
            return None
    return str(found) if found is not None else None


async def _autogenerate(message: str) -> None:
    from alembic import command

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
