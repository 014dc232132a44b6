"""One limiter for every outside party Courier paces.

- In one process, a rate is a leaky bucket from aiolimiter (`token_bucket`, or one per
  key with `Buckets`): the supplier sites' request rate, the notifier's messages a
  second, the updates one person may send the bot (refused, not waited for, past it).
- Across processes, a software's documented limits per company (Xero: 60 calls a minute,
  5,000 a day, 5 at once per tenant) are a `CallLimiter` over a `LimitStore`: moving
  windows with `limits`' storage interface, plus leases for the calls in flight. On
  SQLite Courier is one process and the store is `limits`' memory storage
  (`MemoryLimits`); on PostgreSQL every process counts in one table (`PostgresLimits`,
  core/limits_postgres.py: `limits` has no SQL storage, so it is written to its
  interface).

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
from limits.aio.storage import MemoryStorage
from sqlalchemy.ext.asyncio import AsyncEngine


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


def shared_limits(engine: AsyncEngine) -> LimitStore:
    """The process's store: in the database when it is a server several processes share,
    in memory for the embedded SQLite (one process)."""
    if engine.url.get_backend_name() == "postgresql":
        from core.limits_postgres import PostgresLimits  # it imports this module

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
