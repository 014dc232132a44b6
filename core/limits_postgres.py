"""`limits`' storage interface on PostgreSQL: the `LimitStore` (core/limits.py) that
several processes share, one row per call counted or in flight."""

from __future__ import annotations

import time
from collections.abc import Sequence

from limits.aio.storage import MovingWindowSupport, Storage
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.limits import Admission, Window

_NOW = "extract(epoch from clock_timestamp())"
#: One company at a time: the counts and the inserts that follow them must see the same
#: rows in every process. A transaction-scoped advisory lock is released by COMMIT or by
#: the connection dying, so no process can leave it taken. Under READ COMMITTED each
#: statement after the lock sees what the previous holder committed.
_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")
_WINDOW = text(
    "SELECT min(at), coalesce(sum(amount), 0) FROM rate_limit_entry"
    f" WHERE key = :key AND at > {_NOW} - :expiry"
)
#: A row counts until `expires_at`: a window's for its period, a lease's until given back.
_COUNTS = text(
    f"SELECT key, sum(amount), min(expires_at) - {_NOW} FROM rate_limit_entry"
    f" WHERE key = ANY(CAST(:keys AS text[])) AND expires_at > {_NOW} GROUP BY key"
)
_INSERT = text(
    "INSERT INTO rate_limit_entry (key, amount, at, expires_at)"
    f" VALUES (:key, :amount, {_NOW}, {_NOW} + :expiry) RETURNING id"
)
_INSERT_MANY = text(
    "INSERT INTO rate_limit_entry (key, amount, at, expires_at)"
    f" SELECT k, 1, {_NOW}, {_NOW} + e"
    " FROM unnest(CAST(:keys AS text[]), CAST(:expiries AS float8[])) AS t(k, e)"
)
_DELETE = text("DELETE FROM rate_limit_entry WHERE id = :id")
_LIVE = text(
    "SELECT coalesce(sum(amount), 0) FROM rate_limit_entry"
    f" WHERE key = :key AND expires_at > {_NOW}"
)
_SWEEP = text(f"DELETE FROM rate_limit_entry WHERE expires_at < {_NOW} - 60")


class PostgresLimits(Storage, MovingWindowSupport):
    """`limits`' storage interface on PostgreSQL, for limits several processes share.

    One row per counted call (`at`, and when it stops counting), one per lease. Times
    are the database's clock, so processes on machines whose clocks differ still count
    in the same window. Each operation is its own short transaction, apart from the
    caller's unit of work: a count must be seen by the other processes at once, and a
    rolled-back unit of work does not un-send the HTTP call it counted.

    The concurrency cap is leases (a row with an expiry, deleted when the call is
    answered), not session advisory locks: an advisory lock is held by a connection, so
    5 calls in flight per company would pin 5 pooled connections for the length of each
    HTTP call and starve the pool; a lease costs one short transaction each way, and
    the lease's expiry (longer than any HTTP timeout) frees the place of a process that
    died mid-call.
    """

    #: Not reachable by URI (`limits.storage_from_string`): it needs the process's engine.
    STORAGE_SCHEME = None
    #: Expired rows are deleted at most this often, by whichever call comes first.
    SWEEP_EVERY = 60.0

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__()
        self._engine = engine
        self._swept = 0.0

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return (DBAPIError, OSError)

    async def acquire_entry(self, key: str, limit: int, expiry: float, amount: int = 1) -> bool:
        if amount > limit:
            return False
        await self._sweep()
        async with self._engine.begin() as connection:
            await connection.execute(_LOCK, {"key": key})
            _, counted = (await connection.execute(_WINDOW, {"key": key, "expiry": expiry})).one()
            if counted + amount > limit:
                return False
            await connection.execute(_INSERT, {"key": key, "amount": amount, "expiry": expiry})
        return True

    async def get_moving_window(self, key: str, limit: int, expiry: float) -> tuple[float, int]:
        async with self._engine.connect() as connection:
            oldest, counted = (
                await connection.execute(_WINDOW, {"key": key, "expiry": expiry})
            ).one()
        return (time.time() if oldest is None else float(oldest)), int(counted)

    async def admit(
        self, lease_key: str, *, capacity: int, lease: float, windows: Sequence[Window]
    ) -> Admission:
        await self._sweep()
        keys = [lease_key, *(w.key for w in windows)]
        async with self._engine.begin() as connection:
            await connection.execute(_LOCK, {"key": lease_key})
            rows = await connection.execute(_COUNTS, {"keys": keys})
            counts = {key: (int(n), float(left)) for key, n, left in rows}
            in_flight, _ = counts.get(lease_key, (0, 0.0))
            if in_flight >= capacity:
                return Admission(lease=None)  # a call's answer frees it: nothing signals it
            waits = []
            for w in windows:
                counted, left = counts.get(w.key, (0, 0.0))
                if counted + in_flight >= w.calls:
                    waits.append(left if counted else 0.0)
            if waits:
                return Admission(lease=None, wait=max(waits))
            row = await connection.execute(
                _INSERT, {"key": lease_key, "amount": 1, "expiry": lease}
            )
            return Admission(lease=int(row.scalar_one()))

    async def give_back(self, lease_key: str, lease_id: int, windows: Sequence[Window]) -> None:
        # One transaction: no process may see the lease gone before the call is counted.
        # No lock: this only moves a call from in flight to counted, which frees no room.
        async with self._engine.begin() as connection:
            await connection.execute(_DELETE, {"id": lease_id})
            if windows:
                await connection.execute(
                    _INSERT_MANY,
                    {"keys": [w.key for w in windows], "expiries": [w.seconds for w in windows]},
                )

    async def _sweep(self) -> None:
        # Reads only count live rows; this keeps the table small. Best effort: two
        # processes sweeping at once may deadlock, and the loser simply sweeps later.
        now = time.monotonic()
        if now - self._swept < self.SWEEP_EVERY:
            return
        self._swept = now
        try:
            async with self._engine.begin() as connection:
                await connection.execute(_SWEEP)
        except DBAPIError:
            pass

    # The rest of `limits`' storage interface (fixed windows), so its strategies accept
    # this storage too; Courier itself uses the moving window.

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        async with self._engine.begin() as connection:
            await connection.execute(_LOCK, {"key": key})
            ends = await self._live_until(connection, key)
            left = expiry if ends is None else max(0.0, ends - await self._now(connection))
            await connection.execute(_INSERT, {"key": key, "amount": amount, "expiry": left})
            return int((await connection.execute(_LIVE, {"key": key})).scalar_one())

    async def get(self, key: str) -> int:
        async with self._engine.connect() as connection:
            return int((await connection.execute(_LIVE, {"key": key})).scalar_one())

    async def get_expiry(self, key: str) -> float:
        async with self._engine.connect() as connection:
            ends = await self._live_until(connection, key)
        return time.time() if ends is None else ends

    async def check(self) -> bool:
        try:
            async with self._engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except (DBAPIError, OSError):
            return False
        return True

    async def reset(self) -> int | None:
        async with self._engine.begin() as connection:
            result = await connection.execute(text("DELETE FROM rate_limit_entry"))
        return int(result.rowcount)

    async def clear(self, key: str) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(
                text("DELETE FROM rate_limit_entry WHERE key = :key"), {"key": key}
            )

    @staticmethod
    async def _now(connection: AsyncConnection) -> float:
        return float((await connection.execute(text(f"SELECT {_NOW}"))).scalar_one())

    @staticmethod
    async def _live_until(connection: AsyncConnection, key: str) -> float | None:
        ends = (
            await connection.execute(
                text(
                    "SELECT min(expires_at) FROM rate_limit_entry"
                    f" WHERE key = :key AND expires_at > {_NOW}"
                ),
                {"key": key},
            )
        ).scalar_one()
        return None if ends is None else float(ends)
