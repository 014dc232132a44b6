"""Measure (issue #14): linking a Beancount ledger from the chat takes 4 actions or fewer,
from `/integration` to a linked ledger. Every typed message and every press counts one;
the command counts one."""

from __future__ import annotations

from pathlib import Path

from bot.i18n import Texts
from courier.sandbox.chat import BotMessage, TelegramUser
from tests.integration.accounting.conftest import LEDGER
from tests.integration.bot.conftest import Harness

GOAL = 4
EN = Texts("en")


class Counted:
    """A person whose every action is counted."""

    def __init__(self, person: TelegramUser) -> None:
        self.person = person
        self.actions = 0

    async def say(self, text: str) -> None:
        self.actions += 1
        await self.person.say(text)

    async def press(self, label: str, *, message: BotMessage) -> None:
        self.actions += 1
        await self.person.press(label, message=message)


async def test_linking_a_ledger_takes_four_actions_or_fewer(
    harness: Harness, tmp_path: Path
) -> None:
    folder = tmp_path / "var" / "ledgers" / "boulangerie"
    folder.mkdir(parents=True)
    (folder / "main.beancount").write_text(LEDGER, encoding="utf-8")
    _, code = await harness.workspace("Boulangerie")
    marie = Counted(await harness.member("Marie", code))

    await marie.say("/integration")
    await marie.press("Beancount", message=await marie.person.wait_for_reply())
    await marie.press("main.beancount", message=await marie.person.wait_for_reply())
    assert (await marie.person.wait_for_reply()).text.endswith("…")  # checking
    linked = await marie.person.wait_for_reply()
    assert linked.text.startswith(EN("flows.integration.linked", software="Beancount"))

    print(f"ACTIONS ledger: {marie.actions} (goal <= {GOAL})", flush=True)
    assert marie.actions <= GOAL
