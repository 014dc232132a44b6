"""Which connections are due, and claiming them so no two schedulers fetch one twice.

`SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL lets several schedulers claim side by
side; SQLite's write lock serialises the claim. A claim is a lease: a scheduler that dies
mid-run leaves a claim that expires, and another takes the connection over.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta

from sqlmodel import and_, col, or_, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from core.db import Database
from core.jobs.claims import claim_rows, heartbeat, lease_over
from core.models import Connection, ConnectionState
from core.models.base import utcnow

S = ConnectionState
#: Due on their weekly rhythm (`next_fetch_at`).
ON_SCHEDULE = (S.NEW, S.ACTIVE, S.BROKEN)
#: A run whose worker died: taken over once its lease has run out.
IN_FLIGHT = (S.SYNCING, S.AWAITING_CODE, S.AWAITING_APPROVAL)


async def claim_due_connections(
    *,
    session: AsyncSession,
    worker: str,
    lease: timedelta,
    limit: int = 50,
    now: datetime | None = None,
) -> list[Connection]:
    now = now or utcnow()
    free = lease_over(Connection.claim_expires_at, now)
    due = or_(
        and_(col(Connection.state).in_(ON_SCHEDULE), col(Connection.next_fetch_at) <= now),
        and_(Connection.state == S.TEMP_ERROR, col(Connection.next_try_at) <= now),
        col(Connection.state).in_(IN_FLIGHT),
        # "Sync now" from the owner works from any state but disabled.
        and_(
            Connection.state != S.DISABLED,
            col(Connection.interactive_until) > now,
            col(Connection.next_fetch_at) <= now,
        ),
    )
    query = select(Connection).where(free, due).order_by(col(Connection.next_fetch_at))

    def stamp(connection: Connection) -> None:
        connection.claimed_by = worker
        connection.claim_expires_at = now + lease

    return await claim_rows(session, query, stamp=stamp, limit=limit)


def release_claim(connection: Connection) -> None:
    connection.claimed_by = None
    connection.claim_expires_at = None


def request_fetch(
    connection: Connection, *, interactive_for: timedelta, now: datetime | None = None
) -> None:
    """ "Sync now": due at once, and interactive for a while, as someone is there."""
    now = now or utcnow()
    connection.next_fetch_at = now
    connection.next_try_at = now
    connection.interactive_until = now + interactive_for


async def claim_connection(
    *,
    session: AsyncSession,
    connection_id: int,
    worker: str,
    lease: timedelta,
    now: datetime | None = None,
) -> bool:
    """Claim one connection now (a run someone is waiting for), unless another worker
    holds it; False then, and that worker runs it."""
    now = now or utcnow()
    query = select(Connection).where(
        Connection.id == connection_id,
        Connection.state != S.DISABLED,
        lease_over(Connection.claim_expires_at, now),
    )

    def stamp(connection: Connection) -> None:
        connection.claimed_by = worker
        connection.claim_expires_at = now + lease

    return bool(await claim_rows(session, query, stamp=stamp))


async def renew_claim(
    *,
    session: AsyncSession,
    connection_id: int,
    worker: str,
    lease: timedelta,
    now: datetime | None = None,
) -> bool:
    """The heartbeat of a run in flight: its lease runs `lease` from now. False once the
    worker holds the connection no more (the run released it, or it was taken over)."""
    now = now or utcnow()
    renewed = await session.exec(
        update(Connection)
        .where(
            col(Connection.id) == connection_id,
            col(Connection.claimed_by) == worker,
        )
        .values(claim_expires_at=now + lease)
    )
    return bool(renewed.rowcount)


def keep_claimed(
    db: Database, *, connection_id: int, worker: str, lease: timedelta
) -> AbstractAsyncContextManager[None]:
    """The run's claim renewed by a heartbeat while the block runs (`renew_claim`)."""

    async def renew(session: AsyncSession) -> bool:
        return await renew_claim(
            session=session, connection_id=connection_id, worker=worker, lease=lease
        )

    return heartbeat(db, renew, lease=lease)
