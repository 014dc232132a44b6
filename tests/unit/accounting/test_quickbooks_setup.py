"""What a QuickBooks company's setup makes of a bill, without a server."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from core.accounting.errors import NeedsReview
from core.accounting.provider import Bill, BillFile, VatLine
from core.accounting.providers.quickbooks_bill import bill_body
from core.accounting.providers.quickbooks_company import CompanySetup, setup_from, setup_of

FRENCH = CompanySetup("FR", "EUR", multicurrency=False, tax_enabled=True)


def make_bill(*, account: str, tax_rate: str | None = None) -> Bill:
    """EDF's bill of 100.00 and 20 % VAT."""
    return Bill(
        document_id=1,
        idempotency_key="courier-" + "0" * 40,
        supplier_name="EDF Entreprises",
        supplier_code="100",
        number="FA-2026-0117",
        issue_date=date(2026, 11, 2),
        due_date=None,
        currency="EUR",
        total_excl=Decimal("100.00"),
        total_tax=Decimal("20.00"),
        total_incl=Decimal("120.00"),
        vat_lines=(VatLine(Decimal(20), Decimal("100.00"), Decimal("20.00"), tax_rate),),
        account_code=account,
        tax_rate_code=tax_rate,
        file=BillFile(b"%PDF-1.4\n%%EOF\n", "FA-2026-0117.pdf", "application/pdf"),
    )


def test_the_setup_is_read_from_companyinfo_and_preferences() -> None:
    setup = setup_from(
        {"Country": "USA"},
        {"CurrencyPrefs": {"MultiCurrencyEnabled": True}, "TaxPrefs": {"UsingSalesTax": True}},
    )
    assert setup == CompanySetup("US", "USD", multicurrency=True, tax_enabled=True)
    assert not setup.books_tax
    uk = setup_from(
        {"Country": "GB"},
        {"CurrencyPrefs": {"HomeCurrency": {"value": "gbp"}}, "TaxPrefs": {"UsingSalesTax": False}},
    )
    assert (uk.home_currency, uk.multicurrency, uk.books_tax) == ("GBP", False, False)
    assert setup_of({"company": uk.to_json()}) == uk
    assert setup_of({}) is None  # a link made before the setup was kept


def test_two_lines_at_one_rate_make_one_tax_line() -> None:
    lines = (
        VatLine(Decimal(20), Decimal("10.00"), Decimal("2.00"), "4"),
        VatLine(Decimal(20), Decimal("5.05"), Decimal("1.01"), "4"),
    )
    bill = replace(make_bill(account="30", tax_rate="4"), vat_lines=lines)
    body = bill_body(bill, "100", FRENCH, {"4": "7"})
    (tax_line,) = body["TxnTaxDetail"]["TaxLine"]
    assert tax_line["Amount"] == 3.01
    assert tax_line["TaxLineDetail"]["NetAmountTaxable"] == 15.05
    assert body["TxnTaxDetail"]["TotalTax"] == 3.01


def test_a_compound_code_leaves_the_tax_to_quickbooks() -> None:
    body = bill_body(make_bill(account="30", tax_rate="4"), "100", FRENCH, {"4": None})
    assert "TxnTaxDetail" not in body
    assert body["Line"][0]["AccountBasedExpenseLineDetail"]["TaxCodeRef"] == {"value": "4"}


@pytest.mark.parametrize(
    ("setup", "currency", "reason"),
    [
        (FRENCH, "USD", "currency_not_enabled"),
        (replace(FRENCH, home_currency="GBP"), "EUR", "currency_not_enabled"),
    ],
)
def test_a_currency_the_company_does_not_keep_is_for_review(
    setup: CompanySetup, currency: str, reason: str
) -> None:
    with pytest.raises(NeedsReview) as caught:
        bill_body(replace(make_bill(account="30"), currency=currency), "100", setup, {})
    assert caught.value.review_reason == reason


def test_multicurrency_takes_any_currency() -> None:
    body = bill_body(
        replace(make_bill(account="30", tax_rate="4"), currency="USD"),
        "100",
        replace(FRENCH, multicurrency=True),
        {},
    )
    assert body["CurrencyRef"] == {"value": "USD"}
