"""QuickBooks Online through its stand-in over real HTTP on loopback, one story per test."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from decimal import Decimal

import httpx
import pytest

from core.accounting.errors import IntegrationExpired, NeedsReview, Rejected, Unavailable
from core.accounting.provider import AccountingProvider, Authorized, Bill, ListKind, VatLine
from core.accounting.providers.oauth import OAuthEndpoints
from core.accounting.providers.quickbooks import LIMITS, QuickBooksProvider
from tests.integration.accounting_http import CALLBACK, consent, make_bill
from tests.standins import running
from tests.standins.accounting_limits import Fault
from tests.standins.quickbooks import (
    ACCESS_SECONDS,
    CLIENT_ID,
    CLIENT_SECRET,
    REFRESH_SECONDS,
    STANDIN,
    QuickBooksStandin,
    Realm,
    bakery,
    create_app,
)


@dataclass
class Served:
    provider: QuickBooksProvider
    standin: QuickBooksStandin
    origin: str = ""


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    # The call limits run 1000 times faster on both sides; the token lifetimes do not.
    app = create_app(limit_scale=1000)
    async with running(app) as origin:
        provider = QuickBooksProvider(
            endpoints=OAuthEndpoints(
                authorize_url=f"{origin}/connect/oauth2",
                token_url=f"{origin}/oauth2/v1/tokens/bearer",
                revoke_url=f"{origin}/v2/oauth2/tokens/revoke",
                client_id=CLIENT_ID,
                client_secret=CLIENT_SECRET,
            ),
            api_url=origin,
            limits=LIMITS.scaled(1000),
            page_size=4,
        )
        yield Served(provider, app[STANDIN], origin)
        await provider.aclose()


async def connect(served: Served) -> Authorized:
    start = await served.provider.start_authorization(state="qb-state", redirect_uri=CALLBACK)
    params = await consent(start.url)
    assert params["state"] == "qb-state"
    assert params["realmId"] == bakery().realm_id
    return await served.provider.complete_authorization(
        params=params, redirect_uri=CALLBACK, code_verifier=None
    )


async def test_connect_names_the_realm_from_the_callback(served: Served) -> None:
    assert isinstance(served.provider, AccountingProvider)
    authorized = await connect(served)
    assert authorized.company.id == "9341453172541726"
    assert authorized.company.name == "Boulangerie Dupont"
    assert authorized.grant.refresh_expires_at
    assert authorized.grant.access_expires_at
    assert served.provider.warning_starts_at(authorized.grant) is not None


async def test_every_list_is_loaded_page_by_page(served: Served) -> None:
    authorized = await connect(served)
    lists = {
        kind: await served.provider.load_list(
            grant=authorized.grant, company=authorized.company, kind=kind
        )
        for kind in ListKind
    }
    assert [a.name for a in lists[ListKind.ACCOUNTS]][:2] == ["Electricity", "Telephone & Internet"]
    assert lists[ListKind.ACCOUNTS][0].extra["number"] == "6061"
    assert len(lists[ListKind.SUPPLIERS]) == 13
    assert [c.name for c in lists[ListKind.CUSTOMERS]] == ["Café du Coin"]
    assert {t.code for t in lists[ListKind.TAX_RATES]} == {"4", "5", "6"}
    vendor_pages = [p for _, p in served.standin.knobs.requests if "Vendor" in p]
    assert len(vendor_pages) == 4  # 13 vendors, 4 a page: STARTPOSITION 1, 5, 9, 13


async def test_a_bill_is_published_once_with_its_file(served: Served) -> None:
    authorized = await connect(served)
    bill = make_bill(account="30", tax_rate="4")  # no vendor code: found by its name
    first = await served.provider.publish_bill(
        grant=authorized.grant, company=authorized.company, bill=bill
    )
    again = await served.provider.publish_bill(
        grant=authorized.grant, company=authorized.company, bill=bill
    )
    assert again.external_id == first.external_id
    (stored,) = served.standin.bills_of(authorized.company.id)
    assert stored.body["VendorRef"] == {"value": "100"}
    assert stored.body["DocNumber"] == "FA-2026-0117"
    line = stored.body["Line"][0]["AccountBasedExpenseLineDetail"]
    assert line == {"AccountRef": {"value": "30"}, "TaxCodeRef": {"value": "4"}}
    assert stored.attachments == [("FA-2026-0117.pdf", bill.file.content)]


async def test_refused_and_duplicate_bills_are_rejected(served: Served) -> None:
    authorized = await connect(served)
    with pytest.raises(Rejected, match="Accounts element id 999 not found"):
        await served.provider.publish_bill(
            grant=authorized.grant, company=authorized.company, bill=make_bill(account="999")
        )
    await served.provider.publish_bill(
        grant=authorized.grant,
        company=authorized.company,
        bill=make_bill(account="30", tax_rate="4"),
    )
    with pytest.raises(Rejected) as caught:  # another document, same supplier number
        await served.provider.publish_bill(
            grant=authorized.grant,
            company=authorized.company,
            bill=make_bill(account="30", tax_rate="4", document_id=2),
        )
    assert caught.value.duplicate
    with pytest.raises(Rejected, match="no vendor named"):
        await served.provider.publish_bill(
            grant=authorized.grant, company=authorized.company, bill=make_bill(supplier="Nobody")
        )
    assert len(served.standin.bills) == 1


async def test_tokens_roll_and_a_used_refresh_token_is_refused(served: Served) -> None:
    authorized = await connect(served)
    served.standin.clock.advance(ACCESS_SECONDS + 1)
    with pytest.raises(IntegrationExpired, match="3200"):
        await served.provider.load_list(
            grant=authorized.grant, company=authorized.company, kind=ListKind.TAX_RATES
        )
    new = await served.provider.refresh(grant=authorized.grant)
    assert new.refresh_token != authorized.grant.refresh_token
    assert await served.provider.load_list(
        grant=new, company=authorized.company, kind=ListKind.TAX_RATES
    )
    with pytest.raises(IntegrationExpired, match="invalid_grant"):
        await served.provider.refresh(grant=authorized.grant)


async def test_the_refresh_token_dies_after_100_days_unused(served: Served) -> None:
    authorized = await connect(served)
    served.standin.clock.advance(REFRESH_SECONDS + 1)
    with pytest.raises(IntegrationExpired, match="invalid_grant"):
        await served.provider.refresh(grant=authorized.grant)


async def test_rolling_refreshes_stop_at_the_five_year_cap(served: Served) -> None:
    authorized = await connect(served)
    grant = authorized.grant
    for _ in range(18):  # 18 × 99 days: 1,782 days, 43 short of five years
        served.standin.clock.advance(99 * 24 * 3600)
        grant = await served.provider.refresh(grant=grant)
    # The last refresh token lives to the cap, not 100 days.
    assert grant.refresh_expires_at
    assert grant.access_expires_at
    assert (grant.refresh_expires_at - grant.access_expires_at).days < 44
    served.standin.clock.advance(99 * 24 * 3600)
    with pytest.raises(IntegrationExpired, match="invalid_grant"):
        await served.provider.refresh(grant=grant)


async def test_wrong_app_keys_are_rejected_not_expired(served: Served) -> None:
    authorized = await connect(served)
    served.standin.keys_revoked = True
    with pytest.raises(Rejected, match="3100"):
        await served.provider.load_list(
            grant=authorized.grant, company=authorized.company, kind=ListKind.ACCOUNTS
        )


@pytest.mark.parametrize("fault", [Fault.SERVER_ERROR, Fault.MALFORMED_JSON])
async def test_a_broken_answer_is_unavailable(served: Served, fault: Fault) -> None:
    authorized = await connect(served)
    served.standin.knobs.fault = fault
    with pytest.raises(Unavailable):
        await served.provider.publish_bill(
            grant=authorized.grant, company=authorized.company, bill=make_bill(account="30")
        )
    assert served.standin.bills == {}


async def test_throttling_is_waited_out(served: Served) -> None:
    authorized = await connect(served)
    served.standin.knobs.fault, served.standin.knobs.fault_times = Fault.RATE_LIMITED, 1
    served.standin.knobs.retry_after = 0.01
    await served.provider.publish_bill(
        grant=authorized.grant,
        company=authorized.company,
        bill=make_bill(account="30", tax_rate="4"),
    )
    assert served.provider.api.rate_limited == served.provider.api.retried == 1
    assert len(served.standin.bills) == 1


async def test_disconnect_revokes_and_no_token_is_logged(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    authorized = await connect(served)
    await served.provider.disconnect(grant=authorized.grant, company=authorized.company)
    with pytest.raises(IntegrationExpired) as caught:
        await served.provider.refresh(grant=authorized.grant)
    seen = caplog.text + repr(authorized) + str(caught.value) + repr(served.provider)
    for secret in (authorized.grant.access_token, authorized.grant.refresh_token, CLIENT_SECRET):
        assert secret
        assert secret not in seen


@pytest.mark.parametrize(
    ("bill", "refusal"),
    [
        (make_bill(account="30", tax_rate="99"), "TaxCode id 99"),
        (make_bill(account="30", tax_rate="6"), "cannot be used on a purchase"),  # sales only
        (make_bill(account="30", tax_rate="4", excl="-100.00", tax="-20.00"), "negative"),
    ],
    ids=["unknown-tax-code", "sales-only-tax-code", "negative-bill"],
)
async def test_quickbooks_refuses_a_wrong_tax_code_or_a_negative_bill(
    served: Served, bill: Bill, refusal: str
) -> None:
    authorized = await connect(served)
    with pytest.raises(Rejected, match=refusal):
        await served.provider.publish_bill(
            grant=authorized.grant, company=authorized.company, bill=bill
        )
    assert served.standin.bills == {}


async def test_a_credit_note_is_a_vendor_credit_with_its_file(served: Served) -> None:
    authorized = await connect(served)
    bill = replace(make_bill("AV-2026-0007", account="30", tax_rate="4"), credit_note=True)
    published = await served.provider.publish_bill(
        grant=authorized.grant, company=authorized.company, bill=bill
    )
    stored = served.standin.bills[published.external_id]
    assert stored.entity == "VendorCredit"
    assert "DueDate" not in stored.body
    assert stored.attachments == [("AV-2026-0007.pdf", bill.file.content)]
    assert "vendorcredit" in (published.location or "")


async def test_tax_codes_carry_the_rate_a_purchase_pays(served: Served) -> None:
    authorized = await connect(served)
    codes = await served.provider.load_list(
        grant=authorized.grant, company=authorized.company, kind=ListKind.TAX_RATES
    )
    assert {(c.code, c.extra.get("rate"), c.extra["purchases"]) for c in codes} == {
        ("4", "20", True),
        ("5", "5.5", True),
        ("6", None, False),
    }


# --- the company's setup: country, currency, tax model -----------------------------------


def _realm(served: Served) -> Realm:
    return served.standin.realms[bakery().realm_id]


def _mixed(**changes: object) -> Bill:
    """20 % on 100.00 and 5.5 % on 10.10, whose tax the supplier rounded per item to 0.55
    where 5.5 % of the total would be 0.56: the paper's total is 130.65."""
    lines = (
        VatLine(Decimal(20), Decimal("100.00"), Decimal("20.00"), "4"),
        VatLine(Decimal("5.5"), Decimal("10.10"), Decimal("0.55"), "5"),
    )
    bill = replace(
        make_bill(account="30", tax_rate="4"),
        vat_lines=lines,
        total_excl=Decimal("110.10"),
        total_tax=Decimal("20.55"),
        total_incl=Decimal("130.65"),
    )
    return replace(bill, **changes)  # type: ignore[arg-type]


async def test_connect_and_refresh_read_the_companys_setup(served: Served) -> None:
    authorized = await connect(served)
    assert authorized.grant.extra["company"] == {
        "country": "FR",
        "home_currency": "EUR",
        "multicurrency": False,
        "tax_enabled": True,
    }
    _realm(served).multicurrency = True  # turned on in QuickBooks since
    refreshed = await served.provider.refresh(grant=authorized.grant)
    assert refreshed.extra["company"]["multicurrency"] is True
    assert refreshed.extra["realm"] == authorized.company.id


async def test_the_invoices_own_tax_is_kept_to_the_cent(served: Served) -> None:
    authorized = await connect(served)
    await served.provider.publish_bill(
        grant=authorized.grant, company=authorized.company, bill=_mixed()
    )
    (stored,) = served.standin.bills_of(authorized.company.id)
    assert stored.body["TotalAmt"] == 130.65  # QuickBooks alone would make it 130.66
    detail = stored.body["TxnTaxDetail"]
    assert detail["TotalTax"] == 20.55
    assert [
        (t["TaxLineDetail"]["TaxRateRef"]["value"], t["Amount"]) for t in detail["TaxLine"]
    ] == [
        ("7", 20.0),
        ("8", 0.55),
    ]
    assert stored.body["GlobalTaxCalculation"] == "TaxExcluded"


async def test_a_currency_the_company_does_not_keep_goes_to_review(served: Served) -> None:
    authorized = await connect(served)
    with pytest.raises(NeedsReview) as caught:
        await served.provider.publish_bill(
            grant=authorized.grant, company=authorized.company, bill=_mixed(currency="USD")
        )
    assert caught.value.review_reason == "currency_not_enabled"
    assert served.standin.bills == {}

    _realm(served).multicurrency = True
    grant = await served.provider.refresh(grant=authorized.grant)
    await served.provider.publish_bill(
        grant=grant, company=authorized.company, bill=_mixed(currency="USD")
    )
    (stored,) = served.standin.bills_of(authorized.company.id)
    assert stored.body["CurrencyRef"] == {"value": "USD"}


async def test_a_line_without_a_tax_code_goes_to_review_outside_the_us(served: Served) -> None:
    authorized = await connect(served)
    bill = replace(make_bill(account="30", tax_rate=None), vat_lines=())
    with pytest.raises(NeedsReview) as caught:
        await served.provider.publish_bill(
            grant=authorized.grant, company=authorized.company, bill=bill
        )
    assert caught.value.review_reason == "tax_code_missing"
    assert served.standin.bills == {}


async def test_a_us_company_books_the_cost_with_its_tax_and_no_code(served: Served) -> None:
    realm = _realm(served)
    realm.country, realm.home_currency = "US", "USD"
    authorized = await connect(served)
    await served.provider.publish_bill(
        grant=authorized.grant, company=authorized.company, bill=_mixed(currency="USD")
    )
    (stored,) = served.standin.bills_of(authorized.company.id)
    assert [line["Amount"] for line in stored.body["Line"]] == [120.0, 10.65]
    assert all(
        "TaxCodeRef" not in li["AccountBasedExpenseLineDetail"] for li in stored.body["Line"]
    )
    assert "TxnTaxDetail" not in stored.body or not stored.body["TxnTaxDetail"]
    assert "GlobalTaxCalculation" not in stored.body
    assert stored.body["TotalAmt"] == 130.65


async def _post(served: Served, grant_token: str, body: dict[str, object]) -> dict[str, object]:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{served.origin}/v3/company/{bakery().realm_id}/bill",
            json=body,
            headers={"Authorization": f"Bearer {grant_token}", "Accept": "application/json"},
        )
    answer: dict[str, object] = response.json()
    return {"status": response.status_code, **answer}


def _line(**detail: object) -> dict[str, object]:
    return {
        "DetailType": "AccountBasedExpenseLineDetail",
        "Amount": 100.0,
        "AccountBasedExpenseLineDetail": {"AccountRef": {"value": "30"}, **detail},
    }


@pytest.mark.parametrize(
    ("body", "code", "says"),
    [
        # Outside the US every line needs a tax code.
        ({"Line": [_line()]}, "6000", "VAT rate"),
        # A misspelt field is not dropped: the schema does not have it.
        ({"Line": [_line(TaxCodeRef={"value": "4"})], "DueDat": "2026-12-02"}, "2010", "DueDat"),
        # A value outside its enumeration.
        (
            {"Line": [_line(TaxCodeRef={"value": "4"})], "GlobalTaxCalculation": "Excluded"},
            "2010",
            "GlobalTaxCalculation",
        ),
        # A line says what it is.
        ({"Line": [{"Amount": 1.0, "AccountBasedExpenseLineDetail": {}}]}, "2020", "DetailType"),
        # A TaxLine names its rate.
        (
            {
                "Line": [_line(TaxCodeRef={"value": "4"})],
                "TxnTaxDetail": {"TaxLine": [{"Amount": 1.0, "DetailType": "TaxLineDetail"}]},
            },
            "2020",
            "TaxRateRef",
        ),
        # The home currency only, without multicurrency.
        (
            {"Line": [_line(TaxCodeRef={"value": "4"})], "CurrencyRef": {"value": "USD"}},
            "6000",
            "Multicurrency",
        ),
    ],
    ids=["no-tax-code", "unknown-field", "bad-enum", "no-detail-type", "no-rate", "currency"],
)
async def test_the_standin_refuses_what_quickbooks_refuses(
    served: Served, body: dict[str, object], code: str, says: str
) -> None:
    authorized = await connect(served)
    assert authorized.grant.access_token is not None
    answer = await _post(
        served, authorized.grant.access_token, {"VendorRef": {"value": "100"}, **body}
    )
    assert answer["status"] == 400
    (error,) = answer["Fault"]["Error"]  # type: ignore[index]
    assert error["code"] == code
    assert says in error["Detail"]
    assert served.standin.bills == {}


async def test_the_standin_takes_a_us_line_without_a_tax_code(served: Served) -> None:
    _realm(served).country = "US"
    authorized = await connect(served)
    assert authorized.grant.access_token is not None
    answer = await _post(
        served, authorized.grant.access_token, {"VendorRef": {"value": "100"}, "Line": [_line()]}
    )
    assert answer["status"] == 200
