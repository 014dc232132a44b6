"""The outbox. A dedupe key makes "tell them once" hold across retries and processes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.db.database import upsert_insert
from core.models import Notification, NotificationState
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
    """Add a row to the outbox; with a dedupe key already used, return the existing row."""
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
    rows that go out later, never rows lost. `SKIP LOCKED` lets several claim side by side
    on PostgreSQL; SQLite's write lock serialises the claim."""
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
        .with_for_update(skip_locked=True)
    )
    claimed = list((await session.exec(query)).all())
    for notification in claimed:
        notification.next_attempt_at = now + lease
    await session.flush()
    return claimed


def release(notification: Notification, *, now: datetime | None = None) -> None:
    """Give a claimed row back untried: due again at once, no attempt counted."""
    notification.next_attempt_at = now or utcnow()
