"""Real e-invoices, not made by Courier, are read exactly: every total, identifier, date,
currency and VAT line, signs as the document states them.

The files and their checked values are the shared corpus (../shared/corpora/invoices beside
the repository, see its README): UBL invoices and credit notes (Peppol BIS 3, XRechnung
UBL), CII (Factur-X, ZUGFeRD 2.x, XRechnung CII), ZUGFeRD 1.0, and PDFs carrying one.
"""

from __future__ import annotations

import io
import json
import os
from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfWriter

from core.extraction import InvoiceData, read_einvoice, read_pdf
from core.extraction.identifiers import compact
from tests.unit.extraction.corpus import BAKERY, visible_lines
from tests.unit.extraction.pdf_builders import build_pdf

CORPUS = Path(__file__).resolve().parents[3] / ".." / "shared" / "corpora" / "invoices"
EINVOICE_KINDS = ("einvoice-cii", "einvoice-ubl", "einvoice-pdf")


@cache
def _catalogue() -> dict[str, dict[str, Any]]:
    path = CORPUS / "expected.json"
    if not path.is_file():
        return {}
    files: dict[str, dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["files"]
    return files


def _einvoices() -> list[str]:
    return sorted(p for p, e in _catalogue().items() if e["kind"] in EINVOICE_KINDS)


def _read(path: str) -> InvoiceData:
    content = (CORPUS / path).read_bytes()
    return read_pdf(content) if path.endswith(".pdf") else read_einvoice(content)


def _value(data: InvoiceData, name: str) -> object:
    field = getattr(data, name)
    return None if field is None else field.value


def test_the_corpus_is_there() -> None:
    if _catalogue():
        assert len(_einvoices()) >= 28
        return
    message = f"the invoice corpus is missing at {CORPUS.resolve()}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.mark.parametrize("path", _einvoices())
def test_every_total_identifier_and_date_is_exact(path: str) -> None:
    expected = _catalogue()[path]["expected"]
    data = _read(path)

    for name in ("total_excl_tax", "total_tax", "total_incl_tax"):
        assert _value(data, name) == Decimal(expected[name]), name
    assert _value(data, "vat_lines") is not None
    lines = [(line.rate, line.base, line.amount) for line in _value(data, "vat_lines")]  # type: ignore[attr-defined]
    assert lines == [
        (Decimal(v["rate"]), Decimal(v["base"]), Decimal(v["amount"]))
        for v in expected["vat_lines"]
    ]
    assert _value(data, "invoice_number") == expected["invoice_number"]
    assert _value(data, "supplier_vat") == compact(expected["supplier_vat"])
    assert _value(data, "supplier_name") == expected["supplier"]
    assert _value(data, "currency") == expected["currency"]
    assert _value(data, "document_type") == expected["document_type"]
    assert _value(data, "issue_date") == date.fromisoformat(expected["issue_date"])
    due = expected.get("due_date")
    assert _value(data, "due_date") == (None if due is None else date.fromisoformat(due))
    assert {getattr(data, n).source for n in ("total_incl_tax", "invoice_number")} <= {
        "cii",
        "ubl",
        "facturx",
    }
    assert "totals_mismatch" not in data.warnings
    assert not [w for w in data.warnings if w.startswith("source_conflict")]


def test_a_zugferd_1_invoice_is_read_instead_of_refused() -> None:
    data = _read("einvoice/zugferd1_extended_RE-20171118-506.xml")
    assert _value(data, "invoice_number") == "RE-20171118/506"
    assert _value(data, "total_incl_tax") == Decimal("571.04")
    assert data.total_incl_tax is not None
    assert (data.total_incl_tax.source, data.total_incl_tax.confidence) == ("cii", 1.0)


def test_a_zugferd_1_pdf_is_read_from_its_xml_not_its_page() -> None:
    data = _read("einvoice/zugferd1_extended_Gnuaccounting_505.pdf")
    assert data.invoice_number is not None
    assert (data.invoice_number.value, data.invoice_number.source) == (
        "RE-20170509/505",
        "facturx",
    )
    assert _value(data, "supplier_name") == "Bei Spiel GmbH"


def test_an_xml_attached_under_another_name_is_still_the_invoice() -> None:
    xml = (CORPUS / "einvoice/zugferd1_extended_RE-20171118-506.xml").read_bytes()
    writer = PdfWriter(clone_from=io.BytesIO(build_pdf(visible_lines(BAKERY))))
    writer.add_attachment("RE-20171118-506.xml", xml)
    out = io.BytesIO()
    writer.write(out)
    data = read_pdf(out.getvalue())
    assert data.total_incl_tax is not None
    assert (data.total_incl_tax.value, data.total_incl_tax.source) == (
        Decimal("571.04"),
        "facturx",
    )


@pytest.mark.parametrize(
    "path",
    [
        "einvoice/cen_ubl_creditnote1_BE.xml",
        "einvoice/peppol_bis3_creditnote_SE.xml",
        "einvoice/zugferd2_cii_creditnote_381.xml",
        "einvoice/facturx_basic_avoir381_FR.pdf",
    ],
)
def test_a_credit_note_is_typed_and_keeps_the_documents_signs(path: str) -> None:
    data = _read(path)
    assert _value(data, "document_type") == "credit_note"
    # The XML states a credit note's amounts positive; its type carries the sign.
    assert _value(data, "total_incl_tax") == Decimal(
        _catalogue()[path]["expected"]["total_incl_tax"]
    )
    assert data.total_incl_tax is not None
    assert data.total_incl_tax.value > 0
    # A page that prints them negative agrees with it: no conflict to review.
    assert not [w for w in data.warnings if w.startswith("source_conflict")]


def test_a_dollar_invoice_taxed_in_crowns_keeps_its_dollars() -> None:
    data = _read("einvoice/peppol_bis3_USD_with_SEK_tax.xml")
    assert _value(data, "currency") == "USD"
    assert _value(data, "total_tax") == Decimal("23000.00")
