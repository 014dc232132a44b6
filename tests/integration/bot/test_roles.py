"""Who may do what (README, "Who may do what"; core/permissions.py), told as the attacks of
issue #13: Paul, a plain member of Acme, tries through the chat what only its owner Marie
may do. One story per row of the table."""

from __future__ import annotations

from typing import TypeVar

from sqlmodel import select

from bot.callbacks import ChallengePick, ConnectionAction, DocumentAction, MailboxAction
from bot.flow_callbacks import ReviewAction
from bot.flows import FlowButton
from core.models import (
    Challenge,
    ChallengeChannel,
    ChallengeState,
    Connection,
    Document,
    DocumentSource,
    DocumentState,
    Member,
    Role,
    Workspace,
)
from core.services.challenges import open_challenge
from core.services.documents import IncomingDocument, ingest_document, move_document
from courier.sandbox.chat import TelegramUser
from tests.integration.bot.conftest import Harness, add_connection, press
from tests.integration.bot.test_integration import toast

T = TypeVar("T", Document, Challenge)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
IBAN = "FR7630006000011234567890189"


async def _acme(harness: Harness) -> tuple[Workspace, TelegramUser, TelegramUser]:
    """Acme, its owner Marie and Paul, who joined as a plain member."""
    workspace, code = await harness.workspace("Acme")
    marie = await harness.member("Marie", code)
    paul = await harness.member("Paul", await harness.invite(workspace, Role.MEMBER))
    return workspace, marie, paul


async def _member_id(harness: Harness, person: TelegramUser) -> int:
    async with harness.db.read() as session:
        member = (
            await session.exec(select(Member).where(Member.telegram_user_id == person.id))
        ).one()
    assert member.id is not None
    return member.id


async def _document(
    harness: Harness,
    workspace: Workspace,
    *,
    source: DocumentSource,
    owner: int | None,
    content: bytes = PDF,
    held_for: str | None = None,
) -> Document:
    assert workspace.id is not None
    async with harness.db.transaction() as session:
        result = await ingest_document(
            session=session,
            store=harness.store,
            incoming=IncomingDocument(
                workspace_id=workspace.id,
                source=source,
                content=content,
                filename="invoice.pdf",
                supplier_name="Bakery SARL",
                owner_member_id=owner,
            ),
        )
        document = result.document
        if held_for is not None:
            document.fields = {
                "iban": {"value": IBAN, "source": "text", "confidence": 0.95},
                "supplier_name": {"value": "Bakery SARL", "source": "text", "confidence": 0.95},
            }
            move_document(document, DocumentState.NEEDS_REVIEW, reason=held_for)
            session.add(document)
    return document


async def _reread(harness: Harness, row: T) -> T:
    async with harness.db.read() as session:
        found = await session.get(type(row), row.id)
    assert found is not None
    return found


async def _challenge(harness: Harness, connection: Connection) -> Challenge:
    async with harness.db.transaction() as session:
        row = await session.get(Connection, connection.id)
        assert row is not None
        return await open_challenge(session=session, connection=row, channel=ChallengeChannel.SMS)


async def test_a_member_archives_their_own_upload_but_not_the_owner_s_connector_document(
    harness: Harness,
) -> None:
    workspace, marie, paul = await _acme(harness)
    fetched = await _document(
        harness,
        workspace,
        source=DocumentSource.CONNECTOR,
        owner=await _member_id(harness, marie),
    )
    assert fetched.id is not None
    await paul.upload(PDF + b"% Paul's receipt\n", filename="taxi.pdf")
    await paul.wait_for_reply()

    await paul.say("/inbox")
    listing = await paul.wait_for_reply()
    # Newest first: his upload, then Marie's connector document, which he cannot archive.
    assert listing.labels[:2] == ["Open 1", "Open 2"]
    await press(paul, "Open 2", message=listing)
    assert (await paul.wait_for_reply()).labels == []
    # A forged press on Marie's document is refused and changes nothing.
    harness.forge_press(paul, DocumentAction(do="archive", id=fetched.id).pack(), listing)
    assert await toast(paul) == (
        "You can archive only the documents that are yours; owners and admins archive the others."
    )
    assert (await _reread(harness, fetched)).state == DocumentState.INBOX
    # His own upload he may archive.
    await press(paul, "Open 1", message=listing)
    his = await paul.wait_for_reply()
    assert his.labels == ["Archive"]
    assert await press(paul, "Archive", message=his) == ""
    assert "taxi.pdf is archived" in (await paul.wait_for_reply()).text
    # Marie, the owner, archives hers (and could archive his).
    await marie.say("/inbox")
    hers = await marie.wait_for_reply()
    await press(marie, "Open 1", message=hers)
    opened = await marie.wait_for_reply()
    await press(marie, "Archive", message=opened)
    assert "invoice.pdf is archived" in (await marie.wait_for_reply()).text
    assert (await _reread(harness, fetched)).state == DocumentState.ARCHIVED


async def test_only_a_manager_confirms_new_bank_details_or_an_unauthenticated_sender(
    harness: Harness,
) -> None:
    workspace, marie, paul = await _acme(harness)
    new_iban = await _document(
        harness, workspace, source=DocumentSource.EMAIL, owner=None, held_for="new_iban"
    )
    spoofed = await _document(
        harness,
        workspace,
        source=DocumentSource.EMAIL,
        owner=None,
        content=PDF + b"% spoofed\n",
        held_for="sender_unauthenticated",
    )
    assert new_iban.id is not None
    assert spoofed.id is not None

    # Paul opens the review: he is shown what is held, and no button to confirm it.
    await paul.say("/inbox")
    listing = await paul.wait_for_reply()
    await paul.press("Review 2", message=listing)
    shown = await paul.wait_for_reply()
    assert "Why I ask: it asks to be paid into a bank account" in shown.text
    assert "Only the workspace's owners and admins can confirm new bank details" in shown.text
    assert shown.labels == []
    # The old review's answer buttons forged anyway ("Yes, it is right", "No, refuse it"):
    # a review is answered only through its flow, so they are no start and have expired.
    for document, field in ((new_iban, "iban"), (spoofed, "sender")):
        for choice in (0, 1):
            assert document.id is not None
            data = ReviewAction(id=document.id, f=field, c=choice).pack()
            harness.forge_press(paul, data, listing)
            assert await toast(paul) == "This action has expired."
        after = await _reread(harness, document)
        assert (after.state, after.state_reason) == (document.state, document.state_reason)
        assert "_confirmed" not in after.fields

    # Marie, the owner, is asked and confirms the bank details.
    await marie.say("/inbox")
    hers = await marie.wait_for_reply()
    await marie.press("Review 2", message=hers)
    asked = await marie.wait_for_reply()
    assert f"paid into {IBAN}" in asked.text
    await marie.press("Yes, it is right", message=asked)
    assert "What is the total incl. tax?" in (await marie.wait_for_reply()).text
    assert (await _reread(harness, new_iban)).fields["_confirmed"] == ["iban"]


async def test_a_bare_code_goes_only_to_the_member_s_own_challenge_or_anywhere_for_a_manager(
    harness: Harness,
) -> None:
    workspace, marie, paul = await _acme(harness)
    maries = await _challenge(
        harness, await add_connection(harness, workspace, marie, login="marie@example.com")
    )
    assert maries.id is not None

    # The only open challenge is Marie's: "2026" from Paul is no code for it.
    await paul.say("2026")
    assert (await paul.wait_for_reply()).text == "No code is awaited right now."
    # Nor can he aim at it with a forged "which one?" press and type the code.
    await paul.say("/help")
    on = await paul.wait_for_reply()
    harness.forge_press(paul, ChallengePick(id=maries.id).pack(), on)
    assert "for the person whose supplier account it is" in (await paul.wait_for_reply()).text
    assert (await _reread(harness, maries)).state == ChallengeState.OPEN

    # His own connection's challenge takes his bare code, without asking which.
    pauls = await _challenge(
        harness, await add_connection(harness, workspace, paul, login="paul@example.com")
    )
    await paul.say("2026")
    assert "Code passed on to Demo Supplier" in (await paul.wait_for_reply()).text
    assert (await _reread(harness, pauls)).state == ChallengeState.ANSWERED
    assert (await _reread(harness, maries)).state == ChallengeState.OPEN

    # Marie manages the workspace: her bare code may go to any challenge.
    await _challenge(harness, await add_connection(harness, workspace, paul, login="p2@x.com"))
    await marie.say("778899")
    which = await marie.wait_for_reply()
    assert "Which one" in which.text
    assert which.labels == [
        "Demo Supplier · marie@example.com",
        "Demo Supplier · p2@x.com",
        "Cancel",
    ]


async def test_a_member_manages_their_own_connection_but_not_another_s(
    harness: Harness,
) -> None:
    workspace, marie, paul = await _acme(harness)
    maries = await add_connection(harness, workspace, marie, login="marie@example.com")
    pauls = await add_connection(harness, workspace, paul, login="paul@example.com")
    assert maries.id is not None
    assert pauls.id is not None
    await paul.say("/connections")
    listing = await paul.wait_for_reply()

    # Marie's: he sees it, with no button, and forged presses change nothing.
    await press(paul, "1. Demo Supplier · marie@example.com · new", message=listing)
    assert (await paul.wait_for_reply()).labels == []
    refused = (
        "Only the workspace's owners and admins, and the person whose supplier account "
        "it is, can manage this connection."
    )
    for verb in ("pause", "update", "rm"):
        harness.forge_press(paul, ConnectionAction(do=verb, id=maries.id).pack(), listing)
        assert await toast(paul) == refused
    async with harness.db.read() as session:
        untouched = await session.get(Connection, maries.id)
    assert untouched is not None
    assert untouched.state == maries.state

    # His own: he pauses it, resumes it, and removes it.
    await press(paul, "2. Demo Supplier · paul@example.com · new", message=listing)
    own = await paul.wait_for_reply()
    assert "Pause" in own.labels
    await press(paul, "Pause", message=own)
    assert "paused" in (await paul.wait_for_reply()).text
    harness.forge_press(paul, ConnectionAction(do="rm", id=pauls.id).pack(), listing)
    await paul.wait_for_edit()
    async with harness.db.read() as session:
        assert await session.get(Connection, pauls.id) is None
        assert await session.get(Connection, maries.id) is not None


# The rows below were refused in the chat before issue #13 as well; they now read core's
# table (Actor.may), so these stories guard that move rather than reproduce an attack.


async def test_a_member_cannot_connect_a_supplier_account(harness: Harness) -> None:
    _, _, paul = await _acme(harness)
    await paul.say("/connect")
    assert (await paul.wait_for_reply()).text == (
        "Only the workspace's owners and admins can connect a supplier account."
    )


async def test_a_member_cannot_manage_the_accounting_software(harness: Harness) -> None:
    _, _, paul = await _acme(harness)
    await paul.say("/integration")
    assert (await paul.wait_for_reply()).text == (
        "Only the workspace's owners and admins can manage the accounting software."
    )


async def test_a_member_cannot_manage_supplier_rules(harness: Harness) -> None:
    _, _, paul = await _acme(harness)
    refused = "Only the workspace's owners and admins can manage the supplier rules."
    await paul.say("/rules")
    on = await paul.wait_for_reply()
    assert on.text == refused
    # He never got a step of the rules flow: a forged "Add a rule" is no input.
    harness.forge_press(paul, FlowButton(n="00000000", o="add").pack(), on)
    assert await toast(paul) == "This action has expired."


async def test_a_member_cannot_manage_watched_mailboxes(harness: Harness) -> None:
    _, _, paul = await _acme(harness)
    await paul.say("/mail")
    listing = await paul.wait_for_reply()
    assert listing.labels == []
    harness.forge_press(paul, MailboxAction(do="add").pack(), listing)
    assert await toast(paul) == (
        "Only the workspace's owners and admins can manage the watched mailboxes."
    )


async def test_a_member_gets_no_weekly_digest(harness: Harness) -> None:
    _, marie, paul = await _acme(harness)
    await paul.say("/digest on")
    assert "owners and admins" in (await paul.wait_for_reply()).text
    await marie.say("/digest off")
    assert "The weekly digest is off" in (await marie.wait_for_reply()).text
