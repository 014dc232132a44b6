"""`/connections`: each connection's login and state, in words with the button that fixes
them; fetch now, pause and resume, remove; new credentials by conversation (core's
credentials flow), where a login already connected is refused at once and nothing gets
stuck; and buttons forged across workspaces doing nothing."""

from __future__ import annotations

import logging

import pytest
from sqlmodel import select

from core.models import Connection, ConnectionState
from tests.integration.bot.conftest import Harness, add_connection, press
from tests.integration.bot.connect_story import flow_rows
from tests.waiting import eventually


async def _state(harness: Harness, connection_id: int) -> Connection | None:
    async with harness.db.read() as session:
        return await session.get(Connection, connection_id)


async def test_a_refused_login_says_why_and_offers_the_fix(harness: Harness) -> None:
    workspace, code = await harness.workspace("Acme")
    marie = await harness.member("Marie", code)
    connection = await add_connection(harness, workspace, marie, login="demo@example.com")
    async with harness.db.transaction() as session:
        row = await session.get(Connection, connection.id)
        assert row is not None
        row.state = ConnectionState.AUTH_FAILED
    await marie.say("/connections")
    listing = await marie.wait_for_reply()
    assert "Workspace: Acme" in listing.text
    assert "Demo Supplier (demo@example.com): login refused" in listing.text
    assert "press “Update the credentials”" in listing.text
    await press(marie, "1. Demo Supplier · demo@example.com · login refused")
    detail = await marie.wait_for_reply()
    assert detail.labels[0] == "Update the credentials"
    await press(marie, "Update the credentials", message=detail)
    assert "New login" in (await marie.wait_for_reply()).text
    await marie.say("demo@example.com")
    await marie.wait_for_reply()
    secret = await marie.say("demo")
    await marie.wait_for_deletion(secret)
    assert "checking them now" in (await marie.wait_for_reply()).text

    async def active() -> Connection | None:
        row = await _state(harness, connection.id or 0)
        return row if row and row.state == ConnectionState.ACTIVE else None

    await eventually(active, "the new credentials to work")


async def test_fetch_now_pause_resume_and_remove(harness: Harness) -> None:
    workspace, code = await harness.workspace("Acme")
    marie = await harness.member("Marie", code)
    connection = await add_connection(harness, workspace, marie, login="demo@example.com")
    assert connection.id is not None
    await marie.say("/connections")
    await marie.wait_for_reply()
    await press(marie, "1. Demo Supplier · demo@example.com · new")
    detail = await marie.wait_for_reply()
    await press(marie, "Fetch now", message=detail)
    assert "fetched in a moment" in (await marie.wait_for_reply()).text

    async def fetched() -> Connection | None:
        row = await _state(harness, connection.id or 0)
        return row if row and row.last_success_at else None

    await eventually(fetched, "the fetch")
    await press(marie, "Pause", message=detail)
    assert "paused" in (await marie.wait_for_reply()).text
    row = await _state(harness, connection.id)
    assert row is not None
    assert row.state == ConnectionState.DISABLED
    assert await press(marie, "Pause", message=detail) == "This action has expired."
    await marie.say("/connections")
    await marie.wait_for_reply()
    await press(marie, "1. Demo Supplier · demo@example.com · paused")
    paused = await marie.wait_for_reply()
    assert "press “Resume”" in paused.text
    await press(marie, "Resume", message=paused)
    assert "back" in (await marie.wait_for_reply()).text
    await press(marie, "Remove", message=paused)
    confirm = await marie.wait_for_reply()
    await press(marie, "Yes, remove it", message=confirm)
    assert "is removed" in (await marie.wait_for_edit()).text
    await harness.verifier.drain()
    assert await _state(harness, connection.id) is None


async def test_members_look_but_do_not_manage(harness: Harness) -> None:
    workspace, code = await harness.workspace("Acme")
    marie = await harness.member("Marie", code)
    await add_connection(harness, workspace, marie, login="demo@example.com")
    paul = await harness.member("Paul", await harness.invite(workspace))
    await paul.say("/connections")
    await paul.wait_for_reply()
    await press(paul, "1. Demo Supplier · demo@example.com · new")
    detail = await paul.wait_for_reply()
    assert detail.buttons == ()


async def test_a_forged_button_from_another_workspace_does_nothing_and_is_logged(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    acme, code = await harness.workspace("Acme")
    _bistro, other = await harness.workspace("Bistro")
    marie = await harness.member("Marie", code)
    eve = await harness.member("Eve", other)
    target = await add_connection(harness, acme, marie, login="demo@example.com")
    await eve.say("/help")
    help_message = await eve.wait_for_reply()
    for verb in ("rm", "pause", "fetch", "show"):
        harness.forge_press(eve, f"ca:{verb}:{target.id}", help_message)
        assert (await eve.wait_for_answer()).text == "This action has expired."
    harness.forge_press(eve, "da:open:1", help_message)
    assert (await eve.wait_for_answer()).text == "This action has expired."
    async with harness.db.read() as session:
        [row] = (await session.exec(select(Connection))).all()
    assert row.state == ConnectionState.NEW
    assert row.claimed_by is None
    assert "refused a button press: connection" in caplog.text
    assert len(eve.messages) == 2  # the welcome and the help: nothing more


async def test_two_logins_at_one_supplier_are_told_apart_with_their_states(
    harness: Harness,
) -> None:
    """Finding 11: every button read "N. Demo Supplier"."""
    workspace, code = await harness.workspace("Acme")
    marie = await harness.member("Marie", code)
    await add_connection(harness, workspace, marie, login="compta@example.com")
    second = await add_connection(harness, workspace, marie, login="achats@example.com")
    async with harness.db.transaction() as session:
        row = await session.get(Connection, second.id)
        assert row is not None
        row.state = ConnectionState.AUTH_FAILED
    await marie.say("/connections")
    listing = await marie.wait_for_reply()
    assert listing.labels == [
        "1. Demo Supplier · compta@example.com · new",
        "2. Demo Supplier · achats@example.com · login refused",
    ]
    await press(marie, "2. Demo Supplier · achats@example.com · login refused")
    assert "achats@example.com" in (await marie.wait_for_reply()).text


async def test_a_login_already_connected_is_refused_at_once_and_nothing_gets_stuck(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Finding 1: "update the credentials" with a login already connected raised an
    IntegrityError at the password step; every later message ("hello", /foo, 42) was then
    deleted as a password and crashed again, with a traceback."""
    caplog.set_level(logging.WARNING)
    workspace, code = await harness.workspace("Acme")
    marie = await harness.member("Marie", code)
    await add_connection(harness, workspace, marie, login="demo@example.com")
    await add_connection(harness, workspace, marie, login="sms@example.com")
    await marie.say("/connections")
    listing = await marie.wait_for_reply()
    await press(marie, listing.labels[1], message=listing)  # sms@example.com's
    detail = await marie.wait_for_reply()
    assert "sms@example.com" in detail.text
    await press(marie, "Update the credentials", message=detail)
    await marie.wait_for_reply()
    typed = await marie.say("demo@example.com")
    refused = await marie.wait_for_reply()
    assert "already uses demo@example.com" in refused.text
    assert not marie.was_deleted(typed)  # a login, not a password
    [row] = await flow_rows(harness)
    assert row.step == "login"

    # A command is never taken as input, and the conversation waits where it was.
    foo = await marie.say("/foo")
    assert "did not understand" in (await marie.wait_for_reply()).text
    assert not marie.was_deleted(foo)
    [row] = await flow_rows(harness)
    assert row.step == "login"
    # The next message is what the step asks for: a login, then the password.
    await marie.say("factures@example.com")
    assert "New password" in (await marie.wait_for_reply()).text
    secret = await marie.say("demo")
    await marie.wait_for_deletion(secret)
    assert "checking them now" in (await marie.wait_for_reply()).text
    assert await flow_rows(harness) == []
    hello = await marie.say("hello")
    assert "did not understand" in (await marie.wait_for_reply()).text
    assert not marie.was_deleted(hello)
    forty_two = await marie.say("42")
    await marie.wait_for_reply()
    assert not marie.was_deleted(forty_two)
    everything = caplog.text + "\n".join(m.text for m in marie.messages)
    assert "Traceback" not in everything
    assert "IntegrityError" not in everything
    assert "went wrong" not in everything
    async with harness.db.read() as session:
        logins = sorted((await session.exec(select(Connection.login))).all())
    assert logins == ["demo@example.com", "factures@example.com"]
