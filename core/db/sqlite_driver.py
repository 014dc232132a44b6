"""SQLAlchemy's aiosqlite driver, with one trip to SQLite's thread per statement.

aiosqlite runs the sqlite3 connection in a thread of its own, and every call crosses to
it and back: a queue put, a wake-up of the thread, then a wake-up of the event loop
through its self-pipe. SQLAlchemy's adapter makes four such calls for a SELECT (open a
cursor, execute, fetch the rows, close the cursor) and three for any other statement.
Here the four happen in one call, in the thread. The bot's updates, a handful of
statements each, went from 98 to 126 a second (bench/bot_throughput.py, same run).

More trips are saved the same way. `BEGIN` and `SAVEPOINT` are held back and sent with
the next statement: the write lock is still taken before anything is read or written. A
`RELEASE` waits for the next statement too, or is dropped by the `COMMIT` that releases
every savepoint; a savepoint nothing was sent in is forgotten on its release or rollback.
And the pool's rollback when a connection comes back is skipped when SQLite says, with
the last statement's rows, that no transaction is open: after a commit, it always is. A
unit of work with one statement went from four trips to two, and one in a group commit
(core/db/group_commit.py) to one.

The adapter's internals are SQLAlchemy's (`AsyncAdapt_aiosqlite_*`) and aiosqlite's
(`Connection._execute`, as SQLAlchemy itself uses `_tx` and `_conn`): pyproject.toml
pins both to the minor versions this was written against, and
tests/integration/db/test_sqlite_driver.py checks the behaviour SQLAlchemy relies on.
"""

from __future__ import annotations

import collections
import re
import sqlite3
from collections.abc import Sequence
from typing import Any

import aiosqlite
from sqlalchemy.connectors.asyncio import AsyncIODBAPIConnection
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

#: description, rows, rowcount, lastrowid, and whether a transaction is open after it.
Outcome = tuple[Any, Sequence[Any], int, int | None, bool]
_BEGINS = frozenset({"BEGIN", "BEGIN DEFERRED", "BEGIN IMMEDIATE", "BEGIN EXCLUSIVE"})
_SAVEPOINT = re.compile(r"(?i)\s*(SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK TO SAVEPOINT)\s+(\S+)\s*")


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A cursor whose statement, rows and counts come back from the thread together."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        # No sqlite3 cursor is kept open between calls: each statement opens and closes
        # its own in the thread, so nothing here is needed at construction.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    async def _async_soft_close(self) -> None:
        """The rows are already here and the thread's cursor is closed."""

    def close(self) -> None:
        self._rows.clear()

    def execute(self, operation: Any, parameters: Any = None) -> None:
        self._run(operation, parameters, many=False)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> None:
        self._run(operation, seq_of_parameters, many=True)

    def _run(self, operation: str, parameters: Any, *, many: bool) -> None:
        adapted: _Connection = self._adapt_connection  # type: ignore[assignment]
        if not parameters and not many and adapted.hold(operation):
            self._description, self._rowcount, self._lastrowid = None, -1, None
            self._rows = collections.deque()
            return
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        held, adapted.held = adapted.held, []
        # Until the thread says otherwise: a failed trip may have left one open.
        adapted.in_transaction = True
        try:
            outcome: Outcome = await_(
                connection._execute(  # type: ignore[no-untyped-call]
                    _in_thread, connection._conn, held, operation, parameters, many
                )
            )
        except Exception as error:
            # What was held and never ran (a BEGIN refused: "database is locked") is held
            # still, so that the rollback to its savepoint that follows has nothing to undo.
            adapted.held = getattr(error, "unsent", [])
            adapted._handle_exception(error)
        self._description, rows, self._rowcount, self._lastrowid, open_ = outcome
        adapted.in_transaction = open_
        self._rows = collections.deque(rows)


def _in_thread(
    raw: sqlite3.Connection, held: list[str], operation: str, parameters: Any, many: bool
) -> Outcome:
    cursor = raw.cursor()
    try:
        for done, statement in enumerate(held):
            try:
                cursor.execute(statement)
            except Exception as error:
                error.unsent = held[done:]  # type: ignore[attr-defined]
                raise
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else ()
        return description, rows, cursor.rowcount, cursor.lastrowid, raw.in_transaction
    finally:
        cursor.close()


class _Connection(AsyncAdapt_aiosqlite_connection):
    """Knows, from the thread's answers, whether SQLite has a transaction open, and holds
    `BEGIN`, `SAVEPOINT` and `RELEASE` until there is a statement to send them with."""

    __slots__ = ("held", "in_transaction")
    _cursor_cls = OneTripCursor  # type: ignore[assignment]  # a subclass of the one declared

    def __init__(self, dbapi: Any, connection: AsyncIODBAPIConnection) -> None:
        super().__init__(dbapi, connection)
        self.in_transaction = False
        self.held: list[str] = []

    def hold(self, operation: str) -> bool:
        """Whether `operation` is held back (or needs no sending at all)."""
        if operation.strip().upper() in _BEGINS:
            self.held.append(operation)
            return True
        match = _SAVEPOINT.fullmatch(operation)
        if match is None:
            return False
        verb, name = match.group(1).upper(), match.group(2)
        opened_here = bool(self.held) and self.held[-1] == f"SAVEPOINT {name}"
        if verb == "SAVEPOINT":
            self.held.append(f"SAVEPOINT {name}")
            return True
        if opened_here:  # nothing was sent inside it: nothing to release or undo
            self.held.pop()
            return True
        if verb == "RELEASE SAVEPOINT":
            self.held.append(operation)
            return True
        return False  # ROLLBACK TO a savepoint SQLite has: sent, with what is held

    def cursor(self, server_side: bool = False) -> Any:
        if server_side:
            # A streamed result runs on aiosqlite's own cursor, outside `_run`: its
            # transaction must be open before, and what it leaves is not known here.
            if self.held:
                self.cursor().execute("SELECT 1")
            self.in_transaction = True
        return super().cursor(server_side)

    def commit(self) -> None:
        self._end(super().commit)

    def rollback(self) -> None:
        self._end(super().rollback)

    def _end(self, end: Any) -> None:
        # What is held was never sent: a BEGIN or a SAVEPOINT needs no end, and the end
        # of the transaction releases every savepoint. After it, SQLite has nothing open.
        self.held = []
        if not self.in_transaction:
            return
        end()
        self.in_transaction = False


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The DB-API module SQLAlchemy's aiosqlite dialect is given (`module=`)."""

    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        adapted = super().connect(*arg, **kw)
        return _Connection(self, adapted._connection)


def one_trip_dbapi() -> OneTripDBAPI:
    return OneTripDBAPI(aiosqlite, sqlite3)
