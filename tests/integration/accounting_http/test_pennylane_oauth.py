"""Pennylane for a multi-tenant install: OAuth 2.0 through the stand-in's identity server
over real HTTP, as Pennylane's partner guide describes it. One company per consent, tokens
that rotate, a 401 cured by a refresh, `invalid_grant` that means "sign in again", and a
stand-in that refuses what Pennylane refuses (an unknown app, a scope it lacks, a spent
refresh token)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from core.accounting.errors import IntegrationExpired, Rejected
from core.accounting.provider import AuthKind, Authorized
from core.accounting.providers.oauth import OAuthEndpoints
from core.accounting.providers.pennylane import LIMITS, SCOPES, PennylaneProvider
from tests.integration.accounting_http import CALLBACK, consent, make_bill
from tests.standins import running
from tests.standins.pennylane import STANDIN, PennylaneStandin, create_app
from tests.standins.pennylane_oauth import CLIENT_ID, CLIENT_SECRET, OAuthServer


@dataclass
class Served:
    provider: PennylaneProvider
    standin: PennylaneStandin
    server: OAuthServer
    origin: str


def _provider(origin: str, *, client_id: str = CLIENT_ID) -> PennylaneProvider:
    return PennylaneProvider(
        api_url=f"{origin}/api/external/v2",
        limits=LIMITS.scaled(100),
        endpoints=OAuthEndpoints(
            authorize_url=f"{origin}/oauth/authorize",
            token_url=f"{origin}/oauth/token",
            revoke_url=f"{origin}/oauth/revoke",
            client_id=client_id,
            client_secret=CLIENT_SECRET,
        ),
    )


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    app = create_app(time_scale=100)
    async with running(app) as origin:
        standin = app[STANDIN]
        assert standin.oauth is not None
        standin.oauth.redirect_uri = CALLBACK
        provider = _provider(origin)
        yield Served(provider, standin, standin.oauth, origin)
        await provider.aclose()


async def sign_in(served: Served) -> Authorized:
    start = await served.provider.start_authorization(state="st-1", redirect_uri=CALLBACK)
    params = await consent(start.url)
    assert params["state"] == "st-1"
    return await served.provider.complete_authorization(
        params=params, redirect_uri=CALLBACK, code_verifier=None
    )


async def test_a_partner_app_signs_the_person_in_for_one_company(served: Served) -> None:
    assert served.provider.auth_kind == AuthKind.OAUTH2
    start = await served.provider.start_authorization(state="st-1", redirect_uri=CALLBACK)
    query = dict(parse_qsl(urlsplit(start.url).query))
    assert start.url.startswith(f"{served.origin}/oauth/authorize?")
    assert query["client_id"] == CLIENT_ID
    assert query["response_type"] == "code"
    assert query["scope"] == SCOPES
    assert CLIENT_SECRET not in start.url

    authorized = await sign_in(served)
    assert (authorized.company.id, authorized.company.name) == ("81234", "Boulangerie Dupont")
    grant = authorized.grant
    assert grant.refresh_token
    assert grant.access_token
    assert grant.access_token not in repr(grant)
    assert grant.refresh_token not in repr(grant)
    assert grant.access_expires_at is not None
    assert grant.refresh_expires_at is not None
    # A refresh token lives 90 days unused: the warning starts 14 days before.
    warning = served.provider.warning_starts_at(grant)
    assert warning is not None
    assert warning - datetime.now(UTC) > timedelta(days=75)
    due = served.provider.refresh_due_at(grant)
    assert due is not None
    assert due - datetime.now(UTC) < timedelta(days=8)

    published = await served.provider.publish_bill(
        grant=grant,
        company=authorized.company,
        bill=make_bill(account="9000", tax_rate="FR_200", supplier_code="700"),
    )
    assert published.external_id == str(served.standin.invoices[0].id)


async def test_an_expired_access_token_is_refused_and_a_refresh_cures_it(served: Served) -> None:
    authorized = await sign_in(served)
    served.server.tokens.expire_now()
    with pytest.raises(IntegrationExpired):
        await served.provider.connect_with_secret(secret=authorized.grant.access_token or "")
    fresh = await served.provider.refresh(grant=authorized.grant)
    assert fresh.access_token != authorized.grant.access_token
    assert fresh.refresh_token != authorized.grant.refresh_token  # it rotated
    again = await served.provider.connect_with_secret(secret=fresh.access_token or "")
    assert again.company.id == "81234"
    # The spent refresh token is refused: using it twice would be a stolen copy's use.
    with pytest.raises(IntegrationExpired):
        await served.provider.refresh(grant=authorized.grant)


async def test_a_dead_refresh_token_means_signing_in_again(served: Served) -> None:
    authorized = await sign_in(served)
    served.server.tokens.kill_refresh_tokens()
    with pytest.raises(IntegrationExpired):
        await served.provider.refresh(grant=authorized.grant)


async def test_disconnecting_revokes_the_consent(served: Served) -> None:
    authorized = await sign_in(served)
    await served.provider.disconnect(grant=authorized.grant, company=authorized.company)
    with pytest.raises(IntegrationExpired):
        await served.provider.connect_with_secret(secret=authorized.grant.access_token or "")
    with pytest.raises(IntegrationExpired):
        await served.provider.refresh(grant=authorized.grant)


async def test_a_consent_without_the_invoices_scope_cannot_import(served: Served) -> None:
    served.server.withheld_scopes = frozenset({"supplier_invoices:all"})
    authorized = await sign_in(served)
    with pytest.raises(Rejected, match="scope supplier_invoices"):
        await served.provider.publish_bill(
            grant=authorized.grant,
            company=authorized.company,
            bill=make_bill(account="9000", tax_rate="FR_200", supplier_code="700"),
        )
    assert served.standin.invoices == []


async def test_the_identity_server_refuses_what_pennylane_refuses(served: Served) -> None:
    async with httpx.AsyncClient() as browser:
        unknown_app = await browser.get(
            f"{served.origin}/oauth/authorize",
            params={"client_id": "someone", "redirect_uri": CALLBACK, "response_type": "code"},
        )
        assert unknown_app.status_code == 401
        other_redirect = await browser.get(
            f"{served.origin}/oauth/authorize",
            params={
                "client_id": CLIENT_ID,
                "redirect_uri": "https://evil.example/cb",
                "response_type": "code",
                "scope": SCOPES,
            },
        )
        assert other_redirect.status_code == 400
        bad_scope = await browser.get(
            f"{served.origin}/oauth/authorize",
            params={
                "client_id": CLIENT_ID,
                "redirect_uri": CALLBACK,
                "response_type": "code",
                "scope": "supplier_invoices:all accounting",
                "state": "s",
            },
        )
        assert bad_scope.status_code == 302
        assert "error=invalid_scope" in bad_scope.headers["Location"]
        wrong_secret = await browser.post(
            f"{served.origin}/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": "plc_x",
                "client_id": CLIENT_ID,
                "client_secret": "guess",
            },
        )
        assert wrong_secret.status_code == 401
        assert wrong_secret.json()["error"] == "invalid_client"
    # A code is good once, and only with the redirect URI it was given for.
    start = await served.provider.start_authorization(state="s", redirect_uri=CALLBACK)
    params = await consent(start.url)
    await served.provider.complete_authorization(
        params=params, redirect_uri=CALLBACK, code_verifier=None
    )
    with pytest.raises(IntegrationExpired):
        await served.provider.complete_authorization(
            params=params, redirect_uri=CALLBACK, code_verifier=None
        )


async def test_a_declined_consent_is_no_link(served: Served) -> None:
    served.server.declines = True
    start = await served.provider.start_authorization(state="s", redirect_uri=CALLBACK)
    params = await consent(start.url)
    assert params["error"] == "access_denied"
    with pytest.raises(IntegrationExpired):
        await served.provider.complete_authorization(
            params=params, redirect_uri=CALLBACK, code_verifier=None
        )


async def test_without_an_app_the_company_token_stays_the_way_in(served: Served) -> None:
    bare = _provider(served.origin, client_id="")
    try:
        assert bare.auth_kind == AuthKind.TOKEN
        with pytest.raises(Rejected, match="company token"):
            await bare.start_authorization(state="s", redirect_uri=CALLBACK)
    finally:
        await bare.aclose()
