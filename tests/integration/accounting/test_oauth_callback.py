"""The person comes back from the software's consent page to Courier's callback, over
real HTTP on loopback: sent on to the chat once; a wrong or replayed state gets a plain
refusal and links nothing."""

from __future__ import annotations

import logging

import aiohttp
import pytest
from sqlmodel import select

from core.models import Integration, IntegrationState
from core.services.accounting import Accounting
from core.services.authorisations import connect
from courier.oauth_callback import start_callback_server
from tests.integration.accounting.conftest import FakeProvider, state_of
from tests.integration.conftest import World
from tests.waiting import until


async def test_the_callback_completes_once_and_sends_the_person_back_to_the_chat(
    acc: Accounting, world: World, fake: FakeProvider
) -> None:
    assert world.workspace.id is not None
    started = await connect(
        acc, workspace_id=world.workspace.id, actor=world.owner.id, provider_name="fake"
    )
    assert started.authorization_url is not None
    state = state_of(started.authorization_url)
    server = await start_callback_server(acc, host="127.0.0.1", port=0, bot_username="CourierBot")
    try:
        async with aiohttp.ClientSession() as http:
            wrong = await http.get(
                server.url, params={"code": "good-code", "state": "forged"}, allow_redirects=False
            )
            assert wrong.status == 400
            assert "not valid (unknown_state)" in await wrong.text()

            done = await http.get(
                server.url, params={"code": "good-code", "state": state}, allow_redirects=False
            )
            assert done.status == 302
            assert done.headers["Location"].startswith("https://t.me/CourierBot?start=integration_")

            replay = await http.get(
                server.url, params={"code": "good-code", "state": state}, allow_redirects=False
            )
            assert replay.status == 400
            assert "state_already_used" in await replay.text()
            assert replay.headers["Cache-Control"] == "no-store"

            declined = await http.get(
                server.url, params={"error": "access_denied", "state": "x"}, allow_redirects=False
            )
            assert declined.status == 400
    finally:
        await server.close()
    async with acc.db.read() as session:
        rows = (await session.exec(select(Integration))).all()
    assert [(i.provider, i.state) for i in rows] == [("fake", IntegrationState.ACTIVE)]


async def test_the_access_log_names_the_path_but_not_the_code_or_state(
    acc: Accounting, world: World, fake: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    """Whoever reads the server's log must not be able to finish the authorisation in
    their own browser: the code and state of a callback never reach it."""
    assert world.workspace.id is not None
    started = await connect(
        acc, workspace_id=world.workspace.id, actor=world.owner.id, provider_name="fake"
    )
    assert started.authorization_url is not None
    state = state_of(started.authorization_url)
    consent_page = f"https://login.example.com/authorize?state={state}"
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    server = await start_callback_server(acc, host="127.0.0.1", port=0)
    try:
        async with aiohttp.ClientSession() as http:
            done = await http.get(
                server.url,
                params={"code": "good-code", "state": state},
                headers={"Referer": consent_page},
                allow_redirects=False,
            )
            assert done.status == 200

            def access_lines() -> list[str]:
                return [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]

            # aiohttp writes the line after the response has gone out.
            await until(access_lines, "the callback's access log line")
    finally:
        await server.close()
    [line] = access_lines()
    assert "/oauth/callback" in line
    assert " 200 " in line
    for record in caplog.records:
        everything = f"{record.getMessage()} {record.__dict__}"
        assert "good-code" not in everything
        assert state not in everything
