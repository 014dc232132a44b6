"""Wake-ups: a waiting worker learns at once that a commit gave it work.

A service that leaves work for someone else says so with `wake(session, channel)`; the
entry point's transaction (core/db/database.py) delivers it only once it commits, so a
woken worker always finds the rows. In the same process that is an event; on PostgreSQL
it is also a NOTIFY, sent in the transaction (PostgreSQL delivers it at the commit, and
not at all on a rollback) and heard by every process that LISTENs on the channel.

Waiting is always bounded by a poll interval: on SQLite across processes, or while the
listening connection is down, a worker still finds its work by polling, only later.

A waiter takes a `watch` token before it looks for its work, and waits with it: a
commit between the look and the wait is then not missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlmodel.ext.asyncio.session import AsyncSession

log = logging.getLogger(__name__)

#: Codes and approvals for a waiting fetch: answered, cancelled or expired.
CHALLENGES = "challenges"
#: Messages for the chat, waiting in the outbox for the bot's notifier.
OUTBOX = "outbox"
CHANNELS = frozenset({CHALLENGES, OUTBOX})
_PENDING = "courier_wakeups"
LISTEN_RETRY_SECONDS = 30.0
_PREFIX = "courier_"


def wake(session: AsyncSession, channel: str) -> None:
    """Say that this transaction leaves work on `channel`: delivered at its commit."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown wake-up channel {channel!r}")
    session.info.setdefault(_PENDING, set()).add(channel)


def pending(session: AsyncSession) -> frozenset[str]:
    return frozenset(session.info.get(_PENDING, ()))


@dataclass(frozen=True, slots=True)
class Watch:
    """Where a channel stood when its waiter last looked for work."""

    channel: str
    seen: int


class Wakeups:
    """One per Database: the process's events and, on PostgreSQL, its one listener."""

    def __init__(self, url: URL, *, namespace: str = "") -> None:
        self._url = url
        self._postgres = url.get_backend_name() == "postgresql"
        # Channels are the whole database's: Courier instances in schemas of their own
        # (the tests' workers among them) each hear only theirs.
        self._prefix = f"{_PREFIX}{namespace}_" if namespace else _PREFIX
        self._count: dict[str, int] = dict.fromkeys(CHANNELS, 0)
        self._events: dict[str, asyncio.Event] = {}
        self._listener: Any = None
        self._starting: asyncio.Lock | None = None
        #: After a failed LISTEN, not before this (monotonic): a watch must not wait for
        #: a connection that cannot be made each time it looks for work.
        self._listen_again_at = 0.0

    async def publish(self, session: AsyncSession) -> None:
        """In the transaction, before its commit: NOTIFY the other processes."""
        channels = sorted(pending(session))
        if self._postgres and channels:
            connection = await session.connection()
            for channel in channels:
                await connection.execute(
                    text("SELECT pg_notify(:channel, '')"), {"channel": self._prefix + channel}
                )

    def committed(self, channels: Iterable[str]) -> None:
        """After the commit: wake this process's waiters."""
        for channel in channels:
            self._bump(channel)

    async def watch(self, channel: str) -> Watch:
        if channel not in CHANNELS:
            raise ValueError(f"unknown wake-up channel {channel!r}")
        if self._postgres:
            await self._listen()
        return Watch(channel, self._count[channel])

    async def wait(self, watch: Watch, *, seconds: float) -> bool:
        """Until a commit on the channel since `watch`, or `seconds`: True if woken."""
        if self._count[watch.channel] != watch.seen:
            return True
        event = self._events.setdefault(watch.channel, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)
        return self._count[watch.channel] != watch.seen

    async def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                await listener.close(timeout=5)
            except Exception:  # closing a connection that already broke
                log.debug("wake-ups: the listener was already gone")

    def _bump(self, channel: str) -> None:
        if channel not in self._count:
            return
        self._count[channel] += 1
        # Each wait on the channel since the last commit holds this event: set it, and
        # the next waiters get a fresh one.
        event = self._events.pop(channel, None)
        if event is not None:
            event.set()

    async def _listen(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._listener is not None and not self._listener.is_closed():
                return
            if time.monotonic() < self._listen_again_at:
                return
            import asyncpg  # type: ignore[import-untyped]  # the driver Courier already runs on

            dsn = self._url.set(drivername="postgresql").render_as_string(hide_password=False)
            try:
                listener = await asyncpg.connect(dsn, timeout=10)
                for channel in sorted(CHANNELS):
                    await listener.add_listener(self._prefix + channel, self._heard)
            except Exception as err:
                # Polling still finds the work; the next watch tries to listen again.
                log.warning("wake-ups: cannot LISTEN (%s); polling only", type(err).__name__)
                self._listen_again_at = time.monotonic() + LISTEN_RETRY_SECONDS
                return
            self._listener = listener

    def _heard(self, _connection: Any, _pid: int, channel: str, _payload: str) -> None:
        self._bump(channel.removeprefix(self._prefix))
