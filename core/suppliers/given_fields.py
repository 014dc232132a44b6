"""The invoice fields a connector gives from the supplier's own data, as a reading.

An API that lists an invoice with its number, date, total and currency knows them better
than any reading of the PDF. A connector declares which of those it gives (the registry
holds the declaration); `connector_reading` turns one listed invoice into an
`InvoiceData` whose fields carry source "connector", so that merging it with the
engine's readings (`core.extraction.merge`) keeps them above the text and OCR and below
an e-invoice's own XML and a person's correction.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TypeVar

from core.extraction.fields import Field, InvoiceData
from core.suppliers.connector import InvoiceRef

#: What a connector can give, named as `InvoiceData` names them.
GIVABLE_FIELDS = frozenset({"invoice_number", "issue_date", "total_incl_tax", "currency"})
#: The supplier's own records: as sure as a value can be without a person.
CONNECTOR_CONFIDENCE = 1.0

T = TypeVar("T")


def connector_reading(invoice: InvoiceRef, gives: Collection[str]) -> InvoiceData:
    """The fields `gives` names, where `invoice` has them, with source "connector"."""
    currency = invoice.currency.upper() if invoice.currency else None
    return InvoiceData(
        invoice_number=_given(gives, "invoice_number", invoice.number),
        issue_date=_given(gives, "issue_date", invoice.issued_on),
        total_incl_tax=_given(gives, "total_incl_tax", invoice.amount),
        currency=_given(gives, "currency", currency),
    )


def _given(gives: Collection[str], name: str, value: T | None) -> Field[T] | None:
    if name not in gives or value is None:
        return None
    return Field(value, "connector", CONNECTOR_CONFIDENCE)
