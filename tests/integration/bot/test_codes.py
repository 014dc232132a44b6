"""2FA codes in the chat: a reply to the prompt, a bare code with one challenge open,
"which one?" with several, and "no code is awaited" with none."""

from __future__ import annotations

from aiogram import Bot

from bot.app import build_bot
from bot.i18n import Texts
from bot.prompts import code_prompt
from core.models import Challenge, ChallengeChannel, ChallengeState, Connection
from core.services.challenges import open_challenge
from tests.conftest import make_settings
from tests.integration.bot.conftest import TOKEN, Harness, add_connection, press


async def _challenge(harness: Harness, connection: Connection) -> Challenge:
    async with harness.db.transaction() as session:
        row = await session.get(Connection, connection.id)
        assert row is not None
        return await open_challenge(
            session=session, connection=row, channel=ChallengeChannel.SMS, masked_destination="••12"
        )


async def _read(harness: Harness, challenge: Challenge) -> Challenge:
    async with harness.db.read() as session:
        found = await session.get(Challenge, challenge.id)
        assert found is not None
        return found


async def test_no_code_is_awaited(harness: Harness) -> None:
    _, code = await harness.workspace("Acme")
    marie = await harness.member("Marie", code)
    await marie.say("123456")
    assert (await marie.wait_for_reply()).text == "No code is awaited right now."


async def test_a_bare_code_answers_the_one_open_challenge(harness: Harness) -> None:
    workspace, code = await harness.workspace("Acme")
    marie = await harness.member("Marie", code)
    challenge = await _challenge(
        harness, await add_connection(harness, workspace, marie, login="a@example.com")
    )
    await marie.say(" 123456 ")
    assert "Code passed on to Demo Supplier" in (await marie.wait_for_reply()).text
    answered = await _read(harness, challenge)
    assert answered.state == ChallengeState.ANSWERED
    assert answered.answered_via == "chat"
    assert answered.code_sealed is not None
    assert harness.vault.open(answered.code_sealed) == "123456"


async def test_with_several_open_the_bot_asks_which(harness: Harness) -> None:
    workspace, code = await harness.workspace("Acme")
    marie = await harness.member("Marie", code)
    first = await _challenge(
        harness, await add_connection(harness, workspace, marie, login="a@example.com")
    )
    second = await _challenge(
        harness, await add_connection(harness, workspace, marie, login="b@example.com")
    )
    await marie.say("654321")
    which = await marie.wait_for_reply()
    assert "Which one" in which.text
    assert which.labels == ["Demo Supplier", "Demo Supplier", "Cancel"]
    await marie.press("Demo Supplier", message=which)  # the first button: the first one
    assert "Code passed on" in (await marie.wait_for_reply()).text
    assert (await _read(harness, first)).state == ChallengeState.ANSWERED
    assert (await _read(harness, second)).state == ChallengeState.OPEN


async def test_a_reply_to_the_prompt_answers_that_prompt(
    harness: Harness, tmp_path: object
) -> None:
    workspace, code = await harness.workspace("Acme")
    marie = await harness.member("Marie", code)
    first = await add_connection(harness, workspace, marie, login="a@example.com")
    second = await add_connection(harness, workspace, marie, login="b@example.com")
    await _challenge(harness, first)
    wanted = await _challenge(harness, second)
    assert wanted.id is not None
    assert second.id is not None
    # The notifier's prompt, as it sends it.
    text, markup = code_prompt(
        challenge_id=wanted.id,
        connection_id=second.id,
        supplier="Demo Supplier",
        destination="••12",
        texts=Texts("en"),
    )
    settings = make_settings(
        harness.store.root, telegram_token=TOKEN, telegram_api_url=harness.api.url
    )
    notifier: Bot = build_bot(settings)
    try:
        await notifier.send_message(marie.id, text, reply_markup=markup)
    finally:
        await notifier.session.close()
    prompt = await marie.wait_for_reply()
    assert "sent a code to ••12" in prompt.text
    await marie.reply(prompt, "778899")
    assert "Code passed on" in (await marie.wait_for_reply()).text
    assert (await _read(harness, wanted)).state == ChallengeState.ANSWERED
    assert await press(marie, "Type the code", message=prompt) == "This action has expired."
