"""Mollie's invoices over real HTTP against its stand-in, one story per test.

The stand-in is as strict as the reference: no answer without the exact bearer, `limit`
between 1 and 250, `from` an invoice it listed, and PDF links that go stale.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import httpx
import pytest
from pydantic import SecretStr

from core.suppliers.api import CredentialsExpired
from core.suppliers.api.mollie import MollieConnector
from core.suppliers.connector import (
    ActionRequired,
    CodeRejected,
    ConnectorError,
    Credentials,
    InvalidDownload,
    LayoutChanged,
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
from tests.standins.mollie import (
    EXPIRED_TOKEN,
    ORGANIZATION,
    SEEDED,
    STATE,
    TOKEN,
    MollieState,
    create_app,
    pdf_of,
)

GOOD = Credentials(login=ORGANIZATION, password=SecretStr(TOKEN))


@dataclass
class Served:
    connector: MollieConnector
    switches: Switches
    state: MollieState
    origin: str

    def paths(self) -> list[str]:
        return [path for _, path, _ in self.switches.requests]


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    switches = Switches()
    app = create_app(switches=switches)
    async with running(app) as origin:
        connector = MollieConnector(base_url=origin, limit=2)
        yield Served(connector, switches, app[STATE], origin)
        await connector.close()


async def test_login_checks_the_token_with_one_call(served: Served) -> None:
    assert await served.connector.login(GOOD) == LoggedIn(account_label=ORGANIZATION)
    assert served.paths() == ["/v2/invoices?limit=1"]
    assert served.switches.requests[0][2]["Authorization"] == f"Bearer {TOKEN}"
    # Any label does as the login; an empty one names nothing.
    blank = Credentials("  ", SecretStr(TOKEN))
    assert await served.connector.login(blank) == LoggedIn(account_label=None)


async def test_a_wrong_token_is_refused_and_an_expired_one_says_so(served: Served) -> None:
    with pytest.raises(CredentialsExpired):
        await served.connector.login(Credentials(ORGANIZATION, SecretStr(EXPIRED_TOKEN)))
    with pytest.raises(LoginRefused) as refused:
        await served.connector.login(Credentials(ORGANIZATION, SecretStr("access_not-the-token")))
    assert not isinstance(refused.value, CredentialsExpired)
    assert len(served.switches.requests) == 2


async def test_a_blank_token_or_a_website_api_key_never_leaves(served: Served) -> None:
    for password in ("  ", "live_dHar4XY7LxsDOtmnkVtjNVWXLSlXsM", "test_dHar4XY7LxsDOtmnkVtjNV"):
        with pytest.raises(LoginRefused):
            await served.connector.login(Credentials(ORGANIZATION, SecretStr(password)))
    assert served.switches.requests == []


async def test_a_token_without_invoices_read_is_asked_for_one(served: Served) -> None:
    served.switches.fault = Fault.FORBIDDEN
    with pytest.raises(ActionRequired) as raised:
        await served.connector.login(GOOD)
    assert raised.value.reason == "api_key_scope"


async def test_every_invoice_is_listed_across_pages(served: Served) -> None:
    await served.connector.login(GOOD)
    refs = await collect(served.connector.invoices(None))

    assert [ref.reference for ref in refs] == [invoice.id for invoice in SEEDED]
    newest = refs[0]
    assert (newest.number, newest.issued_on, newest.amount, newest.currency) == (
        "2026.142857",
        date(2026, 12, 1),
        Decimal("54.45"),
        "EUR",
    )
    assert newest.extra == {
        "status": "open",
        "vat_number": "NL001234567B01",
        "due_on": "2026-12-15",
        "net_amount": "45.00",
        "vat_amount": "9.45",
    }
    assert "vat_amount" not in refs[-1].extra  # VAT only for merchants in the Netherlands
    assert served.connector.listed == len(SEEDED)
    pages = [path for path in served.paths() if "limit=2" in path]
    assert pages == [
        "/v2/invoices?limit=2",
        f"/v2/invoices?limit=2&from={SEEDED[2].id}",
        f"/v2/invoices?limit=2&from={SEEDED[4].id}",
    ]


async def test_since_is_honoured(served: Served) -> None:
    await served.connector.login(GOOD)
    refs = await collect(served.connector.invoices(date(2026, 10, 1)))
    assert [ref.number for ref in refs] == ["2026.142857", "2026.131072", "2026.120001"]
    assert served.connector.listed == len(SEEDED)


async def test_the_limit_is_kept_within_the_apis_bounds() -> None:
    switches = Switches()
    async with running(create_app(switches=switches)) as origin:
        for asked, sent in ((0, 1), (1000, 250)):
            connector = MollieConnector(base_url=origin, limit=asked)
            await connector.login(GOOD)
            assert len(await collect(connector.invoices(None))) == len(SEEDED)
            assert switches.requests[-1][1].startswith(f"/v2/invoices?limit={sent}")
            await connector.close()


async def test_download_takes_a_fresh_link_for_the_pdf(served: Served) -> None:
    await served.connector.login(GOOD)
    ref = (await collect(served.connector.invoices(None)))[1]
    served.state.expire_links()  # an hour later: the links listed are stale
    before = len(served.switches.requests)
    document = await served.connector.download(ref)
    assert document.content == pdf_of(SEEDED[1])
    assert document.filename == "mollie-2026.131072.pdf"
    (invoice_call, pdf_call) = served.switches.requests[before:]
    assert invoice_call[1] == f"/v2/invoices/{SEEDED[1].id}"
    assert pdf_call[1].startswith("/merchant/download/invoice/xBEbP9rvAq/")


async def test_the_token_goes_with_the_pdf_only_to_mollie(served: Served) -> None:
    assert served.connector._trusted("https://www.mollie.com/merchant/download/invoice/x/y")
    assert served.connector._trusted(f"{served.origin}/merchant/download/invoice/x/y")
    assert not served.connector._trusted("https://evil.example/merchant/download/invoice/x/y")
    assert not served.connector._trusted("https://mollie.com.evil.example/x")
    assert not served.connector._trusted("http://www.mollie.com/x")
    await served.connector.login(GOOD)
    # The PDF link on another host than the API's, as www.mollie.com is.
    served.state.pdf_origin = served.origin.replace("127.0.0.1", "localhost")
    ref = (await collect(served.connector.invoices(None)))[0]
    before = len(served.switches.requests)
    assert (await served.connector.download(ref)).content == pdf_of(SEEDED[0])
    (invoice_call, pdf_call) = served.switches.requests[before:]
    assert invoice_call[2]["Authorization"] == f"Bearer {TOKEN}"
    assert "Authorization" not in pdf_call[2]


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


async def test_a_bad_pdf_or_an_unknown_invoice(served: Served) -> None:
    await served.connector.login(GOOD)
    ref = (await collect(served.connector.invoices(None)))[0]
    served.switches.fault = Fault.HTML_INSTEAD_OF_PDF
    with pytest.raises(InvalidDownload):
        await served.connector.download(ref)
    served.switches.fault = Fault.SERVER_ERROR
    with pytest.raises(SupplierUnavailable):
        await served.connector.download(ref)
    served.switches.fault = None
    gone = type(ref)(reference="inv_doesNotExist", issued_on=ref.issued_on)
    with pytest.raises(LayoutChanged):
        await served.connector.download(gone)


async def test_the_stand_in_is_as_strict_as_the_reference(served: Served) -> None:
    """A connector that forgot the bearer or overstepped `limit` would fail here first."""
    url = f"{served.origin}/v2/invoices"
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient() as client:
        bare = await client.get(url)
        wrong = await client.get(url, headers={"Authorization": TOKEN})
        big = await client.get(url, params={"limit": 251}, headers=bearer)
        unknown = await client.get(url, params={"from": "inv_nope"}, headers=bearer)
        year = await client.get(url, params={"year": 2025}, headers=bearer)
    assert (bare.status_code, bare.json()["title"]) == (401, "Unauthorized Request")
    assert bare.headers["Content-Type"].startswith("application/hal+json")
    assert wrong.status_code == 401
    assert (big.status_code, big.json()["field"]) == (400, "limit")
    assert (unknown.status_code, unknown.json()["field"]) == (400, "from")
    assert [i["reference"] for i in year.json()["_embedded"]["invoices"]] == ["2025.990100"]
    assert year.json()["_links"]["next"] is None


async def test_no_code_no_session_and_an_unreachable_api(served: Served) -> None:
    connector: SupplierConnector = served.connector  # mypy checks the Protocol here
    assert await connector.restore({"anything": 1}) is False
    assert await connector.save() == {}
    with pytest.raises(CodeRejected):
        await connector.submit_code("123456")
    nowhere = MollieConnector(base_url="http://127.0.0.1:9")
    with pytest.raises(SupplierUnavailable):
        await nowhere.login(GOOD)
    await nowhere.close()


async def test_the_token_leaks_nowhere(served: Served, caplog: pytest.LogCaptureFixture) -> None:
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
    for token in (EXPIRED_TOKEN, "live_dHar4XY7LxsDOtmnkVtjNVWXLSlXsM"):
        try:
            await served.connector.login(Credentials(ORGANIZATION, SecretStr(token)))
        except ConnectorError as err:
            errors.append(err)
    assert len(errors) == 5
    secrets = [TOKEN, EXPIRED_TOKEN, "live_dHar4XY7LxsDOtmnkVtjNVWXLSlXsM"]
    assert_nowhere(secrets, caplog=caplog, objects=[served.connector, GOOD, *errors])
