"""Cross-check an invoice's totals so that a misread amount is flagged, never silent.

Two identities must hold within a cent: excl. tax + VAT = incl. tax, and the VAT lines add
up to the VAT total. Fields confirmed by an identity gain confidence; fields caught in a
broken one lose it and the data gets the "totals_mismatch" warning.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from core.extraction.fields import Field, InvoiceData, add_warnings, get_field

TOLERANCE = Decimal("0.01")
MISMATCH_CONFIDENCE = 0.5
_CHECKED = ("total_excl_tax", "total_tax", "total_incl_tax", "vat_lines")


def cross_check_totals(data: InvoiceData, *, confirmed_confidence: float | None) -> InvoiceData:
    """Apply both identities; raise confirmed fields to `confirmed_confidence` if given."""
    confirmed: set[str] = set()
    broken: set[str] = set()
    excl = _money(data.total_excl_tax)
    tax = _money(data.total_tax)
    incl = _money(data.total_incl_tax)
    vat_sum = (
        None
        if data.vat_lines is None
        else sum((line.amount for line in data.vat_lines.value), Decimal(0))
    )

    if tax is not None and vat_sum is not None:
        target = confirmed if abs(vat_sum - tax) <= TOLERANCE else broken
        target.update({"total_tax", "vat_lines"})

    tax_side, tax_value = ("total_tax", tax) if tax is not None else ("vat_lines", vat_sum)
    if excl is not None and tax_value is not None and incl is not None:
        target = confirmed if abs(excl + tax_value - incl) <= TOLERANCE else broken
        target.update({"total_excl_tax", tax_side, "total_incl_tax"})

    changes: dict[str, Field[object]] = {}
    for name in _CHECKED:
        field = get_field(data, name)
        if field is None:
            continue
        if name in broken:
            level = min(field.confidence, MISMATCH_CONFIDENCE)
        elif name in confirmed and confirmed_confidence is not None:
            level = max(field.confidence, confirmed_confidence)
        else:
            continue
        changes[name] = dataclasses.replace(field, confidence=level)
    checked = dataclasses.replace(data, **changes)  # type: ignore[arg-type]
    return add_warnings(checked, "totals_mismatch") if broken else checked


def _money(field: Field[Decimal] | None) -> Decimal | None:
    return None if field is None else field.value
