"""`/mail`: the forwarding address, and watched mailboxes added and removed by chat."""

from __future__ import annotations

from sqlmodel import select

from core.models import Mailbox
from tests.integration.bot.conftest import Harness, press


async def _mailboxes(harness: Harness) -> list[Mailbox]:
    async with harness.db.read() as session:
        return list((await session.exec(select(Mailbox))).all())


async def test_add_a_mailbox_its_secret_deleted_then_remove_it(harness: Harness) -> None:
    _, code = await harness.workspace("Acme")
    marie = await harness.member("Marie", code)
    await marie.say("/mail")
    shown = await marie.wait_for_reply()
    assert "Forward invoices to acme@in.example.com" in shown.text
    assert "No mailbox is watched" in shown.text
    await press(marie, "Add a mailbox", message=shown)
    await marie.wait_for_reply()
    await marie.say("not a host!")
    assert "not a server name" in (await marie.wait_for_reply()).text
    await marie.say("imap.example.com:143")
    await marie.wait_for_reply()
    await marie.say("factures@acme.fr")
    await marie.wait_for_reply()
    secret = await marie.say("app-password-123")
    await marie.wait_for_deletion(secret)
    assert "deleted your message" in (await marie.wait_for_reply()).text
    assert "now watch factures@acme.fr on imap.example.com" in (await marie.wait_for_reply()).text
    [mailbox] = await _mailboxes(harness)
    assert (mailbox.host, mailbox.port, mailbox.username) == (
        "imap.example.com",
        143,
        "factures@acme.fr",
    )
    assert "app-password-123" not in mailbox.secret_sealed
    assert all("app-password-123" not in m.text for m in marie.messages)
    await marie.say("/mail")
    listing = await marie.wait_for_reply()
    assert "1. factures@acme.fr on imap.example.com (INBOX): working" in listing.text
    await press(marie, "Remove 1", message=listing)
    assert "no longer watch" in (await marie.wait_for_reply()).text
    assert await _mailboxes(harness) == []
    assert await press(marie, "Remove 1", message=listing) == "This action has expired."


async def test_cancel_while_adding_a_mailbox(harness: Harness) -> None:
    _, code = await harness.workspace("Acme")
    marie = await harness.member("Marie", code)
    await marie.say("/mail")
    await press(marie, "Add a mailbox", message=await marie.wait_for_reply())
    await marie.wait_for_reply()
    await marie.say("imap.example.com")
    await marie.wait_for_reply()
    await marie.say("/cancel")
    assert "Cancelled" in (await marie.wait_for_reply()).text
    await marie.say("factures@acme.fr")  # no longer an answer to a step
    assert "did not understand" in (await marie.wait_for_reply()).text
    assert await _mailboxes(harness) == []
