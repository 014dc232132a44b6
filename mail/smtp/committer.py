"""Group commit: the messages of DATA commands arriving together are made durable together.

Each message needs its raw file durable, then its row committed, before its 250. Done one
by one, that is an fsync for the file, one for each folder it made, and one for the
commit. With twenty senders at once, the messages waiting together share one `put_many`
(one filesystem sync for all their files) and one transaction (one fsync), and each
sender gets its 250 as soon as its batch is durable. A failed batch fails every message
in it: each sender gets 451 and retries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from core.db import Database
from core.models import InboundChannel
from core.services.inbound import Envelope, Recipient, record_message
from core.storage import DocumentStore


@dataclass(frozen=True, slots=True)
class Arrival:
    """A message as its DATA command received it, before anything is stored."""

    raw: bytes
    recipients: Sequence[Recipient]
    mail_from: str
    message_id: str | None = None
    peer: str | None = None
    helo: str | None = None


@dataclass(frozen=True, slots=True)
class _Pending:
    arrival: Arrival
    done: asyncio.Future[None]


class GroupCommitter:
    def __init__(self, db: Database, store: DocumentStore, *, max_batch: int = 64) -> None:
        self.db = db
        self.store = store
        self.max_batch = max_batch
        self._pending: list[_Pending] = []
        self._flushing: asyncio.Task[None] | None = None

    async def keep(self, arrival: Arrival) -> None:
        """Return once the message's file and rows are durable; raise if they could not be."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(arrival, done))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        await done

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            try:
                await self._keep_batch([item.arrival for item in batch])
            except Exception as err:
                for item in batch:
                    if not item.done.done():
                        item.done.set_exception(err)
                continue
            for item in batch:
                if not item.done.done():
                    item.done.set_result(None)

    async def _keep_batch(self, arrivals: list[Arrival]) -> None:
        # The files first: a row must never name a file that a crash could lose.
        files = await self.store.put_many([arrival.raw for arrival in arrivals])
        async with self.db.transaction() as session:
            for arrival, file in zip(arrivals, files, strict=True):
                envelope = Envelope(
                    channel=InboundChannel.SMTP,
                    mail_from=arrival.mail_from,
                    sha256=file.sha256,
                    size=file.size,
                    message_id=arrival.message_id,
                    peer=arrival.peer,
                    helo=arrival.helo,
                )
                record_message(session=session, envelope=envelope, recipients=arrival.recipients)
