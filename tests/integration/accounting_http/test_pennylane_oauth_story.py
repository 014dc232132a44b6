"""A multi-tenant install's Pennylane link through the services, over the stand-in: the
person signs in at Pennylane and the callback links the workspace; a spent access token is
refreshed without anyone noticing; a consent that is gone blocks the bills (one alert),
and signing in again publishes them once each."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from pydantic import SecretStr
from sqlmodel import select

from core.accounting.registry import ProviderRegistry
from core.config import Settings
from core.db import Database
from core.models import Integration, IntegrationState, Notification
from core.services.accounting import Accounting
from core.services.authorisations import complete_callback, connect, disconnect, reconnect
from core.services.integrations import current_integration
from core.services.publishing import publish_document
from core.services.rules import set_rule
from core.storage import LocalDocumentStore
from core.vault import Vault
from tests.integration.accounting.conftest import add_document
from tests.integration.accounting_http import CALLBACK, consent
from tests.integration.conftest import World
from tests.standins import pennylane as pl
from tests.standins import running
from tests.standins.pennylane_oauth import CLIENT_ID, CLIENT_SECRET, OAuthServer


@dataclass
class Stage:
    acc: Accounting
    pennylane: pl.PennylaneStandin
    oauth: OAuthServer


@pytest.fixture
async def stage(db: Database, vault: Vault, store: LocalDocumentStore) -> AsyncIterator[Stage]:
    app = pl.create_app()
    async with running(app) as origin:
        settings = Settings(
            _env_file=None,
            pennylane_api_url=f"{origin}/api/external/v2",
            pennylane_client_id=CLIENT_ID,
            pennylane_client_secret=SecretStr(CLIENT_SECRET),
            pennylane_authorize_url=f"{origin}/oauth/authorize",
            pennylane_token_url=f"{origin}/oauth/token",
            pennylane_revoke_url=f"{origin}/oauth/revoke",
        )
        providers = ProviderRegistry(settings)
        acc = Accounting(
            db=db, vault=vault, store=store, providers=providers, callback_url=CALLBACK
        )
        standin = app[pl.STANDIN]
        assert standin.oauth is not None
        standin.oauth.redirect_uri = CALLBACK
        yield Stage(acc, standin, standin.oauth)
        await providers.aclose()


async def _integration(stage: Stage, world: World) -> Integration:
    assert world.workspace.id is not None
    async with stage.acc.db.read() as session:
        integration = await current_integration(session=session, workspace_id=world.workspace.id)
    assert integration is not None
    return integration


async def _publish(stage: Stage, world: World, document: int) -> tuple[str, str | None]:
    assert world.workspace.id is not None
    outcome = await publish_document(
        stage.acc, workspace_id=world.workspace.id, document_id=document
    )
    return outcome.state, outcome.reason


async def test_a_pennylane_consent_links_refreshes_expires_and_comes_back(
    stage: Stage, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert world.workspace.id is not None
    started = await connect(
        stage.acc, workspace_id=world.workspace.id, actor=world.owner.id, provider_name="pennylane"
    )
    assert started.authorization_url is not None  # no token asked: the person signs in
    outcome = await complete_callback(stage.acc, params=await consent(started.authorization_url))
    assert outcome.connecting.state == IntegrationState.ACTIVE
    integration = await _integration(stage, world)
    assert integration.company_id == "81234"
    assert integration.tokens_sealed is not None
    grant_tokens = list(stage.oauth.tokens.refresh)
    assert not any(token in integration.tokens_sealed for token in grant_tokens)  # sealed

    async with stage.acc.db.transaction() as session:
        await set_rule(
            session=session,
            workspace_id=world.workspace.id,
            party_name="EDF Entreprises",
            account_code="9000",
            tax_rate_code="FR_200",
        )
    # A day later the access token is spent: the publish refreshes it first.
    stage.oauth.tokens.expire_now()
    first = await add_document(stage.acc, world, name="edf-1.pdf")
    assert await _publish(stage, world, first) == ("published", None)
    assert (await _integration(stage, world)).state == IntegrationState.ACTIVE

    # The consent is gone (90 days unused, or revoked at Pennylane): invalid_grant.
    stage.oauth.tokens.expire_now()
    stage.oauth.tokens.kill_refresh_tokens()
    held = [await add_document(stage.acc, world, name=f"edf-{n}.pdf") for n in (2, 3)]
    assert [await _publish(stage, world, d) for d in held] == [
        ("blocked", "integration_expired")
    ] * 2
    assert (await _integration(stage, world)).state == IntegrationState.EXPIRED
    async with stage.acc.db.read() as session:
        alerts = (await session.exec(select(Notification))).all()
    assert len(alerts) == 1

    again = await reconnect(stage.acc, workspace_id=world.workspace.id, actor=world.owner.id)
    assert again.authorization_url is not None
    await complete_callback(stage.acc, params=await consent(again.authorization_url))
    assert (await _integration(stage, world)).state == IntegrationState.ACTIVE
    assert len(stage.pennylane.invoices) == 3

    await disconnect(
        stage.acc, workspace_id=world.workspace.id, actor=world.owner.id, keep_rules=True
    )
    assert stage.oauth.tokens.revoked  # the consent was handed back to Pennylane
    # No token, code or secret of the consent reached the log.
    spoken = caplog.text
    tokens = [*stage.oauth.tokens.access, *stage.oauth.tokens.refresh]
    assert tokens
    assert not [t for t in tokens if t in spoken]
    assert CLIENT_SECRET not in spoken
