"""What the Xero stand-in checks in a bill or credit note before it makes one, as Xero
checks it: the type for the collection, the contact, account codes, amounts, each line's
tax (an active rate usable on this side of the books, a TaxAmount that is that rate's tax
to the cent) and a total that is never negative. And the contact a document names,
found or created, which a bill makes a supplier.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from tests.standins.xero_state import Tenant

PAYABLE_TYPES = frozenset({"ACCPAY", "ACCPAYCREDIT"})
CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class DocumentKind:
    """Invoices or CreditNotes: the collection, its types, and its id's name."""

    path: str
    types: tuple[str, str]
    id_field: str
    noun: str


INVOICES = DocumentKind("Invoices", ("ACCPAY", "ACCREC"), "InvoiceID", "Invoice")
CREDIT_NOTES = DocumentKind(
    "CreditNotes", ("ACCPAYCREDIT", "ACCRECCREDIT"), "CreditNoteID", "Credit Note"
)
KINDS = {kind.path: kind for kind in (INVOICES, CREDIT_NOTES)}


def check_document(tenant: Tenant, invoice: dict[str, Any], kind: DocumentKind) -> list[str]:
    problems: list[str] = []
    if invoice.get("Type") not in kind.types:
        problems.append(f"{kind.noun} Type must be specified.")
    contact = invoice.get("Contact") or {}
    if not (contact.get("ContactID") or contact.get("Name")):
        problems.append("A Contact must be specified for this type of transaction")
    elif contact.get("ContactID") and not any(
        c["ContactID"] == contact["ContactID"] for c in tenant.suppliers
    ):
        problems.append("The contact with the specified ContactID could not be found")
    codes = {a["Code"] for a in tenant.accounts}
    lines = invoice.get("LineItems") or []
    if not lines:
        problems.append("At least one line item must be specified.")
    total = Decimal(0)
    for line in lines:
        if line.get("AccountCode") not in codes:
            problems.append(
                f"Account code '{line.get('AccountCode')}' is not a valid code for this document."
            )
        try:
            amount = Decimal(str(line.get("UnitAmount"))) * Decimal(str(line.get("Quantity", 1)))
        except InvalidOperation:
            problems.append("Line item amount must be a number.")
            continue
        problems += _tax_problems(tenant, invoice, line, amount)
        if invoice.get("LineAmountTypes") == "Inclusive" or line.get("TaxAmount") is None:
            total += amount  # inclusive lines hold their tax already
        else:
            total += amount + Decimal(str(line["TaxAmount"]))
    if total < 0:
        problems.append("The document total cannot be negative.")
    return problems


def _tax_problems(
    tenant: Tenant, invoice: dict[str, Any], line: dict[str, Any], amount: Decimal
) -> list[str]:
    """A line's TaxType must be an active rate usable on this side of the books, and its
    TaxAmount, when given, that rate's tax on the line."""
    tax_type = line.get("TaxType")
    if tax_type is None:
        return []
    rate = next(
        (t for t in tenant.tax_rates if t["TaxType"] == tax_type and t.get("Status") == "ACTIVE"),
        None,
    )
    side = "CanApplyToExpenses" if invoice.get("Type") in PAYABLE_TYPES else "CanApplyToRevenue"
    if rate is None or not rate.get(side, True):
        return [
            f"The TaxType code '{tax_type}' does not exist or cannot "
            "be used for this type of transaction."
        ]
    if line.get("TaxAmount") is None:
        return []
    stated = Decimal(str(line["TaxAmount"]))
    percent = Decimal(str(rate["EffectiveRate"]))
    # Inclusive lines hold their tax; exclusive ones have it added.
    inclusive = invoice.get("LineAmountTypes") == "Inclusive"
    share = percent / (100 + percent) if inclusive else percent / 100
    expected = (amount * share).quantize(CENT)
    if abs(stated - expected) > CENT:
        return [
            f"The TaxAmount {stated} does not match the {rate['Name']} rate "
            f"on a line of {amount} (expected {expected})."
        ]
    return []


def contact_for(tenant: Tenant, given: dict[str, Any]) -> dict[str, Any]:
    """The contact a bill names (by id, else by name, without regard to case), created
    when no contact has that name; a bill makes it a supplier."""
    wanted = given.get("ContactID")
    name = str(given.get("Name") or "").strip()
    found = next(
        (
            c
            for c in tenant.suppliers
            if (wanted and c["ContactID"] == wanted)
            or (not wanted and c["Name"].casefold() == name.casefold())
        ),
        None,
    )
    if found is None:
        found = {
            "ContactID": str(uuid.uuid4()),
            "Name": name,
            "IsSupplier": False,
            "IsCustomer": False,
            "ContactStatus": "ACTIVE",
        }
        tenant.suppliers.append(found)
    found["IsSupplier"] = True
    return found
