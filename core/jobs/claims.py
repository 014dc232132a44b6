"""Claims with a lease: how the workers of several processes share one queue's rows.

Every queue (the outbox, fetch runs, inbound mail, IMAP polls) claims the same way:
the rows its query selects are locked, those another worker holds are skipped (`SKIP
LOCKED` on PostgreSQL; on SQLite the one writer serialises claims), and each is stamped
with its lease's end in the claiming transaction. Other workers pass a claimed row by
until the lease runs out, so a worker that dies mid-way leaves rows that are taken over
later, never rows lost. What makes a row due, and what the stamp writes, stays each
queue's own.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, or_
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

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
