"""Qonto's receipts over real HTTP against its stand-in, one story per test."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest
from pydantic import SecretStr

from core.suppliers.api.qonto import QontoConnector
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
from tests.standins.qonto import (
    JPEG,
    ORGANIZATION,
    PHOTO,
    SECRET,
    SLUG,
    create_app,
    receipt_of,
)

GOOD = Credentials(login=SLUG, password=SecretStr(SECRET))


@dataclass
class Served:
    connector: QontoConnector
    switches: Switches

    def paths(self) -> list[str]:
        return [path for _, path, _ in self.switches.requests]


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    switches = Switches()
    async with running(create_app(switches=switches)) as origin:
        connector = QontoConnector(base_url=origin, per_page=2)
        yield Served(connector, switches)
        await connector.close()


async def test_login_sends_slug_and_key_as_qonto_documents(served: Served) -> None:
    assert await served.connector.login(GOOD) == LoggedIn(account_label=ORGANIZATION)
    assert served.paths() == ["/v2/organization"]
    assert served.switches.requests[0][2]["Authorization"] == f"{SLUG}:{SECRET}"


async def test_a_wrong_or_regenerated_key_is_refused(served: Served) -> None:
    with pytest.raises(LoginRefused):
        await served.connector.login(Credentials(SLUG, SecretStr("qsk_regenerated")))
    with pytest.raises(LoginRefused):
        await served.connector.login(Credentials("not a slug", SecretStr(SECRET)))
    assert len(served.switches.requests) == 1  # the malformed slug never left


async def test_each_receipt_is_listed_with_its_transaction(served: Served) -> None:
    await served.connector.login(GOOD)
    refs = await collect(served.connector.invoices(None))

    by_counterparty: dict[str, list[Decimal | None]] = {}
    for ref in refs:
        by_counterparty.setdefault(ref.extra["counterparty"], []).append(ref.amount)
    # Debits with receipts only: the client's transfer in and the receipt-less La Poste
    # payment are no purchase documents.
    assert by_counterparty == {
        "Metro Cash & Carry": [Decimal("89.90")],
        "Total Energies": [Decimal("43.20")],
        # Two files for one payment: neither is known to hold the whole amount.
        "Moulins Bourgeois": [None, None],
        "Orange": [Decimal("19.99")],
        "Qonto": [Decimal("6.00")],  # the second account is read too
    }
    metro = refs[0]
    assert metro.issued_on == date(2026, 11, 28)
    assert metro.currency == "EUR"
    assert metro.extra["transaction_id"] == "a1f0c9d2-0001-4000-8000-000000000001"
    assert metro.extra["transaction_amount"] == "89.90"
    assert served.connector.listed == 6
    pages = [p for p in served.paths() if p.startswith("/v2/transactions")]
    assert len(pages) == 2 + 1  # four main-account debits at two a page, then savings
    assert all("with_attachments=true" in p and "side=debit" in p for p in pages)


async def test_since_is_sent_and_honoured(served: Served) -> None:
    await served.connector.login(GOOD)
    refs = await collect(served.connector.invoices(date(2026, 11, 15)))
    assert [ref.extra["counterparty"] for ref in refs] == ["Metro Cash & Carry", "Qonto"]
    assert "settled_at_from=2026-11-15T00%3A00%3A00Z" in served.paths()[-1]


async def test_download_follows_the_temporary_link_without_the_key(served: Served) -> None:
    await served.connector.login(GOOD)
    refs = await collect(served.connector.invoices(None))
    receipt = await served.connector.download(refs[0])
    assert receipt.content == receipt_of(refs[0].reference)
    assert receipt.filename == f"recu-{refs[0].reference[:8]}.pdf"
    _, path, headers = served.switches.requests[-1]
    assert path.startswith(f"/files/{refs[0].reference}?")
    assert "Authorization" not in headers
    photo = await served.connector.download(next(r for r in refs if r.reference == PHOTO))
    assert (photo.content, photo.filename) == (JPEG, f"recu-{PHOTO[:8]}.jpg")


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


async def test_an_html_page_instead_of_the_receipt_is_an_invalid_download(
    served: Served,
) -> None:
    await served.connector.login(GOOD)
    ref = (await collect(served.connector.invoices(None)))[0]
    served.switches.fault = Fault.HTML_INSTEAD_OF_PDF
    with pytest.raises(InvalidDownload):
        await served.connector.download(ref)


async def test_no_session_and_an_unreachable_api(served: Served) -> None:
    connector: SupplierConnector = served.connector  # mypy checks the Protocol here
    assert await connector.restore({}) is False
    assert await connector.save() == {}
    nowhere = QontoConnector(base_url="http://127.0.0.1:9")
    with pytest.raises(SupplierUnavailable):
        await nowhere.login(GOOD)
    await nowhere.close()


async def test_the_key_leaks_nowhere(served: Served, caplog: pytest.LogCaptureFixture) -> None:
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
    assert_nowhere([SECRET], caplog=caplog, objects=[served.connector, GOOD, *errors])
