"""A bill's excl./tax split comes from what was read, adds up to the total, and no VAT is
invented when none was read."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from core.models import Document, DocumentSource
from core.services.publishing import _totals, _vat_lines


def _document(total: str, **fields: Any) -> Document:
    return Document(
        workspace_id=1,
        source=DocumentSource.UPLOAD,
        filename="f.pdf",
        content_type="application/pdf",
        sha256="0" * 64,
        size=1,
        total_amount=Decimal(total),
        fields={k: {"value": v, "source": "t", "confidence": 1.0} for k, v in fields.items()},
    )


@pytest.mark.parametrize(
    ("total", "fields", "expected"),
    [
        ("120.00", {"total_excl_tax": "100.00", "total_tax": "20.00"}, ("100.00", "20.00")),
        (
            "115.50",
            {
                "vat_lines": [
                    {"rate": "20", "base": "50.00", "amount": "10.00"},
                    {"rate": "10", "base": "50.00", "amount": "5.50"},
                ]
            },
            ("100.00", "15.50"),
        ),
        ("120.00", {"total_tax": "20.00"}, ("100.00", "20.00")),
        ("120.00", {"total_excl_tax": "90.00", "total_tax": "20.00"}, ("100.00", "20.00")),
        ("64.90", {}, ("64.90", "0")),
    ],
    ids=["both-read", "from-vat-lines", "tax-only", "inconsistent-excl", "nothing-read"],
)
def test_the_split_adds_up_to_the_total(
    total: str, fields: dict[str, Any], expected: tuple[str, str]
) -> None:
    document = _document(total, **fields)
    excl, tax = _totals(document, _vat_lines(document))
    assert (excl, tax) == (Decimal(expected[0]), Decimal(expected[1]))
    assert excl + tax == Decimal(total)


def test_a_vat_line_without_its_base_gets_it_from_the_rate() -> None:
    document = _document("60.00", vat_lines=[{"rate": "20", "base": None, "amount": "10.00"}])
    (line,) = _vat_lines(document)
    assert (line.rate, line.base, line.tax) == (Decimal(20), Decimal("50.00"), Decimal("10.00"))
