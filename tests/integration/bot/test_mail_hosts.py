"""A member tries to point a watched mailbox at Courier's own machine or network."""

from __future__ import annotations

import pytest
from sqlmodel import select

from core.models import Mailbox
from tests.integration.bot.conftest import Harness, press


@pytest.mark.parametrize("host", ["127.0.0.1:5432", "10.1.2.3:993", "169.254.169.254:80"])
async def test_a_private_address_is_refused_in_the_chat(harness: Harness, host: str) -> None:
    _, code = await harness.workspace("Acme")
    marie = await harness.member("Marie", code)
    await marie.say("/mail")
    await press(marie, "Add a mailbox", message=await marie.wait_for_reply())
    await marie.wait_for_reply()
    await marie.say(host)
    refused = await marie.wait_for_reply()
    assert "private network" in refused.text
    # Still at the same step: a public server is asked for again, nothing else.
    await marie.say("postgres")
    assert "is not a server name" in (await marie.wait_for_reply()).text
    async with harness.db.read() as session:
        assert list((await session.exec(select(Mailbox))).all()) == []
