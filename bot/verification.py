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
from datetime import timedelta

from core.db import Database
from core.models import Connection, Supplier
from core.services.fetch import ConnectionRunner, RunResult
from core.services.fetch_claims import claim_connection
from core.services.notifications import enqueue

log = logging.getLogger(__name__)

#: The outbox kind that tells the person how the check of a new account went.
VERIFIED = "connection_verified"


class Verifier:
    def __init__(
        self,
        *,
        db: Database,
        runner: ConnectionRunner,
        lease: timedelta = timedelta(minutes=30),
        name: str | None = None,
    ) -> None:
        self.db = db
        self.runner = runner
        self.lease = lease
        self.name = name or f"bot:{socket.gethostname()}:{os.getpid()}"
        self._running: set[asyncio.Task[None]] = set()

    @property
    def running(self) -> int:
        return len(self._running)

    def start(self, connection_id: int, *, announce: bool = False) -> None:
        """Run it now; with `announce`, the outcome is told even when nothing was found
        (a new account's check), not only through the runner's own messages."""
        task = asyncio.create_task(
            self._run(connection_id, announce), name=f"verify-{connection_id}"
        )
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, connection_id: int, announce: bool) -> None:
        try:
            async with self.db.transaction() as session:
                claimed = await claim_connection(
                    session=session, connection_id=connection_id, worker=self.name, lease=self.lease
                )
            if not claimed:
                return  # a scheduler holds it and runs it
            result = await self.runner.run(connection_id)
            if announce:
                await self._tell(connection_id, result)
        except Exception:
            # The claim's lease runs out and a scheduler takes the connection over.
            log.exception("connection %s: the run started from the chat failed", connection_id)

    async def _tell(self, connection_id: int, result: RunResult) -> None:
        async with self.db.transaction() as session:
            connection = await session.get(Connection, connection_id)
            if connection is None:
                return
            supplier = await session.get(Supplier, connection.supplier_id)
            await enqueue(
                session=session,
                kind=VERIFIED,
                workspace_id=connection.workspace_id,
                recipient_member_id=connection.owner_member_id,
                payload={
                    "connection_id": connection_id,
                    "supplier": supplier.name if supplier else "",
                    "state": str(result.state),
                    "found": result.found,
                    "new": result.new,
                    "error": result.error,
                },
            )

    async def drain(self) -> None:
        while self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
