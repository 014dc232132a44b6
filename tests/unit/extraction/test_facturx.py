"""Factur-X PDFs: the embedded XML is found and read exactly, and it beats the visible text."""

from __future__ import annotations

import dataclasses
import io
from decimal import Decimal

import pytest
from pypdf import PdfWriter

from core.extraction.einvoice import (
    ExtractionError,
    UnsafeXml,
    extract_facturx_xml,
    read_facturx,
)
from core.extraction.pdf import extract_pdf_text, read_pdf
from tests.unit.extraction.corpus import BAKERY, PRINTER_CREDIT, Line, visible_lines
from tests.unit.extraction.expectations import (
    MINIMUM_LACKS,
    expected_fields,
    sources_of,
    values_of,
)
from tests.unit.extraction.pdf_builders import build_facturx, build_pdf
from tests.unit.extraction.xml_builders import build_cii

PROFILES = ("minimum", "basic", "en16931")


@pytest.mark.parametrize("profile", PROFILES)
def test_facturx_fields_are_exact(profile: str) -> None:
    pdf = build_facturx(build_cii(BAKERY, profile), visible_lines(BAKERY))
    data = read_facturx(pdf)
    assert data is not None
    assert values_of(data) == expected_fields(BAKERY, minimum=profile == "minimum")
    assert sources_of(data) == {"facturx"}
    assert data.warnings == ()


@pytest.mark.parametrize("profile", PROFILES)
def test_read_pdf_fills_what_the_profile_lacks_from_the_text(profile: str) -> None:
    pdf = build_facturx(build_cii(BAKERY, profile), visible_lines(BAKERY))
    data = read_pdf(pdf)
    assert values_of(data) == expected_fields(BAKERY)
    assert data.warnings == ()
    assert data.total_incl_tax is not None
    assert data.total_incl_tax.source == "facturx"
    assert data.due_date is not None
    assert data.due_date.source == ("text" if profile == "minimum" else "facturx")
    assert "due_date" in MINIMUM_LACKS


def test_extract_returns_the_embedded_bytes() -> None:
    xml = build_cii(PRINTER_CREDIT, "en16931")
    assert extract_facturx_xml(build_facturx(xml, visible_lines(PRINTER_CREDIT))) == xml


def test_plain_pdf_has_no_facturx() -> None:
    pdf = build_pdf(["Facture n° 12", "Total TTC : 12,00 EUR"])
    assert extract_facturx_xml(pdf) is None
    assert read_facturx(pdf) is None


def test_not_a_pdf_raises_with_a_reason() -> None:
    with pytest.raises(ExtractionError) as caught:
        extract_facturx_xml(b"%PDF-1.7 this is not really a pdf")
    assert caught.value.reason == "unreadable_pdf"
    with pytest.raises(ExtractionError):
        extract_pdf_text(b"GIF89a")


def test_contradicting_visible_text_loses_to_the_xml_and_is_flagged() -> None:
    shown = dataclasses.replace(
        BAKERY,
        number="FA-2026-0099",
        lines=(Line("Location four", Decimal(1), Decimal("500.00"), Decimal(20)),),
    )
    pdf = build_facturx(build_cii(BAKERY, "en16931"), visible_lines(shown))
    assert "FA-2026-0099" in extract_pdf_text(pdf)

    data = read_pdf(pdf)

    assert values_of(data) == expected_fields(BAKERY)
    for name in ("invoice_number", "total_excl_tax", "total_tax", "total_incl_tax", "vat_lines"):
        assert f"source_conflict:{name}" in data.warnings
    assert "source_conflict:supplier_vat" not in data.warnings
    assert "totals_mismatch" not in data.warnings


def _pdf_with_attachment(xml: bytes) -> bytes:
    writer = PdfWriter(clone_from=io.BytesIO(build_pdf(visible_lines(BAKERY))))
    writer.add_attachment("factur-x.xml", xml)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_broken_embedded_xml_falls_back_to_the_text_with_a_warning() -> None:
    data = read_pdf(_pdf_with_attachment(b"<rsm:CrossIndustryInvoice"))
    assert "einvoice_unreadable" in data.warnings
    assert data.total_incl_tax is not None
    assert data.total_incl_tax.value == BAKERY.total_incl
    assert data.total_incl_tax.source == "text"


def test_hostile_embedded_xml_is_not_silently_skipped() -> None:
    with pytest.raises(UnsafeXml):
        read_pdf(_pdf_with_attachment(b'<!DOCTYPE a [<!ENTITY b "c">]><a>&b;</a>'))
