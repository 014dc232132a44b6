"""Field accuracy on the generated corpus: e-invoices exact, text PDFs >= 95 %, OCR >= 85 %.

The OCR part reads a small sample here to stay fast; `python -m bench.extract_pages`
measures the whole set.
"""

from __future__ import annotations

from tests.unit.extraction.accuracy import einvoice_cases, ocr_cases, score, text_cases
from tests.unit.extraction.corpus import ACME_UK, BAKERY


def test_field_accuracy_per_field_and_source() -> None:
    sample = {"bakery": BAKERY, "acme_uk": ACME_UK}
    result = score([*einvoice_cases(), *text_cases(), *ocr_cases(sample, angles=(-3.0,))])
    print("\n" + result.table())
    for miss in result.misses:
        print("  miss:", miss)
    assert result.rate("einvoice") == 1.0
    assert result.rate("text") >= 0.95
    assert result.rate("ocr") >= 0.85
