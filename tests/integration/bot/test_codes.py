"""2FA codes in the chat: a reply to the prompt, a bare code with one challenge open,
"which one?" with several (told apart by their logins), "no code is awaited" with none;
and after a wrong code, "Send a new code" logs in again."""

from __future__ import annotations

from aiogram import Bot
from sqlmodel import select

from bot.app import build_bot
from bot.i18n import Texts
from bot.prompts import code_prompt
from core.models import Challenge, ChallengeChannel, ChallengeState, Connection, ConnectionState
from core.services.challenges import open_challenge
from courier.sandbox.chat import TelegramUser
from tests.conftest import make_settings
from tests.integration.bot.conftest import TOKEN, Harness, add_connection, press
from tests.integration.bot.connect_story import deliver_outbox, outbox, settled_in
from tests.waiting import eventually


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
    assert which.labels == [
        "Demo Supplier · a@example.com",
        "Demo Supplier · b@example.com",
        "Cancel",
    ]
    await marie.press("Demo Supplier · a@example.com", message=which)
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
    await press(marie, "Type the code", message=prompt)
    assert "closed" in (await marie.wait_for_reply()).text


async def test_type_the_code_makes_the_next_message_the_code(harness: Harness) -> None:
    workspace, code = await harness.workspace("Acme")
    marie = await harness.member("Marie", code)
    connection = await add_connection(harness, workspace, marie, login="a@example.com")
    challenge = await _challenge(harness, connection)
    assert challenge.id is not None
    assert connection.id is not None
    await _send_as_notifier(harness, marie, challenge.id, connection.id)
    prompt = await marie.wait_for_reply()
    await press(marie, "Type the code", message=prompt)
    assert "Send me the code" in (await marie.wait_for_reply()).text
    await marie.say("not a code")
    assert "does not look like a code" in (await marie.wait_for_reply()).text
    await marie.say("123456")
    assert "Code passed on" in (await marie.wait_for_reply()).text
    assert (await _read(harness, challenge)).state == ChallengeState.ANSWERED


async def _send_as_notifier(
    harness: Harness, person: TelegramUser, challenge_id: int, connection_id: int
) -> None:
    text, markup = code_prompt(
        challenge_id=challenge_id,
        connection_id=connection_id,
        supplier="Demo Supplier",
        destination="••12",
        texts=Texts("en"),
    )
    settings = make_settings(
        harness.store.root, telegram_token=TOKEN, telegram_api_url=harness.api.url
    )
    notifier: Bot = build_bot(settings)
    try:
        await notifier.send_message(person.id, text, reply_markup=markup)
    finally:
        await notifier.session.close()


async def test_after_a_wrong_code_a_new_one_can_be_asked_for(harness: Harness) -> None:
    """Finding 9: after a wrong code there was no way to ask for a new one."""
    _, code = await harness.workspace("Acme")
    marie = await harness.member("Marie", code)
    await marie.say("/connect demo")
    await marie.wait_for_reply()
    await marie.say("sms@example.com")
    await marie.wait_for_reply()
    await marie.say("demo")
    await marie.press("Full history", message=await marie.wait_for_reply())
    await marie.wait_for_reply()
    first = await eventually(lambda: _open_challenge(harness), "Courier to await the code")
    await marie.say("000000")  # a wrong code
    assert "Code passed on" in (await marie.wait_for_reply()).text

    async def refused() -> bool:
        return "code_wrong" in [n.kind for n in await outbox(harness)]

    await eventually(refused, "the supplier to refuse the code")
    await deliver_outbox(harness)
    await marie.wait_for_reply()  # the code prompt
    wrong = await marie.wait_for_reply()
    assert "refused the code" in wrong.text
    assert "Send a new code" in wrong.labels
    sent_before = len(harness.demo.state.sent_codes)
    await marie.press("Send a new code", message=wrong)
    assert "send a new code" in (await marie.wait_for_reply()).text

    async def second_challenge() -> Challenge | None:
        found = await _open_challenge(harness)
        return found if found is not None and found.id != first.id else None

    await eventually(second_challenge, "a new login and its new code")
    assert len(harness.demo.state.sent_codes) == sent_before + 1
    assert (await _read(harness, first)).state == ChallengeState.CANCELLED
    await marie.say(harness.demo.last_code("sms@example.com"))
    assert "Code passed on" in (await marie.wait_for_reply()).text
    await eventually(
        settled_in(harness, "sms@example.com", ConnectionState.ACTIVE), "the new code to work"
    )
    await harness.verifier.drain()
    verified = [n for n in await outbox(harness) if n.kind == "connection_verified"]
    assert [n.payload["state"] for n in verified] == ["active"]  # the given-up run: untold
    # Nor is the owner alarmed that the connection "needs" them: a new code was on its way.
    assert "connection_needs_user" not in [n.kind for n in await outbox(harness)]


async def _open_challenge(harness: Harness) -> Challenge | None:
    async with harness.db.read() as session:
        rows = await session.exec(select(Challenge).where(Challenge.state == ChallengeState.OPEN))
        return rows.first()
