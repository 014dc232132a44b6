"""Read a born-digital PDF: its embedded e-invoice, if any, and its text layer.

Scanned PDFs have no text layer; they go through OCR elsewhere and come back here as text
through `read_text`, then `merge`.
"""

from __future__ import annotations

import io

from pypdf import PdfReader

from core.extraction.einvoice import read_facturx
from core.extraction.errors import ExtractionError, UnsafeXml
from core.extraction.fields import InvoiceData, add_warnings
from core.extraction.merge import merge
from core.extraction.text_rules import read_text

# Invoices are a few pages; a 500-page PDF is a catalogue, and reading it all is waste.
MAX_TEXT_PAGES = 20


def extract_pdf_text(pdf: bytes) -> str:
    """Return the text layer of the first pages, one line per text line, pages apart."""
    try:
        reader = PdfReader(io.BytesIO(pdf))
        pages = [page.extract_text() or "" for page in reader.pages[:MAX_TEXT_PAGES]]
    except Exception as exc:
        # pypdf on hostile bytes can fail in many ways (IndexError, zlib, recursion...);
        # to the caller they all mean the same thing.
        raise ExtractionError("unreadable_pdf", str(exc)) from exc
    return "\n\n".join(pages)


def read_pdf(pdf: bytes) -> InvoiceData:
    """Read a PDF: the Factur-X XML wins where present, the visible text fills the rest and
    any disagreement between the two is flagged by `merge`.

    A broken embedded XML costs only the XML ("einvoice_unreadable" warning); a hostile
    one raises UnsafeXml, because such a document should be quarantined, not read.
    """
    text = read_text(extract_pdf_text(pdf))
    try:
        embedded = read_facturx(pdf)
    except UnsafeXml:
        raise
    except ExtractionError:
        return add_warnings(text, "einvoice_unreadable")
    return text if embedded is None else merge(embedded, text)
