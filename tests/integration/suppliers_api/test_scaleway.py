"""Scaleway's connector over real HTTP against its Billing API stand-in."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest
from pydantic import SecretStr

from core.suppliers.api import KEY_SCOPE
from core.suppliers.api.scaleway import ScalewayConnector
from core.suppliers.connector import (
    ActionRequired,
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
from tests.standins.scaleway import ORGANIZATION_ID, SECRET_KEY, SEEDED, create_app, pdf_of

GOOD = Credentials(ORGANIZATION_ID, SecretStr(SECRET_KEY))
PATH = "/billing/v2beta1/invoices"
ISSUED = [invoice for invoice in SEEDED if invoice.issued_date]


@dataclass
class Served:
    connector: ScalewayConnector
    switches: Switches

    def paths(self) -> list[str]:
        return [path for _, path, _ in self.switches.requests]


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    switches = Switches()
    async with running(create_app(switches=switches)) as origin:
        connector = ScalewayConnector(base_url=origin, page_size=2)
        yield Served(connector, switches)
        await connector.close()


async def test_login_checks_the_key_with_one_call(served: Served) -> None:
    assert await served.connector.login(GOOD) == LoggedIn(account_label=ORGANIZATION_ID)
    assert served.paths() == [f"{PATH}?organization_id={ORGANIZATION_ID}&page=1&page_size=1"]
    assert served.switches.requests[0][2]["X-Auth-Token"] == SECRET_KEY


async def test_a_wrong_key_is_refused(served: Served) -> None:
    with pytest.raises(LoginRefused):
        await served.connector.login(Credentials(ORGANIZATION_ID, SecretStr("0" * 36)))


async def test_an_organization_id_that_is_no_uuid_is_refused_at_once(served: Served) -> None:
    with pytest.raises(LoginRefused):
        await served.connector.login(Credentials("boulangerie-dupont", GOOD.password))
    assert served.paths() == []


async def test_another_organization_needs_the_user_to_fix_the_key(served: Served) -> None:
    other = Credentials("00000000-0000-4000-8000-000000000000", GOOD.password)
    with pytest.raises(ActionRequired) as raised:
        await served.connector.login(other)
    assert raised.value.reason == KEY_SCOPE


async def test_every_issued_invoice_is_listed_across_pages(served: Served) -> None:
    await served.connector.login(GOOD)
    refs = await collect(served.connector.invoices(None))

    assert [ref.reference for ref in refs] == [invoice.id for invoice in ISSUED]  # no draft
    newest = refs[0]
    assert (newest.amount, newest.currency, newest.number) == (Decimal("42.17"), "EUR", "8870")
    assert newest.issued_on == date(2026, 11, 1)
    assert refs[2].extra == {"billing_period": "2026-09", "type": "purchase"}
    listed = [path for path in served.paths() if "page_size=2" in path]
    assert [path.split("&")[1] for path in listed] == ["page=1", "page=2", "page=3"]


async def test_since_is_honoured_on_the_issue_date(served: Served) -> None:
    await served.connector.login(GOOD)
    refs = await collect(served.connector.invoices(date(2026, 9, 14)))
    assert [ref.number for ref in refs] == ["8870", "8702", "8655"]


async def test_download_decodes_the_pdf(served: Served) -> None:
    await served.connector.login(GOOD)
    ref = (await collect(served.connector.invoices(None)))[1]
    document = await served.connector.download(ref)
    assert document.content == pdf_of(ISSUED[1])
    assert document.filename == "scaleway-invoice-8702.pdf"
    assert served.paths()[-1] == f"{PATH}/{ISSUED[1].id}/download?file_type=pdf"


async def test_it_keeps_no_session_and_asks_no_code(served: Served) -> None:
    connector: SupplierConnector = served.connector  # mypy checks the Protocol here
    assert await connector.restore({}) is False
    assert await connector.save() == {}
    with pytest.raises(CodeRejected):
        await connector.submit_code("123456")


@pytest.mark.parametrize(("fault", "error"), LISTING_FAULTS)
async def test_listing_faults_become_typed_errors(
    served: Served, fault: Fault, error: type[ConnectorError]
) -> None:
    raised = await raised_while_listing(
        served.connector, served.switches, fault, error, credentials=GOOD
    )
    if fault is Fault.RATE_LIMITED:
        assert isinstance(raised, SupplierUnavailable)
        assert raised.retry_after == 7


async def test_an_html_page_instead_of_the_pdf_is_an_invalid_download(served: Served) -> None:
    await served.connector.login(GOOD)
    ref = (await collect(served.connector.invoices(None)))[0]
    served.switches.fault = Fault.HTML_INSTEAD_OF_PDF
    with pytest.raises(InvalidDownload):
        await served.connector.download(ref)


async def test_the_key_leaks_nowhere(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await served.connector.login(GOOD)
    await served.connector.download((await collect(served.connector.invoices(None)))[0])
    errors: list[ConnectorError] = []
    for fault in (Fault.UNAUTHORIZED, Fault.FORBIDDEN, Fault.SERVER_ERROR, Fault.MALFORMED_JSON):
        served.switches.fault = fault
        try:
            await collect(served.connector.invoices(None))
        except ConnectorError as err:
            errors.append(err)
    assert len(errors) == 4
    assert_nowhere([SECRET_KEY], caplog=caplog, objects=[served.connector, GOOD, *errors])
