"""What the QuickBooks stand-in checks in a Bill or VendorCredit before it keeps it, and
the totals it answers with, as QuickBooks Online does.

- The body against Intuit's entity schema (quickbooks_schema.py: element names, types,
  enumerations), then what the API reference marks required, which the schema leaves
  optional (it also serves sparse updates): `VendorRef`, `Line`; on each line `Amount`,
  `DetailType` and the detail it names, with an `AccountRef` for an account-based line;
  on each `TaxLine`, `TaxLineDetail` and its `TaxRateRef`; `CurrencyRef` when
  multicurrency is on. Missing ones are 2020, others 2010.
- The company's setup: outside the US with tax set up, every line needs a `TaxCodeRef`
  (6000 otherwise), one with purchase rates; a currency other than the home one needs
  multicurrency on (6000).
- The tax: per TaxRate, the lines' net amounts under it times its rate, rounded to the
  cent, unless a `TxnTaxDetail.TaxLine` of that rate gives the amount (the paper's tax,
  kept as sent). `TotalAmt` is the lines plus the tax (`TaxExcluded`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.standins.quickbooks_schema import problems

if TYPE_CHECKING:
    from tests.standins.quickbooks import Realm

CENT = Decimal("0.01")


def stamp() -> str:
    return datetime.now(UTC).isoformat()


def validation(code: str, message: str, detail: str, element: str = "") -> web.Response:
    error = {"Message": message, "Detail": detail, "code": code, "element": element}
    return web.json_response(
        {"Fault": {"Error": [error], "type": "ValidationFault"}, "time": stamp()}, status=400
    )


def _business(detail: str) -> web.Response:
    return validation(
        "6000",
        "A business validation error has occurred while processing your request",
        f"Business Validation Error: {detail}",
    )


def _required(name: str) -> web.Response:
    return validation(
        "2020",
        "Required param missing, need to supply the required value for the API",
        f"Required parameter {name} is missing in the request",
        name,
    )


def body_fault(entity: str, body: dict[str, Any]) -> web.Response | None:
    """The schema's refusal, then the API reference's required fields."""
    refused = problems(entity, body)
    if refused:
        return validation(
            "2010", "Request has invalid or unsupported property", "; ".join(refused)[:900]
        )
    if not (body.get("VendorRef") or {}).get("value"):
        return _required("VendorRef")
    if not body.get("Line"):
        return _required("Line")
    for line in body["Line"]:
        kind = line.get("DetailType")
        if not kind or "Amount" not in line:
            return _required("Line.DetailType" if not kind else "Line.Amount")
        if kind not in line:
            return _required(f"Line.{kind}")
        if kind == "AccountBasedExpenseLineDetail" and not line[kind].get("AccountRef"):
            return _required("AccountBasedExpenseLineDetail.AccountRef")
    for tax in (body.get("TxnTaxDetail") or {}).get("TaxLine") or []:
        if tax.get("DetailType") != "TaxLineDetail" or "Amount" not in tax:
            return _required("TaxLine.DetailType")
        if not (tax.get("TaxLineDetail") or {}).get("TaxRateRef"):
            return _required("TaxLineDetail.TaxRateRef")
    return None


def _code_of(line: dict[str, Any]) -> str | None:
    detail = line.get("AccountBasedExpenseLineDetail") or {}
    value = (detail.get("TaxCodeRef") or {}).get("value")
    return str(value) if value is not None else None


def setup_fault(realm: Realm, body: dict[str, Any]) -> web.Response | None:
    """The company's currency and tax model."""
    currency = (body.get("CurrencyRef") or {}).get("value")
    if realm.multicurrency and not currency:
        return _required("CurrencyRef")
    if currency and currency != realm.home_currency and not realm.multicurrency:
        return _business(
            f"Multicurrency is not enabled for this company: the transaction must be in "
            f"its home currency ({realm.home_currency}), not {currency}."
        )
    codes = {c["Id"]: c for c in realm.entities["TaxCode"]}
    for line in body["Line"]:
        code = _code_of(line)
        if code is None:
            if realm.books_tax:
                return _business("Make sure all your transactions have a VAT rate before you save.")
            continue
        if code not in codes:
            return validation(
                "2500", "Invalid Reference Id", f"Invalid Reference Id : TaxCode id {code}"
            )
        known = codes[code]
        if known.get("Taxable", True) and not known.get("PurchaseTaxRateList"):
            return _business(f"the tax code {known['Name']} cannot be used on a purchase.")
    rates = {r["Id"] for r in realm.entities["TaxRate"]}
    for tax in (body.get("TxnTaxDetail") or {}).get("TaxLine") or []:
        rate = str(tax["TaxLineDetail"]["TaxRateRef"].get("value"))
        if rate not in rates:
            return validation(
                "2500", "Invalid Reference Id", f"Invalid Reference Id : TaxRate id {rate}"
            )
    return None


def totals(realm: Realm, body: dict[str, Any]) -> tuple[Decimal, dict[str, Any] | None]:
    """`TotalAmt`, and the `TxnTaxDetail` QuickBooks answers with (None without tax)."""
    net = sum((Decimal(str(line["Amount"])) for line in body["Line"]), Decimal(0))
    if not realm.books_tax:
        return net, None
    codes = {c["Id"]: c for c in realm.entities["TaxCode"]}
    rates = {r["Id"]: r for r in realm.entities["TaxRate"]}
    taxable: dict[str, Decimal] = {}
    for line in body["Line"]:
        code = codes.get(_code_of(line) or "")
        details = ((code or {}).get("PurchaseTaxRateList") or {}).get("TaxRateDetail") or []
        for detail in details:
            rate = str(detail["TaxRateRef"]["value"])
            taxable[rate] = taxable.get(rate, Decimal(0)) + Decimal(str(line["Amount"]))
    given = {
        str(t["TaxLineDetail"]["TaxRateRef"]["value"]): Decimal(str(t["Amount"]))
        for t in (body.get("TxnTaxDetail") or {}).get("TaxLine") or []
    }
    lines: list[dict[str, Any]] = []
    for rate, amount in taxable.items():
        percent = Decimal(str(rates[rate]["RateValue"]))
        computed = (amount * percent / 100).quantize(CENT, rounding=ROUND_HALF_UP)
        tax = given.get(rate, computed)
        lines.append(
            {
                "Amount": float(tax),
                "DetailType": "TaxLineDetail",
                "TaxLineDetail": {
                    "TaxRateRef": {"value": rate},
                    "PercentBased": True,
                    "TaxPercent": float(percent),
                    "NetAmountTaxable": float(amount),
                },
            }
        )
    total_tax = sum((Decimal(str(t["Amount"])) for t in lines), Decimal(0))
    inclusive = body.get("GlobalTaxCalculation") == "TaxInclusive"
    return (net if inclusive else net + total_tax), {
        "TotalTax": float(total_tax),
        "TaxLine": lines,
    }
