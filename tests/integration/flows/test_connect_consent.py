"""Connecting Google Ads by the owner's consent, the whole story over real HTTP: the
chat asks the account's ID and a start date but no password, shows Google's consent
address; the person agrees at the stand-in of Google, comes back through Courier's
callback; the refresh token is kept sealed, the first run brings the invoices. When the
owner withdraws the access, the run says so once, and "Update the credentials" shows the
consent address again; a throttled API is tried again after its retry delay."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from pydantic import SecretStr
from sqlmodel import select

from core.accounting.registry import ProviderRegistry
from core.config import Settings
from core.db import Database
from core.errors import CourierError
from core.flows.manager import Flows
from core.flows.registry import FLOWS
from core.flows.steps import Done, Form
from core.models import (
    AuthorizationRequest,
    Connection,
    ConnectionState,
    Document,
    Notification,
    Supplier,
)
from core.services.accounting import Accounting
from core.services.catalog import load_search
from core.services.connections import read_credentials
from core.services.fetch import ConnectionRunner
from core.services.supplier_sign_in import complete_consent
from core.storage import LocalDocumentStore
from core.suppliers.api.google_ads import GoogleAdsConfig
from core.vault import Vault
from courier.connectors import build_registry, build_sign_ins
from courier.oauth_callback import start_callback_server
from tests.conftest import make_settings
from tests.integration.conftest import World
from tests.integration.flows.connect_world import Chat, RecordedRuns, chat, result_key, step_id
from tests.standins import Fault, Switches, running
from tests.standins import google_ads as standin

TODAY = date(2026, 12, 6)


@dataclass
class Story:
    db: Database
    vault: Vault
    settings: Settings
    switches: Switches
    google: standin.GoogleState
    config: GoogleAdsConfig
    marie: Chat
    runs: RecordedRuns
    runner: ConnectionRunner

    async def consent(self, url: str) -> dict[str, str]:
        """The person's browser at Google: back to Courier's callback with a code."""
        async with aiohttp.ClientSession() as browser:
            answer = await browser.get(url, allow_redirects=False)
        location = answer.headers["Location"]
        assert location.startswith(self.settings.oauth_callback_url)
        return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}

    async def connection(self) -> Connection:
        async with self.db.read() as session:
            return (await session.exec(select(Connection))).one()


@pytest.fixture
async def story(
    db: Database, vault: Vault, store: LocalDocumentStore, world: World, tmp_path: Path
) -> AsyncIterator[Story]:
    async with db.transaction() as session:
        session.add(
            Supplier(
                key="google-ads",
                name="Google Ads",
                aliases=["adwords"],
                portal="pro",
                portal_url="https://ads.google.com",
                connector_kind="api",
                connector_available=True,
                domains=["google.com"],
            )
        )
    switches = Switches()
    app = standin.create_app(switches=switches, page_size=2)
    async with running(app) as origin:
        config = GoogleAdsConfig(
            client_id=standin.CLIENT_ID,
            client_secret=SecretStr(standin.CLIENT_SECRET),
            developer_token=SecretStr(standin.DEVELOPER_TOKEN),
            api_url=origin,
            authorize_url=f"{origin}/o/oauth2/v2/auth",
            token_url=f"{origin}/token",
        )
        settings = make_settings(
            tmp_path / "var", mail_domain="in.example.com", public_url="https://courier.example"
        )
        async with db.read() as session:
            search = await load_search(session=session)
        runs = RecordedRuns()
        services: dict[str, Any] = {
            "settings": settings,
            "vault": vault,
            "search": search,
            "runs": runs,
            "sign_ins": build_sign_ins(config),
        }
        registry = build_registry(google_ads=config)
        runner = ConnectionRunner(
            db=db,
            store=store,
            vault=vault,
            connector_for=registry.connector_for,
            gives=registry.gives,
        )
        flows = Flows(FLOWS, services)
        yield Story(
            db,
            vault,
            settings,
            switches,
            app[standin.STATE],
            config,
            chat(db, flows, runs, world.owner),
            runs,
            runner,
        )


async def _connect(story: Story) -> tuple[Connection, str]:
    """/connect google ads → the account's ID → full history → the consent address."""
    login = await story.marie.start("connect", {"supplier": "google ads"})
    assert step_id(login) == "login"
    assert isinstance(login, Form)
    assert login.prompt.key == "flows.connect.login_consent"
    history = await story.marie.send({"login": "123-456-7890"})
    assert step_id(history) == "history"  # no password question
    done = await story.marie.press("full")
    assert isinstance(done, Done)
    assert result_key(done) == "flows.connect.authorise"
    url = str(done.result.params["url"])
    assert url.startswith(story.config.authorize_url)
    return await story.connection(), url


async def test_connecting_google_ads_by_consent_then_the_first_run(
    story: Story, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    waiting, url = await _connect(story)
    # Created, waiting for the consent: no run, not due, and it says what it waits for.
    assert (waiting.state, waiting.last_error) == (ConnectionState.AUTH_FAILED, "sign_in_needed")
    assert waiting.next_fetch_at is None
    assert story.runs.started == []

    # The person agrees at Google and comes back through Courier's callback.
    back = await story.consent(url)
    acc = Accounting(
        db=story.db,
        vault=story.vault,
        store=story.runner.store,
        providers=ProviderRegistry(story.settings),
        callback_url=story.settings.oauth_callback_url,
    )
    server = await start_callback_server(
        acc,
        host="127.0.0.1",
        port=0,
        bot_username="CourierBot",
        sign_ins=build_sign_ins(story.config),
    )
    try:
        async with aiohttp.ClientSession() as http:
            answer = await http.get(server.url, params=back, allow_redirects=False)
            assert answer.status == 302
            assert answer.headers["Location"] == "https://t.me/CourierBot"
            replay = await http.get(server.url, params=back, allow_redirects=False)
            assert replay.status == 400
    finally:
        await server.close()
        await acc.providers.aclose()

    signed = await story.connection()
    refresh = read_credentials(vault=story.vault, connection=signed).password.get_secret_value()
    assert refresh in story.google.refresh_tokens
    assert refresh not in signed.credentials_sealed  # sealed at rest
    assert signed.next_fetch_at is not None  # due now, as after "Fetch now"
    assert signed.interactive_until is not None

    assert signed.id is not None
    result = await story.runner.run(signed.id)
    assert (result.state, result.new) == (ConnectionState.ACTIVE, len(standin.SEEDED))
    async with story.db.read() as session:
        documents = {d.external_ref: d for d in (await session.exec(select(Document))).all()}
        requests = (await session.exec(select(AuthorizationRequest))).all()
    newest = documents["5403089678"]
    assert (newest.issue_date, str(newest.total_amount), newest.currency) == (
        date(2026, 12, 2),
        "312.40",
        "EUR",
    )
    assert [r.connection_id for r in requests] == [signed.id]
    secrets = (refresh, standin.CLIENT_SECRET, standin.DEVELOPER_TOKEN)
    assert all(secret not in caplog.text for secret in secrets)


async def test_a_withdrawn_access_says_so_once_and_the_consent_renews_it(story: Story) -> None:
    _, url = await _connect(story)
    signed = await complete_consent(
        db=story.db,
        vault=story.vault,
        sign_ins=build_sign_ins(story.config),
        redirect_uri=story.settings.oauth_callback_url,
        params=await story.consent(url),
    )
    first = await story.runner.run(signed.connection_id)
    assert first.state == ConnectionState.ACTIVE

    # The owner removes Courier at myaccount.google.com: the refresh token is revoked.
    connection = await story.connection()
    old = read_credentials(vault=story.vault, connection=connection).password.get_secret_value()
    story.google.revoke(old)
    refused = await story.runner.run(signed.connection_id)
    assert (refused.state, refused.error) == (ConnectionState.AUTH_FAILED, "sign_in_expired")
    async with story.db.read() as session:
        told = (
            await session.exec(
                select(Notification).where(Notification.kind == "connection_auth_failed")
            )
        ).all()
    assert len(told) == 1
    assert told[0].payload["error"] == "sign_in_expired"

    # "Update the credentials": the consent address again, for the same connection.
    again = await story.marie.start("credentials", {"connection_id": signed.connection_id})
    assert isinstance(again, Done)
    assert result_key(again) == "flows.credentials.authorise"
    assert again.result.params["login"] == "123-456-7890"
    renewed = await complete_consent(
        db=story.db,
        vault=story.vault,
        sign_ins=build_sign_ins(story.config),
        redirect_uri=story.settings.oauth_callback_url,
        params=await story.consent(str(again.result.params["url"])),
    )
    assert renewed.connection_id == signed.connection_id
    back = await story.runner.run(signed.connection_id)
    assert (back.state, back.new) == (ConnectionState.ACTIVE, 0)  # nothing twice


async def test_a_throttled_api_is_tried_again_after_its_retry_delay(story: Story) -> None:
    _, url = await _connect(story)
    signed = await complete_consent(
        db=story.db,
        vault=story.vault,
        sign_ins=build_sign_ins(story.config),
        redirect_uri=story.settings.oauth_callback_url,
        params=await story.consent(url),
    )
    story.switches.fault, story.switches.retry_after = Fault.RATE_LIMITED, 2 * 3600
    limited = await story.runner.run(signed.connection_id)
    assert (limited.state, limited.retry_after) == (ConnectionState.TEMP_ERROR, 2 * 3600)
    connection = await story.connection()
    assert connection.next_try_at is not None
    assert connection.last_attempt_at is not None
    assert connection.next_try_at - connection.last_attempt_at >= timedelta(hours=2)


async def test_declining_at_google_connects_nothing_more(story: Story) -> None:
    _, url = await _connect(story)
    back = await story.consent(url)
    with pytest.raises(CourierError):
        await complete_consent(
            db=story.db,
            vault=story.vault,
            sign_ins=build_sign_ins(story.config),
            redirect_uri=story.settings.oauth_callback_url,
            params={"error": "access_denied", "state": back["state"]},
        )
    connection = await story.connection()
    assert (connection.state, connection.last_error) == (
        ConnectionState.AUTH_FAILED,
        "sign_in_needed",
    )
    assert connection.next_fetch_at is None


async def test_without_courier_s_google_app_the_flow_says_whom_to_ask(
    story: Story, db: Database, vault: Vault, tmp_path: Path
) -> None:
    async with db.read() as session:
        search = await load_search(session=session)
    services: dict[str, Any] = {
        "settings": story.settings,
        "vault": vault,
        "search": search,
        "runs": story.runs,
        "sign_ins": build_sign_ins(GoogleAdsConfig()),
    }
    assert story.marie.actor.member is not None
    marie = chat(db, Flows(FLOWS, services), story.runs, story.marie.actor.member)
    refused = await marie.start("connect", {"supplier": "google ads"})
    assert result_key(refused) == "flows.connect.abort.not_configured"
    async with db.read() as session:
        assert (await session.exec(select(Connection))).first() is None
