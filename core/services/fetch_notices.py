"""What a settled run tells the connection's owner, and the history a quiet run is judged by.

- New invoices: one message listing them.
- A state that needs the owner (a refused password, a code nobody gave, a changed site):
  once per episode.
- A run that logged in and brought nothing new is judged against the connection's history
  (`core.suppliers.rhythm`). Within the supplier's rhythm it is a plain success, said only
  to whoever pressed "Fetch now" ("nothing new since the invoice of …"). An emptied list,
  an overdue supplier, or a list that never showed an invoice is an alarm, told once per
  episode so that it keeps its weight, and again to whoever presses "Fetch now" meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.models import Connection, ConnectionRun, ConnectionState, Document, Notification
from core.services.notifications import enqueue
from core.suppliers.rhythm import Quiet, Rhythm, learn_rhythm

if TYPE_CHECKING:
    from core.services.fetch import RunResult

S = ConnectionState
#: States a run leaves the owner to act on, each told once when it begins.
NEEDS_OWNER = (S.AUTH_FAILED, S.ACTION_REQUIRED, S.NEEDS_USER, S.BROKEN)
#: The alarm of each alarming quiet run.
ALARMS = {
    Quiet.EMPTIED: "connection_suspicious_empty",
    Quiet.OVERDUE: "connection_overdue",
    Quiet.NEVER_LISTED: "connection_check_portal",
}


@dataclass(frozen=True, slots=True)
class RunHistory:
    """What a quiet run is judged against."""

    #: The newest earlier run that saw invoices on the site: the episode an alarm is in.
    listing_run: int | None = None
    last_invoice: date | None = None
    rhythm: Rhythm | None = None


async def run_history(
    *, session: AsyncSession, connection_id: int, run_id: int, window: int, min_history: int
) -> RunHistory:
    """What earlier runs saw on the site, and the supplier's rhythm learned from the
    invoices this connection brought (the newest `window` days: a habit may change)."""
    listing_run = await session.scalar(
        select(ConnectionRun.id)
        .where(
            ConnectionRun.connection_id == connection_id,
            ConnectionRun.id != run_id,
            or_(
                col(ConnectionRun.documents_listed) > 0,
                # Runs recorded before the listed count: what they found was listed.
                col(ConnectionRun.documents_found) > 0,
            ),
        )
        .order_by(col(ConnectionRun.id).desc())
        .limit(1)
    )
    days = await session.exec(
        select(col(Document.issue_date))
        .where(Document.connection_id == connection_id, col(Document.issue_date).is_not(None))
        .distinct()
        .order_by(col(Document.issue_date).desc())
        .limit(window)
    )
    issued = [day for day in days.all() if day is not None]
    return RunHistory(
        listing_run=listing_run,
        last_invoice=issued[0] if issued else None,
        rhythm=learn_rhythm(issued, min_history=min_history),
    )


async def tell_outcome(
    *,
    session: AsyncSession,
    connection: Connection,
    supplier: str,
    result: RunResult,
    history: RunHistory,
    asked: bool,
    now: datetime,
) -> None:
    """The run's messages to the connection's owner; `asked`: someone pressed "Fetch now"."""
    payload: dict[str, Any] = {
        "connection_id": connection.id,
        "supplier": supplier,
        "found": result.found,
        "new": result.new,
        "error": result.error,
    }

    async def tell(kind: str, body: dict[str, Any], key: str | None = None) -> None:
        await enqueue(
            session=session,
            kind=kind,
            workspace_id=connection.workspace_id,
            recipient_member_id=connection.owner_member_id,
            payload=body,
            dedupe_key=key,
        )

    if result.new:
        await tell("documents_fetched", {**payload, "document_ids": list(result.new_document_ids)})
    if result.state in NEEDS_OWNER and result.error != "code_superseded":
        # One message per episode: the state changed at this moment, once.
        began = connection.state_changed_at.isoformat()
        await tell(
            f"connection_{result.state}",
            payload,
            f"connection:{connection.id}:{result.state}:{began}",
        )
    if result.quiet is None:
        return
    last = history.last_invoice.isoformat() if history.last_invoice else None
    every = history.rhythm.every.days if history.rhythm else None
    quiet = {**payload, "listed": result.listed, "last": last, "every_days": every}
    if result.quiet == Quiet.NOTHING_NEW:
        if asked:  # a weekly run within the supplier's rhythm says nothing
            await tell("connection_nothing_new", quiet)
        return
    kind = ALARMS[result.quiet]
    episode = {
        Quiet.EMPTIED: str(history.listing_run),  # since the last run that saw invoices
        Quiet.OVERDUE: str(last),  # since the last invoice
        Quiet.NEVER_LISTED: f"{now:%Y-%m}",  # a reminder a month
    }[result.quiet]
    once: str | None = f"connection:{connection.id}:{kind}:{episode}"
    told = select(Notification.id).where(Notification.dedupe_key == once)
    if asked and await session.scalar(told):
        once = None  # told already, but whoever pressed "Fetch now" is answered again
    await tell(kind, quiet, once)
