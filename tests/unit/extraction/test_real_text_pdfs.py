"""Real text PDFs, not made by Courier, are read by where their words sit on the page.

The files and their checked values are the shared corpus (../shared/corpora/invoices beside
the repository, see its README). Each test names the layout it stands for: labels stacked
beside a stack of values, a date under its label, a title followed by its number, the
customer's VAT number in the header, a legal line set sideways, an amount due after a
previous balance. Values are compared with the corpus's, never written into a rule.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from core.extraction import InvoiceData, read_pdf
from core.extraction.identifiers import compact

CORPUS = Path(__file__).resolve().parents[3] / ".." / "shared" / "corpora" / "invoices"
GOAL = 0.9


@cache
def _catalogue() -> dict[str, dict[str, Any]]:
    path = CORPUS / "expected.json"
    if not path.is_file():
        return {}
    files: dict[str, dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["files"]
    return files


def _text_pdfs() -> list[str]:
    return sorted(p for p, e in _catalogue().items() if e["kind"] == "pdf")


@cache
def _read(path: str) -> InvoiceData:
    if not _catalogue():
        pytest.skip(f"the invoice corpus is missing at {CORPUS.resolve()}")
    return read_pdf((CORPUS / path).read_bytes())


def _expected(path: str) -> dict[str, Any]:
    expected: dict[str, Any] = _catalogue()[path]["expected"]
    return expected


def _right(data: InvoiceData, name: str, expected: Any) -> bool:
    field = getattr(data, {"supplier": "supplier_name"}.get(name, name))
    if field is None:
        return False
    value: object = field.value
    if name.startswith("total_"):
        return value == Decimal(expected)
    if name.endswith("_date"):
        return value == date.fromisoformat(expected)
    if name == "vat_lines":
        assert isinstance(value, tuple)
        got = sorted((line.rate, line.base, line.amount) for line in value)
        want = [(Decimal(v["rate"]), Decimal(v["base"]), Decimal(v["amount"])) for v in expected]
        return got == sorted(want)
    if name in ("supplier_vat", "invoice_number"):
        return compact(str(value)) == compact(str(expected))
    return str(value).casefold() == str(expected).casefold()


def _check(path: str, *names: str) -> None:
    data, expected = _read(path), _expected(path)
    wrong = [name for name in names if not _right(data, name, expected[name])]
    assert not wrong, f"{path}: {wrong}"


def test_labels_stacked_beside_their_values_are_paired_across_the_row() -> None:
    # Gandi prints "Sous-total / Taxe sur la valeur ajoutée 20% / Total" in one column and
    # the three amounts in the next; the text layer's order puts one stack after the other.
    _check(
        "pdf/gandi_2022030201155_FR_2pages.pdf",
        "total_excl_tax",
        "total_tax",
        "total_incl_tax",
        "vat_lines",
        "supplier_vat",
    )


def test_a_date_printed_under_its_label_is_that_labels() -> None:
    _check("pdf/xero_demo_INV-0046_US.pdf", "issue_date", "total_tax", "vat_lines", "supplier")


def test_a_title_followed_by_its_number_gives_the_number_and_item_lines_are_not_vat_rows() -> None:
    _check(
        "pdf/akretion_VT-2022-0001_FR.pdf",
        "invoice_number",
        "total_tax",
        "vat_lines",
        "issue_date",
        "due_date",
    )


def test_the_sellers_vat_number_is_the_one_by_its_legal_line_not_the_customers() -> None:
    # Hetzner prints the customer's USt-IdNr. in the header, its own by the HRB footer.
    _check("pdf/hetzner_R0005532486_DE.pdf", "supplier_vat", "supplier", "vat_lines")


def test_a_legal_line_set_sideways_still_names_the_seller() -> None:
    _check(
        "pdf/bouygues_telecom_11608848301659_FR_3pages.pdf",
        "supplier",
        "total_excl_tax",
        "total_incl_tax",
        "vat_lines",
    )


def test_the_invoice_total_is_the_one_that_adds_up_not_the_amount_due_after_a_balance() -> None:
    _check("pdf/contoso_INV-100_US.pdf", "total_incl_tax", "invoice_number", "issue_date")


def test_a_net_written_without_decimals_is_found_by_the_arithmetic() -> None:
    _check(
        "pdf/stanford_plumbing_INV03051_US.pdf",
        "invoice_number",
        "total_excl_tax",
        "total_tax",
        "vat_lines",
    )


def test_nine_in_ten_fields_of_the_real_text_pdfs_are_read() -> None:
    if not _catalogue():
        pytest.skip(f"the invoice corpus is missing at {CORPUS.resolve()}")
    right = total = 0
    for path in _text_pdfs():
        data = _read(path)
        for name, value in _expected(path).items():
            total += 1
            right += _right(data, name, value)
    assert right / total >= GOAL, f"{right}/{total}"
