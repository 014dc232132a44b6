"""Document-data extraction: read an invoice's fields from e-invoice XML, PDFs and text.

Pure code (no I/O, no database): callers hand in bytes or text and get `InvoiceData`.
"""

from __future__ import annotations

from core.extraction.einvoice import extract_facturx_xml, read_einvoice, read_facturx
from core.extraction.errors import ExtractionError, UnsafeXml
from core.extraction.fields import (
    Field,
    FieldSource,
    InvoiceData,
    VatLine,
    invoice_from_dict,
    invoice_to_dict,
)
from core.extraction.merge import merge
from core.extraction.pdf import extract_pdf_text, read_pdf
from core.extraction.text_rules import read_text

__all__ = [
    "ExtractionError",
    "Field",
    "FieldSource",
    "InvoiceData",
    "UnsafeXml",
    "VatLine",
    "extract_facturx_xml",
    "extract_pdf_text",
    "invoice_from_dict",
    "invoice_to_dict",
    "merge",
    "read_einvoice",
    "read_facturx",
    "read_pdf",
    "read_text",
]
