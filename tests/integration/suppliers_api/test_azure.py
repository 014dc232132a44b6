"""Azure's invoices over real HTTP against the Entra and Billing API stand-in.

The stand-in is as strict as Resource Manager: no answer without a bearer token it
issued, still valid, of the billing account's tenant, and the right api-version.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import httpx
import pytest
from pydantic import SecretStr

from core.suppliers.api import CredentialsExpired
from core.suppliers.api.azure import MAX_POLLS, AzureConnector
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
from tests.integration.suppliers_api import (
    LISTING_FAULTS,
    assert_nowhere,
    collect,
    raised_while_listing,
)
from tests.standins import Fault, Switches, running
from tests.standins.azure import (
    ACCOUNT,
    ACCOUNT_NAME,
    CLIENT_ID,
    EXPIRED_SECRET,
    LOCATION_RETRY_AFTER,
    OTHER_TENANT_ID,
    SECOND_ACCOUNT,
    SECOND_NAME,
    SECRET,
    SEEDED,
    STATE,
    TENANT_DOMAIN,
    TENANT_ID,
    AzureInvoice,
    AzureState,
    create_app,
    pdf_of,
)

GOOD = Credentials(login=f"{TENANT_ID}/{CLIENT_ID}/{ACCOUNT}", password=SecretStr(SECRET))
TODAY = date(2026, 12, 6)
INVOICES = [i for i in SEEDED if i.kind != "VoidNote"]


@dataclass
class Served:
    connector: AzureConnector
    switches: Switches
    state: AzureState
    origin: str
    slept: list[float] = field(default_factory=list)

    def paths(self) -> list[str]:
        return [path for _, path, _ in self.switches.requests]

    def token_requests(self) -> int:
        return sum(1 for path in self.paths() if path.endswith("/oauth2/v2.0/token"))


@asynccontextmanager
async def serving(**options: object) -> AsyncIterator[Served]:
    switches = Switches()
    app = create_app(switches=switches, **options)  # type: ignore[arg-type]
    async with running(app) as origin:
        slept: list[float] = []

        async def sleep(seconds: float) -> None:
            slept.append(seconds)

        connector = AzureConnector(base_url=origin, login_url=origin, today=TODAY, sleep=sleep)
        try:
            yield Served(connector, switches, app[STATE], origin, slept)
        finally:
            await connector.close()


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    async with serving() as one:
        yield one


async def test_login_gets_a_token_and_names_the_billing_account(served: Served) -> None:
    assert await served.connector.login(GOOD) == LoggedIn(account_label=ACCOUNT_NAME)
    (token_call, account_call) = served.switches.requests
    method, path, headers = token_call
    assert (method, path) == ("POST", f"/{TENANT_ID}/oauth2/v2.0/token")
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    method, path, headers = account_call
    assert method == "GET"
    assert path.startswith("/providers/Microsoft.Billing/billingAccounts/")
    assert "api-version=2024-04-01" in path
    bearer = headers["Authorization"].removeprefix("Bearer ")
    assert bearer in served.state.tokens
    assert all(SECRET not in p and bearer not in p for p in served.paths())


async def test_the_tenant_may_be_its_domain_and_the_account_left_out() -> None:
    accounts = {ACCOUNT: ACCOUNT_NAME, SECOND_ACCOUNT: SECOND_NAME}
    second = AzureInvoice("E0123456", date(2026, 11, 15), "54.00", account=SECOND_ACCOUNT)
    async with serving(accounts=accounts, invoices=(*SEEDED, second)) as served:
        login = Credentials(f"{TENANT_DOMAIN}/{CLIENT_ID}", SecretStr(SECRET))
        signed_in = await served.connector.login(login)
        assert signed_in == LoggedIn(account_label=f"{ACCOUNT_NAME}, {SECOND_NAME}")
        assert served.connector.accounts == (ACCOUNT, SECOND_ACCOUNT)
        refs = await collect(served.connector.invoices(date(2026, 11, 1)))
        assert [r.number for r in refs] == ["G045678901", "E0123456", "G044567890"]
        assert refs[1].extra["billing_account"] == SECOND_ACCOUNT


async def test_a_wrong_secret_is_refused_and_an_expired_one_says_so(served: Served) -> None:
    with pytest.raises(CredentialsExpired):
        await served.connector.login(Credentials(GOOD.login, SecretStr(EXPIRED_SECRET)))
    with pytest.raises(LoginRefused) as refused:
        await served.connector.login(Credentials(GOOD.login, SecretStr("not-the-secret")))
    assert not isinstance(refused.value, CredentialsExpired)
    unknown_tenant = "00000000-1111-2222-3333-444444444444"
    with pytest.raises(LoginRefused):
        await served.connector.login(Credentials(f"{unknown_tenant}/{CLIENT_ID}", GOOD.password))
    assert served.token_requests() == 3


async def test_a_malformed_login_never_leaves(served: Served) -> None:
    for login in (
        CLIENT_ID,  # the client ID alone
        f"{TENANT_ID}/not-a-guid",
        f"{TENANT_ID}:{CLIENT_ID}",
        f"{TENANT_ID}/{CLIENT_ID}/{ACCOUNT}/extra",
        f"tenant with spaces/{CLIENT_ID}",
    ):
        with pytest.raises(LoginRefused):
            await served.connector.login(Credentials(login, GOOD.password))
    with pytest.raises(LoginRefused):
        await served.connector.login(Credentials(GOOD.login, SecretStr("  ")))
    assert served.switches.requests == []


async def test_a_wrong_account_or_tenant_is_refused(served: Served) -> None:
    with pytest.raises(LoginRefused):
        await served.connector.login(
            Credentials(f"{TENANT_ID}/{CLIENT_ID}/99999999", GOOD.password)
        )
    # The same app registered in another tenant gets a token, which Resource Manager
    # refuses for this billing account (InvalidAuthenticationTokenTenant).
    with pytest.raises(LoginRefused):
        await served.connector.login(
            Credentials(f"{OTHER_TENANT_ID}/{CLIENT_ID}/{ACCOUNT}", GOOD.password)
        )


async def test_an_app_without_a_billing_role_is_asked_for_one() -> None:
    async with serving(accounts={}) as served:
        with pytest.raises(ActionRequired):
            await served.connector.login(Credentials(f"{TENANT_ID}/{CLIENT_ID}", GOOD.password))


async def test_every_invoice_is_listed_across_pages(served: Served) -> None:
    await served.connector.login(GOOD)
    refs = await collect(served.connector.invoices(None))

    assert [ref.reference for ref in refs] == [i.name for i in INVOICES]
    newest = refs[0]
    assert (newest.number, newest.issued_on, newest.amount, newest.currency) == (
        "G045678901",
        date(2026, 12, 3),
        Decimal("412.80"),
        "EUR",
    )
    assert newest.extra["document_name"] == "DRS_G045678901"
    assert newest.extra["period_start"] == "2026-11-01"
    credit = refs[2]
    assert (credit.extra["document_type"], credit.amount) == ("CreditNote", Decimal("-37.50"))
    assert served.connector.listed == len(INVOICES)
    pages = [p for p in served.paths() if p.split("?")[0].endswith("/invoices")]
    assert len(pages) == 3  # six rows at two a page, along nextLink
    assert "%24skipToken=" in pages[1] or "$skipToken=" in pages[1]
    assert all("api-version=2024-04-01" in p for p in pages)


async def test_since_narrows_the_billing_periods_asked(served: Served) -> None:
    await served.connector.login(GOOD)
    refs = await collect(served.connector.invoices(date(2026, 11, 1)))
    assert [ref.number for ref in refs] == ["G045678901", "G044567890"]
    first_page = next(p for p in served.paths() if "/invoices?" in p)
    assert "periodStartDate=2026-08-31" in first_page  # two months before, for the period
    assert "periodEndDate=2026-12-06" in first_page


async def test_an_invoice_without_a_total_gives_none_rather_than_a_guess() -> None:
    invoice = AzureInvoice("P0000001", date(2026, 12, 1), None, currency="USD")
    async with serving(invoices=(invoice,)) as served:
        await served.connector.login(GOOD)
        [ref] = await collect(served.connector.invoices(None))
        assert (ref.amount, ref.currency) == (None, "USD")


async def test_download_polls_the_operation_then_fetches_the_blob(served: Served) -> None:
    await served.connector.login(GOOD)
    ref = (await collect(served.connector.invoices(None)))[0]
    before = len(served.switches.requests)
    document = await served.connector.download(ref)
    assert document.content == pdf_of(SEEDED[0])
    assert document.filename == "azure-G045678901.pdf"
    calls = served.switches.requests[before:]
    assert [(m, p.split("?")[0].rsplit("/", 1)[-1]) for m, p, _ in calls] == [
        ("POST", "download"),
        ("GET", "invoiceDownload_0"),
        ("GET", "invoiceDownload_0"),
        ("GET", "G045678901.pdf"),
    ]
    assert "documentName=DRS_G045678901" in calls[0][1]
    assert all("Authorization" in headers for _, _, headers in calls[:3])
    assert "Authorization" not in calls[3][2]  # the SAS link is its own credential
    assert served.slept == [LOCATION_RETRY_AFTER, LOCATION_RETRY_AFTER]


async def test_a_download_that_is_never_ready_is_tried_again_later() -> None:
    async with serving(polls_until_ready=MAX_POLLS + 5) as served:
        await served.connector.login(GOOD)
        ref = (await collect(served.connector.invoices(None)))[0]
        with pytest.raises(SupplierUnavailable):
            await served.connector.download(ref)
        assert len(served.slept) == MAX_POLLS


async def test_an_access_token_that_expires_mid_run_is_replaced_once(served: Served) -> None:
    await served.connector.login(GOOD)
    served.state.expire_tokens()
    refs = await collect(served.connector.invoices(None))
    assert len(refs) == len(INVOICES)
    assert served.token_requests() == 2
    statuses = [p for p in served.paths() if "/invoices?" in p]
    assert len(statuses) == 4  # the refused first page, then three pages


@pytest.mark.parametrize(("fault", "error"), LISTING_FAULTS)
async def test_listing_faults_become_typed_errors(
    served: Served, fault: Fault, error: type[ConnectorError]
) -> None:
    raised = await raised_while_listing(
        served.connector, served.switches, fault, error, credentials=GOOD, retry_after=600
    )
    if fault is Fault.RATE_LIMITED:
        assert isinstance(raised, SupplierUnavailable)
        assert raised.retry_after == 600  # Retry-After, honoured


async def test_an_html_page_instead_of_the_pdf_is_an_invalid_download(served: Served) -> None:
    await served.connector.login(GOOD)
    ref = (await collect(served.connector.invoices(None)))[0]
    served.switches.fault = Fault.HTML_INSTEAD_OF_PDF
    with pytest.raises(InvalidDownload):
        await served.connector.download(ref)


async def test_the_stand_in_is_as_strict_as_resource_manager(served: Served) -> None:
    """A connector that forgot the token or the api-version would fail here first."""
    await served.connector.login(GOOD)
    token = next(iter(served.state.tokens))
    url = f"{served.origin}/providers/Microsoft.Billing/billingAccounts"
    async with httpx.AsyncClient() as client:
        bare = await client.get(url, params={"api-version": "2024-04-01"})
        old = await client.get(
            url, params={"api-version": "2019-10-01-preview"}, headers=_bearer(token)
        )
        none = await client.get(url, headers=_bearer(token))
        good = await client.get(url, params={"api-version": "2024-04-01"}, headers=_bearer(token))
    assert (bare.status_code, bare.json()["error"]["code"]) == (401, "AuthenticationFailed")
    assert "WWW-Authenticate" in bare.headers
    assert old.json()["error"]["code"] == "InvalidApiVersionParameter"
    assert none.json()["error"]["code"] == "MissingApiVersionParameter"
    assert good.status_code == 200


async def test_the_token_only_goes_to_resource_manager(served: Served) -> None:
    assert served.connector._on_arm(f"{served.origin}/providers/x")
    assert not served.connector._on_arm("https://evil.example/providers/x")
    connector: SupplierConnector = served.connector  # mypy checks the Protocol here
    assert await connector.restore({"anything": 1}) is False
    assert await connector.save() == {}
    nowhere = AzureConnector(base_url="http://127.0.0.1:9", login_url="http://127.0.0.1:9")
    with pytest.raises(SupplierUnavailable):
        await nowhere.login(GOOD)
    await nowhere.close()


async def test_the_secret_and_tokens_leak_nowhere(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx and httpcore log each request at DEBUG
    await served.connector.login(GOOD)
    await served.connector.download((await collect(served.connector.invoices(None)))[0])
    errors: list[ConnectorError] = []
    for fault in (Fault.UNAUTHORIZED, Fault.RATE_LIMITED, Fault.MALFORMED_JSON):
        served.switches.fault = fault
        try:
            await collect(served.connector.invoices(None))
        except ConnectorError as err:
            errors.append(err)
    served.switches.fault = None
    for secret in (EXPIRED_SECRET, "not-the-secret"):
        try:
            await served.connector.login(Credentials(GOOD.login, SecretStr(secret)))
        except ConnectorError as err:
            errors.append(err)
    assert len(errors) == 5
    secrets = [SECRET, EXPIRED_SECRET, *served.state.tokens]
    assert_nowhere(secrets, caplog=caplog, objects=[served.connector, GOOD, *errors])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
