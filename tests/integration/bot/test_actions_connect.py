"""Measure (issue #14): connecting a supplier whose login code comes by email takes 5 user
actions or fewer. Every typed message and every button press counts one, the command
included; the code itself is picked from the supplier's email by Courier's own gateway
and relayed with no typing."""

from __future__ import annotations

from sqlmodel import select

from core.models import ConnectionState, InboundMessage, InboundState
from courier.sandbox.chat import BotMessage, TelegramUser
from tests.integration.bot.conftest import Harness
from tests.integration.bot.connect_story import deliver_outbox, mail_relay, settle

GOAL = 5


class Counted:
    """A person whose every action is counted."""

    def __init__(self, person: TelegramUser) -> None:
        self.person = person
        self.actions = 0

    async def say(self, text: str) -> BotMessage:
        self.actions += 1
        await self.person.say(text)
        return await self.person.wait_for_reply()

    async def press(self, label: str, on: BotMessage) -> BotMessage:
        self.actions += 1
        await self.person.press(label, message=on)
        return await self.person.wait_for_reply()


async def test_connect_a_supplier_with_a_code_relayed_from_email(harness: Harness) -> None:
    _, code = await harness.workspace("Demo")  # its inbox: demo@in.example.com
    marie = Counted(await harness.member("Marie", code))
    async with mail_relay(harness):
        await marie.say("/connect")
        asked = await marie.say("demo")
        assert "your login" in asked.text
        await marie.say("mail@example.com")
        history = await marie.say("demo")
        started = await marie.press("Full history", on=history)
        assert "in the background" in started.text

        # The code mailed by the supplier is relayed and the account connected.
        await settle(harness, "mail@example.com", ConnectionState.ACTIVE, within=90)
    await harness.verifier.drain()
    async with harness.db.read() as session:
        relayed = (await session.exec(select(InboundMessage.state))).all()
    assert relayed == [InboundState.CODE_RELAYED]
    await deliver_outbox(harness)
    heard = [(await marie.person.wait_for_reply()).text]
    while not any("Demo Supplier is connected" in text for text in heard):
        heard.append((await marie.person.wait_for_reply()).text)
    assert "12 invoices found" in heard[-1]
    print(f"ACTIONS connect: {marie.actions} (goal <= {GOAL})", flush=True)
    assert marie.actions <= GOAL
