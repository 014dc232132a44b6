"""The weekly digest in the chat: the notifier tells last week's figures in the person's
language with the button that fixes a stuck connection, and `/digest off|on` turns it off
and on for the person typing it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import col, select

from bot.notifier import Notifier
from core.db import Database
from core.models import ConnectionState, Document, DocumentSource, DocumentState, Member
from core.services.digests import enqueue_due_digests
from core.vault import Vault
from courier.sandbox.chat import TelegramUser
from tests.integration.bot.conftest import Harness, harness, harness_settings
from tests.integration.conftest import World, connect

__all__ = ["harness", "harness_settings"]

MONDAY_MORNING = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
IN_WEEK = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


async def test_the_digest_reaches_the_owner_in_french_with_the_fix_button(
    db: Database, vault: Vault, world: World, notifier: Notifier, marie: TelegramUser
) -> None:
    connection = await connect(db, vault, world)
    assert world.workspace.id is not None
    async with db.transaction() as session:
        for name, source, state in (
            ("a", DocumentSource.CONNECTOR, DocumentState.INBOX),
            ("b", DocumentSource.IMAP, DocumentState.NEEDS_REVIEW),
            ("c", DocumentSource.IMAP, DocumentState.INBOX),
        ):
            session.add(
                Document(
                    workspace_id=world.workspace.id,
                    source=source,
                    state=state,
                    filename=f"{name}.pdf",
                    content_type="application/pdf",
                    sha256=name * 64,
                    size=1,
                    received_at=IN_WEEK,
                )
            )
        found = await session.get(type(connection), connection.id)
        assert found is not None
        found.state = ConnectionState.ACTION_REQUIRED
    async with db.transaction() as session:
        assert await enqueue_due_digests(session=session, now=MONDAY_MORNING) == 1

    assert await notifier.deliver_due() == 1
    digest = await marie.wait_for_reply()
    assert digest.text.splitlines() == [
        "Votre semaine, du 23 novembre 2026 au 29 novembre 2026 :",
        "• 3 documents reçus : connecteur 1, boîte mail 2",
        "• 1 en attente de votre vérification.",
        "• EDF Entreprises a besoin de vous : voir /connections.",
        "Résumé hebdomadaire. /digest off pour l’arrêter.",
    ]
    assert digest.button("Se reconnecter").callback_data == f"ca:reconnect:{connection.id}"


async def _wants_digest(harness: Harness, person: TelegramUser) -> bool:
    async with harness.db.read() as session:
        member = (
            await session.exec(select(Member).where(col(Member.telegram_user_id) == person.id))
        ).one()
        return member.weekly_digest


async def test_digest_off_and_on_from_the_chat(harness: Harness) -> None:
    workspace, code = await harness.workspace("Boulangerie Dupont")
    marie = await harness.member("Marie", code)
    assert await _wants_digest(harness, marie)  # on by default for an owner

    await marie.say("/digest off")
    assert (await marie.wait_for_reply()).text.startswith("The weekly digest is off.")
    assert not await _wants_digest(harness, marie)
    await marie.say("/digest")
    assert (await marie.wait_for_reply()).text.startswith("The weekly digest is off.")
    await marie.say("/digest on")
    assert (await marie.wait_for_reply()).text.startswith("The weekly digest is on")
    assert await _wants_digest(harness, marie)

    paul = await harness.member("Paul", await harness.invite(workspace))
    await paul.say("/digest on")
    assert "owners and admins" in (await paul.wait_for_reply()).text
