"""Claims with a lease: how the workers of several processes share one queue's rows.

Every queue (the outbox, fetch runs, inbound mail, IMAP polls) claims the same way:
the rows its query selects are locked, those another worker holds are skipped (`SKIP
LOCKED` on PostgreSQL; on SQLite the one writer serialises claims), and each is stamped
with its lease's end in the claiming transaction. Other workers pass a claimed row by
until the lease runs out, so a worker that dies mid-way leaves rows that are taken over
later, never rows lost. What makes a row due, and what the stamp writes, stays each
queue's own.

A job that may outlast its lease (a fetch that waits minutes for a 2FA code) keeps it
alive with `heartbeat`: the lease is renewed every third of its length while the job
runs. Leases can then be short, and a dead worker's rows are taken over within minutes,
not after the longest a job could ever take.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, or_
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from core.db import Database

log = logging.getLogger(__name__)

Row = TypeVar("Row")


async def claim_rows(
    session: AsyncSession,
    query: SelectOfScalar[Row],
    *,
    stamp: Callable[[Row], bool | None],
    limit: int | None = None,
) -> list[Row]:
    """Lock what `query` selects, skipping rows other workers hold, and `stamp` each.

    `stamp` writes the claim (its lease's end, the worker's name); a row it returns
    False for is passed by, unclaimed. The stamps are flushed, for the caller's
    transaction to commit."""
    if limit is not None:
        query = query.limit(limit)
    locked = (await session.exec(query.with_for_update(skip_locked=True))).all()
    claimed = [row for row in locked if stamp(row) is not False]
    await session.flush()
    return claimed


def lease_over(column: Any, now: datetime) -> ColumnElement[bool]:
    """Unclaimed, or claimed by a lease that has run out."""
    return or_(col(column).is_(None), col(column) < now)


@contextlib.asynccontextmanager
async def heartbeat(
    db: Database,
    renew: Callable[[AsyncSession], Awaitable[bool]],
    *,
    lease: timedelta,
) -> AsyncIterator[None]:
    """Renew a claim's lease while the block runs, each beat in its own transaction.

    `renew` extends the lease of the rows this worker holds and says whether it still
    holds them; once it does not (the job settled, or the claim was taken over), the
    beats stop. A beat that fails is logged and tried again at the next: the lease still
    runs for two more thirds."""

    async def _beat() -> None:
        while True:
            await asyncio.sleep(lease.total_seconds() / 3)
            try:
                async with db.transaction() as session:
                    if not await renew(session):
                        return
            except Exception:
                log.warning("a lease could not be renewed; trying again", exc_info=True)

    beating = asyncio.create_task(_beat(), name="lease-heartbeat")
    try:
        yield
    finally:
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beating
