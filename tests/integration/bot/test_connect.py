"""`/connect` to the Demo Supplier by conversation (core's connect flow rendered by the
bot): a 2FA code typed in the chat, a start date, cancelling at every step; an account
already connected is said at the login step, and a wrong password is told once, with
the button that fixes it."""

from __future__ import annotations

import logging
import re

import pytest
from sqlmodel import select

from core.models import (
    Challenge,
    ChallengeState,
    Connection,
    ConnectionState,
    Document,
    DocumentSource,
    Notification,
)
from courier.sandbox.chat import TelegramUser
from tests.integration.bot.conftest import Harness, add_connection, press
from tests.integration.bot.connect_story import (
    connection,
    deliver_outbox,
    flow_rows,
    outbox,
    settled_in,
)
from tests.waiting import eventually

#: A wrong password, distinctive enough to be searched for in logs and chats.
WRONG = "not-the-password-8c1f"


async def _any_connection(harness: Harness) -> Connection | None:
    async with harness.db.read() as session:
        return (await session.exec(select(Connection))).first()


async def _to_password(marie: TelegramUser, login: str) -> None:
    await marie.say("/connect")
    assert "Workspace: Acme" in (await marie.wait_for_reply()).text
    await marie.say("demo suplier")  # a typo still finds it, and nothing else: no pick
    asked = await marie.wait_for_reply()
    assert "Demo Supplier (pro): your login" in asked.text
    assert asked.labels == ["Another supplier"]
    await marie.say(login)
    assert "password" in (await marie.wait_for_reply()).text


async def test_connect_with_a_code_typed_in_the_chat(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _, code = await harness.workspace("Acme")
    marie = await harness.member("Marie", code)
    await _to_password(marie, "sms@example.com")
    secret = await marie.say("demo")
    await marie.wait_for_deletion(secret)
    history = await marie.wait_for_reply()
    assert "Password received" in history.text
    assert history.labels == ["Full history"]
    [row] = await flow_rows(harness)  # the conversation keeps it sealed only
    assert row.step == "history"
    assert "demo" not in str(row.data.values()) + str(row.shown)
    await marie.press("Full history", message=history)
    assert "in the background" in (await marie.wait_for_reply()).text

    sent = await eventually(
        lambda: _code_sent(harness, "sms@example.com"), "the supplier to send a code"
    )
    # As a person would, type it once Courier asks: the site sends its SMS a moment
    # before the run opens its challenge, and on a busy machine that moment is long.
    await eventually(lambda: _awaiting_code(harness), "Courier to await the code")
    await marie.say(sent)
    assert "Code passed on to Demo Supplier" in (await marie.wait_for_reply()).text

    async def verified() -> list[Notification] | None:
        # The owner is told once the verification has settled, which is a moment after
        # the connection turns active: wait for what the user sees, not for the state.
        async with harness.db.read() as session:
            rows = (
                await session.exec(
                    select(Notification).where(Notification.kind == "connection_verified")
                )
            ).all()
        return list(rows) or None

    told = await eventually(verified, "the owner to be told the connection works")
    found = await _any_connection(harness)
    assert found is not None
    assert found.state == ConnectionState.ACTIVE
    assert found.fetch_from is None
    async with harness.db.read() as session:
        documents = (await session.exec(select(Document))).all()
    assert len(documents) == 12
    assert {d.source for d in documents} == {DocumentSource.CONNECTOR}
    assert [n.payload["state"] for n in told] == ["active"]
    everything = caplog.text + "\n".join(m.text for m in marie.messages)
    assert "demo\n" not in everything
    assert "'demo'" not in everything
    # As a whole word: long random ids in the debug log may hold six such digits by chance.
    assert re.search(rf"(?<![\d]){sent}(?![\d])", caplog.text) is None


async def _awaiting_code(harness: Harness) -> bool:
    async with harness.db.read() as session:
        open_ = await session.exec(select(Challenge).where(Challenge.state == ChallengeState.OPEN))
        return open_.first() is not None


async def _code_sent(harness: Harness, login: str) -> str | None:
    try:
        return harness.demo.last_code(login)
    except LookupError:
        return None


async def test_a_start_date_is_typed_at_the_history_step_and_a_bad_one_explained(
    harness: Harness,
) -> None:
    _, code = await harness.workspace("Acme")
    marie = await harness.member("Marie", code)
    await _to_password(marie, "demo@example.com")
    await marie.say("demo")
    await marie.wait_for_reply()  # the history step, with its "Full history" button
    await marie.say("2999-01-01")
    assert "in the future" in (await marie.wait_for_reply()).text
    await marie.say("2026-01-01")
    assert "in the background" in (await marie.wait_for_reply()).text
    found = await _any_connection(harness)
    assert found is not None
    assert found.fetch_from is not None
    assert found.fetch_from.isoformat() == "2026-01-01"


async def test_a_supplier_is_searched_for_from_the_command_itself(harness: Harness) -> None:
    _, code = await harness.workspace("Acme")
    marie = await harness.member("Marie", code)
    await marie.say("/connect Demo Supplier")
    assert "Demo Supplier (pro): your login" in (await marie.wait_for_reply()).text


@pytest.mark.parametrize("step", ["supplier", "results", "login", "password", "history"])
async def test_cancel_at_any_step_leaves_nothing(harness: Harness, step: str) -> None:
    _, code = await harness.workspace("Acme")
    marie = await harness.member("Marie", code)
    await marie.say("/connect")
    await marie.wait_for_reply()
    if step == "results":
        await marie.say("orange")  # several portals: a pick
        assert "Pick the supplier" in (await marie.wait_for_reply()).text
    if step in ("login", "password", "history"):
        await marie.say("demo")
        await marie.wait_for_reply()
    if step in ("password", "history"):
        await marie.say("demo@example.com")
        await marie.wait_for_reply()
    if step == "history":
        await marie.say("demo")
        await marie.wait_for_reply()
    await marie.say("/cancel")
    assert "Cancelled" in (await marie.wait_for_reply()).text
    assert await _any_connection(harness) is None
    assert await flow_rows(harness) == []
    if step in ("results", "history"):  # the old buttons do nothing now
        label = "Orange Pro (pro)" if step == "results" else "Full history"
        assert await press(marie, label) == "This action has expired."
        assert await _any_connection(harness) is None


async def test_a_supplier_without_connector_gives_the_address_its_setting_and_a_mailbox(
    harness: Harness,
) -> None:
    """Typing "edf" used to end with "I cannot connect to EDF yet"."""
    workspace, code = await harness.workspace("Acme")
    marie = await harness.member("Marie", code)
    await marie.say("/connect edf")
    assert "Pick the supplier" in (await marie.wait_for_reply()).text
    await marie.press("EDF (particuliers) (personal)")
    way_in = await marie.wait_for_reply()
    assert "I cannot connect to EDF (particuliers) yet" in way_in.text
    assert f"{workspace.slug}@in.example.com" in way_in.text
    assert "in your EDF (particuliers) account: Espace Client → facture électronique" in (
        way_in.text
    )
    assert "IMAP" in way_in.text
    assert way_in.labels == ["Watch a mailbox", "Another supplier", "Cancel"]
    await marie.press("Watch a mailbox", message=way_in)
    assert "IMAP server" in (await marie.wait_for_reply()).text
    [row] = await flow_rows(harness)
    assert row.flow == "mailbox"


async def test_only_owners_and_admins_connect(harness: Harness) -> None:
    workspace, code = await harness.workspace("Acme")
    await harness.member("Marie", code)
    paul = await harness.member("Paul", await harness.invite(workspace))
    await paul.say("/connect")
    assert "owners and admins" in (await paul.wait_for_reply()).text


async def test_an_account_already_connected_is_said_at_the_login_step(harness: Harness) -> None:
    """Finding 9: it was said only after the password and the history steps."""
    workspace, code = await harness.workspace("Acme")
    marie = await harness.member("Marie", code)
    await add_connection(harness, workspace, marie, login="demo@example.com")
    await marie.say("/connect demo")
    await marie.wait_for_reply()
    await marie.say("Demo@Example.com")
    refused = await marie.wait_for_reply()
    assert "already connected" in refused.text
    assert "password" not in refused.text
    [row] = await flow_rows(harness)
    assert row.step == "login"
    await marie.say("sms@example.com")  # another account of the same supplier goes on
    assert "password" in (await marie.wait_for_reply()).text


async def test_a_wrong_password_is_told_once_with_the_button_that_fixes_it(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Finding 9: a refused password gave two near-identical messages."""
    caplog.set_level(logging.DEBUG)
    _, code = await harness.workspace("Acme")
    marie = await harness.member("Marie", code)
    await marie.say("/connect demo")
    await marie.wait_for_reply()
    await marie.say("demo@example.com")
    await marie.wait_for_reply()
    secret = await marie.say(WRONG)
    await marie.wait_for_deletion(secret)
    history = await marie.wait_for_reply()
    [row] = await flow_rows(harness)
    assert WRONG not in str(row.data) + str(row.shown)  # sealed only
    await marie.press("Full history", message=history)
    await marie.wait_for_reply()
    await eventually(
        settled_in(harness, "demo@example.com", ConnectionState.AUTH_FAILED),
        "the supplier to refuse the password",
    )
    await harness.verifier.drain()  # the check told what it had to tell
    assert [n.kind for n in await outbox(harness)] == ["connection_auth_failed"]
    assert await deliver_outbox(harness) == 1
    told = await marie.wait_for_reply()
    assert "refused the login or the password" in told.text
    assert told.labels == ["Update the credentials"]

    # The button fixes it: the same login kept in one press, the right password.
    await marie.press("Update the credentials", message=told)
    asked = await marie.wait_for_reply()
    assert asked.labels == ["Keep demo@example.com"]
    await marie.press("Keep demo@example.com", message=asked)
    await marie.wait_for_reply()
    secret = await marie.say("demo")
    await marie.wait_for_deletion(secret)
    assert "checking them now" in (await marie.wait_for_reply()).text
    await eventually(
        settled_in(harness, "demo@example.com", ConnectionState.ACTIVE), "the right password"
    )
    fixed = await connection(harness, "demo@example.com")
    assert fixed is not None
    assert fixed.failure_count == 0
    # Neither password was ever logged, echoed in the chat or put in a message to send.
    echoed = "\n".join(m.text for m in marie.messages)
    queued = str([n.payload for n in await outbox(harness)])
    for where in (caplog.text, echoed, queued):
        assert WRONG not in where
        assert "'demo'" not in where
