"""Group commit: the rows of DATA commands arriving together share one transaction.

Each commit costs an fsync. With twenty senders at once, committing their messages
together gives each its 250 as soon as its row is durable, for the price of one fsync.
A failed batch fails every message in it: each sender gets 451 and retries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from core.db import Database
from core.services.inbound import Envelope, Recipient, record_message


@dataclass(frozen=True, slots=True)
class _Pending:
    envelope: Envelope
    recipients: Sequence[Recipient]
    done: asyncio.Future[None]


class GroupCommitter:
    def __init__(self, db: Database, *, max_batch: int = 64) -> None:
        self.db = db
        self.max_batch = max_batch
        self._pending: list[_Pending] = []
        self._flushing: asyncio.Task[None] | None = None

    async def commit(self, envelope: Envelope, recipients: Sequence[Recipient]) -> None:
        """Return once this message's rows are committed; raise if they could not be."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(envelope, recipients, done))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        await done

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            try:
                async with self.db.transaction() as session:
                    for item in batch:
                        record_message(
                            session=session, envelope=item.envelope, recipients=item.recipients
                        )
            except Exception as err:
                for item in batch:
                    if not item.done.done():
                        item.done.set_exception(err)
                continue
            for item in batch:
                if not item.done.done():
                    item.done.set_result(None)
