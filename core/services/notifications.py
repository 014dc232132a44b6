"""The outbox. A dedupe key makes "tell them once" hold across retries and processes."""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.db.database import upsert_insert
from core.jobs.claims import claim_rows
from core.jobs.wakeups import OUTBOX, wake
from core.models import (
    Challenge,
    Connection,
    Document,
    Member,
    Notification,
    NotificationState,
    Role,
    Supplier,
    Workspace,
)
from core.models.base import utcnow


async def enqueue(
    *,
    session: AsyncSession,
    kind: str,
    workspace_id: int | None,
    recipient_member_id: int | None = None,
    payload: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
) -> Notification:
    """Add a row to the outbox; with a dedupe key already used, return the existing row.
    The bot's notifier, in whichever process, is woken as the transaction commits."""
    wake(session, OUTBOX)
    values = {
        "kind": kind,
        "workspace_id": workspace_id,
        "recipient_member_id": recipient_member_id,
        "payload": payload or {},
        "dedupe_key": dedupe_key,
        "state": NotificationState.PENDING,
        "attempts": 0,
        "created_at": utcnow(),
    }
    if dedupe_key is None:
        notification = Notification.model_validate(values)
        session.add(notification)
        await session.flush()
        return notification
    # INSERT … ON CONFLICT DO NOTHING is atomic where a read-then-insert would race.
    insert = upsert_insert(session)
    statement = (
        insert(Notification)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(Notification)
    )
    inserted: Notification | None = (await session.exec(statement)).scalars().first()
    if inserted is not None:
        return inserted
    return (
        await session.exec(select(Notification).where(Notification.dedupe_key == dedupe_key))
    ).one()


async def due_notifications(
    *, session: AsyncSession, limit: int = 100, now: datetime | None = None
) -> list[Notification]:
    now = now or utcnow()
    query = (
        select(Notification)
        .where(Notification.state == NotificationState.PENDING)
        .where(
            (col(Notification.next_attempt_at).is_(None))
            | (col(Notification.next_attempt_at) <= now)
        )
        .order_by(col(Notification.id))
        .limit(limit)
    )
    return list((await session.exec(query)).all())


def mark_sent(notification: Notification, *, now: datetime | None = None) -> None:
    notification.state = NotificationState.SENT
    notification.sent_at = now or utcnow()


def mark_failed(
    notification: Notification, *, retry_in: timedelta | None, now: datetime | None = None
) -> None:
    """A failed delivery waits `retry_in`; with None the chat is gone for good."""
    notification.attempts += 1
    if retry_in is None:
        notification.state = NotificationState.UNDELIVERABLE
    else:
        notification.next_attempt_at = (now or utcnow()) + retry_in


async def claim_due_notifications(
    *, session: AsyncSession, lease: timedelta, limit: int = 100, now: datetime | None = None
) -> list[Notification]:
    """Take due rows for delivery. The claim is a lease on `next_attempt_at`: other
    deliverers skip the rows until it runs out, so a deliverer that dies mid-batch leaves
    rows that go out later, never rows lost (core/jobs/claims.py)."""
    now = now or utcnow()
    query = (
        select(Notification)
        .where(Notification.state == NotificationState.PENDING)
        .where(
            (col(Notification.next_attempt_at).is_(None))
            | (col(Notification.next_attempt_at) <= now)
        )
        .order_by(col(Notification.id))
    )

    def stamp(notification: Notification) -> None:
        notification.next_attempt_at = now + lease

    return await claim_rows(session, query, stamp=stamp, limit=limit)


def release(notification: Notification, *, now: datetime | None = None) -> None:
    """Give a claimed row back untried: due again at once, no attempt counted."""
    notification.next_attempt_at = now or utcnow()


def postpone(notification: Notification, *, until: datetime) -> None:
    """Keep a row waiting without counting an attempt (a kind with no words yet)."""
    notification.next_attempt_at = until


async def notifications_by_id(
    *, session: AsyncSession, ids: Collection[int]
) -> dict[int, Notification]:
    """The rows a deliverer claimed, read again in the transaction that settles them."""
    if not ids:
        return {}
    found = await session.exec(select(Notification).where(col(Notification.id).in_(set(ids))))
    return {row.id: row for row in found.all() if row.id is not None}


async def block_chats(
    *, session: AsyncSession, telegram_user_ids: Collection[int], now: datetime | None = None
) -> None:
    """The people whose chat refused us (they blocked the bot): their later rows go
    straight to undeliverable until they write again. An earlier mark keeps its date."""
    if not telegram_user_ids:
        return
    await session.exec(
        update(Member)
        .where(col(Member.telegram_user_id).in_(set(telegram_user_ids)))
        .where(col(Member.chat_blocked_at).is_(None))
        .values(chat_blocked_at=now or utcnow())
    )


async def recipients_of(*, session: AsyncSession, notification: Notification) -> list[Member]:
    """The member it is for, or else the workspace's owners and admins."""
    if notification.recipient_member_id is not None:
        member = await session.get(Member, notification.recipient_member_id)
        return [member] if member is not None else []
    if notification.workspace_id is None:
        return []
    query = (
        select(Member)
        .where(Member.workspace_id == notification.workspace_id)
        .where(col(Member.role).in_((Role.OWNER, Role.ADMIN)))
        .order_by(col(Member.id))
    )
    return list((await session.exec(query)).all())


async def workspace_of(*, session: AsyncSession, notification: Notification) -> Workspace | None:
    """The workspace whose language and clock a notice is told in."""
    if notification.workspace_id is None:
        return None
    return await session.get(Workspace, notification.workspace_id)


@dataclass(frozen=True, slots=True)
class NoticeDocument:
    filename: str
    #: Its issue date, else the instant it arrived.
    day: date | datetime


@dataclass(frozen=True, slots=True)
class NoticeContext:
    """What the notices' words name, read with the claimed rows."""

    suppliers: Mapping[int, str] = field(default_factory=dict)  # connection id → supplier
    challenges: Mapping[int, int] = field(default_factory=dict)  # challenge id → connection id
    documents: Mapping[int, NoticeDocument] = field(default_factory=dict)


async def notice_context(
    *, session: AsyncSession, notifications: Collection[Notification]
) -> NoticeContext:
    """The supplier names, challenges' connections and documents the payloads point at.
    A payload id that is not a number is skipped: its notice shows without the name."""
    connection_ids: set[int] = set()
    challenge_ids: set[int] = set()
    document_ids: set[int] = set()
    for row in notifications:
        payload = row.payload
        with contextlib.suppress(TypeError, ValueError):
            if row.kind == "documents_fetched":
                document_ids.update(int(i) for i in payload.get("document_ids") or ())
            if payload.get("connection_id") is not None:
                connection_ids.add(int(payload["connection_id"]))
            if payload.get("challenge_id") is not None:
                challenge_ids.add(int(payload["challenge_id"]))
            challenge_ids.update(int(i) for i in payload.get("challenge_ids") or ())
    challenges: dict[int, int] = {}
    if challenge_ids:
        found = await session.exec(
            select(Challenge.id, Challenge.connection_id).where(
                col(Challenge.id).in_(challenge_ids)
            )
        )
        challenges = {int(cid): conn for cid, conn in found.all() if cid is not None}
        connection_ids.update(challenges.values())
    suppliers: dict[int, str] = {}
    if connection_ids:
        names = await session.exec(
            select(Connection.id, Supplier.name)
            .join(Supplier, col(Supplier.id) == col(Connection.supplier_id))
            .where(col(Connection.id).in_(connection_ids))
        )
        suppliers = {int(cid): name for cid, name in names.all() if cid is not None}
    documents: dict[int, NoticeDocument] = {}
    if document_ids:
        found_documents = await session.exec(
            select(Document).where(col(Document.id).in_(document_ids))
        )
        documents = {
            d.id: NoticeDocument(d.filename, d.issue_date or d.received_at)
            for d in found_documents.all()
            if d.id is not None
        }
    return NoticeContext(suppliers=suppliers, challenges=challenges, documents=documents)
