"""Read an invoice's header from plain text: number, document type, supplier name.

Also tells which lines describe the customer, so that the customer's name and
identifiers are not mistaken for the supplier's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from core.extraction.dates import find_dates
from core.extraction.fields import DocumentType, Field

_NO = r"(?:n[°ºo]\.?|num(?:[ée]ro|ber)?\.?|no\.?|#)"
_DOC = r"(?:facture|invoice|avoir|credit\s+note|note\s+de\s+cr[ée]dit)"
_VALUE = r"\s*[:.]?\s*(?P<v>[A-Z0-9][A-Z0-9\-_/.]*)?"
# (pattern, confidence): labels naming the invoice number, strongest first.
_NUMBER_LABELS = tuple(
    (re.compile(pattern + _VALUE, re.IGNORECASE), confidence)
    for pattern, confidence in (
        (rf"\b{_DOC}\s*{_NO}", 0.85),
        (rf"\b{_NO}\s*(?:de\s+)?(?:la\s+|l['’])?{_DOC}", 0.85),
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
    + _NO,
    re.IGNORECASE | re.MULTILINE,
)
_INVOICE = re.compile(r"\b(?:facture|invoice)\b", re.IGNORECASE)
_BUYER_BLOCK = re.compile(
    r"^\s*(?:client|customer|acheteur|buyer|bill(?:ed)?\s+to|invoice\s+to|sold\s+to|ship\s+to"
    r"|factur[ée]\s+[àa]|destinataire|adresse\s+de\s+facturation|livr[ée]\s+[àa])\b",
    re.IGNORECASE,
)
_BUYER_WORD = re.compile(r"\b(?:client|customer|acheteur|buyer)\b", re.IGNORECASE)
_LEGAL_FORM = re.compile(
    r"\b(?:SAS|SASU|SARL|EURL|SA|SNC|SCI|SCOP|SCM|SELARL|EIRL|Ltd|Limited|LLP|PLC|Inc|LLC"
    r"|GmbH|AG|BV|NV|SRL|SL|SpA)\b\.?"
)
_NOT_A_NAME = re.compile(
    r"\b(?:facture|invoice|avoir|credit\s+note|page|date|devis|quote|total|tva|vat)\b",
    re.IGNORECASE,
)
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
        # A wide gap separates PDF columns; the name is the first one.
        (index, re.split(r"\s{2,}", line.strip())[0])
        for index, line in enumerate(lines[:_NAME_SEARCH_LINES])
        if line.strip() and index not in buyer_lines and not _NOT_A_NAME.search(line)
    ]
    for _, line in candidates:
        if _LEGAL_FORM.search(line) and ":" not in line:
            return Field(line, "text", 0.5)
    for _, line in candidates:
        if not any(c.isdigit() for c in line) and ":" not in line and len(line) <= 80:
            return Field(line, "text", 0.3)
    return None
