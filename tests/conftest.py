"""Shared fixtures: settings in a temporary data dir, and a migrated database per backend.

The `db` fixture runs each test twice: on a real SQLite file and on the real PostgreSQL at
127.0.0.1:5432 (database `test`, in a private schema per run). PostgreSQL tests are skipped
with a visible reason only when no server answers, and never in CI, where that fails.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from core.config import Settings
from core.db import Database, create_database
from core.db.migrate import upgrade
from core.extraction.sandbox import shutdown_sandbox
from core.suppliers.woob.setup import WoobSetup

T = TypeVar("T")
#: The S3 bucket fixtures (moto on loopback), for the document store's tests.
pytest_plugins = ["tests.s3_bucket"]
PG_URL = os.environ.get("COURIER_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


def run_aside(coro: Coroutine[Any, Any, T]) -> T:
    """Run set-up work to completion on its own loop in a thread: session fixtures may be
    first requested from inside a test's running loop, where asyncio.run is not allowed."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    return Settings(_env_file=None, data_dir=data_dir, **overrides)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "var")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once; each test gets a copy, which is much faster."""
    path = tmp_path_factory.mktemp("template") / "courier.db"

    async def _migrate() -> None:
        db = create_database(make_url(f"sqlite+aiosqlite:///{path}"))
        await upgrade(db.engine)
        await db.dispose()  # the last connection to close folds the WAL into the file

    run_aside(_migrate())
    return path


async def _pg_answers() -> str | None:
    db = create_database(make_url(PG_URL))
    try:
        await asyncio.wait_for(db.ping(), timeout=5)
        return None
    except Exception as err:
        return f"no PostgreSQL at {PG_URL}: {err}"
    finally:
        await db.dispose()


@pytest.fixture(scope="session")
def pg_schema() -> Iterator[str]:
    """A schema of our own in the `test` database, migrated once, dropped at the end."""
    reason = run_aside(_pg_answers())
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the PostgreSQL tests: {reason}")
        pytest.skip(reason)
    schema = f"courier_test_{uuid.uuid4().hex[:10]}"

    async def _run(sql: str, migrate: bool) -> None:
        admin = create_database(make_url(PG_URL))
        async with admin.engine.begin() as connection:
            await connection.execute(text(sql))
        await admin.dispose()
        if migrate:
            db = create_database(
                make_url(PG_URL), connect_args={"server_settings": {"search_path": schema}}
            )
            await upgrade(db.engine)
            await db.dispose()

    run_aside(_run(f'CREATE SCHEMA "{schema}"', migrate=True))
    yield schema
    run_aside(_run(f'DROP SCHEMA "{schema}" CASCADE', migrate=False))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        path = tmp_path / "courier.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        database = create_database(make_url(f"sqlite+aiosqlite:///{path}"))
        yield database
        await database.dispose()
        return
    schema = request.getfixturevalue("pg_schema")
    database = create_database(
        make_url(PG_URL), connect_args={"server_settings": {"search_path": schema}}
    )
    yield database
    tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    async with database.engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    await database.dispose()


@pytest.fixture(scope="session", autouse=True)
def _stop_reading_sandbox() -> Iterator[None]:
    """The reading sandbox keeps a worker process between documents; end it with the run."""
    yield
    shutdown_sandbox()


@pytest.fixture(scope="session")
def woob(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> WoobSetup:
    """woob in its own virtualenv, installed by what `courier woob install` runs. It lives
    in pytest's cache folder and is reused while there: a fresh machine (CI) installs it
    from the registry once, in some 20 to 50 s; later runs take none. Workers share it
    (the install holds a lock)."""
    cache = getattr(request.config, "cache", None)
    home = Path(cache.mkdir("woob")) if cache is not None else tmp_path_factory.mktemp("woob")
    setup = WoobSetup(home)
    setup.install()
    return setup
