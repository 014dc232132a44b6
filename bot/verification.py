"""Connection runs the chat asked for, started in the background right away.

The bot never waits for a supplier inside a handler: after the update commits, it claims
the connection (unless a scheduler already holds it, which then runs it) and runs it as a
task it keeps a reference to, so the run is never garbage-collected half-way. The result
reaches the person through the outbox, like every other message from core.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

from core.db import Database
from core.models import ConnectionState, RunOutcome
from core.services.connection_controls import INTERACTIVE_FOR, prepare_rerun
from core.services.fetch import ConnectionRunner, RunResult
from core.services.fetch_claims import claim_connection, keep_claimed
from core.services.verification import find_connection, last_run, tell_checked

log = logging.getLogger(__name__)

#: A run is under way (or about to start) in these states.
UNSETTLED = frozenset(
    {
        ConnectionState.NEW,
        ConnectionState.SYNCING,
        ConnectionState.AWAITING_CODE,
        ConnectionState.AWAITING_APPROVAL,
    }
)

#: The outbox kind that tells the person how the check of a new account went.
VERIFIED = "connection_verified"
#: States the runner tells the owner about itself, with the button that fixes each
#: (core/services/fetch.py `_tell`): announcing them too said the same thing twice.
TOLD_BY_THE_RUNNER = frozenset(
    {
        ConnectionState.AUTH_FAILED,
        ConnectionState.ACTION_REQUIRED,
        ConnectionState.NEEDS_USER,
        ConnectionState.BROKEN,
    }
)


#: The longest a run can take, a code or an approval awaited included: how long a chat
#: waits for another worker's run of its connection to tell its outcome.
RUN_AT_MOST = timedelta(minutes=30)


class Verifier:
    def __init__(
        self,
        *,
        db: Database,
        runner: ConnectionRunner,
        lease: timedelta = timedelta(minutes=2),
        name: str | None = None,
        settle_poll: float = 0.5,
        settle_within: timedelta = RUN_AT_MOST,
    ) -> None:
        self.db = db
        self.runner = runner
        #: Renewed by a heartbeat while the run lasts: it only runs out on a dead process.
        self.lease = lease
        #: How long to wait for another worker's run of a connection to settle.
        self.settle_within = settle_within
        self.name = name or f"bot:{socket.gethostname()}:{os.getpid()}"
        self.settle_poll = settle_poll
        self._running: set[asyncio.Task[None]] = set()
        #: The task running each connection here, and those whose outcome nobody awaits
        #: any more (the person asked for a new login meanwhile).
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._superseded: set[asyncio.Task[None]] = set()

    @property
    def running(self) -> int:
        return len(self._running)

    def start(self, connection_id: int, *, announce: bool = False) -> None:
        """Run it now; with `announce`, the outcome is told even when nothing was found
        (a new account's check), not only through the runner's own messages."""
        self._keep(connection_id, self._run(connection_id, announce))

    def restart(self, connection_id: int) -> None:
        """Log in again once the run in flight has stopped (its code was given up for a
        new one): the new run is interactive and its outcome is told, the old one's not."""
        old = self._tasks.get(connection_id)
        if old is not None and not old.done():
            self._superseded.add(old)
        self._keep(connection_id, self._restart(connection_id))

    def _keep(self, connection_id: int, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work, name=f"verify-{connection_id}")
        self._running.add(task)
        self._tasks[connection_id] = task
        task.add_done_callback(self._running.discard)
        task.add_done_callback(self._superseded.discard)
        task.add_done_callback(
            lambda done: (
                self._tasks.pop(connection_id, None)
                if self._tasks.get(connection_id) is done
                else None
            )
        )

    async def _restart(self, connection_id: int) -> None:
        try:
            if not await self._settled(connection_id):
                return
            async with self.db.transaction() as session:
                ready = await prepare_rerun(
                    session=session, connection_id=connection_id, interactive_for=INTERACTIVE_FOR
                )
        except Exception:
            log.exception("connection %s: a new login asked from the chat failed", connection_id)
            return
        if ready is not None:
            await self._run(connection_id, announce=True)

    async def _settled(self, connection_id: int) -> bool:
        """Wait for the run in flight to end; False when the connection is gone."""
        deadline = asyncio.get_running_loop().time() + self.settle_within.total_seconds()
        while asyncio.get_running_loop().time() < deadline:
            async with self.db.read() as session:
                connection = await find_connection(session=session, connection_id=connection_id)
                if connection is None:
                    return False
                if connection.claimed_by is None:
                    return True
            await asyncio.sleep(self.settle_poll)
        return False

    async def _run(self, connection_id: int, announce: bool) -> None:
        try:
            async with self.db.transaction() as session:
                claimed = await claim_connection(
                    session=session, connection_id=connection_id, worker=self.name, lease=self.lease
                )
            if not claimed:  # a scheduler holds it and runs it: its outcome is told
                if announce:
                    await self._tell_when_settled(connection_id)
                return

            async with keep_claimed(
                self.db, connection_id=connection_id, worker=self.name, lease=self.lease
            ):
                result = await self.runner.run(connection_id)
            if announce:
                await self._tell(connection_id, result)
        except Exception:
            # The claim's lease runs out and a scheduler takes the connection over.
            log.exception("connection %s: the run started from the chat failed", connection_id)

    async def _tell_when_settled(self, connection_id: int) -> None:
        """Wait for another worker's run of this connection to end, then tell its outcome."""
        deadline = asyncio.get_running_loop().time() + self.settle_within.total_seconds()
        while asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(self.settle_poll)
            async with self.db.read() as session:
                connection = await find_connection(session=session, connection_id=connection_id)
                if connection is None:
                    return
                if connection.claimed_by is not None or connection.state in UNSETTLED:
                    continue
                run = await last_run(session=session, connection_id=connection_id)
            result = RunResult(
                run.outcome if run else RunOutcome.ERROR,
                ConnectionState(connection.state),
                found=run.documents_found if run else 0,
                new=run.documents_new if run else 0,
                error=connection.last_error,
            )
            await self._tell(connection_id, result)
            return

    async def _tell(self, connection_id: int, result: RunResult) -> None:
        if result.state in TOLD_BY_THE_RUNNER or asyncio.current_task() in self._superseded:
            return
        async with self.db.transaction() as session:
            await tell_checked(
                session=session, kind=VERIFIED, connection_id=connection_id, result=result
            )

    async def drain(self) -> None:
        """Wait for the runs in flight (tests)."""
        while self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    async def close(self) -> None:
        """Stop now: a run waiting minutes for a code must not hold the process. Its
        claim's lease runs out and a scheduler takes the connection over."""
        for task in self._running:
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
