"""The weekly digest: what came in last week, what waits for a person, what needs fixing.

Each workspace's owners and admins who keep the digest on (`Member.weekly_digest`, on by
default) get one outbox row a week, for the previous ISO week (Monday to Monday in the
workspace's time zone). It goes from Monday morning on, within waking hours, at the first
tick of the job (scheduler/digest_jobs.py); a scheduler that was down on Monday sends it
later that week. The dedupe key (member and ISO week) makes it once per member per week,
however many schedulers tick. A week with nothing to say sends nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.errors import NotFound
from core.models import (
    Connection,
    ConnectionState,
    Document,
    DocumentState,
    Member,
    Notification,
    Publication,
    PublicationState,
    Supplier,
    Workspace,
)
from core.models.base import utcnow
from core.permissions import TABLE, Action, require
from core.services.notifications import enqueue

KIND = "weekly_digest"
#: A connection in one of these states waits for its owner (the bot's fix buttons).
NEEDS_ACTION = (
    ConnectionState.AUTH_FAILED,
    ConnectionState.ACTION_REQUIRED,
    ConnectionState.NEEDS_USER,
    ConnectionState.BROKEN,
)


@dataclass(frozen=True, slots=True)
class DigestPolicy:
    #: Sent from this weekday (0: Monday) and local hour on.
    weekday: int = 0
    hour: int = 9
    #: Never outside these local hours (as fetches needing a person: core/services/fetch.py).
    waking_hours: tuple[int, int] = (8, 20)


@dataclass(frozen=True, slots=True)
class DigestWeek:
    """The ISO week a digest covers, as UTC instants and local dates."""

    label: str  # "2026-W47"
    first_day: date
    last_day: date
    starts: datetime
    ends: datetime


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def due_week(*, now: datetime, zone: str, policy: DigestPolicy) -> DigestWeek | None:
    """The week whose digest may go now in this time zone, or None (too early, or night)."""
    tz = _zone(zone)
    local = now.astimezone(tz)
    start, end = policy.waking_hours
    if not start <= local.hour < end:
        return None
    if (local.weekday(), local.hour) < (policy.weekday, policy.hour):
        return None
    this_monday = local.date() - timedelta(days=local.weekday())
    first_day = this_monday - timedelta(days=7)
    year, week, _ = first_day.isocalendar()
    return DigestWeek(
        label=f"{year}-W{week:02d}",
        first_day=first_day,
        last_day=this_monday - timedelta(days=1),
        starts=datetime.combine(first_day, time(), tz).astimezone(UTC),
        ends=datetime.combine(this_monday, time(), tz).astimezone(UTC),
    )


def dedupe_key(member_id: int, week: DigestWeek) -> str:
    return f"digest:{member_id}:{week.label}"


async def digest_payload(
    *, session: AsyncSession, workspace_id: int, week: DigestWeek
) -> dict[str, Any]:
    """The week's figures: received by source, waiting for review, published, and the
    connections that need their owner now."""
    received = await session.exec(
        select(Document.source, func.count())
        .where(Document.workspace_id == workspace_id)
        .where(col(Document.received_at) >= week.starts)
        .where(col(Document.received_at) < week.ends)
        .group_by(col(Document.source))
    )
    review = await session.scalar(
        select(func.count())
        .select_from(Document)
        .where(Document.workspace_id == workspace_id)
        .where(Document.state == DocumentState.NEEDS_REVIEW)
    )
    published = await session.scalar(
        select(func.count())
        .select_from(Publication)
        .where(Publication.workspace_id == workspace_id)
        .where(Publication.state == PublicationState.PUBLISHED)
        .where(col(Publication.published_at) >= week.starts)
        .where(col(Publication.published_at) < week.ends)
    )
    stuck = await session.exec(
        select(Connection.id, Supplier.name, Connection.state)
        .join(Supplier, col(Supplier.id) == col(Connection.supplier_id))
        .where(Connection.workspace_id == workspace_id)
        .where(col(Connection.state).in_(NEEDS_ACTION))
        .order_by(col(Connection.id))
    )
    return {
        "week": week.label,
        "first_day": week.first_day.isoformat(),
        "last_day": week.last_day.isoformat(),
        "received": {str(source): int(count) for source, count in sorted(received.all())},
        "review": int(review or 0),
        "published": int(published or 0),
        "needs_action": [
            {"connection_id": ident, "supplier": name, "state": str(state)}
            for ident, name, state in stuck.all()
        ],
    }


def has_news(payload: dict[str, Any]) -> bool:
    return bool(
        payload["received"] or payload["review"] or payload["published"] or payload["needs_action"]
    )


async def _readers(session: AsyncSession, workspace_id: int) -> Sequence[Member]:
    query = (
        select(Member)
        .where(Member.workspace_id == workspace_id)
        .where(col(Member.role).in_(sorted(TABLE[Action.WEEKLY_DIGEST].anything)))
        .where(col(Member.weekly_digest).is_(True))
        # A chat that blocked the bot gets it if its person comes back within the week.
        .where(col(Member.chat_blocked_at).is_(None))
        .order_by(col(Member.id))
    )
    return (await session.exec(query)).all()


async def enqueue_due_digests(
    *, session: AsyncSession, now: datetime | None = None, policy: DigestPolicy | None = None
) -> int:
    """Put this week's digest in the outbox for every reader due one; returns how many
    rows were added (a digest already queued for a member and week is not added again)."""
    now, policy = now or utcnow(), policy or DigestPolicy()
    added = 0
    for workspace in (await session.exec(select(Workspace).order_by(col(Workspace.id)))).all():
        week = due_week(now=now, zone=workspace.timezone, policy=policy)
        if week is None or workspace.id is None:
            continue
        readers = [m for m in await _readers(session, workspace.id) if m.id is not None]
        keys = {dedupe_key(m.id, week): m for m in readers if m.id is not None}
        if not keys:
            continue
        done = set(
            (
                await session.exec(
                    select(Notification.dedupe_key).where(col(Notification.dedupe_key).in_(keys))
                )
            ).all()
        )
        waiting = [(key, member) for key, member in keys.items() if key not in done]
        if not waiting:
            continue
        payload = await digest_payload(session=session, workspace_id=workspace.id, week=week)
        if not has_news(payload):
            continue
        for key, member in waiting:
            await enqueue(
                session=session,
                kind=KIND,
                workspace_id=workspace.id,
                recipient_member_id=member.id,
                payload=payload,
                dedupe_key=key,
            )
            added += 1
    return added


def set_weekly_digest(member: Member, *, enabled: bool) -> bool:
    """Turn a member's digest on or off; returns whether it changed. The digest is for the
    roles the permission table gives it to (WEEKLY_DIGEST): others are refused."""
    require(member, Action.WEEKLY_DIGEST, workspace_id=member.workspace_id)
    if member.weekly_digest == enabled:
        return False
    member.weekly_digest = enabled
    return True


async def digest_readers(
    *, session: AsyncSession, workspace_id: int, telegram_user_id: int | None = None
) -> list[Member]:
    """The workspace's owners and admins (or the one with this Telegram id), whatever
    their setting: the people a digest setting can be changed for."""
    query = (
        select(Member)
        .where(Member.workspace_id == workspace_id)
        .where(col(Member.role).in_(sorted(TABLE[Action.WEEKLY_DIGEST].anything)))
        .order_by(col(Member.id))
    )
    if telegram_user_id is not None:
        query = query.where(Member.telegram_user_id == telegram_user_id)
    found = list((await session.exec(query)).all())
    if telegram_user_id is not None and not found:
        raise NotFound(kind="owner or admin with Telegram id", ident=telegram_user_id)
    return found
