"""A flood from one person is cut (20 updates in 10 seconds, then one warning and
silence), while another person writing at the same moment is served at once."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.integration.bot.conftest import Harness
from tests.waiting import eventually

FLOOD = 50
BURST = 20  # bot/middlewares.py FloodLimit's default


async def test_fifty_messages_from_one_person_are_throttled_while_another_is_served(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.middlewares")
    workspace, code = await harness.workspace("Boulangerie Dupont")
    mallory = await harness.member("Mallory", code)
    marie = await harness.member("Marie", await harness.invite(workspace))
    before = len(mallory.messages)
    # Her /start a moment ago counts in the same 10 seconds: 19 of the 50 get through.
    accepted = BURST - 1

    await asyncio.gather(*(mallory.say("/help") for _ in range(FLOOD // 2)))
    await marie.say("/help")
    await asyncio.gather(*(mallory.say("/help") for _ in range(FLOOD - FLOOD // 2)))
    assert (await marie.wait_for_reply()).text.startswith("Courier collects your purchase invoices")

    def dropped() -> int:
        return sum("flood limit: dropped" in r.getMessage() for r in caplog.records)

    async def all_dropped() -> bool:
        return dropped() >= FLOOD - accepted

    await eventually(all_dropped, "the flood to be cut")
    assert dropped() == FLOOD - accepted

    async def all_answered() -> bool:
        return len(mallory.messages) - before >= accepted + 1

    await eventually(all_answered, "the accepted messages to be answered")
    answers = [m.text for m in mallory.messages[before:]]
    assert len(answers) == accepted + 1
    assert answers.count("Slow down a little: I will answer again in a few seconds.") == 1
    assert sum(a.startswith("Courier collects") for a in answers) == accepted
    # Marie was never counted with Mallory: one message, one answer, no warning.
    assert not any("Slow down" in m.text for m in marie.messages)
