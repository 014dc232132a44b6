"""Tell what a file is from its bytes, since senders' declared types are often wrong.

Mailers send PDFs as application/octet-stream, scanners name JPEGs ".pdf", and
e-invoices arrive as text/plain. Only when the bytes say nothing does the file's
extension count. Nothing here parses a whole file: each check reads a few header bytes,
or a zip's directory of names, so it is cheap on large or hostile input.
"""

from __future__ import annotations

import io
import mmap
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final, Literal, cast

from core.errors import CourierError

OCTET_STREAM: Final = "application/octet-stream"
ZIP: Final = "application/zip"
TNEF: Final = "application/ms-tnef"
XML: Final = "application/xml"
DOCX: Final = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX: Final = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
OLE2: Final = "application/x-ole-storage"
OUTLOOK_MSG: Final = "application/vnd.ms-outlook"

_HEAD = 1024
_EOCD_SEARCH = 22 + 65_535  # the end record, and the longest comment that may follow it
_MAX_ZIP_ENTRIES_READ = 1000
_TEXT_HEAD = 4096

_MAGIC: Final[tuple[tuple[bytes, str], ...]] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"\x78\x9f\x3e\x22", TNEF),  # 0x223E9F78, little-endian
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", OLE2),
    (b"PK\x03\x04", ZIP),
    (b"PK\x05\x06", ZIP),  # an empty archive
)

_HEIC_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis"})
_HEIF_BRANDS = frozenset({b"mif1", b"msf1"})

# Zip-based office files, told apart by the one entry each format must hold.
_OFFICE_ENTRIES: Final[tuple[tuple[str, str], ...]] = (
    ("word/document.xml", DOCX),
    ("xl/workbook.xml", XLSX),
    ("ppt/presentation.xml", PPTX),
)

_OLE2_BY_EXTENSION: Final = {
    "doc": "application/msword",
    "xls": "application/vnd.ms-excel",
    "ppt": "application/vnd.ms-powerpoint",
    "msg": OUTLOOK_MSG,
}

_BY_EXTENSION: Final = {
    "pdf": "application/pdf",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "tif": "image/tiff",
    "tiff": "image/tiff",
    "heic": "image/heic",
    "heif": "image/heif",
    "zip": ZIP,
    "xml": XML,
    "docx": DOCX,
    "xlsx": XLSX,
    "pptx": PPTX,
    "odt": "application/vnd.oasis.opendocument.text",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "doc": "application/msword",
    "xls": "application/vnd.ms-excel",
    "csv": "text/csv",
    "txt": "text/plain",
    "htm": "text/html",
    "html": "text/html",
    "eml": "message/rfc822",
    "ics": "text/calendar",
    "dat": OCTET_STREAM,
}

# The inverse of _BY_EXTENSION, with each type's usual spelling.
_EXTENSIONS: Final = {
    **{content_type: f".{ext}" for ext, content_type in reversed(_BY_EXTENSION.items())},
    "image/jpeg": ".jpg",
    "image/tiff": ".tif",
    "text/html": ".html",
    OCTET_STREAM: "",
}


@dataclass(frozen=True, slots=True)
class AcceptedType:
    """A kind of file Courier reads: its sniffed type, and its name as people know it."""

    content_type: str
    name: str


#: The one list of files Courier takes in, from every road: the chat, `courier inbox add`,
#: mail attachments and invoices behind links. It is exactly what the reader reads
#: (core/extraction/sandbox.py `reader_for`; tests/unit/test_sniff.py holds them
#: together): a file taken in that could never be read would wait in the inbox forever.
#: Office files (.docx, .xlsx, .odt...), HEIC photos and plain text are refused up front.
ACCEPTED: Final[tuple[AcceptedType, ...]] = (
    AcceptedType("application/pdf", "PDF"),
    AcceptedType(XML, "XML"),  # e-invoices: Factur-X, ZUGFeRD, UBL, CII
    AcceptedType("image/jpeg", "JPEG"),
    AcceptedType("image/png", "PNG"),
    AcceptedType("image/tiff", "TIFF"),
    AcceptedType("image/webp", "WebP"),
    AcceptedType("image/gif", "GIF"),
)

# "text/xml" is how some mailers declare the same XML.
_DOCUMENT_TYPES: Final = frozenset({a.content_type for a in ACCEPTED} | {"text/xml"})


class FileNotAccepted(CourierError):
    """A file of a type Courier does not read, refused before it is stored."""

    key = "file_not_accepted"

    def __init__(self, *, name: str, accepted: str) -> None:
        super().__init__(name=name, accepted=accepted)


def accepted_names() -> str:
    """The accepted kinds, as a refusal lists them: "PDF, XML, JPEG, PNG, TIFF, WebP, GIF"."""
    return ", ".join(a.name for a in ACCEPTED)


def require_accepted(content_type: str, *, name: str) -> None:
    """Raise FileNotAccepted unless a file of this (sniffed) type can be read."""
    if not is_document_type(content_type):
        raise FileNotAccepted(name=name, accepted=accepted_names())


_HTML_MARKERS = ("<head", "<body", "<table", "<div", "<p>", "<br")
_XML_START = re.compile(r"<(?:\?xml|[A-Za-z_][\w.-]*(?::[A-Za-z_][\w.-]*)?[\s/>])")

# The first element that is not a declaration, comment or processing instruction.
_ROOT_ELEMENT = re.compile(
    r"<(?![?!/])(?:[A-Za-z_][\w.-]*:)?(?P<local>[A-Za-z_][\w.-]*)(?P<rest>[^<>]*)>"
)
_ROOT_SYNTAX: Final[dict[str, tuple[Literal["ubl", "cii"], str]]] = {
    "Invoice": ("ubl", "urn:oasis:names:specification:ubl:schema:xsd:"),
    "CreditNote": ("ubl", "urn:oasis:names:specification:ubl:schema:xsd:"),
    "CrossIndustryInvoice": ("cii", "urn:un:unece:uncefact:data:standard:"),
    # ZUGFeRD 1.0, still sent by older German and French software.
    "CrossIndustryDocument": ("cii", "urn:ferd:CrossIndustryDocument:"),
}


def sniff_path(path: Path, filename: str | None = None) -> str:
    """`sniff_content_type` of a file on disk, mapped rather than read: only the pages the
    checks touch (its head, a zip's directory) are loaded, however large the file."""
    with path.open("rb") as handle:
        if not path.stat().st_size:
            return sniff_content_type(b"", filename)
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
            return sniff_content_type(view, filename)


def sniff_content_type(data: bytes | mmap.mmap, filename: str | None = None) -> str:
    """Return the MIME type that `data` really has, using `filename` only as a last resort."""
    extension = _extension(filename)
    head = data[:_HEAD]
    for magic, content_type in _MAGIC:
        if head.startswith(magic):
            if content_type == ZIP:
                return _zip_flavour(data)
            if content_type == OLE2:
                return _OLE2_BY_EXTENSION.get(extension, OLE2)
            return content_type
    # Readers accept a PDF header anywhere in the first KB, and so do some scanners' files.
    if b"%PDF-" in head:
        return "application/pdf"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _HEIC_BRANDS:
            return "image/heic"
        if brand in _HEIF_BRANDS:
            return "image/heif"
    text_type = _text_type(data)
    if text_type is not None:
        if text_type == "text/plain" and extension in {"csv", "ics", "xml"}:
            return _BY_EXTENSION[extension]
        return text_type
    return _BY_EXTENSION.get(extension, OCTET_STREAM)


def einvoice_syntax(data: bytes) -> Literal["ubl", "cii"] | None:
    """Say whether `data` is a UBL or a CII (Factur-X, ZUGFeRD) e-invoice, or neither.

    Reads only the root element's name and namespace with a regular expression: an XML
    parser here would be the first to meet a hostile DOCTYPE or entity, so none runs.
    """
    text = _decode_head(data[:_TEXT_HEAD])
    if text is None or "<!DOCTYPE" in text or "<!ENTITY" in text:
        # No real UBL or CII file has a DOCTYPE; refusing it keeps entity tricks out of
        # whatever parses the invoice later.
        return None
    text = re.sub(r"<!--.*?-->", "", text, flags=re.DOTALL)
    match = _ROOT_ELEMENT.search(text)
    if match is None:
        return None
    known = _ROOT_SYNTAX.get(match.group("local"))
    if known is None:
        return None
    syntax, namespace = known
    return syntax if namespace in match.group("rest") else None


def extension_for(content_type: str) -> str:
    """Return the usual extension, dot included, for a type; "" when there is none."""
    return _EXTENSIONS.get(content_type.split(";")[0].strip().lower(), "")


def is_document_type(content_type: str) -> bool:
    """Say whether a file of this (sniffed) type can become a document in the inbox: one
    of `ACCEPTED`. XML counts here; whether it is an e-invoice is `einvoice_syntax`'s
    question. A GIF in a mail may still be decoration: mail/parse/logos.py decides that.
    """
    return content_type.split(";")[0].strip().lower() in _DOCUMENT_TYPES


def zip_entry_count(data: bytes | mmap.mmap) -> int | None:
    """Return the entry count a zip's end record declares, without reading the directory."""
    start = data.rfind(b"PK\x05\x06", max(0, len(data) - _EOCD_SEARCH))
    if start < 0 or start + 22 > len(data):
        return None
    return int.from_bytes(data[start + 10 : start + 12], "little")


def _extension(filename: str | None) -> str:
    if not filename or "." not in filename:
        return ""
    return filename.rsplit(".", 1)[1].strip().lower()


def _zip_flavour(data: bytes | mmap.mmap) -> str:
    # OpenDocument stores an uncompressed "mimetype" entry first; its text names the format.
    name_length = int.from_bytes(data[26:28], "little")
    extra_length = int.from_bytes(data[28:30], "little")
    if data[8:10] == b"\x00\x00" and data[30 : 30 + name_length] == b"mimetype":
        start = 30 + name_length + extra_length
        size = min(int.from_bytes(data[18:22], "little"), 100)
        declared = data[start : start + size].decode("ascii", errors="ignore")
        if declared.startswith("application/vnd.oasis.opendocument."):
            return declared
    entries = zip_entry_count(data)
    if entries is None or entries > _MAX_ZIP_ENTRIES_READ:
        return ZIP  # reading a huge directory would cost more than the answer is worth
    try:
        # Reads the central directory only; nothing is decompressed.
        # A mapped file is read in place: mmap has the read, seek and tell zipfile uses.
        source = cast(IO[bytes], data) if isinstance(data, mmap.mmap) else io.BytesIO(data)
        with zipfile.ZipFile(source) as archive:
            names = set(archive.namelist())
    except Exception:  # a truncated or hostile archive is still "a zip"
        return ZIP
    for entry, content_type in _OFFICE_ENTRIES:
        if entry in names:
            return content_type
    return ZIP


def _text_type(data: bytes | mmap.mmap) -> str | None:
    text = _decode_head(data[:_TEXT_HEAD])
    if text is None:
        return None
    head = text.lstrip().lower()[:_HEAD]
    if "<!doctype html" in head or "<html" in head:
        return "text/html"
    if head.startswith("<?xml"):
        return XML
    if any(marker in head for marker in _HTML_MARKERS):
        return "text/html"
    return XML if _XML_START.match(head) else "text/plain"


def _decode_head(head: bytes) -> str | None:
    """Decode the start of a text file, or return None when it does not look like text."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    else:
        encoding = "utf-8"
        head = head.removeprefix(b"\xef\xbb\xbf")
        if b"\x00" in head:
            return None
    try:
        text = head.decode(encoding)
    except UnicodeDecodeError as error:
        # A head cut inside a multi-byte character is still text; other bad bytes are not.
        if len(head) == _TEXT_HEAD and error.start >= len(head) - 3:
            text = head[: error.start].decode(encoding, errors="replace")
        elif encoding == "utf-8" and sum(byte < 0x80 for byte in head) >= 0.9 * len(head):
            # Mostly ASCII with a few 8-bit letters: Windows-1252 text, as old mailers send.
            text = head.decode("cp1252", errors="replace")
        else:
            return None
    printable = sum(char.isprintable() or char in "\r\n\t\f" for char in text)
    return text if text and printable >= 0.95 * len(text) else None
