"""Read a PDF: its embedded e-invoice, if any, its text layer, or else its pages by OCR.

The text layer is read with its positions (pypdfium2's text runs and their boxes) and laid
out row by row, each run at its column on the page (core/extraction/layout.py), so that a
total printed to the right of its label, or a date printed under its label, stays there.
pypdf's reading order instead stacks a column of labels above the column of their values.

A scanned PDF has no text layer (or a few stray characters): its first pages are
rasterised with pypdfium2 at 300 dpi and read by OCR.
"""

from __future__ import annotations

import io
import re

from PIL import Image
from pypdf import PdfReader

from core.extraction.einvoice import read_facturx
from core.extraction.errors import ExtractionError, UnsafeXml
from core.extraction.fields import InvoiceData, add_warnings
from core.extraction.layout import Word, lay_out, split_vertical
from core.extraction.merge import merge
from core.extraction.ocr import OcrPage, fix_labels, ocr_available, ocr_image, read_ocr_pages
from core.extraction.template import read_with_template
from core.extraction.text_rules import read_text

# Invoices are a few pages; a 500-page PDF is a catalogue, and reading it all is waste.
MAX_TEXT_PAGES = 20
# OCR costs about a second a page: a scan's first pages hold the header and the totals.
MAX_OCR_PAGES = 3
# Fewer letters and digits than this in the text layer means a scan, not a text PDF.
MIN_TEXT_CHARS = 40
OCR_DPI = 300
# A page larger than this at 300 dpi is a poster or a forged page size, not an invoice.
MAX_PAGE_PIXELS = 60_000_000
# One text column per this many points of page width: narrower than any printed character
# at 8 pt and up, so a run's text seldom pushes the next run past its own column.
TEXT_UNIT_PT = 4.0


def extract_pdf_text(pdf: bytes) -> str:
    """Return the text layer of the first pages, laid out by rows and columns, pages apart."""
    try:
        reader = PdfReader(io.BytesIO(pdf))
        # Many PDFs are "encrypted" with an empty user password only to forbid printing or
        # copying: those open. One that needs a password cannot be read by anyone but its
        # owner, and the person must be told so, not that the file is broken.
        if reader.is_encrypted and not reader.decrypt(""):
            raise ExtractionError("encrypted_pdf", "a password is needed to open it")
        pages = _laid_out_pages(pdf)
    except ExtractionError:
        raise
    except Exception as exc:
        # pypdf or pdfium on hostile bytes can fail in many ways (IndexError, zlib,
        # recursion...); to the caller they all mean the same thing.
        raise ExtractionError("unreadable_pdf", str(exc)) from exc
    return "\n\n".join(pages)


def _laid_out_pages(pdf: bytes) -> list[str]:
    """Each page's text runs, with their boxes, laid out as rows of text."""
    import pypdfium2

    document = pypdfium2.PdfDocument(pdf)
    try:
        pages = []
        for index in range(min(MAX_TEXT_PAGES, len(document))):
            page = document[index]
            width, height = page.get_size()
            textpage = page.get_textpage()
            runs = []
            for rect in range(textpage.count_rects()):
                left, bottom, right, top = textpage.get_rect(rect)
                # Runs outside the page (rotated margins, hidden scraps) are not printed.
                if right < 0 or left > width or top < 0 or bottom > height:
                    continue
                text = textpage.get_text_bounded(left, bottom, right, top)
                runs.append(Word(text, left, height - top, right, height - bottom))
            words, vertical = split_vertical(runs)
            rows = [row.text for row in lay_out(words, unit=TEXT_UNIT_PT)]
            pages.append("\n".join([*rows, *vertical]))
    finally:
        document.close()
    return pages


def read_pdf(pdf: bytes) -> InvoiceData:
    """Read a PDF: the Factur-X XML wins where present, the visible text fills the rest and
    any disagreement between the two is flagged by `merge`.

    A broken embedded XML costs only the XML ("einvoice_unreadable" warning); a hostile
    one raises UnsafeXml, because such a document should be quarantined, not read.
    """
    return read_pdf_with_text(pdf)[0]


def read_pdf_with_text(pdf: bytes) -> tuple[InvoiceData, str]:
    """`read_pdf`'s reading and the laid-out text it read (its text layer, or its OCR)."""
    raw = extract_pdf_text(pdf)
    try:
        embedded = read_facturx(pdf)
    except UnsafeXml:
        raise
    except ExtractionError:
        data, text = _read_visible(pdf, raw)
        return add_warnings(data, "einvoice_unreadable"), text
    if embedded is not None:
        # The XML is the data; the visible text is only there to be cross-checked, so
        # a Factur-X without a text layer is not worth an OCR pass.
        return merge(embedded, read_text(raw)), raw
    return _read_visible(pdf, raw)


def _read_visible(pdf: bytes, raw: str) -> tuple[InvoiceData, str]:
    if len(re.sub(r"\W+", "", raw)) >= MIN_TEXT_CHARS:
        text = read_text(raw)
        templated = read_with_template(raw)
        return (text if templated is None else merge(templated, text)), raw
    pages = [ocr_image(image) for image in rasterise(pdf, pages=MAX_OCR_PAGES)]
    return read_ocr_pages(pages), ocr_text(pages)


def ocr_text(pages: list[OcrPage]) -> str:
    """The OCR'd pages' text as the text rules read it (core/extraction/ocr.py)."""
    return fix_labels("\n\n".join(page.text for page in pages))


def rasterise(pdf: bytes, *, pages: int, dpi: int = OCR_DPI) -> list[Image.Image]:
    """Render the first `pages` pages of `pdf` to greyscale images."""
    if not ocr_available():
        raise ExtractionError("ocr_unavailable", "tesseract with fra+eng is not installed")
    import pypdfium2

    try:
        document = pypdfium2.PdfDocument(pdf)
        try:
            images = []
            for index in range(min(pages, len(document))):
                page = document[index]
                width, height = page.get_size()
                if width * height * (dpi / 72) ** 2 > MAX_PAGE_PIXELS:
                    raise ExtractionError("too_large", f"page {index + 1} is {width}x{height} pt")
                images.append(page.render(scale=dpi / 72, grayscale=True).to_pil())
        finally:
            document.close()
    except ExtractionError:
        raise
    except MemoryError:
        raise
    except Exception as exc:
        raise ExtractionError("unreadable_pdf", f"{type(exc).__name__}: {exc}") from exc
    if not images:
        raise ExtractionError("unreadable_pdf", "no pages")
    return images
