"""Read structured e-invoices: standalone UBL/CII XML and the XML inside Factur-X PDFs.

Formats: UBL 2.1 Invoice and CreditNote (Peppol BIS 3, XRechnung UBL), CII
CrossIndustryInvoice (Factur-X, ZUGFeRD 2.x, XRechnung CII) and ZUGFeRD 1.0's
CrossIndustryDocument, standalone or embedded in a PDF.

These are the most trustworthy sources the engine has (confidence 1.0), so they are parsed
defensively: no DTDs or entities (see safexml), a size cap, and typed errors with machine
reasons that callers can log or show.
"""

from __future__ import annotations

import io

from pypdf import PdfReader

from core.extraction.checks import cross_check_totals
from core.extraction.cii import CII_NS, ZUGFERD1_NS, read_cii, read_zugferd1
from core.extraction.errors import ExtractionError, UnsafeXml
from core.extraction.fields import InvoiceData, retag
from core.extraction.safexml import MAX_XML_BYTES, local_name, namespace, parse_xml
from core.extraction.ubl import UBL_CREDIT_NOTE_NS, UBL_INVOICE_NS, read_ubl
from core.sniff import einvoice_syntax

__all__ = [
    "ExtractionError",
    "UnsafeXml",
    "extract_facturx_xml",
    "read_einvoice",
    "read_facturx",
]

# Names the Factur-X 1.0 / ZUGFeRD 1.0 and 2.x / XRechnung specs give the embedded invoice
# XML, most specific first.
_EMBEDDED_NAMES = ("factur-x.xml", "zugferd-invoice.xml", "xrechnung.xml")


def read_einvoice(xml: bytes) -> InvoiceData:
    """Parse UBL Invoice/CreditNote, CII CrossIndustryInvoice or ZUGFeRD 1.0
    CrossIndustryDocument bytes into InvoiceData.

    Raises UnsafeXml for DTD/entity payloads and ExtractionError("unsupported_xml") for
    XML that is none of those formats.
    """
    root = parse_xml(xml)
    ns, name = namespace(root), local_name(root)
    if ns == UBL_INVOICE_NS and name == "Invoice":
        data = read_ubl(root, credit_note=False)
    elif ns == UBL_CREDIT_NOTE_NS and name == "CreditNote":
        data = read_ubl(root, credit_note=True)
    elif ns == CII_NS and name == "CrossIndustryInvoice":
        data = read_cii(root)
    elif ns == ZUGFERD1_NS and name == "CrossIndustryDocument":
        data = read_zugferd1(root)
    else:
        raise ExtractionError("unsupported_xml", f"root element {{{ns}}}{name}")
    return cross_check_totals(data, confirmed_confidence=None)


def extract_facturx_xml(pdf: bytes) -> bytes | None:
    """Return the invoice XML embedded in a Factur-X/ZUGFeRD PDF, or None if there is none.

    Raises ExtractionError("unreadable_pdf") when the bytes are not a readable PDF.
    """
    try:
        attachments = PdfReader(io.BytesIO(pdf)).attachments
        by_name = {name.lower(): name for name in attachments}
        for wanted in _EMBEDDED_NAMES:
            if wanted in by_name:
                return _first_small(attachments[by_name[wanted]])
        # Some producers name the file after the invoice ("RE-1234.xml"): any XML
        # attachment whose root is an e-invoice's is the one.
        for lower, name in sorted(by_name.items()):
            if lower.endswith(".xml"):
                content = _first_small(attachments[name])
                if content is not None and einvoice_syntax(content) is not None:
                    return content
    except ExtractionError:
        raise
    except Exception as exc:
        # pypdf on hostile bytes can fail in many ways (IndexError, zlib, recursion...);
        # to the caller they all mean the same thing.
        raise ExtractionError("unreadable_pdf", str(exc)) from exc
    return None


def read_facturx(pdf: bytes) -> InvoiceData | None:
    """Read the embedded e-invoice of a PDF, tagged with source "facturx"; None if absent."""
    xml = extract_facturx_xml(pdf)
    if xml is None:
        return None
    return retag(read_einvoice(xml), "facturx")


def _first_small(contents: list[bytes]) -> bytes | None:
    for content in contents:
        if len(content) > MAX_XML_BYTES:
            raise ExtractionError("xml_too_large", f"{len(content)} bytes")
        if content:
            return content
    return None
