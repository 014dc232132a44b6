"""The body of a QuickBooks `Bill` or `VendorCredit`, as the company's setup allows it.

- A company that books tax (outside the US, tax set up): one line per VAT rate at its
  net amount, each with its rate's `TaxCodeRef` (required there: a line without one is
  refused, so a bill lacking a code goes to review instead), and
  `GlobalTaxCalculation: TaxExcluded`. The invoice's own tax goes in `TxnTaxDetail`, one
  `TaxLine` per tax rate with the paper's amount, so QuickBooks keeps it rather than
  recomputing it and the books match the paper to the cent. A code made of several
  rates (a compound code) cannot be split from the paper: QuickBooks computes that bill.
- A US company, or one without tax: the lines carry their tax in their amount (tax paid
  on a purchase is part of its cost there), no code and no tax detail.
- `CurrencyRef` is sent only in a currency the company keeps: its home currency, or any
  with multicurrency on. Another one goes to review (`currency_not_enabled`); a bill is
  never posted in the wrong currency.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from core.accounting.errors import NeedsReview
from core.accounting.provider import Bill
from core.accounting.providers.quickbooks_company import CompanySetup

NAME = "quickbooks"
CENT = Decimal("0.01")
#: Review reasons (message keys) a QuickBooks bill can be sent back with.
CURRENCY_NOT_ENABLED = "currency_not_enabled"
TAX_CODE_MISSING = "tax_code_missing"


def check_bill(bill: Bill, setup: CompanySetup) -> None:
    """NeedsReview when the company cannot take this bill as it stands."""
    if not setup.takes_currency(bill.currency):
        raise NeedsReview(
            provider=NAME,
            review_reason=CURRENCY_NOT_ENABLED,
            reason=f"the bill is in {bill.currency}; the company keeps {setup.home_currency} "
            "only (multicurrency is off)",
        )
    codes = [v.tax_rate_code for v in bill.vat_lines] or [bill.tax_rate_code]
    if setup.books_tax and not all(codes):
        raise NeedsReview(
            provider=NAME,
            review_reason=TAX_CODE_MISSING,
            reason=f"a {setup.country} company needs a tax code on every line",
        )


def bill_body(
    bill: Bill, vendor: str, setup: CompanySetup, rates: Mapping[str, str | None]
) -> dict[str, Any]:
    """`rates`: each tax code's one purchase TaxRate id (None for a compound code)."""
    check_bill(bill, setup)
    description = bill.description or f"{bill.supplier_name} {bill.number or ''}".strip()

    def line(amount: Decimal, tax_code: str | None) -> dict[str, Any]:
        detail: dict[str, Any] = {"AccountRef": {"value": bill.account_code}}
        if tax_code and setup.books_tax:
            detail["TaxCodeRef"] = {"value": tax_code}
        return {
            "DetailType": "AccountBasedExpenseLineDetail",
            "Amount": _amount(amount),
            "Description": description,
            "AccountBasedExpenseLineDetail": detail,
        }

    if setup.books_tax:
        lines = [line(v.base, v.tax_rate_code) for v in bill.vat_lines] or [
            line(bill.total_excl, bill.tax_rate_code)
        ]
    else:
        lines = [line(v.base + v.tax, None) for v in bill.vat_lines] or [
            line(bill.total_incl, None)
        ]
    body: dict[str, Any] = {
        "VendorRef": {"value": vendor},
        "TxnDate": bill.issue_date.isoformat(),
        "CurrencyRef": {"value": bill.currency.upper()},
        "Line": lines,
    }
    if setup.books_tax:
        body["GlobalTaxCalculation"] = "TaxExcluded"
        detail = _tax_detail(bill, rates)
        if detail is not None:
            body["TxnTaxDetail"] = detail
    if bill.due_date and not bill.credit_note:  # a VendorCredit has no due date
        body["DueDate"] = bill.due_date.isoformat()
    if bill.number:
        body["DocNumber"] = bill.number[:21]  # QuickBooks' limit for DocNumber
    return body


def _tax_detail(bill: Bill, rates: Mapping[str, str | None]) -> dict[str, Any] | None:
    """The paper's tax, one TaxLine per tax rate (lines of one rate added up), or None
    when some line's code is not one single rate."""
    if not bill.vat_lines:
        return None
    by_rate: dict[str, tuple[Decimal, Decimal, Decimal]] = {}
    for vat in bill.vat_lines:
        rate_id = rates.get(vat.tax_rate_code or "")
        if rate_id is None:
            return None
        net, tax, percent = by_rate.get(rate_id, (Decimal(0), Decimal(0), vat.rate))
        by_rate[rate_id] = (net + vat.base, tax + vat.tax, percent)
    tax_lines = [
        {
            "DetailType": "TaxLineDetail",
            "Amount": _amount(tax),
            "TaxLineDetail": {
                "TaxRateRef": {"value": rate_id},
                "PercentBased": True,
                "TaxPercent": float(percent),
                "NetAmountTaxable": _amount(net),
            },
        }
        for rate_id, (net, tax, percent) in by_rate.items()
    ]
    total = sum((tax for _, tax, _ in by_rate.values()), Decimal(0))
    return {"TotalTax": _amount(total), "TaxLine": tax_lines}


def single_rate(code: Mapping[str, Any]) -> str | None:
    """A TaxCode entity's one purchase TaxRate id; None for none or several."""
    details = (code.get("PurchaseTaxRateList") or {}).get("TaxRateDetail") or []
    refs = [str((d.get("TaxRateRef") or {}).get("value")) for d in details if isinstance(d, dict)]
    return refs[0] if len(refs) == 1 else None


def _amount(value: Decimal) -> float:
    return float(value.quantize(CENT))
