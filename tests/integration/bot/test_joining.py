"""Joining a workspace from the chat, and switching between workspaces."""

from __future__ import annotations

from core.models import Locale
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
    assert "unknown" in (await paul.wait_for_reply()).text


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
    assert "now work in Acme" in (await marie.wait_for_edit()).text
    await marie.say("/mail")
    assert "Workspace: Acme" in (await marie.wait_for_reply()).text
