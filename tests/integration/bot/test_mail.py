"""`/mail`: the forwarding address, and watched mailboxes added and removed by chat."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import select

from core.models import Mailbox
from tests.integration.bot.conftest import Harness, press
from tests.integration.mail.dovecot import (
    USERS,
    Dovecot,
    dovecot_for_tests,
)


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    with dovecot_for_tests() as server:
        yield server


@pytest.fixture
def harness_settings() -> dict[str, object]:
    # The test Dovecot is on 127.0.0.1: this operator allows private hosts.
    return {"mailbox_allow_private": True}


async def _mailboxes(harness: Harness) -> list[Mailbox]:
    async with harness.db.read() as session:
        return list((await session.exec(select(Mailbox))).all())


async def test_add_a_mailbox_its_secret_deleted_then_remove_it(
    harness: Harness, dovecot: Dovecot
) -> None:
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
    await marie.say(f"{dovecot.host}:{dovecot.port}")
    await marie.wait_for_reply()
    await marie.say("alice")
    await marie.wait_for_reply()
    secret = await marie.say(USERS["alice"])
    await marie.wait_for_deletion(secret)
    assert "deleted your message" in (await marie.wait_for_reply()).text
    assert "I check that I can read" in (await marie.wait_for_reply()).text
    assert f"now watch alice on {dovecot.host}" in (await marie.wait_for_reply()).text
    [mailbox] = await _mailboxes(harness)
    assert (mailbox.host, mailbox.port, mailbox.username) == (dovecot.host, dovecot.port, "alice")
    assert USERS["alice"] not in mailbox.secret_sealed
    assert all(USERS["alice"] not in m.text for m in marie.messages)
    await marie.say("/mail")
    listing = await marie.wait_for_reply()
    assert f"1. alice on {dovecot.host} (INBOX): working" in listing.text
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


async def test_a_wrong_password_is_found_before_i_say_i_watch(
    harness: Harness, dovecot: Dovecot
) -> None:
    _, code = await harness.workspace("Acme")
    marie = await harness.member("Marie", code)
    await marie.say("/mail")
    await press(marie, "Add a mailbox", message=await marie.wait_for_reply())
    await marie.wait_for_reply()
    await marie.say(f"{dovecot.host}:{dovecot.port}")
    await marie.wait_for_reply()
    await marie.say("bob")
    await marie.wait_for_reply()
    secret = await marie.say("not-his-password")
    await marie.wait_for_deletion(secret)
    assert "deleted your message" in (await marie.wait_for_reply()).text
    assert "I check that I can read" in (await marie.wait_for_reply()).text
    refused = await marie.wait_for_reply()
    assert "refused the password for bob: nothing was added" in refused.text
    assert all("now watch" not in m.text for m in marie.messages)
    assert await _mailboxes(harness) == []
