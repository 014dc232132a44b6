"""A flood from one person is cut (20 updates at once, then 20 in 10 seconds; one warning
and silence), while another person writing at the same moment is served at once."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from tests.integration.bot.conftest import Harness
from tests.waiting import eventually

FLOOD = 50
BURST, WINDOW = 20, 10.0  # bot/middlewares.py FloodLimit's defaults


async def test_fifty_messages_from_one_person_are_throttled_while_another_is_served(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.middlewares")
    workspace, code = await harness.workspace("Boulangerie Dupont")
    mallory = await harness.member("Mallory", code)
    marie = await harness.member("Marie", await harness.invite(workspace))
    before = len(mallory.messages)
    # Her /start a moment ago took a token: 19 of the 50 get through, plus what her
    # bucket earns back while the flood lasts (BURST per WINDOW).
    accepted = BURST - 1
    began = time.monotonic()

    await asyncio.gather(*(mallory.say("/help") for _ in range(FLOOD // 2)))
    await marie.say("/help")
    await asyncio.gather(*(mallory.say("/help") for _ in range(FLOOD - FLOOD // 2)))
    assert (await marie.wait_for_reply()).text.startswith("Courier collects your purchase invoices")

    def dropped() -> int:
        return sum("flood limit: dropped" in r.getMessage() for r in caplog.records)

    def answered() -> int:
        return sum(m.text.startswith("Courier collects") for m in mallory.messages[before:])

    async def all_handled() -> bool:
        return dropped() + answered() >= FLOOD

    await eventually(all_handled, "every message of the flood to be answered or dropped")
    earned = int((time.monotonic() - began) * BURST / WINDOW) + 1
    assert accepted <= answered() <= accepted + earned
    assert dropped() == FLOOD - answered() >= FLOOD - accepted - earned
    answers = [m.text for m in mallory.messages[before:]]
    assert answers.count("Slow down a little: I will answer again in a few seconds.") == 1
    # Marie was never counted with Mallory: one message, one answer, no warning.
    assert not any("Slow down" in m.text for m in marie.messages)
