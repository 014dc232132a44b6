"""What a correct reading of a generated document must contain, field by field."""

from __future__ import annotations

from core.extraction.fields import FIELD_NAMES, InvoiceData, VatLine
from tests.unit.extraction.corpus import Sample

# Parts of the data the Factur-X MINIMUM profile has no element for.
MINIMUM_LACKS = frozenset({"due_date", "period_start", "period_end", "vat_lines", "iban"})


def expected_fields(s: Sample, *, minimum: bool = False) -> dict[str, object]:
    expected: dict[str, object] = {
        "supplier_name": s.seller_name,
        "supplier_vat": s.seller_vat,
        "supplier_siren": s.seller_siren,
        "invoice_number": s.number,
        "document_type": "credit_note" if s.credit_note else "invoice",
        "issue_date": s.issue,
        "due_date": s.due,
        "period_start": s.period[0] if s.period else None,
        "period_end": s.period[1] if s.period else None,
        "currency": s.currency,
        "total_excl_tax": s.total_excl,
        "total_tax": s.total_tax,
        "total_incl_tax": s.total_incl,
        "vat_lines": tuple(VatLine(rate, base, tax) for rate, base, tax in s.breakdown()),
        "iban": s.iban,
    }
    if minimum:
        for name in MINIMUM_LACKS:
            expected[name] = None
    return expected


def values_of(data: InvoiceData) -> dict[str, object]:
    return {name: None if (f := getattr(data, name)) is None else f.value for name in FIELD_NAMES}


def sources_of(data: InvoiceData) -> set[str]:
    return {f.source for name in FIELD_NAMES if (f := getattr(data, name)) is not None}
