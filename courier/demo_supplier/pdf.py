"""A one-page invoice PDF written by hand, so the demo needs no PDF library at run time.

The page has a real text layer (Helvetica, WinAnsi encoding for "€" and "°"), so Courier's
extraction reads the number, date and total from it as it would from a supplier's PDF.
"""

from __future__ import annotations

from decimal import Decimal

from courier.demo_supplier.config import DemoInvoice

NBSP = "\u00a0"
SELLER = ("Demo Supplier SAS", "12 rue des Exemples, 75011 Paris", "SIRET 123 456 782 00002")


def euros(amount: Decimal) -> str:
    """ "1 234,56 €" as French invoices write it (no-break spaces)."""
    whole, cents = f"{amount.quantize(Decimal('0.01')):,.2f}".split(".")
    return whole.replace(",", NBSP) + f",{cents}{NBSP}€"


def invoice_pdf(invoice: DemoInvoice, *, customer: str) -> bytes:
    net = (invoice.amount / Decimal("1.2")).quantize(Decimal("0.01"))
    vat = invoice.amount - net
    lines = [
        (16, "FACTURE"),
        (10, SELLER[0]),
        (10, SELLER[1]),
        (10, SELLER[2]),
        (10, ""),
        (11, f"Facture n° {invoice.reference}"),
        (11, f"Date de facture : {invoice.issued_on:%d/%m/%Y}"),
        (11, f"Client : {customer}"),
        (11, f"Désignation : {invoice.label}"),
        (10, ""),
        (11, f"Total HT : {euros(net)}"),
        (11, f"TVA 20 % : {euros(vat)}"),
        (11, f"Total TTC : {euros(invoice.amount)}"),
    ]
    return _pdf_bytes(lines)


def _escape(text: str) -> bytes:
    raw = text.replace(NBSP, " ").encode("cp1252")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def _pdf_bytes(lines: list[tuple[int, str]]) -> bytes:
    stream = bytearray(b"BT\n")
    y = 800
    for size, text in lines:
        stream += b"/F1 %d Tf 1 0 0 1 56 %d Tm (" % (size, y) + _escape(text) + b") Tj\n"
        y -= size + 8
    stream += b"ET\n"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842]"
        b" /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + bytes(stream) + b"endstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)
