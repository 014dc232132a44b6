"""DigitalOcean's connector over real HTTP against its stand-in, one story per test."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import httpx
import pytest
from pydantic import SecretStr

from core.suppliers.api import retry_after
from core.suppliers.api.digitalocean import DigitalOceanConnector
from core.suppliers.connector import (
    CodeRejected,
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
from tests.standins.digitalocean import SEEDED, TOKEN, create_app, pdf_of

GOOD = Credentials(login="compta@boulangerie.fr", password=SecretStr(TOKEN))


@dataclass
class Served:
    connector: DigitalOceanConnector
    switches: Switches

    def paths(self) -> list[str]:
        return [path for _, path, _ in self.switches.requests]


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    switches = Switches()
    async with running(create_app(switches=switches)) as origin:
        connector = DigitalOceanConnector(base_url=origin, per_page=2)
        yield Served(connector, switches)
        await connector.close()


async def test_login_checks_the_token_with_one_call(served: Served) -> None:
    assert await served.connector.login(GOOD) == LoggedIn(account_label="compta@boulangerie.fr")
    assert served.paths() == ["/v2/customers/my/invoices?page=1&per_page=1"]
    assert served.switches.requests[0][2]["Authorization"] == f"Bearer {TOKEN}"


async def test_a_wrong_token_is_refused(served: Served) -> None:
    with pytest.raises(LoginRefused):
        await served.connector.login(Credentials("x", SecretStr("dop_v1_wrong")))
    with pytest.raises(LoginRefused):
        await served.connector.login(Credentials("x", SecretStr("  ")))
    assert len(served.switches.requests) == 1  # the blank token never left


async def test_every_invoice_is_listed_across_pages(served: Served) -> None:
    await served.connector.login(GOOD)
    refs = await collect(served.connector.invoices(None))

    assert [ref.reference for ref in refs] == [invoice.invoice_uuid for invoice in SEEDED]
    newest = refs[0]
    assert newest.amount == Decimal("23.45")
    assert newest.currency == "USD"
    assert newest.number == "431902731"
    assert newest.issued_on == date(2026, 11, 1)  # the October period, issued on 1 November
    assert refs[-1].issued_on == date(2026, 1, 1)  # December rolls over the year
    pages = [path for path in served.paths() if "per_page=2" in path]
    assert pages == [f"/v2/customers/my/invoices?page={n}&per_page=2" for n in (1, 2, 3, 4)]


async def test_since_is_honoured(served: Served) -> None:
    await served.connector.login(GOOD)
    refs = await collect(served.connector.invoices(date(2026, 9, 1)))
    assert [ref.extra["invoice_period"] for ref in refs] == ["2026-10", "2026-09", "2026-08"]


async def test_download_gives_the_pdf(served: Served) -> None:
    await served.connector.login(GOOD)
    ref = (await collect(served.connector.invoices(None)))[1]
    document = await served.connector.download(ref)
    assert document.content == pdf_of(SEEDED[1])
    assert document.filename == "digitalocean-2026-09-22737513.pdf"


@pytest.mark.parametrize(("fault", "error"), LISTING_FAULTS)
async def test_listing_faults_become_typed_errors(
    served: Served, fault: Fault, error: type[ConnectorError]
) -> None:
    raised = await raised_while_listing(
        served.connector, served.switches, fault, error, credentials=GOOD
    )
    if fault is Fault.RATE_LIMITED:
        assert isinstance(raised, SupplierUnavailable)
        assert raised.retry_after == pytest.approx(7, abs=1)


async def test_an_html_page_instead_of_the_pdf_is_an_invalid_download(served: Served) -> None:
    await served.connector.login(GOOD)
    ref = (await collect(served.connector.invoices(None)))[0]
    served.switches.fault = Fault.HTML_INSTEAD_OF_PDF
    with pytest.raises(InvalidDownload):
        await served.connector.download(ref)
    served.switches.fault = Fault.SERVER_ERROR
    with pytest.raises(SupplierUnavailable):
        await served.connector.download(ref)


async def test_no_code_no_session_and_an_unreachable_api(served: Served) -> None:
    connector: SupplierConnector = served.connector  # mypy checks the Protocol here
    assert await connector.restore({"anything": 1}) is False
    assert await connector.save() == {}
    with pytest.raises(CodeRejected):
        await connector.submit_code("123456")
    nowhere = DigitalOceanConnector(base_url="http://127.0.0.1:9")
    with pytest.raises(SupplierUnavailable):
        await nowhere.login(GOOD)
    await nowhere.close()


def test_retry_after_reads_either_header() -> None:
    seconds = httpx.Response(429, headers={"Retry-After": "30", "ratelimit-reset": "1000"})
    assert retry_after(seconds, reset_header="ratelimit-reset", now=0) == 30
    http_date = httpx.Response(429, headers={"Retry-After": "Thu, 01 Jan 1970 00:01:40 GMT"})
    assert retry_after(http_date, now=40) == 60
    epoch = httpx.Response(429, headers={"ratelimit-reset": "1000"})
    assert retry_after(epoch, reset_header="ratelimit-reset", now=990) == 10
    assert retry_after(httpx.Response(429), reset_header="ratelimit-reset") is None


async def test_the_token_leaks_nowhere(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await served.connector.login(GOOD)
    await served.connector.download((await collect(served.connector.invoices(None)))[0])
    errors: list[ConnectorError] = []
    for fault in (Fault.UNAUTHORIZED, Fault.RATE_LIMITED, Fault.MALFORMED_JSON):
        served.switches.fault = fault
        try:
            await collect(served.connector.invoices(None))
        except ConnectorError as err:
            errors.append(err)
    assert len(errors) == 3
    assert_nowhere([TOKEN], caplog=caplog, objects=[served.connector, GOOD, *errors])
