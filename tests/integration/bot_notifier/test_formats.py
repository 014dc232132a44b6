"""Dates in the notifier's messages are the workspace's (issue #14): a day is written as
its language writes it, and an instant is the day it is on the workspace's clock, not in
UTC. A link that ends at 22:30 UTC on 31 March ends on 1 April in Paris, on 31 March in
Martinique."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.notifier import Notifier
from core.db import Database
from core.models import Document, DocumentSource, DocumentState, Workspace
from courier.sandbox.chat import TelegramUser
from tests.integration.bot_notifier.conftest import notify
from tests.integration.conftest import World

LATE_EVENING_UTC = datetime(2026, 3, 31, 22, 30, tzinfo=UTC)


async def _move_workspace(db: Database, world: World, zone: str) -> None:
    async with db.transaction() as session:
        workspace = await session.get(Workspace, world.workspace.id)
        assert workspace is not None
        workspace.timezone = zone


async def test_an_expiring_link_is_told_with_the_paris_day_in_french(
    db: Database, world: World, notifier: Notifier, marie: TelegramUser
) -> None:
    await notify(
        db,
        world,
        "integration_expiring",
        integration_id=1,
        provider="Pennylane",
        company="Dupont SARL",
        expires_at=LATE_EVENING_UTC.isoformat(),
    )
    assert await notifier.deliver_due() == 1
    assert "expire le 1 avril 2026." in (await marie.wait_for_reply()).text


async def test_the_same_instant_is_still_march_in_martinique(
    db: Database, world: World, notifier: Notifier, marie: TelegramUser
) -> None:
    await _move_workspace(db, world, "America/Martinique")
    await notify(
        db,
        world,
        "integration_expiring",
        integration_id=1,
        provider="Pennylane",
        company="Dupont SARL",
        expires_at=LATE_EVENING_UTC.isoformat(),
    )
    assert await notifier.deliver_due() == 1
    assert "expire le 31 mars 2026." in (await marie.wait_for_reply()).text


async def test_a_fetched_document_without_its_date_shows_the_local_day_it_arrived(
    db: Database, world: World, notifier: Notifier, marie: TelegramUser
) -> None:
    assert world.workspace.id is not None
    async with db.transaction() as session:
        document = Document(
            workspace_id=world.workspace.id,
            source=DocumentSource.CONNECTOR,
            state=DocumentState.INBOX,
            filename="edf-mars.pdf",
            content_type="application/pdf",
            sha256="e" * 64,
            size=1,
            received_at=LATE_EVENING_UTC,
        )
        session.add(document)
        await session.flush()
        assert document.id is not None
        ident = document.id
    await notify(
        db, world, "documents_fetched", supplier="EDF", new=1, found=1, document_ids=[ident]
    )
    assert await notifier.deliver_due() == 1
    assert (await marie.wait_for_reply()).text.splitlines() == [
        "EDF : 1 nouveau document dans la boîte de réception.",
        "1. edf-mars.pdf, 1 avr. 2026",
    ]
