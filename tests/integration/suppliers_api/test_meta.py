"""Meta's business invoices over real HTTP against the Graph API stand-in."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest
from pydantic import SecretStr

from core.suppliers.api import CredentialsExpired
from core.suppliers.api.meta import MetaAdsConnector
from core.suppliers.connector import (
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
from tests.standins.meta import (
    BUSINESS_ID,
    BUSINESS_NAME,
    EXPIRED_TOKEN,
    SEEDED,
    TOKEN,
    create_app,
    pdf_of,
)

GOOD = Credentials(login=BUSINESS_ID, password=SecretStr(TOKEN))
TODAY = date(2026, 12, 6)


@dataclass
class Served:
    connector: MetaAdsConnector
    switches: Switches

    def paths(self) -> list[str]:
        return [path for _, path, _ in self.switches.requests]


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    switches = Switches()
    async with running(create_app(switches=switches)) as origin:
        connector = MetaAdsConnector(base_url=origin, limit=2, today=TODAY)
        yield Served(connector, switches)
        await connector.close()


async def test_login_names_the_business_with_the_token_in_a_header(served: Served) -> None:
    assert await served.connector.login(GOOD) == LoggedIn(account_label=BUSINESS_NAME)
    _, path, headers = served.switches.requests[0]
    assert path.startswith(f"/v25.0/{BUSINESS_ID}?")
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in path


async def test_an_expired_token_says_so_and_a_wrong_one_is_refused(served: Served) -> None:
    with pytest.raises(CredentialsExpired):
        await served.connector.login(Credentials(BUSINESS_ID, SecretStr(EXPIRED_TOKEN)))
    with pytest.raises(LoginRefused) as refused:
        await served.connector.login(Credentials(BUSINESS_ID, SecretStr("EAAwrong")))
    assert not isinstance(refused.value, CredentialsExpired)
    with pytest.raises(LoginRefused):
        await served.connector.login(Credentials("boulangerie", SecretStr(TOKEN)))
    assert len(served.switches.requests) == 2  # the malformed Business ID never left


async def test_every_invoice_is_listed_across_pages(served: Served) -> None:
    await served.connector.login(GOOD)
    refs = await collect(served.connector.invoices(None))

    invoices = [i for i in SEEDED if i.kind != "PRO_FORMA"]
    assert [ref.reference for ref in refs] == [i.node_id for i in invoices]
    newest = refs[0]
    assert (newest.number, newest.issued_on, newest.amount, newest.currency) == (
        "FBADS-2026-0011",
        date(2026, 12, 1),
        Decimal("312.40"),
        "EUR",
    )
    assert refs[2].extra["type"] == "CM"
    assert served.connector.listed == len(invoices)
    pages = [p for p in served.paths() if "business_invoices" in p]
    assert len(pages) == 3  # six rows at two a page
    assert all(TOKEN not in p for p in pages)


async def test_since_is_the_issue_start_date(served: Served) -> None:
    await served.connector.login(GOOD)
    refs = await collect(served.connector.invoices(date(2026, 11, 1)))
    assert [ref.number for ref in refs] == ["FBADS-2026-0011", "FBADS-2026-0010"]
    assert "issue_start_date=2026-11-01" in served.paths()[-1]


async def test_download_gives_the_pdf(served: Served) -> None:
    await served.connector.login(GOOD)
    ref = (await collect(served.connector.invoices(None)))[0]
    document = await served.connector.download(ref)
    assert document.content == pdf_of(SEEDED[0])
    assert document.filename == f"meta-{SEEDED[0].node_id}.pdf"


@pytest.mark.parametrize(("fault", "error"), LISTING_FAULTS)
async def test_listing_faults_become_typed_errors(
    served: Served, fault: Fault, error: type[ConnectorError]
) -> None:
    raised = await raised_while_listing(
        served.connector, served.switches, fault, error, credentials=GOOD, retry_after=600
    )
    if fault is Fault.RATE_LIMITED:
        # estimated_time_to_regain_access, in minutes, is Meta's Retry-After.
        assert isinstance(raised, SupplierUnavailable)
        assert raised.retry_after == 600


async def test_an_html_page_instead_of_the_pdf_is_an_invalid_download(served: Served) -> None:
    await served.connector.login(GOOD)
    ref = (await collect(served.connector.invoices(None)))[0]
    served.switches.fault = Fault.HTML_INSTEAD_OF_PDF
    with pytest.raises(InvalidDownload):
        await served.connector.download(ref)


async def test_the_token_never_goes_to_another_host(served: Served) -> None:
    assert served.connector._trusted("https://business.facebook.com/invoice/1.pdf")
    assert not served.connector._trusted("https://example.com/invoice/1.pdf")
    assert not served.connector._trusted("http://business.facebook.com/invoice/1.pdf")
    connector: SupplierConnector = served.connector  # mypy checks the Protocol here
    assert await connector.restore({}) is False


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
