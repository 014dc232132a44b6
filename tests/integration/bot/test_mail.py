"""`/mail`: the forwarding address, and watched mailboxes added and removed by chat."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from sqlmodel import select

from core.models import Mailbox
from courier.sandbox.chat import TelegramUser
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


async def _to_the_password(harness: Harness, host: str, user: str) -> TelegramUser:
    """Marie, Acme's owner, presses "Add a mailbox" and types the server and user name."""
    _, code = await harness.workspace("Acme")
    marie = await harness.member("Marie", code)
    await marie.say("/mail")
    await press(marie, "Add a mailbox", message=await marie.wait_for_reply())
    assert "IMAP server" in (await marie.wait_for_reply()).text
    await marie.say(host)
    assert "user name" in (await marie.wait_for_reply()).text
    await marie.say(user)
    assert "password" in (await marie.wait_for_reply()).text
    return marie


async def _type_secret(marie: TelegramUser, secret: str) -> None:
    """The password, deleted at once; then "I log in…" while the server is asked."""
    sent = await marie.say(secret)
    await marie.wait_for_deletion(sent)
    assert "I log in to" in (await marie.wait_for_reply()).text


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
    await _type_secret(marie, USERS["alice"])
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


async def test_a_wrong_password_is_found_before_i_say_i_watch_and_asked_again(
    harness: Harness, dovecot: Dovecot
) -> None:
    """Finding 12: "I now watch" came before the server was asked. Now the login is tried
    first, and a refused password is asked for again, at the same step."""
    marie = await _to_the_password(harness, f"{dovecot.host}:{dovecot.port}", "bob")
    await _type_secret(marie, "not-his-password")
    refused = await marie.wait_for_reply()
    assert "refused the password for bob: nothing was added" in refused.text
    assert refused.labels == ["Change the user name"]
    assert all("now watch" not in m.text for m in marie.messages)
    assert await _mailboxes(harness) == []
    # Still at the password: the right one, typed next, is deleted and adds the mailbox.
    await _type_secret(marie, USERS["bob"])
    assert f"now watch bob on {dovecot.host}" in (await marie.wait_for_reply()).text
    assert [m.username for m in await _mailboxes(harness)] == ["bob"]
    assert all(USERS["bob"] not in m.text for m in marie.messages)


async def test_a_server_that_does_not_answer_is_asked_again_then_watched(
    harness: Harness, dovecot: Dovecot
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    marie = await _to_the_password(harness, f"127.0.0.1:{closed}", "alice")
    await _type_secret(marie, USERS["alice"])
    silent = await marie.wait_for_reply()
    assert f"does not answer on port {closed}: nothing was added" in silent.text
    assert await _mailboxes(harness) == []
    # The right server, typed at the server step, is tried at once with the same login.
    await marie.say(f"{dovecot.host}:{dovecot.port}")
    assert "I log in to alice" in (await marie.wait_for_reply()).text
    assert f"now watch alice on {dovecot.host}" in (await marie.wait_for_reply()).text
    [mailbox] = await _mailboxes(harness)
    assert mailbox.port == dovecot.port
