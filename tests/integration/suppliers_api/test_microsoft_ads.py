"""Microsoft Advertising's billing documents over real HTTP against the Customer Billing
and Entra stand-in: a developer token and a user's OAuth grant, kept alive across runs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import httpx
import pytest
from pydantic import SecretStr

from core.suppliers.api import CredentialsExpired
from core.suppliers.api.microsoft_ads import MicrosoftAdsConnector
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
from tests.standins.microsoft_ads import (
    ACCOUNT_ID,
    CLIENT_ID,
    CUSTOMER_ID,
    DEVELOPER_TOKEN,
    EXPIRED_REFRESH_TOKEN,
    REFRESH_TOKEN,
    REVOKED_REFRESH_TOKEN,
    SECOND_ACCOUNT_ID,
    SEEDED,
    STATE,
    AdsState,
    create_app,
    pdf_of,
)

LOGIN = f"{CLIENT_ID}/{CUSTOMER_ID}/{ACCOUNT_ID}"
GOOD = Credentials(login=LOGIN, password=SecretStr(f"{DEVELOPER_TOKEN}:{REFRESH_TOKEN}"))
TODAY = date(2026, 12, 6)
ONE_ACCOUNT = [d for d in SEEDED if d.account_id == ACCOUNT_ID]


@dataclass
class Served:
    connector: MicrosoftAdsConnector
    switches: Switches
    state: AdsState
    origin: str

    def connect(self) -> MicrosoftAdsConnector:
        return MicrosoftAdsConnector(base_url=self.origin, login_url=self.origin, today=TODAY)

    def token_requests(self) -> int:
        return sum(1 for _, path, _ in self.switches.requests if path.endswith("/token"))


@asynccontextmanager
async def serving() -> AsyncIterator[Served]:
    switches = Switches()
    app = create_app(switches=switches)
    async with running(app) as origin:
        connector = MicrosoftAdsConnector(base_url=origin, login_url=origin, today=TODAY)
        try:
            yield Served(connector, switches, app[STATE], origin)
        finally:
            await connector.close()


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    async with serving() as one:
        yield one


def _with(refresh: str, login: str = LOGIN) -> Credentials:
    return Credentials(login, SecretStr(f"{DEVELOPER_TOKEN}:{refresh}"))


async def test_login_trades_the_grant_and_sends_the_four_headers(served: Served) -> None:
    assert await served.connector.login(GOOD) == LoggedIn(
        account_label=f"Microsoft Advertising {ACCOUNT_ID}"
    )
    (token_call, info_call) = served.switches.requests
    assert token_call[:2] == ("POST", "/common/oauth2/v2.0/token")
    method, path, headers = info_call
    assert (method, path) == ("POST", "/CustomerBilling/v13/BillingDocumentsInfo/Query")
    assert headers["Authorization"].removeprefix("Bearer ") in served.state.access_tokens
    assert (headers["DeveloperToken"], headers["CustomerId"], headers["CustomerAccountId"]) == (
        DEVELOPER_TOKEN,
        CUSTOMER_ID,
        ACCOUNT_ID,
    )


async def test_an_expired_grant_says_so_and_a_revoked_one_is_refused(served: Served) -> None:
    with pytest.raises(CredentialsExpired):
        await served.connector.login(_with(EXPIRED_REFRESH_TOKEN))
    with pytest.raises(LoginRefused) as refused:
        await served.connector.login(_with(REVOKED_REFRESH_TOKEN))
    assert not isinstance(refused.value, CredentialsExpired)
    wrong = Credentials(LOGIN, SecretStr(f"WRONGTOKEN0:{REFRESH_TOKEN}"))
    with pytest.raises(LoginRefused):
        await served.connector.login(wrong)


async def test_a_malformed_login_or_password_never_leaves(served: Served) -> None:
    for login in (
        f"{CUSTOMER_ID}/{ACCOUNT_ID}",
        f"not-a-guid/{CUSTOMER_ID}/{ACCOUNT_ID}",
        f"{CLIENT_ID}/{CUSTOMER_ID}/F120PQ7K",  # the account number, not its ID
    ):
        with pytest.raises(LoginRefused):
            await served.connector.login(Credentials(login, GOOD.password))
    for password in (REFRESH_TOKEN, f"{DEVELOPER_TOKEN}:", f":{REFRESH_TOKEN}"):
        with pytest.raises(LoginRefused):
            await served.connector.login(Credentials(LOGIN, SecretStr(password)))
    assert served.switches.requests == []


async def test_every_document_is_listed_window_by_window(served: Served) -> None:
    await served.connector.login(GOOD)
    served.state.windows.clear()
    refs = await collect(served.connector.invoices(None))

    assert [ref.reference for ref in refs] == [d.document_id for d in ONE_ACCOUNT]
    newest = refs[0]
    assert (newest.number, newest.issued_on, newest.amount, newest.currency) == (
        "G014000104",
        date(2026, 12, 1),
        Decimal("245.1"),
        "EUR",
    )
    assert newest.extra["customer_id"] == CUSTOMER_ID
    assert served.connector.listed == len(ONE_ACCOUNT)
    # Three years, asked a year at a time: no answer holds more than a year.
    assert len(served.state.windows) == 3
    assert served.state.windows[0][0] == "2023-12-07T00:00:00Z"
    assert served.state.windows[-1][1] == "2026-12-06T23:59:59Z"


async def test_several_accounts_of_one_customer(served: Served) -> None:
    login = f"{CLIENT_ID}/{CUSTOMER_ID}/{ACCOUNT_ID},{SECOND_ACCOUNT_ID}"
    await served.connector.login(_with(REFRESH_TOKEN, login))
    refs = await collect(served.connector.invoices(date(2026, 10, 1)))
    assert [ref.number for ref in refs] == ["G014000104", "G014000103", "G014000902", "G014000102"]
    assert refs[2].extra["account_id"] == SECOND_ACCOUNT_ID


async def test_since_is_the_start_date(served: Served) -> None:
    await served.connector.login(GOOD)
    served.state.windows.clear()
    refs = await collect(served.connector.invoices(date(2026, 11, 1)))
    assert [ref.number for ref in refs] == ["G014000104", "G014000103"]
    assert served.state.windows == [("2026-11-01T00:00:00Z", "2026-12-06T23:59:59Z")]


async def test_download_decodes_the_pdf(served: Served) -> None:
    await served.connector.login(GOOD)
    ref = (await collect(served.connector.invoices(date(2026, 12, 1))))[0]
    document = await served.connector.download(ref)
    assert document.content == pdf_of(SEEDED[0])
    assert document.filename == "microsoft-ads-G014000104.pdf"


async def test_an_access_token_that_expires_mid_run_is_replaced_once(served: Served) -> None:
    await served.connector.login(GOOD)
    served.state.expire_tokens()
    refs = await collect(served.connector.invoices(date(2026, 11, 1)))
    assert len(refs) == 2
    assert served.token_requests() == 2


async def test_the_newest_grant_is_kept_and_outlives_the_one_typed(served: Served) -> None:
    await served.connector.login(GOOD)
    saved = await served.connector.save()
    assert saved["refresh_token"] != REFRESH_TOKEN  # Entra's replacement
    # The typed token dies (90 days later); the kept one carries on.
    served.state.refresh_tokens.discard(REFRESH_TOKEN)
    later = served.connect()
    assert await later.restore(saved) is False  # a grant to use, not a session
    await later.login(GOOD)
    assert (await later.save())["refresh_token"] not in (REFRESH_TOKEN, saved["refresh_token"])
    await later.close()
    without = served.connect()
    with pytest.raises(LoginRefused):
        await without.login(GOOD)
    await without.close()


async def test_a_kept_grant_is_only_used_for_the_token_it_grew_from(served: Served) -> None:
    await served.connector.login(GOOD)
    saved = await served.connector.save()
    other = served.connect()
    await other.restore(saved)
    # New credentials typed since: the kept grant is not theirs and is left alone.
    with pytest.raises(LoginRefused):
        await other.login(_with(REVOKED_REFRESH_TOKEN))
    await other.close()
    # A kept grant revoked since: the typed one is tried.
    served.state.refresh_tokens.discard(saved["refresh_token"])
    again = served.connect()
    await again.restore(saved)
    assert isinstance(await again.login(GOOD), LoggedIn)
    await again.close()


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
    ref = (await collect(served.connector.invoices(date(2026, 12, 1))))[0]
    served.switches.fault = Fault.HTML_INSTEAD_OF_PDF
    with pytest.raises(InvalidDownload):
        await served.connector.download(ref)


async def test_the_stand_in_wants_every_header(served: Served) -> None:
    await served.connector.login(GOOD)
    token = next(iter(served.state.access_tokens))
    url = f"{served.origin}/CustomerBilling/v13/BillingDocumentsInfo/Query"
    async with httpx.AsyncClient() as client:
        bare = await client.post(url, json={}, headers={"Authorization": f"Bearer {token}"})
    assert bare.status_code == 400
    assert bare.json()["Errors"][0]["ErrorCode"] == "RequestMissingHeaders"
    connector: SupplierConnector = served.connector  # mypy checks the Protocol here
    assert await connector.restore({}) is False


async def test_the_tokens_leak_nowhere(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
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
    for refresh in (EXPIRED_REFRESH_TOKEN, REVOKED_REFRESH_TOKEN):
        try:
            await served.connector.login(_with(refresh))
        except ConnectorError as err:
            errors.append(err)
    assert len(errors) == 5
    secrets = [
        REFRESH_TOKEN,
        EXPIRED_REFRESH_TOKEN,
        REVOKED_REFRESH_TOKEN,
        DEVELOPER_TOKEN,
        *served.state.access_tokens,
        *(t for t in served.state.refresh_tokens if t != REFRESH_TOKEN),
    ]
    assert_nowhere(secrets, caplog=caplog, objects=[served.connector, GOOD, *errors])
