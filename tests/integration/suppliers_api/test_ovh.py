"""OVHcloud's connector over real HTTP against its stand-in, which checks every signature."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import httpx
import pytest
from pydantic import SecretStr

from core.suppliers.api.ovh import OvhConnector, signature
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
from tests.standins.ovh import (
    APPLICATION_KEY,
    APPLICATION_SECRET,
    CONSUMER_KEY,
    PREFIX,
    SEEDED,
    create_app,
    pdf_of,
)

GOOD = Credentials(APPLICATION_KEY, SecretStr(f"{APPLICATION_SECRET}:{CONSUMER_KEY}"))


@dataclass
class Served:
    connector: OvhConnector
    switches: Switches
    origin: str

    def paths(self) -> list[str]:
        return [path for _, path, _ in self.switches.requests]


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    switches = Switches()
    # The server's clock runs an hour ahead: signing with the local time would fail.
    async with running(create_app(switches=switches, clock_offset=3600)) as origin:
        connector = OvhConnector(base_url=origin + PREFIX)
        yield Served(connector, switches, origin)
        await connector.close()


def test_the_signature_is_the_documented_sha1() -> None:
    url = "https://eu.api.ovh.com/1.0/me/bill?date.from=2026-01-01"
    expected = hashlib.sha1(f"AS+CK+GET+{url}++1700000000".encode()).hexdigest()
    assert signature("AS", "CK", "get", url, "", "1700000000") == "$1$" + expected


async def test_login_syncs_the_clock_and_signs_with_it(served: Served) -> None:
    assert await served.connector.login(GOOD) == LoggedIn()
    assert served.paths()[0] == f"{PREFIX}/auth/time"
    assert served.paths()[1].startswith(f"{PREFIX}/me/bill?date.from=")
    headers = served.switches.requests[1][2]
    assert headers["X-Ovh-Application"] == APPLICATION_KEY
    assert headers["X-Ovh-Signature"].startswith("$1$")


@pytest.mark.parametrize(
    "password",
    [
        f"{APPLICATION_SECRET}:wrongConsumerKey000000000000000",  # 403 INVALID_CREDENTIAL
        f"wrongSecret:{CONSUMER_KEY}",  # 400 INVALID_SIGNATURE
    ],
    ids=["unknown-consumer-key", "wrong-secret"],
)
async def test_wrong_keys_are_refused(served: Served, password: str) -> None:
    with pytest.raises(LoginRefused):
        await served.connector.login(Credentials(APPLICATION_KEY, SecretStr(password)))


async def test_malformed_keys_are_refused(served: Served) -> None:
    with pytest.raises(LoginRefused):  # no "AS:CK": refused before any call
        await served.connector.login(Credentials(APPLICATION_KEY, SecretStr(APPLICATION_SECRET)))
    assert served.paths() == []
    with pytest.raises(LoginRefused):  # 403 INVALID_KEY
        await served.connector.login(Credentials("unknownAppKey", GOOD.password))


async def test_the_standin_refuses_a_timestamp_off_its_clock(served: Served) -> None:
    """Proves the login test above: signing with the local clock is refused here."""
    url = f"{served.origin}{PREFIX}/me/bill"
    stamp = str(int(time.time()))
    headers = {
        "X-Ovh-Application": APPLICATION_KEY,
        "X-Ovh-Consumer": CONSUMER_KEY,
        "X-Ovh-Timestamp": stamp,
        "X-Ovh-Signature": signature(APPLICATION_SECRET, CONSUMER_KEY, "GET", url, "", stamp),
    }
    async with httpx.AsyncClient() as client:
        response = await client.get(url, headers=headers)
    assert response.status_code == 400
    assert response.json()["errorCode"] == "INVALID_SIGNATURE"


async def test_every_bill_is_listed(served: Served) -> None:
    await served.connector.login(GOOD)
    refs = await collect(served.connector.invoices(None))

    assert [ref.reference for ref in refs] == [bill.bill_id for bill in SEEDED]
    last = refs[-1]
    assert (last.amount, last.currency, last.number) == (Decimal("1234.80"), "EUR", "FR58912645")
    assert last.issued_on == date(2026, 10, 2)
    assert "pdfUrl" not in last.extra  # it holds the bill's password


async def test_since_is_honoured(served: Served) -> None:
    await served.connector.login(GOOD)
    refs = await collect(served.connector.invoices(date(2026, 8, 2)))
    assert [ref.reference for ref in refs] == ["FR56344019", "FR57600238", "FR58912645"]
    assert f"{PREFIX}/me/bill?date.from=2026-08-02" in served.paths()


async def test_download_fetches_pdf_url_without_the_keys(served: Served) -> None:
    await served.connector.login(GOOD)
    ref = (await collect(served.connector.invoices(None)))[2]
    document = await served.connector.download(ref)
    assert document.content == pdf_of(SEEDED[2])
    assert document.filename == "ovhcloud-FR56344019.pdf"
    _, path, headers = served.switches.requests[-1]
    assert path.startswith("/cgi-bin/order/facture.pdf?reference=FR56344019")
    assert not any(name.lower().startswith("x-ovh") for name in headers)


async def test_a_fresh_connector_finds_the_pdf_url_again(served: Served) -> None:
    await served.connector.login(GOOD)
    ref = (await collect(served.connector.invoices(None)))[0]
    other = OvhConnector(base_url=served.origin + PREFIX)
    await other.login(GOOD)
    assert (await other.download(ref)).content == pdf_of(SEEDED[0])
    await other.close()


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


async def test_the_keys_leak_nowhere(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await served.connector.login(GOOD)
    await served.connector.download((await collect(served.connector.invoices(None)))[0])
    errors: list[ConnectorError] = []
    for fault in (Fault.UNAUTHORIZED, Fault.FORBIDDEN, Fault.MALFORMED_JSON):
        served.switches.fault = fault
        try:
            await collect(served.connector.invoices(None))
        except ConnectorError as err:
            errors.append(err)
    served.switches.fault = None
    try:
        await served.connector.login(Credentials(APPLICATION_KEY, SecretStr(f"bad:{CONSUMER_KEY}")))
    except LoginRefused as err:
        errors.append(err)
    assert len(errors) == 4
    secrets = [APPLICATION_SECRET, CONSUMER_KEY]
    assert_nowhere(secrets, caplog=caplog, objects=[served.connector, GOOD, *errors])


async def test_the_endpoint_follows_the_accounts_region() -> None:
    """A Canadian account's keys exist only at ca.api.ovh.com: Europe's API does not know
    them (INVALID_KEY), so the login's region must pick the endpoint."""
    europe, canada = Switches(), Switches()
    async with (
        running(create_app(switches=europe, application_key="someEuropeanKey0")) as eu,
        running(create_app(switches=canada)) as ca,
    ):
        table = {"ovh-eu": eu + PREFIX, "ovh-ca": ca + PREFIX, "ovh-us": eu + "/us" + PREFIX}
        connector = OvhConnector(endpoints=table)
        login = Credentials(f"ovh-ca:{APPLICATION_KEY}", GOOD.password)
        assert await connector.login(login) == LoggedIn()
        refs = await collect(connector.invoices(None))
        assert len(refs) == len(SEEDED)
        await connector.close()

        # The same keys sent to Europe (no region given, none set) are refused there.
        unset = OvhConnector(endpoints=table)
        with pytest.raises(LoginRefused):
            await unset.login(GOOD)
        await unset.close()
        # A region set on the connector serves a login that names none.
        settled = OvhConnector(endpoints=table, region="ca")
        assert await settled.login(GOOD) == LoggedIn()
        await settled.close()
    assert not any(path.startswith(f"{PREFIX}/me/bill/") for _, path, _ in europe.requests)
    assert any(path.startswith(f"{PREFIX}/me/bill/") for _, path, _ in canada.requests)


def test_the_endpoint_table_is_python_ovhs() -> None:
    from core.suppliers.api.ovh import ENDPOINTS, split_login

    assert ENDPOINTS == {
        "ovh-eu": "https://eu.api.ovh.com/1.0",
        "ovh-ca": "https://ca.api.ovh.com/1.0",
        "ovh-us": "https://api.us.ovhcloud.com/1.0",
    }
    assert split_login(" US:ak123 ", "ovh-eu") == ("ovh-us", "ak123")
    assert split_login("ak123", "ovh-ca") == ("ovh-ca", "ak123")


async def test_an_unknown_region_is_refused_before_any_call(served: Served) -> None:
    connector = OvhConnector(endpoints={"ovh-eu": served.origin + PREFIX})
    with pytest.raises(LoginRefused):
        await connector.login(Credentials(f"ovh-moon:{APPLICATION_KEY}", GOOD.password))
    assert served.paths() == []
    await connector.close()
