"""What a connection's background check (bot/verification.py) reads and tells.

The chat starts a run and waits for it to settle; these are its reads of the connection
and its last run, and the outbox row that tells the person how the check went.
"""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.models import Connection, ConnectionRun, Notification, Supplier
from core.services.fetch import RunResult
from core.services.notifications import enqueue


async def find_connection(*, session: AsyncSession, connection_id: int) -> Connection | None:
    """The connection whatever its workspace (the id came from our own flow, not a button);
    None once it was removed."""
    return await session.get(Connection, connection_id)


async def last_run(*, session: AsyncSession, connection_id: int) -> ConnectionRun | None:
    """The connection's latest run, whoever ran it."""
    query = (
        select(ConnectionRun)
        .where(ConnectionRun.connection_id == connection_id)
        .order_by(col(ConnectionRun.id).desc())
        .limit(1)
    )
    return (await session.exec(query)).first()


async def tell_checked(
    *, session: AsyncSession, kind: str, connection_id: int, result: RunResult
) -> Notification | None:
    """Queue the owner's message about how the check went; None when the connection is gone."""
    connection = await session.get(Connection, connection_id)
    if connection is None:
        return None
    supplier = await session.get(Supplier, connection.supplier_id)
    return await enqueue(
        session=session,
        kind=kind,
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
