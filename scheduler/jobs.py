"""The scheduler's jobs, each a thin call into core.

Runs can take minutes (a code to wait for, a slow site): the fetch job claims what is
due and starts each run as a task it keeps a reference to, so a tick never blocks the
next one and no run is garbage-collected half-way.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import timedelta

from core.db import Database
from core.services.challenges import expire_challenges
from core.services.fetch import ConnectionRunner
from core.services.fetch_claims import claim_due_connections, keep_claimed
from core.services.reading import read_waiting_documents
from core.storage import DocumentStore

log = logging.getLogger(__name__)


class Jobs:
    def __init__(
        self,
        *,
        db: Database,
        runner: ConnectionRunner,
        concurrency: int = 20,
        lease: timedelta = timedelta(minutes=2),
        name: str | None = None,
        store: DocumentStore | None = None,
    ) -> None:
        self.db = db
        self.store = store
        self.runner = runner
        self.lease = lease
        # The claim's owner, for the record: which scheduler on which host runs it.
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self._slots = asyncio.Semaphore(concurrency)
        self._concurrency = concurrency
        self._running: set[asyncio.Task[None]] = set()
        #: Runs after each document's reading commits (the accounting auto-publish hook).
        self.on_read: Callable[[int], Awaitable[object]] | None = None

    @property
    def running(self) -> int:
        return len(self._running)

    async def fetch_due(self) -> int:
        """Claim as many due connections as there are free slots and start their runs."""
        free = self._concurrency - len(self._running)
        if free <= 0:
            return 0
        async with self.db.transaction() as session:
            claimed = await claim_due_connections(
                session=session, worker=self.name, lease=self.lease, limit=free
            )
        for connection in claimed:
            assert connection.id is not None
            task = asyncio.create_task(self._run(connection.id), name=f"fetch-{connection.id}")
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        return len(claimed)

    async def _run(self, connection_id: int) -> None:
        # Alive while it runs, however long: the lease only covers a dead worker.
        claim = keep_claimed(
            self.db, connection_id=connection_id, worker=self.name, lease=self.lease
        )
        async with claim, self._slots:
            try:
                await self.runner.run(connection_id)
            except Exception:
                # The claim's lease runs out and the connection is taken over later.
                log.exception("connection %s: the run failed unexpectedly", connection_id)

    async def read_documents(self) -> int:
        """Read what arrived since the last tick: fields, totals, what needs a review."""
        if self.store is None:
            return 0
        return await read_waiting_documents(db=self.db, store=self.store, on_filed=self.on_read)

    async def expire_challenges(self) -> int:
        async with self.db.transaction() as session:
            return len(await expire_challenges(session=session))

    async def drain(self) -> None:
        """Wait for the runs in flight (tests, and a graceful stop)."""
        while self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
