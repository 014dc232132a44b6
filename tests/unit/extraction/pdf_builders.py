"""Tiny PDFs for the tests: a visible page made with fpdf2, optionally with Factur-X XML."""

from __future__ import annotations

from collections.abc import Sequence

import facturx
from fpdf import FPDF

# --------------------------------------------------------------------------- PDF


def build_pdf(lines: Sequence[str]) -> bytes:
    """A one-page PDF showing `lines`; core fonts, so text must fit Latin-1/cp1252."""
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=10)
    for text in lines:
        pdf.cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def build_facturx(xml: bytes, visible_lines: Sequence[str]) -> bytes:
    """Embed `xml` into a PDF; factur-x checks it against the profile's XSD on the way."""
    result: bytes = facturx.generate_from_binary(
        build_pdf(visible_lines), xml, check_xsd=True, pdf_metadata={"title": "test"}
    )
    return result
