"""Read an invoice's header from plain text: number, document type, supplier name.

Also tells which lines describe the customer, so that the customer's name and
identifiers are not mistaken for the supplier's. Labels are French, English, German,
Dutch, Spanish and Italian ("Rechnungsnummer", "Factuurnummer", "Número de factura",
"Numero fattura", "Rechnungsempfänger", "Facturar a"...).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from core.extraction.dates import find_dates
from core.extraction.fields import DocumentType, Field

# Longest first: "Rechnungsnummer" must not stop at "num".
_NO = r"(?:nummer|n[úu]mero|num(?:[ée]ro|ber)?\.?|n[°ºo]\.?|nr\.?|no\.?|#)"
_DOC = (
    r"(?:facture|invoice|avoir|credit\s+note|note\s+de\s+cr[ée]dit|rechnungs?|gutschrift"
    r"|factuur|creditnota|factura|fattura|nota\s+di\s+credito)"
)
_VALUE = r"\s*[:.]?\s*(?P<v>[A-Z0-9][A-Z0-9\-_/.]*)?"
# (pattern, confidence): labels naming the invoice number, strongest first.
_NUMBER_LABELS = tuple(
    (re.compile(pattern + _VALUE, re.IGNORECASE), confidence)
    for pattern, confidence in (
        (rf"\b{_DOC}[\s\-]*{_NO}", 0.85),
        (rf"\b{_NO}\s*(?:de\s+|di\s+|der\s+)?(?:la\s+|l['’])?{_DOC}", 0.85),
        (rf"\bnum[ée]ro\s+(?:de\s+)?(?:la\s+|l['’])?{_DOC}", 0.85),
        (r"\binvoice\s+(?:number|id|ref(?:erence)?)\b", 0.85),
        (rf"\b{_DOC}\s*:", 0.75),
        (r"\br[ée]f[ée]rence(?:\s+(?:de\s+la\s+)?facture)?(?!\s+(?:client|commande))\b", 0.6),
        (r"\b(?:r[ée]f|ref)\.?\s*:", 0.6),
        (r"\b(?:num[ée]ro|number)\s*:", 0.6),
    )
)
_CREDIT_NOTE = re.compile(
    r"^\s*(?:facture\s+d['’])?avoir\b|^\s*credit\s+note\b|\bavoir\s+n[°ºo]|\bcredit\s+note\s+"
    + _NO
    + r"|^\s*(?:gutschrift|creditnota|nota\s+di\s+credito|factura\s+rectificativa)\b",
    re.IGNORECASE | re.MULTILINE,
)
_INVOICE = re.compile(
    r"\b(?:facture|invoice|rechnung|factuur|factura|fattura)(?:nummer|nr|datum)?\b",
    re.IGNORECASE,
)
_BUYER_BLOCK = re.compile(
    r"^\s*(?:client|customer|acheteur|buyer|bill(?:ed)?\s+to|invoice\s+to|sold\s+to|ship\s+to"
    r"|factur[ée]\s+[àa]|destinataire|adresse\s+de\s+facturation|livr[ée]\s+[àa]"
    r"|rechnungsempf[äa]nger|rechnungsadresse|lieferadresse|empf[äa]nger|kunde"
    r"|factuuradres|afleveradres|klant|facturar\s+a|facturado\s+a|enviar\s+a"
    r"|intestat(?:ario|o\s+a)|spett(?:\.|abile)|destinatario|cliente)\b",
    re.IGNORECASE,
)
_BUYER_WORD = re.compile(
    r"\b(?:client|customer|acheteur|buyer|kunde|klant|cliente)\b", re.IGNORECASE
)
_LEGAL_FORM = re.compile(
    r"\b(?:SAS|SASU|SARL|EURL|SA|SNC|SCI|SCOP|SCM|SELARL|EIRL|Ltd|Limited|LLP|PLC|Inc|LLC"
    r"|GmbH|AG|BV|NV|SRL|SL|SpA)\b\.?"
)
_NOT_A_NAME = re.compile(
    r"\b(?:facture|invoice|avoir|credit\s+note|page|date|devis|quote|total|tva|vat|tax"
    # The words of a table's header row, a payment slip, a signature.
    r"|description|d[ée]signation|quantit[éy]|qty|unit|price|prix|amount|montant"
    r"|details?|payment|paiement|receipt|re[çc]u|remittance|advice|statement|signature"
    r"|signatory|authori[sz]ed|sincerely|regards|cordialement"
    # The same in German, Dutch, Spanish and Italian.
    r"|rechnung|gutschrift|datum|menge|preis|betrag|beschreibung|summe|gesamt"
    r"|factuur|omschrijving|aantal|prijs|bedrag|totaal"
    r"|factura|descripci[óo]n|cantidad|precio|importe|fecha"
    r"|fattura|descrizione|quantit[àa]|prezzo|importo|totale|data)\b",
    re.IGNORECASE,
)
# Addresses on the web or by mail are not names, however high on the page.
_WEB_OR_MAIL = re.compile(r"@|\bwww\.|https?:|\.(?:com|net|org|fr|de|nl|es|it|eu)\b", re.I)
# A sender line strings its parts with bullets or bars: the name is the first part.
_PARTS = re.compile(r"\s{2,}|\s*[•·|]\s*")
_MIN_NAME_LETTERS = 3
_BUYER_BLOCK_LINES = 6
_NAME_SEARCH_LINES = 10


def find_buyer_lines(lines: Sequence[str]) -> frozenset[int]:
    """Indices of lines about the customer: a "Client :"-style block, or a line naming it."""
    buyer: set[int] = set()
    block_left = 0
    for index, line in enumerate(lines):
        if _BUYER_BLOCK.match(line):
            block_left = _BUYER_BLOCK_LINES
        elif not line.strip():
            block_left = 0
        if block_left:
            buyer.add(index)
            block_left -= 1
        elif _BUYER_WORD.search(line):
            buyer.add(index)
    return frozenset(buyer)


def read_invoice_number(lines: Sequence[str]) -> Field[str] | None:
    """Find the number after the strongest label; a value on the next line also counts."""
    best: Field[str] | None = None
    for index, line in enumerate(lines):
        for pattern, confidence in _NUMBER_LABELS:
            if best is not None and best.confidence >= confidence:
                break
            for match in pattern.finditer(line):
                value, level = _number_value(match.group("v")), confidence
                if value is None:
                    # Stacked or table layout: the value sits below its label.
                    value = _value_below(lines, index, match.start())
                    level = round(confidence - 0.05, 2)
                if value is not None:
                    best = Field(value, "text", level)
                    break
    return best


def _number_value(raw: str | None) -> str | None:
    if raw is None:
        return None
    value = raw.rstrip("./-_")
    if not any(c.isdigit() for c in value) or find_dates(value):
        return None
    return value


def _value_below(lines: Sequence[str], index: int, column: int) -> str | None:
    """The token of the next non-blank line that starts nearest the label's column."""
    for following in lines[index + 1 : index + 3]:
        if not following.strip():
            continue
        tokens = [(m.start(), m.group(0)) for m in re.finditer(r"\S+", following)]
        _, token = min(tokens, key=lambda t: abs(t[0] - column))
        return _number_value(token)
    return None


def read_document_type(text: str) -> Field[DocumentType] | None:
    if _CREDIT_NOTE.search(text):
        return Field("credit_note", "text", 0.8)
    if _INVOICE.search(text):
        return Field("invoice", "text", 0.7)
    return None


def guess_supplier_name(lines: Sequence[str], buyer_lines: frozenset[int]) -> Field[str] | None:
    """Guess the supplier from the top of the page: a company with a legal form, else the
    first line that reads like a name. Always a guess (confidence <= 0.5)."""
    candidates = [
        name
        for index, line in enumerate(lines[:_NAME_SEARCH_LINES])
        if index not in buyer_lines and (name := _name_part(line)) is not None
    ]
    for name in candidates:
        if _LEGAL_FORM.search(name) and ":" not in name:
            return Field(name, "text", 0.5)
    for name in candidates:
        if not any(c.isdigit() for c in name) and ":" not in name and len(name) <= 80:
            return Field(name, "text", 0.3)
    return None


def _name_part(line: str) -> str | None:
    """The part of `line` that could be a company's name, or None.

    A wide gap separates PDF columns and bullets separate a sender line's parts: the name
    is the first. A name ends with its legal form ("Hetzner Online GmbH", not what OCR ran
    on after it). Labels, table headers, signature lines, web and mail addresses, and
    scraps that start with a symbol are not names.
    """
    parts = [p for p in _PARTS.split(line.strip()) if p]
    if not parts:
        return None
    name = parts[0].strip()
    form = _LEGAL_FORM.search(name)
    if form is not None and form.start() > 0:
        name = name[: form.end()]
    letters = sum(c.isalpha() for c in name)
    if (
        not name[:1].isalnum()
        or letters < _MIN_NAME_LETTERS
        or _NOT_A_NAME.search(name)
        or _WEB_OR_MAIL.search(name)
    ):
        return None
    return name
