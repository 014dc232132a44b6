"""One limiter for every outside party Courier paces.

- In one process, a rate is a leaky bucket from aiolimiter (`token_bucket`, or one per
  key with `Buckets`): the supplier sites' request rate, the notifier's messages a
  second, the updates one person may send the bot (refused, not waited for, past it).
- Across processes, a software's documented limits per company (Xero: 60 calls a minute,
  5,000 a day, 5 at once per tenant) are a `CallLimiter` over a `LimitStore`: moving
  windows with `limits`' storage interface, plus leases for the calls in flight. On
  SQLite Courier is one process and the store is `limits`' memory storage
  (`MemoryLimits`); on PostgreSQL every process counts in one table (`PostgresLimits`).
  `limits` has no SQL storage, so that one is here, written to its interface.

The store is built once per process by the composition root (`shared_limits`) and handed
to the provider registry; the limiters live as long as the providers that hold them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol, cast, runtime_checkable

from aiolimiter import AsyncLimiter
from limits.aio.storage import MemoryStorage, MovingWindowSupport, Storage
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


def token_bucket(rate: float, burst: int = 1) -> AsyncLimiter:
    """`burst` at once after a pause, then `rate` a second on average."""
    if rate <= 0 or burst < 1:
        raise ValueError("rate must be > 0 and burst >= 1")
    # aiolimiter's bucket holds `max_rate` and drains `max_rate / time_period` a second.
    return AsyncLimiter(burst, burst / rate)


class WindowStore(Protocol):
    """`limits`' moving-window storage interface (`MovingWindowSupport`). Its signature
    says whole seconds; both stores compute with any float, which the stand-ins' scaled
    windows (60 s / 1000) need."""

    async def acquire_entry(self, key: str, limit: int, expiry: float, amount: int = 1) -> bool: ...

    async def get_moving_window(self, key: str, limit: int, expiry: float) -> tuple[float, int]: ...


@dataclass(frozen=True, slots=True)
class Window:
    """At most `calls` counted under `key` in any `seconds`."""

    key: str
    calls: int
    seconds: float


@dataclass(frozen=True, slots=True)
class Admission:
    """A call let through, holding lease `lease`; or not yet, for about `wait` seconds."""

    lease: int | None
    wait: float = 0.0


class LimitStore(WindowStore, Protocol):
    """Moving windows, and leases: a call in flight holds a lease until it is answered
    (or the lease runs out: its process died), then is counted in each window from its
    answer. `admit` lets a call through when fewer than `capacity` are in flight and, in
    every window, the calls counted plus those in flight leave room; `give_back` ends
    the lease and counts the call, at once."""

    async def admit(
        self, lease_key: str, *, capacity: int, lease: float, windows: Sequence[Window]
    ) -> Admission: ...

    async def give_back(self, lease_key: str, lease_id: int, windows: Sequence[Window]) -> None: ...


class Buckets:
    """A token bucket per key (a person, a supplier), made when first asked for and
    forgotten once it has drained back to full, so quiet keys cost nothing."""

    def __init__(self, rate: float, burst: int = 1, *, keep: int = 10_000) -> None:
        token_bucket(rate, burst)  # the same checks, before any key comes
        self.rate, self.burst, self._keep = rate, burst, keep
        self._buckets: dict[object, AsyncLimiter] = {}

    def bucket(self, key: object) -> AsyncLimiter:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._keep:
                self._forget_idle()
            bucket = self._buckets[key] = token_bucket(self.rate, self.burst)
        return bucket

    async def take(self, key: object) -> None:
        """Wait for a token of `key`'s bucket, and take it."""
        await self.bucket(key).acquire()

    async def try_take(self, key: object) -> bool:
        """Take a token of `key`'s bucket if one is there now; never waits."""
        bucket = self.bucket(key)
        if not bucket.has_capacity():
            return False
        await bucket.acquire()  # returns at once: the capacity is there
        return True

    def _forget_idle(self) -> None:
        self._buckets = {
            key: bucket
            for key, bucket in self._buckets.items()
            if not bucket.has_capacity(bucket.max_rate)
        }


class MemoryLimits:
    """One process's limits: `limits`' memory storage for the windows, a count for the
    leases (the process is the only one, so a lease cannot outlive its holder)."""

    def __init__(self) -> None:
        self._windows = cast(WindowStore, MemoryStorage())
        self._leases: dict[str, set[int]] = {}
        self._next_lease = 0

    async def acquire_entry(self, key: str, limit: int, expiry: float, amount: int = 1) -> bool:
        return await self._windows.acquire_entry(key, limit, expiry, amount)

    async def get_moving_window(self, key: str, limit: int, expiry: float) -> tuple[float, int]:
        return await self._windows.get_moving_window(key, limit, expiry)

    async def admit(
        self, lease_key: str, *, capacity: int, lease: float, windows: Sequence[Window]
    ) -> Admission:
        held = self._leases.setdefault(lease_key, set())
        if len(held) >= capacity:
            return Admission(lease=None)
        waits = []
        for w in windows:
            oldest, counted = await self.get_moving_window(w.key, w.calls, w.seconds)
            if counted + len(held) >= w.calls:
                # Counted calls leave the window; calls in flight end unannounced.
                waits.append(oldest + w.seconds - time.time() if counted else 0.0)
        if waits:
            return Admission(lease=None, wait=max(waits))
        self._next_lease += 1
        held.add(self._next_lease)
        return Admission(lease=self._next_lease)

    async def give_back(self, lease_key: str, lease_id: int, windows: Sequence[Window]) -> None:
        # Room was kept for this call while in flight, so the window takes it; the bound
        # only keeps a record from ever being refused.
        for w in windows:
            await self.acquire_entry(w.key, w.calls + 1, w.seconds)
        self._leases.get(lease_key, set()).discard(lease_id)


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


def shared_limits(engine: AsyncEngine) -> LimitStore:
    """The process's store: in the database when it is a server several processes share,
    in memory for the embedded SQLite (one process)."""
    if engine.url.get_backend_name() == "postgresql":
        return PostgresLimits(engine)
    return MemoryLimits()


@runtime_checkable
class SharesLimits(Protocol):
    """What holds limiters counted in a store: told the process's store once, when the
    provider registry builds it."""

    def use_limits(self, store: LimitStore) -> None: ...


class CallLimiter:
    """Admits a call for one key (a company at a software) when every window has room and
    fewer than `concurrent` of its calls are in flight, in every process that shares
    `store`.

    A call holds its place in each window from the moment it leaves (as a lease) until
    `seconds` after its answer came back (as a counted row). The server counted it
    somewhere in between, so however the network or a busy server delays one call and
    not the next, the server never sees more than the limit in a window: no margin has
    to be guessed for jitter. `margin` (a share) and `slack` (seconds) pad each window
    for a server whose clock or counting differs from its documentation.
    """

    #: How long a call holds its place in flight at most: past any HTTP timeout, so only
    #: a process that died mid-call lets its place go this way.
    LEASE = 300.0

    def __init__(
        self,
        key: str,
        *,
        windows: tuple[tuple[int, float], ...],
        concurrent: int,
        store: LimitStore,
        margin: float = 0.0,
        slack: float = 0.0,
    ) -> None:
        self.key = key
        self._store = store
        self._concurrent = concurrent
        # This process's callers queue here, in order, rather than polling the store.
        self._local = asyncio.Semaphore(concurrent)
        self._lock = asyncio.Lock()
        self._windows = tuple(
            Window(f"{key}:{calls}/{seconds:g}s", calls, seconds * (1 + margin) + slack)
            for calls, seconds in windows
        )
        # Another process's call frees a place without telling: look again this often.
        shortest = min((w.seconds / w.calls for w in self._windows), default=0.05)
        self._poll = max(0.002, min(0.25, shortest))
        self._held_until = 0.0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        in_flight = f"{self.key}:in-flight"
        async with self._local:
            async with self._lock:  # callers are admitted in order: none starves
                while (held := self._held_until - time.monotonic()) > 0:  # noqa: ASYNC110
                    await asyncio.sleep(held)  # a deadline, not an event: nothing signals it
                lease = await self._admit(in_flight)
            try:
                yield
            finally:
                await self._store.give_back(in_flight, lease, self._windows)

    async def _admit(self, in_flight: str) -> int:
        while True:
            admitted = await self._store.admit(
                in_flight, capacity=self._concurrent, lease=self.LEASE, windows=self._windows
            )
            if admitted.lease is not None:
                return admitted.lease
            # The oldest call leaves its window then, or a call in flight (another
            # process's: nothing signals it) ends; another process may take the place
            # first, and the loop looks again.
            await asyncio.sleep(min(max(self._poll, admitted.wait), 1.0))

    async def counted(self) -> tuple[int, ...]:
        """Calls answered within each window now, by every process sharing the store."""
        return tuple(
            [
                (await self._store.get_moving_window(w.key, w.calls, w.seconds))[1]
                for w in self._windows
            ]
        )

    def hold(self, seconds: float) -> None:
        """Nobody in this process calls this key before `seconds` from now (a 429's
        Retry-After); the other processes meet their own 429 and hold too."""
        self._held_until = max(self._held_until, time.monotonic() + seconds)
