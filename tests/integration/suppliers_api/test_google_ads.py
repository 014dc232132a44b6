"""Google Ads invoices over real HTTP against the OAuth and Ads API stand-in: the refresh
token comes from the stand-in's consent, as it would from Google's."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import SecretStr

from core.accounting.errors import Rejected
from core.accounting.providers.oauth import OAuthEndpoints
from core.suppliers.api import KEY_SCOPE
from core.suppliers.api.google_ads import NOT_INVOICED, GoogleAdsConfig, GoogleAdsConnector
from core.suppliers.connector import (
    ActionRequired,
    ConnectorError,
    Credentials,
    InvalidDownload,
    LoggedIn,
    LoginRefused,
    SupplierConnector,
    SupplierUnavailable,
)
from core.suppliers.oauth import OAuthSignIn, SignInExpired
from tests.integration.suppliers_api import (
    LISTING_FAULTS,
    assert_nowhere,
    collect,
    raised_while_listing,
)
from tests.standins import Fault, Switches, running
from tests.standins import google_ads as standin

TODAY = date(2026, 12, 6)
REDIRECT = "https://courier.example/oauth/callback"


def config(origin: str, *, developer_token: str = standin.DEVELOPER_TOKEN) -> GoogleAdsConfig:
    return GoogleAdsConfig(
        client_id=standin.CLIENT_ID,
        client_secret=SecretStr(standin.CLIENT_SECRET),
        developer_token=SecretStr(developer_token),
        api_url=origin,
        authorize_url=f"{origin}/o/oauth2/v2/auth",
        token_url=f"{origin}/token",
    )


async def consent(sign_in: OAuthSignIn) -> SecretStr:
    """What the person's browser does: open the consent address, come back with a code."""
    url = await sign_in.consent_url(state="st4te", redirect_uri=REDIRECT)
    async with httpx.AsyncClient() as browser:
        answer = await browser.get(url)
    assert answer.status_code == 302
    back = parse_qs(urlsplit(answer.headers["location"]).query)
    assert back["state"] == ["st4te"]
    return await sign_in.exchange(code=back["code"][0], redirect_uri=REDIRECT)


@dataclass
class Served:
    origin: str
    switches: Switches
    refresh: SecretStr

    def connector(self, **overrides: str) -> GoogleAdsConnector:
        settings = config(self.origin, **overrides)
        return GoogleAdsConnector(
            sign_in=settings.sign_in(),
            developer_token=settings.developer_token,
            base_url=self.origin,
            today=TODAY,
        )

    def good(self, login: str = standin.CUSTOMER_ID) -> Credentials:
        return Credentials(login=login, password=self.refresh)

    def paths(self) -> list[str]:
        return [path for _, path, _ in self.switches.requests]


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    switches = Switches()
    async with running(standin.create_app(switches=switches)) as origin:
        refresh = await consent(config(origin).sign_in())
        yield Served(origin, switches, refresh)


async def test_consent_asks_offline_access_and_gives_a_refresh_token(served: Served) -> None:
    url = await config(served.origin).sign_in().consent_url(state="s", redirect_uri=REDIRECT)
    query = parse_qs(urlsplit(url).query)
    assert query["access_type"] == ["offline"]
    assert query["prompt"] == ["consent"]
    assert query["scope"] == [standin.SCOPE]
    assert served.refresh.get_secret_value().startswith("1//")


async def test_a_grant_without_offline_access_is_refused(served: Served) -> None:
    # A consent address without access_type=offline gives no refresh token: refused,
    # rather than a connection that works for an hour.
    online_only = OAuthSignIn(
        supplier="google-ads",
        endpoints=OAuthEndpoints(
            authorize_url=f"{served.origin}/o/oauth2/v2/auth",
            token_url=f"{served.origin}/token",
            revoke_url=f"{served.origin}/revoke",
            client_id=standin.CLIENT_ID,
            client_secret=standin.CLIENT_SECRET,
        ),
        scope=standin.SCOPE,
    )
    with pytest.raises(Rejected):
        await consent(online_only)


async def test_login_reads_the_billing_setups_with_every_header(served: Served) -> None:
    connector = served.connector()
    step = await connector.login(served.good("123-456-7890"))
    assert step == LoggedIn(account_label=f"{standin.ACCOUNT_NAME} (123-456-7890)")
    searches = [r for r in served.switches.requests if r[1].endswith("googleAds:search")]
    assert len(searches) == 3  # three setups, one a page
    _, _, headers = searches[0]
    assert headers["developer-token"] == standin.DEVELOPER_TOKEN
    assert headers["Authorization"].startswith("Bearer ya29.")
    assert "login-customer-id" not in headers
    await connector.close()


async def test_an_account_behind_a_manager_sends_login_customer_id(served: Served) -> None:
    connector = served.connector()
    with pytest.raises(ActionRequired) as refused:
        await connector.login(served.good(standin.MANAGED_ID))
    assert refused.value.reason == KEY_SCOPE
    await connector.login(served.good(f"{standin.MANAGED_ID}/{standin.MANAGER_ID}"))
    _, _, headers = served.switches.requests[-1]
    assert headers["login-customer-id"] == standin.MANAGER_ID
    await connector.close()


async def test_every_invoice_of_every_approved_setup_is_listed(served: Served) -> None:
    connector = served.connector()
    await connector.login(served.good())
    refs = await collect(connector.invoices(None))
    assert sorted(ref.reference for ref in refs) == sorted(i.invoice_id for i in standin.SEEDED)
    newest = refs[0]
    assert (newest.number, newest.issued_on, newest.amount, newest.currency) == (
        "5403089678",
        date(2026, 12, 2),
        Decimal("312.40"),
        "EUR",
    )
    memo = next(ref for ref in refs if ref.extra["type"] == "CREDIT_MEMO")
    assert memo.amount == Decimal("-25.00")
    assert connector.listed == len(standin.SEEDED)
    months = [p for p in served.paths() if "/invoices?" in p]
    assert all("billingSetups%2F3333" not in p for p in months)  # the pending one
    assert len(months) == 36 * 2  # three years, two approved setups
    await connector.close()


async def test_since_stops_at_its_month(served: Served) -> None:
    connector = served.connector()
    await connector.login(served.good())
    refs = await collect(connector.invoices(date(2026, 11, 15)))
    assert sorted(ref.number or "" for ref in refs) == ["5401637906", "5401637999", "5403089678"]
    months = [p for p in served.paths() if "/invoices?" in p]
    assert len(months) == 2 * 2  # December and November
    assert "issueMonth=NOVEMBER" in months[-1]
    assert "issueYear=2026" in months[-1]
    await connector.close()


async def test_download_gives_the_pdf_with_the_bearer(served: Served) -> None:
    connector = served.connector()
    await connector.login(served.good())
    ref = (await collect(connector.invoices(date(2026, 12, 1))))[0]
    document = await connector.download(ref)
    assert document.content == standin.pdf_of(standin.SEEDED[0])
    assert document.filename == "google-ads-5403089678.pdf"
    served.switches.fault = Fault.HTML_INSTEAD_OF_PDF
    with pytest.raises(InvalidDownload):
        await connector.download(ref)
    assert not connector._trusted("https://example.com/invoice.pdf")
    assert connector._trusted("https://googleads.googleapis.com/v22/invoices/1/pdf")
    await connector.close()


async def test_a_revoked_consent_is_sign_in_expired(served: Served) -> None:
    connector = served.connector()
    await connector.login(served.good())  # works while the consent holds
    await connector.close()
    revoked = Credentials(standin.CUSTOMER_ID, SecretStr("1//0grevoked"))
    connector = served.connector()
    with pytest.raises(SignInExpired) as expired:
        await connector.login(revoked)
    assert isinstance(expired.value, LoginRefused)  # the run ends in auth_failed
    assert expired.value.key == "sign_in_expired"
    await connector.close()


async def test_an_account_not_on_monthly_invoicing_says_so(served: Served) -> None:
    connector = served.connector()
    await connector.login(served.good(standin.CARD_PAID_ID))
    with pytest.raises(ActionRequired) as refused:
        await collect(connector.invoices(None))
    assert refused.value.reason == NOT_INVOICED
    await connector.close()


async def test_a_wrong_developer_token_is_the_operators_not_the_owners(served: Served) -> None:
    connector = served.connector(developer_token="not-ours")
    with pytest.raises(SupplierUnavailable):
        await connector.login(served.good())
    await connector.close()
    with pytest.raises(SupplierUnavailable):
        await served.connector(developer_token="").login(served.good())


@pytest.mark.parametrize(("fault", "error"), LISTING_FAULTS)
async def test_listing_faults_become_typed_errors(
    served: Served, fault: Fault, error: type[ConnectorError]
) -> None:
    connector = served.connector()
    raised = await raised_while_listing(
        connector, served.switches, fault, error, credentials=served.good(), retry_after=45
    )
    if fault is Fault.RATE_LIMITED:
        # RESOURCE_EXHAUSTED's quotaErrorDetails.retryDelay is the wait.
        assert isinstance(raised, SupplierUnavailable)
        assert raised.retry_after == 45
    await connector.close()


async def test_no_secret_leaks(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    connector = served.connector()
    supplier: SupplierConnector = connector  # mypy checks the Protocol here
    await supplier.login(served.good())
    await connector.download((await collect(connector.invoices(date(2026, 12, 1))))[0])
    errors: list[ConnectorError] = []
    for fault in (Fault.UNAUTHORIZED, Fault.RATE_LIMITED, Fault.MALFORMED_JSON):
        served.switches.fault = fault
        try:
            await collect(connector.invoices(None))
        except ConnectorError as err:
            errors.append(err)
    served.switches.fault = None
    try:
        await served.connector().login(Credentials(standin.CUSTOMER_ID, SecretStr("1//0gx")))
    except ConnectorError as err:
        errors.append(err)
    assert len(errors) == 4
    settings = config(served.origin)
    access = connector._access
    assert access is not None
    secrets = [
        served.refresh.get_secret_value(),
        standin.CLIENT_SECRET,
        standin.DEVELOPER_TOKEN,
        access.get_secret_value(),
    ]
    assert_nowhere(
        secrets,
        caplog=caplog,
        objects=[connector, settings, settings.sign_in(), served.good(), *errors],
    )
    await connector.close()
