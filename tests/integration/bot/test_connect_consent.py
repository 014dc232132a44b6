"""`/connect` to Google Ads in the chat: no password is asked; the bot shows Google's
consent address, the person agrees at the stand-in of Google and comes back; the
invoices arrive as a message. When the owner withdraws Courier's access, one message
says so with "Update the credentials", which shows the consent address again."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from pydantic import SecretStr

from core.models import ConnectionState
from core.services.connections import read_credentials
from core.services.supplier_sign_in import complete_consent
from courier.connectors import build_sign_ins, google_ads_config
from tests.integration.bot.conftest import Harness
from tests.integration.bot.connect_story import connection, deliver_outbox, settled_in
from tests.standins import google_ads as standin
from tests.standins import running
from tests.waiting import eventually

LOGIN = "123-456-7890"


@pytest.fixture
async def google() -> AsyncIterator[tuple[str, standin.GoogleState]]:
    app = standin.create_app(page_size=2)
    async with running(app) as origin:
        yield origin, app[standin.STATE]


@pytest.fixture
def harness_settings(google: tuple[str, standin.GoogleState]) -> dict[str, object]:
    origin, _ = google
    return {
        "public_url": "https://courier.example",
        "google_ads_client_id": standin.CLIENT_ID,
        "google_ads_client_secret": SecretStr(standin.CLIENT_SECRET),
        "google_ads_developer_token": SecretStr(standin.DEVELOPER_TOKEN),
        "google_ads_api_url": origin,
        "google_ads_authorize_url": f"{origin}/o/oauth2/v2/auth",
        "google_ads_token_url": f"{origin}/token",
    }


def consent_link(text: str) -> str:
    found = re.search(r"(http://127\.0\.0\.1:\d+/o/oauth2/v2/auth\?\S+)", text)
    assert found is not None, text
    return found.group(1)


async def agree(harness: Harness, url: str) -> None:
    """The person's browser at Google, then Courier's callback finishing the consent."""
    async with aiohttp.ClientSession() as browser:
        answer = await browser.get(url, allow_redirects=False)
    back = {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["Location"]).query).items()}
    await complete_consent(
        db=harness.db,
        vault=harness.vault,
        sign_ins=build_sign_ins(google_ads_config(harness.settings)),
        redirect_uri=harness.settings.oauth_callback_url,
        params=back,
    )


async def test_connect_google_ads_by_consent_in_the_chat(
    harness: Harness,
    google: tuple[str, standin.GoogleState],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    _, code = await harness.workspace("Acme")
    marie = await harness.member("Marie", code)
    await marie.say("/connect")
    assert "Workspace: Acme" in (await marie.wait_for_reply()).text
    await marie.say("google ads")
    asked = await marie.wait_for_reply()
    assert "which account should I read" in asked.text
    assert "No password" in asked.text
    await marie.say(LOGIN)
    history = await marie.wait_for_reply()
    assert "full history" in history.text
    await marie.press("Full history", message=history)
    link = await marie.wait_for_reply()
    assert "Last step: open this link" in link.text
    url = consent_link(link.text)
    waiting = await connection(harness, LOGIN)
    assert waiting is not None
    assert (waiting.state, waiting.last_error) == (ConnectionState.AUTH_FAILED, "sign_in_needed")
    await marie.say("/connections")  # an abandoned consent says how to finish it
    listed = await marie.wait_for_reply()
    assert "The access was never allowed at the supplier" in listed.text

    await agree(harness, url)
    signed = await connection(harness, LOGIN)
    assert signed is not None
    assert signed.id is not None
    # The scheduler claims it now (due, interactive); the bot's own runner does here.
    harness.verifier.start(signed.id)
    await eventually(settled_in(harness, LOGIN, ConnectionState.ACTIVE), "the first run")
    await deliver_outbox(harness)
    fetched = await marie.wait_for_reply()
    assert "Google Ads" in fetched.text

    # The owner removes Courier's access at Google: the next run says so, once.
    _, state = google
    refresh = read_credentials(vault=harness.vault, connection=signed).password
    state.revoke(refresh.get_secret_value())
    harness.verifier.start(signed.id)
    await eventually(settled_in(harness, LOGIN, ConnectionState.AUTH_FAILED), "the refusal")
    await deliver_outbox(harness)
    told = await marie.wait_for_reply()
    assert "The access you allowed at the supplier was withdrawn" in told.text
    assert told.labels == ["Update the credentials"]
    await marie.press("Update the credentials", message=told)
    again = await marie.wait_for_reply()
    assert f"read the invoices of {LOGIN} again" in again.text
    await agree(harness, consent_link(again.text))
    renewed = await connection(harness, LOGIN)
    assert renewed is not None
    assert read_credentials(vault=harness.vault, connection=renewed).password != refresh

    chats = "\n".join(m.text for m in marie.messages)
    secrets = (refresh.get_secret_value(), standin.CLIENT_SECRET, standin.DEVELOPER_TOKEN)
    assert all(secret not in chats and secret not in caplog.text for secret in secrets)
