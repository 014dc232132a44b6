"""Core speaks through the outbox; a dedupe key means one alert, not one per failure."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlmodel import func, select

from core.db import Database
from core.models import Notification, NotificationState
from core.models.base import utcnow
from core.services.notifications import due_notifications, enqueue, mark_failed, mark_sent
from tests.integration.conftest import World


async def test_the_same_dedupe_key_twice_gives_one_row(db: Database, world: World) -> None:
    for documents_waiting in (1, 2):
        async with db.transaction() as session:
            row = await enqueue(
                session=session,
                kind="integration_expired",
                workspace_id=world.workspace.id,
                payload={"waiting": documents_waiting},
                dedupe_key="integration:1:expired:2026-11-23",
            )
    async with db.transaction() as session:
        count = await session.scalar(select(func.count()).select_from(Notification))
    assert count == 1
    assert row.payload == {"waiting": 1}  # the first alert stands


async def test_concurrent_enqueues_under_one_key_give_one_row(db: Database, world: World) -> None:
    async def _one() -> int | None:
        async with db.transaction() as session:
            return (
                await enqueue(
                    session=session, kind="k", workspace_id=world.workspace.id, dedupe_key="same"
                )
            ).id

    ids = await asyncio.gather(*(_one() for _ in range(5)))
    assert len(set(ids)) == 1


async def test_without_a_key_every_message_is_its_own(db: Database, world: World) -> None:
    async with db.transaction() as session:
        await enqueue(session=session, kind="new_invoices", workspace_id=world.workspace.id)
        await enqueue(session=session, kind="new_invoices", workspace_id=world.workspace.id)
        assert len(await due_notifications(session=session)) == 2


async def test_a_failed_delivery_waits_and_a_dead_chat_is_not_retried(
    db: Database, world: World
) -> None:
    async with db.transaction() as session:
        later = await enqueue(session=session, kind="a", workspace_id=world.workspace.id)
        dead = await enqueue(session=session, kind="b", workspace_id=world.workspace.id)
        sent = await enqueue(session=session, kind="c", workspace_id=world.workspace.id)
        mark_failed(later, retry_in=timedelta(minutes=5))
        mark_failed(dead, retry_in=None)
        mark_sent(sent)
    async with db.transaction() as session:
        assert await due_notifications(session=session) == []
        [due] = await due_notifications(session=session, now=utcnow() + timedelta(minutes=6))
        assert due.id == later.id
        stored = await session.get(Notification, dead.id)
        assert stored is not None
        assert stored.state == NotificationState.UNDELIVERABLE
