"""The weekly digest: due on Monday morning in the workspace's time zone, once per reader
and week, with last week's figures; nothing on a quiet week or for those who turned it off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlmodel import col, select

from core.db import Database
from core.models import (
    ConnectionState,
    Document,
    DocumentSource,
    DocumentState,
    Member,
    Notification,
    Role,
)
from core.services.digests import DigestPolicy, due_week, enqueue_due_digests
from core.services.members import create_invite, join_workspace
from core.vault import Vault
from scheduler.app import build_scheduler
from scheduler.digest_jobs import DIGEST_TICK_SECONDS, DigestJobs
from scheduler.jobs import Jobs
from tests.integration.conftest import World, connect

#: Monday 30 November 2026, 09:30 in Paris: the digest of week 48 (23–29 November) is due.
MONDAY_MORNING = datetime(2026, 11, 30, 8, 30, tzinfo=UTC)
IN_WEEK = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
WEEK_BEFORE = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def test_the_digest_is_due_from_monday_nine_in_the_workspaces_own_time() -> None:
    policy = DigestPolicy()
    week = due_week(now=MONDAY_MORNING, zone="Europe/Paris", policy=policy)
    assert week is not None
    assert (week.label, str(week.first_day), str(week.last_day)) == (
        "2026-W48",
        "2026-11-23",
        "2026-11-29",
    )
    assert week.starts == datetime(2026, 11, 22, 23, 0, tzinfo=UTC)  # Monday 00:00 in Paris
    # 08:30 in Paris is before nine; in Tokyo the same instant is 17:30: due there.
    assert (
        due_week(now=MONDAY_MORNING - timedelta(hours=1), zone="Europe/Paris", policy=policy)
        is None
    )
    assert due_week(now=MONDAY_MORNING - timedelta(hours=1), zone="Asia/Tokyo", policy=policy)
    # Never at night, even late in the week; any waking hour later in the week still works.
    assert (
        due_week(now=datetime(2026, 12, 2, 22, 0, tzinfo=UTC), zone="Europe/Paris", policy=policy)
        is None
    )
    wednesday = due_week(
        now=datetime(2026, 12, 2, 10, 0, tzinfo=UTC), zone="Europe/Paris", policy=policy
    )
    assert wednesday is not None
    assert wednesday.label == "2026-W48"
    # An unknown zone falls back to UTC rather than failing the job.
    assert due_week(now=MONDAY_MORNING, zone="Mars/Olympus", policy=policy) is None  # 08:30 UTC
    assert due_week(now=MONDAY_MORNING + timedelta(hours=1), zone="Mars/Olympus", policy=policy)


def _document(
    world: World,
    name: str,
    source: DocumentSource,
    at: datetime,
    state: DocumentState = DocumentState.INBOX,
) -> Document:
    assert world.workspace.id is not None
    return Document(
        workspace_id=world.workspace.id,
        source=source,
        filename=name,
        content_type="application/pdf",
        sha256=name.ljust(64, "0"),
        size=10,
        received_at=at,
        state=state,
    )


async def _digests(db: Database) -> list[Notification]:
    async with db.read() as session:
        rows = await session.exec(
            select(Notification)
            .where(Notification.kind == "weekly_digest")
            .order_by(col(Notification.id))
        )
        return list(rows.all())


async def _member(db: Database, world: World, telegram_id: int, role: Role) -> Member:
    async with db.transaction() as session:
        invite = await create_invite(
            session=session, workspace=world.workspace, role=role, ttl=timedelta(hours=1)
        )
        return await join_workspace(
            session=session, code=invite.code, telegram_user_id=telegram_id, display_name="x"
        )


async def test_last_weeks_figures_go_once_to_each_owner_and_admin_who_wants_them(
    db: Database, vault: Vault, world: World
) -> None:
    admin = await _member(db, world, 2002, Role.ADMIN)
    quiet_admin = await _member(db, world, 3003, Role.ADMIN)
    await _member(db, world, 4004, Role.MEMBER)
    connection = await connect(db, vault, world)
    async with db.transaction() as session:
        session.add_all(
            [
                _document(world, "a", DocumentSource.CONNECTOR, IN_WEEK),
                _document(world, "b", DocumentSource.CONNECTOR, IN_WEEK),
                _document(
                    world, "c", DocumentSource.EMAIL, IN_WEEK, state=DocumentState.NEEDS_REVIEW
                ),
                _document(world, "d", DocumentSource.TELEGRAM, WEEK_BEFORE),
            ]
        )
        await session.exec(
            update(Member).where(col(Member.id) == quiet_admin.id).values(weekly_digest=False)
        )
        found = await session.get(type(connection), connection.id)
        assert found is not None
        found.state = ConnectionState.AUTH_FAILED

    async with db.transaction() as session:
        assert await enqueue_due_digests(session=session, now=MONDAY_MORNING) == 2
    # Another tick, or another scheduler: nothing more this week.
    async with db.transaction() as session:
        assert (
            await enqueue_due_digests(session=session, now=MONDAY_MORNING + timedelta(hours=3)) == 0
        )

    rows = await _digests(db)
    assert [r.recipient_member_id for r in rows] == [world.owner.id, admin.id]
    assert rows[0].dedupe_key == f"digest:{world.owner.id}:2026-W48"
    assert rows[0].payload == {
        "week": "2026-W48",
        "first_day": "2026-11-23",
        "last_day": "2026-11-29",
        "received": {"connector": 2, "email": 1},
        "review": 1,
        "published": 0,
        "needs_action": [
            {"connection_id": connection.id, "supplier": "EDF Entreprises", "state": "auth_failed"}
        ],
    }

    # The next Monday brings next week's digest.
    async with db.transaction() as session:
        assert (
            await enqueue_due_digests(session=session, now=MONDAY_MORNING + timedelta(days=7)) == 2
        )
    assert (await _digests(db))[-1].payload["received"] == {}


async def test_a_quiet_week_sends_nothing_and_nor_does_a_sunday_night(
    db: Database, world: World
) -> None:
    async with db.transaction() as session:
        assert await enqueue_due_digests(session=session, now=MONDAY_MORNING) == 0
        session.add(_document(world, "a", DocumentSource.UPLOAD, IN_WEEK))
    async with db.transaction() as session:
        sunday_night = datetime(2026, 11, 29, 22, 0, tzinfo=UTC)
        assert await enqueue_due_digests(session=session, now=sunday_night) == 0
        assert await enqueue_due_digests(session=session, now=MONDAY_MORNING) == 1
    assert (await _digests(db))[0].payload["received"] == {"upload": 1}


async def test_a_blocked_chat_gets_no_digest_row(db: Database, world: World) -> None:
    async with db.transaction() as session:
        session.add(_document(world, "a", DocumentSource.UPLOAD, IN_WEEK))
        await session.exec(
            update(Member).where(col(Member.id) == world.owner.id).values(chat_blocked_at=IN_WEEK)
        )
    async with db.transaction() as session:
        assert await enqueue_due_digests(session=session, now=MONDAY_MORNING) == 0


async def test_the_scheduler_runs_the_digest_job_on_its_tick(db: Database, world: World) -> None:
    async with db.transaction() as session:
        session.add(_document(world, "a", DocumentSource.UPLOAD, IN_WEEK))
    digests = DigestJobs(db=db, clock=lambda: MONDAY_MORNING + timedelta(hours=1))
    scheduler = build_scheduler(Jobs(db=db, runner=None), digests=digests)  # type: ignore[arg-type]
    job = scheduler.get_job("enqueue_digests")
    assert job is not None
    assert job.trigger.interval == timedelta(seconds=DIGEST_TICK_SECONDS)
    assert await digests.enqueue_digests() == 1
    assert await digests.enqueue_digests() == 0
