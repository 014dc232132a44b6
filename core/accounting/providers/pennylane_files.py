"""The file Pennylane gets with a bill: one of the kinds its file attachments accept.

Pennylane takes PDF, PNG, JPEG, TIFF, BMP and GIF only, judged here by the bytes, never
by the name or the announced type.

- Another image (WEBP, HEIC, AVIF...) is converted to JPEG with Pillow, its orientation
  applied. HEIC and AVIF need the `pillow-heif` plugin: without it (it is optional, its
  wheels bundle codecs under other licences) such a file is refused with that reason.
- A pure XML e-invoice (UBL, CII) gets a PDF rendition: a plain A4 page listing the
  invoice's fields as Courier read them (supplier, number, dates, totals, each VAT line),
  with the XML itself embedded in the PDF as an attached file, so the e-invoice travels
  with the bill unchanged.
- Anything else is refused before any call: no bill is made without its file.

All of it is CPU work on bytes: callers run it in a thread.
"""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import PurePosixPath

from defusedxml import DefusedXmlException, ElementTree
from PIL import Image, ImageOps, UnidentifiedImageError
from pypdf import PdfWriter
from pypdf.generic import ContentStream, DictionaryObject, NameObject

from core.accounting.errors import Rejected
from core.accounting.provider import Bill, BillFile

NAME = "pennylane"
#: Pennylane's accepted kinds, by their first bytes.
ACCEPTED: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"BM", "image/bmp"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
JPEG_QUALITY = 90
E_INVOICE_ROOTS = frozenset({"Invoice", "CreditNote", "CrossIndustryInvoice"})
A4 = (595, 842)


def accepted_type(content: bytes) -> str | None:
    """The content type Pennylane knows these bytes as, or None."""
    # A PDF may start after a little garbage (a BOM, a mail's leftovers): readers allow it.
    if b"%PDF-" in content[:1024]:
        return "application/pdf"
    return next((kind for magic, kind in ACCEPTED if content.startswith(magic)), None)


def attachable(bill: Bill) -> BillFile:
    """The bill's file as Pennylane will take it: as it is, converted, or rendered."""
    file = bill.file
    kind = accepted_type(file.content)
    if kind is not None:
        return BillFile(file.content, file.filename, kind)
    if _is_xml(file.content):
        return BillFile(rendition(bill), _renamed(file.filename, ".pdf"), "application/pdf")
    return BillFile(_to_jpeg(file), _renamed(file.filename, ".jpg"), "image/jpeg")


def _is_xml(content: bytes) -> bool:
    """An e-invoice by its root (UBL Invoice or CreditNote, CII), not any markup (an HTML
    page saved by mistake is no invoice to render)."""
    try:
        root = ElementTree.fromstring(content)
    except (ElementTree.ParseError, DefusedXmlException, ValueError):
        return False
    return root.tag.rpartition("}")[2] in E_INVOICE_ROOTS


def _to_jpeg(file: BillFile) -> bytes:
    _register_heif()
    try:
        with Image.open(io.BytesIO(file.content)) as image:
            image.load()
            upright = ImageOps.exif_transpose(image) or image
            rgb = upright.convert("RGB")  # JPEG has no alpha nor palette
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as err:
        raise Rejected(
            provider=NAME,
            reason=f"Pennylane takes PDF, PNG, JPEG, TIFF, BMP or GIF files, and "
            f"{file.filename!r} ({file.content_type}) is none of them nor an image Courier "
            "can convert (HEIC needs the pillow-heif plugin)",
        ) from err
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


def _register_heif() -> None:
    try:
        from pillow_heif import register_heif_opener  # type: ignore[import-not-found]
    except ImportError:
        return
    register_heif_opener()


def _renamed(filename: str, suffix: str) -> str:
    path = PurePosixPath(filename or "invoice")
    return f"{path.stem or 'invoice'}{suffix}"


def rendition(bill: Bill) -> bytes:
    """A one-page PDF of the invoice's fields, with its XML attached."""
    writer = PdfWriter()
    page = writer.add_blank_page(*A4)
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
            NameObject("/Encoding"): NameObject("/WinAnsiEncoding"),
        }
    )
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
    )
    stream = ContentStream(None, writer)
    stream.set_data(_content(_lines(bill)))
    page.replace_contents(stream)
    writer.add_attachment(bill.file.filename or "invoice.xml", bill.file.content)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _lines(bill: Bill) -> list[str]:
    kind = "Credit note" if bill.credit_note else "Invoice"
    lines = [
        f"{kind} {bill.number or ''}".strip(),
        f"Supplier: {bill.supplier_name}",
        f"Date: {bill.issue_date.isoformat()}",
    ]
    if bill.due_date:
        lines.append(f"Due: {bill.due_date.isoformat()}")
    lines.append("")
    for vat in bill.vat_lines:
        lines.append(
            f"VAT {_plain(vat.rate)} %: base {_money(vat.base)}, tax {_money(vat.tax)} "
            f"{bill.currency}"
        )
    lines += [
        f"Total excl. tax: {_money(bill.total_excl)} {bill.currency}",
        f"Tax: {_money(bill.total_tax)} {bill.currency}",
        f"Total incl. tax: {_money(bill.total_incl)} {bill.currency}",
        "",
        f"Rendered by Courier from the e-invoice {bill.file.filename}, attached to this PDF.",
    ]
    return lines


def _content(lines: list[str]) -> bytes:
    ops = ["BT", "/F1 11 Tf", "14 TL", "56 786 Td"]
    for line in lines:
        ops.append(f"({_escape(line)}) Tj T*")
    ops.append("ET")
    return "\n".join(ops).encode("cp1252", errors="replace")


def _escape(text: str) -> str:
    text = text.encode("cp1252", errors="replace").decode("cp1252")
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


def _plain(rate: Decimal) -> str:
    return f"{rate.normalize():f}"
