"""Inbound mail as core sees it: addresses resolved to workspaces, messages recorded
durably, then claimed by a worker for processing, with a lease so a dead worker's
messages are taken over."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, func, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.backoff import INBOUND
from core.db.database import upsert_insert
from core.errors import NotFound
from core.jobs.claims import claim_rows, lease_over
from core.models import InboundChannel, InboundMessage, InboundState, Workspace
from core.models.base import utcnow

#: Accepted for every domain we serve, as RFC 5321 requires; read by the operator.
POSTMASTER = "postmaster"
#: A worker's hold on a claimed message; a dead worker's messages are taken over after it.
LEASE = timedelta(seconds=60)
#: A mailbox message is recorded once per (mailbox, UIDVALIDITY, UID): the table's unique key.
_MAILBOX_KEY = ["mailbox_id", "uidvalidity", "uid"]


@dataclass(frozen=True, slots=True)
class Recipient:
    address: str
    workspace_id: int | None
    tag: str | None = None


@dataclass(frozen=True, slots=True)
class Envelope:
    """What the transport knows about a message before anyone reads it."""

    channel: InboundChannel
    mail_from: str
    sha256: str
    size: int
    message_id: str | None = None
    peer: str | None = None
    helo: str | None = None


def split_address(address: str, mail_domain: str) -> tuple[str, str | None] | None:
    """`slug+tag@domain` → ("slug", "tag"); None when the domain is not ours."""
    local, at, domain = address.strip().strip("<>").rpartition("@")
    if not at or domain.lower().rstrip(".") != mail_domain or not local:
        return None
    slug, plus, tag = local.lower().partition("+")
    return slug, (tag or None) if plus else None


async def resolve_recipient(
    *, session: AsyncSession, address: str, mail_domain: str
) -> Recipient | None:
    parts = split_address(address, mail_domain)
    if parts is None:
        return None
    slug, tag = parts
    if slug == POSTMASTER:
        return Recipient(address=address, workspace_id=None)
    workspace_id = await session.scalar(select(Workspace.id).where(Workspace.slug == slug))
    if workspace_id is None:
        return None
    return Recipient(address=address, workspace_id=workspace_id, tag=tag)


def record_message(
    *, session: AsyncSession, envelope: Envelope, recipients: Sequence[Recipient]
) -> list[InboundMessage]:
    """One row per recipient workspace; the caller has already stored the raw message."""
    rows = [
        InboundMessage(
            workspace_id=r.workspace_id,
            channel=envelope.channel,
            recipient=r.address[:320],
            tag=r.tag,
            mail_from=envelope.mail_from[:320],
            peer=envelope.peer,
            helo=(envelope.helo or "")[:255] or None,
            message_id=(envelope.message_id or "")[:998] or None,
            sha256=envelope.sha256,
            size=envelope.size,
        )
        for r in recipients
    ]
    session.add_all(rows)
    return rows


async def stored_bytes(*, session: AsyncSession, workspace_ids: Sequence[int]) -> dict[int, int]:
    """The raw mail each workspace keeps, in bytes: what its quota counts. A message whose
    file was let go (a relayed code's) no longer counts."""
    if not workspace_ids:
        return {}
    query = (
        select(InboundMessage.workspace_id, func.coalesce(func.sum(InboundMessage.size), 0))
        .where(col(InboundMessage.workspace_id).in_(workspace_ids))
        .where(col(InboundMessage.sha256).is_not(None))
        .group_by(col(InboundMessage.workspace_id))
    )
    found = {int(ws): int(total) for ws, total in (await session.exec(query)).all() if ws}
    return {workspace_id: found.get(workspace_id, 0) for workspace_id in workspace_ids}


@dataclass(frozen=True, slots=True)
class MailboxCopy:
    """A message taken from a mailbox: what the transport knows, and where it sits there."""

    envelope: Envelope
    recipient: Recipient
    mailbox_id: int
    uidvalidity: int
    uid: int


def _mailbox_values(item: MailboxCopy) -> dict[str, Any]:
    """The columns a mailbox message sets; the others take the table's defaults."""
    envelope, recipient = item.envelope, item.recipient
    return {
        "workspace_id": recipient.workspace_id,
        "channel": InboundChannel.IMAP,
        "recipient": recipient.address[:320],
        "mail_from": envelope.mail_from[:320],
        "message_id": (envelope.message_id or "")[:998] or None,
        "sha256": envelope.sha256,
        "size": envelope.size,
        "mailbox_id": item.mailbox_id,
        "uidvalidity": item.uidvalidity,
        "uid": item.uid,
    }


async def record_mailbox_messages(
    *, session: AsyncSession, items: Sequence[MailboxCopy]
) -> list[InboundMessage]:
    """Record a batch of mailbox messages, each once, and return the rows it added, in id
    order; a message recorded before (by a run that crashed before its after-action, by
    another process) is left out.

    One INSERT … ON CONFLICT DO NOTHING RETURNING per batch, not a savepoint per message:
    the round trips of the savepoints cost more than everything else a poll does, and a
    conflict skipped by the database leaves the caller's transaction untouched."""
    if not items:
        return []
    insert = upsert_insert(session)
    statement = (
        insert(InboundMessage)
        .on_conflict_do_nothing(index_elements=_MAILBOX_KEY)
        .returning(InboundMessage)
        # Without it, rows whose None fall on other columns go in separate INSERTs.
        .execution_options(render_nulls=True)
    )
    # Given a list of rows, SQLAlchemy sends them as one multi-row INSERT ("insertmanyvalues",
    # split only past the driver's parameter limit) from a statement compiled once; rows
    # written into the statement itself would be compiled anew each time, for longer
    # than the database takes to insert them.
    result = await session.exec(statement, params=[_mailbox_values(item) for item in items])
    # RETURNING's order is the database's choice (SQLite documents none).
    return sorted(result.scalars().all(), key=lambda row: row.id or 0)


async def claim_messages(
    *,
    session: AsyncSession,
    limit: int = 20,
    lease: timedelta = LEASE,
    now: datetime | None = None,
) -> list[InboundMessage]:
    """Lease up to `limit` messages waiting for processing (core/jobs/claims.py)."""
    now = now or utcnow()
    query = (
        select(InboundMessage)
        .where(InboundMessage.state == InboundState.RECEIVED)
        .where(lease_over(InboundMessage.claimed_until, now))
        .where(
            or_(
                col(InboundMessage.next_attempt_at).is_(None),
                col(InboundMessage.next_attempt_at) <= now,
            )
        )
        .order_by(col(InboundMessage.id))
    )

    def stamp(row: InboundMessage) -> None:
        # The lease's end doubles as the claim's token: unique to the microsecond.
        row.claimed_until = now + lease
        row.attempts += 1

    return await claim_rows(session, query, stamp=stamp, limit=limit)


async def reclaim_all(
    *, session: AsyncSession, claimed: Sequence[InboundMessage]
) -> dict[int, InboundMessage]:
    """The claimed messages, locked, that this worker still holds, by id, in one statement.
    A message whose lease ran out and another worker took over, or that was settled
    meanwhile, is left out."""
    ids = [message.id for message in claimed if message.id is not None]
    if not ids:
        return {}
    query = (
        select(InboundMessage)
        .where(col(InboundMessage.id).in_(ids))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    fresh = {row.id: row for row in (await session.exec(query)).all()}
    held: dict[int, InboundMessage] = {}
    for message in claimed:
        row = fresh.get(message.id)
        if row is None or row.id is None or row.state != InboundState.RECEIVED:
            continue
        if row.claimed_until == message.claimed_until:
            held[row.id] = row
    return held


def settle_message(
    message: InboundMessage,
    state: InboundState,
    *,
    reason: str | None = None,
    now: datetime | None = None,
    outcome: Mapping[str, Any] | None = None,
) -> None:
    """Give the message its final state; `outcome`, what the pipeline found, is merged
    into its record here, so that settling a message writes its row once."""
    if outcome:
        message.outcome = (message.outcome or {}) | dict(outcome)
    message.state = state
    message.state_reason = reason
    message.claimed_until = None
    message.processed_at = now or utcnow()


def retry_later(message: InboundMessage, *, reason: str, now: datetime | None = None) -> None:
    """A failed attempt waits longer each time; after INBOUND's last it is FAILED, kept,
    and can be retried by hand rather than blocking the queue forever."""
    now = now or utcnow()
    message.claimed_until = None
    message.state_reason = reason
    if INBOUND.gives_up(message.attempts):
        settle_message(message, InboundState.FAILED, reason=reason, now=now)
    else:
        message.next_attempt_at = now + INBOUND.wait(message.attempts)


#: A supplier's code may arrive before the site tells Courier it sent one (the supplier
#: mails first, then answers the login): such a message is looked at again this often,
EARLY_CODE_RETRY = timedelta(seconds=2)
#: for this long after it arrived; then it is an ordinary mail.
EARLY_CODE_PATIENCE = timedelta(minutes=2)


def early_code(message: InboundMessage, *, now: datetime) -> bool:
    """Whether a code that fits no challenge yet may still wait for one."""
    return now - message.received_at < EARLY_CODE_PATIENCE


def wait_for_challenge(message: InboundMessage, *, now: datetime) -> None:
    """Look at the message again shortly, not as a failure: the claim's attempt is given
    back, so waiting never brings the message closer to FAILED."""
    message.attempts = max(0, message.attempts - 1)
    message.claimed_until = None
    message.state_reason = "code_before_challenge"
    message.next_attempt_at = now + EARLY_CODE_RETRY


def retry_now(message: InboundMessage) -> None:
    """The user asked to try a failed message again."""
    message.state = InboundState.RECEIVED
    message.attempts = 0
    message.next_attempt_at = None
    message.claimed_until = None


async def list_inbound(
    *,
    session: AsyncSession,
    workspace_id: int,
    state: InboundState | None = None,
    limit: int = 100,
) -> list[InboundMessage]:
    query = select(InboundMessage).where(InboundMessage.workspace_id == workspace_id)
    if state is not None:
        query = query.where(InboundMessage.state == state)
    query = query.order_by(col(InboundMessage.id).desc()).limit(limit)
    return list((await session.exec(query)).all())


async def get_inbound(
    *, session: AsyncSession, workspace_id: int, message_id: int
) -> InboundMessage:
    """One inbound message of the workspace; NotFound for another workspace's."""
    message = await session.get(InboundMessage, message_id)
    if message is None or message.workspace_id != workspace_id:
        raise NotFound(kind="inbound message", ident=message_id)
    return message


async def retry_inbound(
    *, session: AsyncSession, workspace_id: int, message_id: int
) -> InboundMessage:
    """Put a failed (or unread) message back in the queue, at the user's request."""
    message = await session.get(InboundMessage, message_id)
    if message is None or message.workspace_id != workspace_id:
        raise NotFound(kind="inbound message", ident=message_id)
    if message.sha256 is None:
        raise NotFound(kind="inbound message file", ident=message_id)
    retry_now(message)
    return message
