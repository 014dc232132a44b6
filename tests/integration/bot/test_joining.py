"""Joining a workspace from the chat, and switching between workspaces."""

from __future__ import annotations

from datetime import timedelta

from core.models import Locale, Role
from core.services.members import create_invite
from tests.integration.bot.conftest import Harness


async def test_a_stranger_is_told_how_to_join_and_sees_nothing_else(harness: Harness) -> None:
    stranger = harness.user("Paul")
    for text in ("/connections", "hello", "/inbox"):
        await stranger.say(text)
        reply = await stranger.wait_for_reply()
        assert "invite code" in reply.text
        assert reply.buttons == ()


async def test_an_invite_code_joins_and_the_workspace_language_wins(harness: Harness) -> None:
    _workspace, code = await harness.workspace("Boulangerie Dupont", locale=Locale.FR)
    marie = harness.user("Marie", language_code="en")
    await marie.say(f"/start {code}")
    welcome = await marie.wait_for_reply()
    assert welcome.text.startswith("Bienvenue dans Boulangerie Dupont")
    assert "propriétaire" in welcome.text
    await marie.say("/help")
    assert "/connect" in (await marie.wait_for_reply()).text


async def test_a_spent_or_unknown_code_says_to_ask_for_another(harness: Harness) -> None:
    _, code = await harness.workspace("Acme")
    await harness.member("Marie", code)
    paul = harness.user("Paul")
    await paul.say(f"/start {code}")
    assert "already used" in (await paul.wait_for_reply()).text
    await paul.say("/start nope-not-a-code")
    assert "no such invite code" in (await paul.wait_for_reply()).text


async def test_a_mistyped_code_is_asked_again_and_the_right_one_pasted_next_joins(
    harness: Harness,
) -> None:
    workspace, _ = await harness.workspace("Acme")
    paul = harness.user("Paul")
    await paul.say("/start nope-not-a-code")
    asked = await paul.wait_for_reply()
    assert "no such invite code" in asked.text
    assert "Send me the code" in asked.text
    # The code alone, without /start: the conversation waits for it.
    await paul.say(await harness.invite(workspace))
    assert "Welcome to Acme! You joined as member" in (await paul.wait_for_reply()).text
    await paul.say("/help")
    assert "/connect" in (await paul.wait_for_reply()).text


async def test_an_expired_code_says_when_and_what_to_do(harness: Harness) -> None:
    workspace, _ = await harness.workspace("Acme")
    async with harness.db.transaction() as session:
        invite = await create_invite(
            session=session, workspace=workspace, role=Role.MEMBER, ttl=timedelta(seconds=-1)
        )
    paul = harness.user("Paul")
    await paul.say(f"/start {invite.code}")
    told = await paul.wait_for_reply()
    assert "expired on" in told.text
    assert "Ask the person who invited you for a new one" in told.text


async def test_a_member_opening_a_new_invite_to_their_workspace_leaves_it_unspent(
    harness: Harness,
) -> None:
    workspace, code = await harness.workspace("Acme")
    marie = await harness.member("Marie", code)
    spare = await harness.invite(workspace)
    await marie.say(f"/start {spare}")
    assert "already in Acme, so this code is not needed" in (await marie.wait_for_reply()).text
    paul = harness.user("Paul")
    await paul.say(f"/start {spare}")
    assert "Welcome to Acme" in (await paul.wait_for_reply()).text


async def test_a_member_of_two_workspaces_switches_and_sees_the_active_one(
    harness: Harness,
) -> None:
    _first, code = await harness.workspace("Acme")
    second, _ = await harness.workspace("Bistro")
    marie = await harness.member("Marie", code)
    await marie.say("/workspace")
    assert "one workspace: Acme" in (await marie.wait_for_reply()).text
    await marie.say(f"/start {await harness.invite(second)}")
    assert "Welcome to Bistro" in (await marie.wait_for_reply()).text
    await marie.say("/workspace")
    choice = await marie.wait_for_reply()
    assert set(choice.labels) == {"Acme", "• Bistro"}
    await marie.press("Acme")
    assert "now work in Acme" in (await marie.wait_for_reply()).text
    await marie.say("/mail")
    assert "Workspace: Acme" in (await marie.wait_for_reply()).text
