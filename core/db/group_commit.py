"""SQLite's group commit: units of work queued for the one writer share a transaction,
each in a savepoint of its own, and one COMMIT, with its fsync, makes them all durable.

On SQLite every write transaction holds the database's one write lock from its first
statement (BEGIN IMMEDIATE) to its COMMIT, and with `synchronous=FULL` each COMMIT waits
for an fsync. Under load, units queued behind one another each paid for their own, the
lock held all along. Here a unit that finds others queued behind it leaves its work in
the open transaction and lets the next one in; the last of the queue commits for all, or
the first to leave a group grown full or old (`most`, `window`). Each unit still returns
only once its work is durable, and a unit that fails rolls back to its own savepoint,
leaving the others' work alone.

What a unit sees: the work of the units before it in the group, as it would have seen
it committed; readers on other connections see a group's work when it commits, as
before. A failure that may have cost SQLite the transaction itself (a database error
other than a constraint's) fails every unit of the group: none has been told yet that
its work is kept, and none is.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession


@dataclass(eq=False)
class _Group:
    connection: AsyncConnection
    committed: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    opened: float = field(default_factory=lambda: asyncio.get_running_loop().time())
    units: int = 0
    broken: BaseException | None = None


class GroupCommit:
    """The writer's queue, and the transaction the units in it share."""

    def __init__(self, engine: AsyncEngine, *, most: int = 64, window: float = 0.02) -> None:
        self._engine = engine
        self._turn = asyncio.Lock()
        self._queued = 0
        self._group: _Group | None = None
        #: A group takes no more units once it has this many, or is this old (seconds):
        #: a unit waits for those after it in its group. Under a steady queue with no
        #: bound, the fetch's runs waited for dozens and took twice as long; at 5 ms the
        #: groups were too small for the bot to gain (bench/, same session).
        self.most = most
        self.window = window

    @contextlib.asynccontextmanager
    async def unit(self) -> AsyncIterator[AsyncSession]:
        """A session whose work is durable when the block ends without error."""
        self._queued += 1
        try:
            await self._turn.acquire()
        except BaseException:
            self._queued -= 1
            await self._end_orphan()
            raise
        self._queued -= 1
        try:
            group = await self._join()
        except BaseException:
            self._turn.release()
            raise
        session = AsyncSession(
            bind=group.connection,
            join_transaction_mode="create_savepoint",
            expire_on_commit=False,
        )
        try:
            async with session.begin():
                yield session
        except BaseException as err:
            if isinstance(err, DBAPIError) and not isinstance(err, IntegrityError):
                group.broken = err
            raise
        finally:
            try:
                await session.close()
            finally:
                await self._leave(group)
        await asyncio.shield(group.committed)

    async def _join(self) -> _Group:
        if self._group is None:
            connection = await self._engine.connect()
            try:
                await connection.begin()
            except BaseException:
                await connection.close()
                raise
            self._group = _Group(connection)
        self._group.units += 1
        return self._group

    async def _leave(self, group: _Group) -> None:
        """Hand the transaction on to the next unit queued, or end it; then the turn."""
        try:
            if group.broken is None and self._queued and self._young(group):
                return
            self._group = None
            # Shielded: a unit cancelled now must not leave the others' COMMIT half-done.
            await asyncio.shield(self._end(group))
        finally:
            self._turn.release()

    def _young(self, group: _Group) -> bool:
        age = asyncio.get_running_loop().time() - group.opened
        return group.units < self.most and age < self.window

    async def _end_orphan(self) -> None:
        """A unit left the transaction open for this one, which gave up waiting: if no
        one else is there to take it, end it, or the units in it would wait forever."""
        if self._group is None or self._queued or self._turn.locked():
            return
        await self._turn.acquire()  # free, with no one waiting: taken at once
        group, self._group = self._group, None
        try:
            await asyncio.shield(self._end(group))
        finally:
            self._turn.release()

    async def _end(self, group: _Group) -> None:
        try:
            if group.broken is not None:
                raise group.broken
            await group.connection.commit()
        except BaseException as err:
            group.committed.set_exception(err)
            # Retrieved here too: units that failed on their own never await it.
            group.committed.exception()
        else:
            group.committed.set_result(None)
        finally:
            await group.connection.close()  # rolls back whatever was not committed
