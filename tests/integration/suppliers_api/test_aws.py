"""AWS's connector over real HTTP against its stand-in, one story per test.

The stand-in checks every SigV4 signature with botocore, so a story that gets an answer
at all has signed its request right.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest
from pydantic import SecretStr

from core.suppliers.api import CredentialsExpired
from core.suppliers.api.aws import AwsConnector
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
from tests.standins.aws import (
    ACCOUNT_ID,
    EXPIRED_KEY_ID,
    EXPIRED_SECRET,
    KEY_ID,
    SECRET,
    SEEDED,
    create_app,
    pdf_of,
)

GOOD = Credentials(login=KEY_ID, password=SecretStr(SECRET))
TODAY = date(2026, 12, 6)


@dataclass
class Served:
    connector: AwsConnector
    switches: Switches

    def targets(self) -> list[str]:
        return [headers.get("X-Amz-Target", "sts") for _, _, headers in self.switches.requests]


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    switches = Switches()
    async with running(create_app(switches=switches)) as origin:
        connector = AwsConnector(invoicing_url=origin, sts_url=origin, max_results=1, today=TODAY)
        yield Served(connector, switches)
        await connector.close()


async def test_login_names_the_account_and_proves_the_invoicing_right(served: Served) -> None:
    assert await served.connector.login(GOOD) == LoggedIn(account_label=ACCOUNT_ID)
    assert served.targets() == ["sts", "Invoicing.ListInvoiceSummaries"]
    authorization = served.switches.requests[1][2]["Authorization"]
    assert authorization.startswith(f"AWS4-HMAC-SHA256 Credential={KEY_ID}/")
    assert "/us-east-1/invoicing/aws4_request" in authorization
    assert SECRET not in authorization


async def test_a_wrong_secret_or_a_malformed_key_is_refused(served: Served) -> None:
    with pytest.raises(LoginRefused):
        await served.connector.login(Credentials(KEY_ID, SecretStr("not-the-secret")))
    with pytest.raises(LoginRefused):
        await served.connector.login(Credentials("AKIAZ7SOMEONEELSE001", SecretStr(SECRET)))
    with pytest.raises(LoginRefused):
        await served.connector.login(Credentials(ACCOUNT_ID, SecretStr(SECRET)))
    assert len(served.switches.requests) == 2  # the account ID never left


async def test_an_expired_key_says_so(served: Served) -> None:
    with pytest.raises(CredentialsExpired) as raised:
        await served.connector.login(Credentials(EXPIRED_KEY_ID, SecretStr(EXPIRED_SECRET)))
    assert raised.value.key == "credentials_expired"
    assert isinstance(raised.value, LoginRefused)  # the same way out: new credentials


async def test_every_invoice_is_listed_month_by_month_and_page_by_page(served: Served) -> None:
    await served.connector.login(GOOD)
    refs = await collect(served.connector.invoices(date(2026, 9, 1)))

    expected = [i for i in SEEDED if i.invoice_type != "PAYMENT_RECEIPT"]
    assert {ref.reference for ref in refs} == {i.invoice_id for i in expected}
    assert [ref.issued_on for ref in refs] == sorted((r.issued_on for r in refs), reverse=True)
    newest = refs[0]
    assert (newest.number, newest.amount, newest.currency) == (
        "EUINFR26-1200001",
        Decimal("41.20"),
        "EUR",
    )
    assert newest.issued_on == date(2026, 12, 2)
    credit = next(ref for ref in refs if ref.extra["invoice_type"] == "CREDIT_MEMO")
    assert credit.amount == Decimal("-5.00")
    assert served.connector.listed == len(expected)
    # September to December, and October's two invoices on two pages.
    lists = served.targets().count("Invoicing.ListInvoiceSummaries")
    assert lists == 1 + 4 + 2  # the login's one, one per month, October's second page


async def test_since_is_honoured_and_the_full_history_reads_two_years(served: Served) -> None:
    await served.connector.login(GOOD)
    recent = await collect(served.connector.invoices(date(2026, 11, 1)))
    assert [ref.reference for ref in recent] == ["EUINFR26-1200001", "EUINFR26-1100001"]
    before = len(served.switches.requests)
    everything = await collect(served.connector.invoices(None))
    assert len(everything) == 5
    assert len(served.switches.requests) - before == 24 + 1 + 1  # months, Oct. page 2


async def test_download_follows_the_presigned_link_without_our_signature(served: Served) -> None:
    await served.connector.login(GOOD)
    ref = (await collect(served.connector.invoices(date(2026, 12, 1))))[0]
    document = await served.connector.download(ref)
    assert document.content == pdf_of(SEEDED[0])
    assert document.filename == "aws-EUINFR26-1200001.pdf"
    method, path, headers = served.switches.requests[-1]
    assert (method, path.split("?")[0]) == ("GET", "/presigned/EUINFR26-1200001.pdf")
    assert "Authorization" not in headers


@pytest.mark.parametrize(("fault", "error"), LISTING_FAULTS)
async def test_listing_faults_become_typed_errors(
    served: Served, fault: Fault, error: type[ConnectorError]
) -> None:
    raised = await raised_while_listing(
        served.connector, served.switches, fault, error, credentials=GOOD
    )
    if fault is Fault.SERVER_ERROR:
        # InternalServerException's retryAfterSeconds is AWS's Retry-After.
        assert isinstance(raised, SupplierUnavailable)
        assert raised.retry_after == 7


async def test_an_html_page_instead_of_the_pdf_is_an_invalid_download(served: Served) -> None:
    await served.connector.login(GOOD)
    ref = (await collect(served.connector.invoices(date(2026, 12, 1))))[0]
    served.switches.fault = Fault.HTML_INSTEAD_OF_PDF
    with pytest.raises(InvalidDownload):
        await served.connector.download(ref)


async def test_no_session_and_an_unreachable_api(served: Served) -> None:
    connector: SupplierConnector = served.connector  # mypy checks the Protocol here
    assert await connector.restore({"anything": 1}) is False
    assert await connector.save() == {}
    nowhere = AwsConnector(invoicing_url="http://127.0.0.1:9", sts_url="http://127.0.0.1:9")
    with pytest.raises(SupplierUnavailable):
        await nowhere.login(GOOD)
    await nowhere.close()


async def test_the_secret_leaks_nowhere(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # botocore logs its canonical request at DEBUG
    await served.connector.login(GOOD)
    await served.connector.download(
        (await collect(served.connector.invoices(date(2026, 12, 1))))[0]
    )
    errors: list[ConnectorError] = []
    for fault in (Fault.UNAUTHORIZED, Fault.RATE_LIMITED, Fault.MALFORMED_JSON):
        served.switches.fault = fault
        try:
            await collect(served.connector.invoices(None))
        except ConnectorError as err:
            errors.append(err)
    served.switches.fault = None
    try:
        await served.connector.login(Credentials(EXPIRED_KEY_ID, SecretStr(EXPIRED_SECRET)))
    except ConnectorError as err:
        errors.append(err)
    assert len(errors) == 4
    assert_nowhere(
        [SECRET, EXPIRED_SECRET], caplog=caplog, objects=[served.connector, GOOD, *errors]
    )
