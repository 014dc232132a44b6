"""Engine set-up per backend and the unit of work.

One transaction per inbound event: an entry point (a CLI command, a Telegram update, an
SMTP DATA, a scheduler tick) opens `Database.transaction()`; services receive the session
and only flush. Leaving the block commits; an exception rolls everything back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from core.db.group_commit import GroupCommit
from core.db.liveness import ping_when_idle
from core.db.rows import get_row, keep, known_absent
from core.db.sqlite_driver import one_trip_dbapi
from core.errors import DatabaseUnreachable
from core.file_modes import make_private_dir, make_private_file
from core.jobs.wakeups import Wakeups, pending

T = TypeVar("T")

# SQLite: WAL lets readers work while one writer writes; FULL makes each commit survive a
# crash of the process and of the machine, since an SMTP 250 promises exactly that.
READ_ONLY = "courier_read_only"
_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=30000",
)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide where transactions begin (see below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock up front: a read-then-write transaction can then
        # never fail half-way with "database is locked", and claims on SQLite are atomic.
        # Reads (Database.read) take no lock, so they never wait for a writer under WAL.
        if connection.get_execution_options().get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(
    url: URL, *, echo: bool = False, connect_args: dict[str, Any] | None = None
) -> AsyncEngine:
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            # It holds the sealed credentials: Courier's user only, from its first byte.
            make_private_dir(Path(url.database).parent)
            make_private_file(Path(url.database))
        engine = create_async_engine(
            url,
            echo=echo,
            module=one_trip_dbapi(),
            connect_args={"timeout": 30, **(connect_args or {})},
            hide_parameters=True,
        )
        _configure_sqlite(engine)
        return engine
    engine = create_async_engine(
        url,
        echo=echo,
        # A statement's parameters hold sealed credentials and codes: an IntegrityError
        # (or any DBAPIError) would otherwise carry them into every log that prints it.
        hide_parameters=True,
        connect_args=connect_args or {},
        # Checked before use only after an idle while (core/db/liveness.py), not always.
        pool_pre_ping=False,
        # As many kept open as a scheduler runs at once (fetch_concurrency): a connection
        # over the pool's size is closed as soon as it comes back, so with 10 kept every
        # other transaction of twenty runs paid a new connection (TCP, the SSL offer,
        # auth). The overflow is headroom for a peak, closed after it.
        pool_size=20,
        max_overflow=10,
    )
    ping_when_idle(engine)
    return engine


class Database:
    """The engine and the session factory; one per process."""

    def __init__(self, engine: AsyncEngine, *, namespace: str = "") -> None:
        self.engine = engine
        self._sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
        # SQLite has one writer at a time. Queueing writers here, in the loop, is far cheaper
        # than SQLite's busy handler, which sleeps for milliseconds between retries; and
        # the writers queued share one COMMIT (core/db/group_commit.py).
        self._group = GroupCommit(engine) if self.backend == "sqlite" else None
        #: What a commit wakes: this process's waiters, and on PostgreSQL every process's.
        self.wakeups = Wakeups(engine.url, namespace=namespace)

    @property
    def backend(self) -> str:
        return self.engine.url.get_backend_name()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """The unit of work: commit on success, roll back on any exception. The wake-ups
        it asked for (core/jobs/wakeups.py) go out with its commit, never without."""
        async with self._unit() as session:
            yield session
            await self.wakeups.publish(session)
            woken = pending(session)
        if woken:
            self.wakeups.committed(woken)

    @asynccontextmanager
    async def _unit(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction of its own, or, on SQLite, in its group's."""
        if self._group is not None:
            async with self._group.unit() as session:
                yield session
            return
        async with self._sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only unit: nothing is committed, and on SQLite it takes no write lock."""
        async with self._sessions() as session:
            await session.connection(execution_options={READ_ONLY: True})
            # Closing without a commit rolls back, and keeps the loaded objects readable.
            yield session

    async def ping(self) -> None:
        """Fail fast, with a clear error, when the server does not answer."""
        try:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except (OSError, OperationalError, InterfaceError, DBAPIError) as err:
            raise DatabaseUnreachable(
                url=self.engine.url.render_as_string(hide_password=True),
                reason=type(err.__cause__ or err).__name__,
            ) from err

    async def dispose(self) -> None:
        await self.wakeups.close()
        await self.engine.dispose()


def create_database(
    url: URL, *, echo: bool = False, connect_args: dict[str, Any] | None = None
) -> Database:
    settings = (connect_args or {}).get("server_settings") or {}
    return Database(
        create_engine(url, echo=echo, connect_args=connect_args),
        namespace=str(settings.get("search_path") or ""),
    )


def upsert_insert(session: AsyncSession) -> Any:
    """The backend's own INSERT, which alone knows ON CONFLICT: an atomic "insert unless
    there" where a read-then-insert would race between processes."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


async def get_for_update(session: AsyncSession, model: type[T], key: Any) -> T | None:
    """The row, locked until the transaction ends. PostgreSQL locks it (SELECT … FOR
    UPDATE, read again even when the session holds it). A SQLite transaction holds the
    database's one write lock from its first statement (BEGIN IMMEDIATE), so what the
    unit read earlier in it, the row or its absence (core/db/rows.py), is current: no
    second SELECT.

    A row the unit found absent is not read again on PostgreSQL either: FOR UPDATE locks
    no missing row, so a second read would only show what another process committed
    since, and a write racing that one meets it as a conflict all the same. Clearing a
    conversation that is not there, most commands' first step, cost two statements."""
    if session.get_bind().dialect.name == "sqlite":
        return await get_row(session, model, key)
    if known_absent(session, model, key):
        return None
    row = await session.get(model, key, with_for_update=True)
    keep(session, model, key, row)
    return row
