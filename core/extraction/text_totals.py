"""Read the totals block of an invoice's text: excl. tax, VAT, incl. tax and VAT lines.

Labels are French and English, and German, Dutch, Spanish and Italian ("Gesamtbetrag",
"Totaal incl. btw", "Importe total", "Totale fattura", "MwSt.", "BTW", "IVA").

Labels are ranked: "Total TTC" beats "Net à payer" (which may be after a deposit) beats a
bare "Total". Among equals the last one wins, since the final totals close the document.
A total no label announces is guessed as the largest amount, with low confidence.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from core.extraction.amounts import Amount, find_amounts, find_rate
from core.extraction.fields import Field, VatLine
from core.extraction.labels import IGNORE, Label, Pairing, pair_labels

LABELLED = 0.8
ZIPPED = 0.75
GUESSED = 0.4

_HT = r"h\.?\s?t\.?(?![a-zà-ÿ])"
_TTC = r"t\.?\s?t\.?\s?c\.?(?![a-zà-ÿ])"
_TVA = r"t\.?v\.?a\.?(?![a-zà-ÿ])"
_RATE_BEFORE = re.compile(r"(?<![\d.,])(\d{1,2}(?:[.,]\d{1,3})?)\s?%\s*$")
# A German net or gross label may carry its rate in brackets: "Nettobetrag (zzgl. 19% MwSt.)".
_BRACKETED = r"(?:\s*\([^)\n]{0,40}\))?"


def _label(kind: str, priority: int, pattern: str) -> Label:
    return Label(kind, priority, re.compile(pattern, re.IGNORECASE))


TOTAL_LABELS = (
    # Mentions that contain "TVA"/"VAT"/"HT" but announce no amount of ours.
    _label(IGNORE, 0, r"n[°ºo]\.?\s*(?:de\s+)?tva|tva\s+intra\w*|num[ée]ro\s+(?:de\s+)?tva"),
    _label(IGNORE, 0, r"identifiant\s+tva|tva\s+non\s+applicable|taux\s+(?:de\s+)?tva"),
    _label(IGNORE, 0, r"vat\s*(?:reg(?:istration)?\.?\s*)?(?:n(?:o|umber)\b\.?|id\b|#)"),
    _label(IGNORE, 0, r"tax\s+id|vat\s+rate|prix\s+(?:unitaire\s+)?" + _HT),
    _label(IGNORE, 0, r"p\.?u\.?\s+" + _HT + r"|unit\s+price"),
    _label("excl", 3, r"(?:total|montant)\s+(?:net\s+)?(?:total\s+)?" + _HT),
    _label("excl", 3, r"total\s+hors\s+tax\w*|montant\s+hors\s+tax\w*"),
    _label(
        "excl", 3, r"(?:total|amount)\s*\(?(?:excl\.?|excluding|ex\.?|before)\s*(?:vat|tax\w*)\)?"
    ),
    _label("excl", 2, r"(?:sous|sub)[\s\-]?total(?:\s+" + _HT + r")?|net\s+" + _HT),
    _label("excl", 2, r"net\s+(?:total|amount)|total\s+net(?!\s+[àa]\s+payer)"),
    _label("tax", 3, r"(?:total|montant)\s+(?:de\s+la\s+|total\s+)?" + _TVA),
    _label("tax", 3, r"total\s+(?:vat|tax(?:es)?|sales\s+tax)|(?:vat|tax)\s+(?:total|amount)"),
    _label("tax", 2, _TVA + r"|\bvat\b|\b(?:sales\s+)?tax(?:es)?\b"),
    _label("incl", 3, r"(?:total|montant)\s+(?:total\s+)?" + _TTC + r"|grand\s+total"),
    _label("incl", 3, r"(?:total|amount)\s*\(?(?:incl\.?|including|inc\.?)\s*(?:vat|tax\w*)\)?"),
    _label("incl", 3, r"invoice\s+total|total\s+amount"),
    _label("incl", 2, r"(?:net|total|montant|reste|solde)\s+[àa]\s+(?:payer|r[ée]gler)"),
    _label("incl", 2, r"(?:amount|total|balance)\s+(?:due|payable)|\b" + _TTC),
    _label("incl", 1, r"\btotal\b|montant\s+total"),
    # German, Dutch, Spanish, Italian.
    _label(
        IGNORE, 0, r"ust[\s\-]?id\w*|steuer[\s\-]?(?:nr|nummer)\w*|btw[\s\-]?(?:nummer|nr|id)\w*"
    ),
    _label(IGNORE, 0, r"partita\s+iva|p\.?\s?iva|n[úu]mero\s+(?:de\s+)?iva|\bnif\b|\bcif\b"),
    _label(
        IGNORE, 0, r"mwst[\s\-]?satz|ust[\s\-]?satz|btw[\s\-]?(?:tarief|%)|tipo\s+(?:de\s+)?iva"
    ),
    _label(IGNORE, 0, r"aliquota(?:\s+iva)?|einzelpreis|stückpreis|prijs\s+per|precio\s+unitario"),
    _label(IGNORE, 0, r"prezzo\s+unitario"),
    _label(
        "excl",
        3,
        r"(?:netto(?:betrag|summe)|summe\s+netto|gesamt\s*netto|rechnungsbetrag\s+netto)"
        + _BRACKETED,
    ),
    _label("excl", 3, r"totaal\s+(?:excl\.?|exclusief)(?:\s+btw)?|base\s+imponible"),
    _label("excl", 3, r"total\s+sin\s+iva|(?:totale\s+)?imponibile|totale\s+netto"),
    _label("excl", 2, r"zwischensumme|subtotaal|\bnetto\b"),
    _label(
        "tax", 3, r"mehrwertsteuer|umsatzsteuer|(?:summe|betrag|gesamt)\s+(?:der\s+)?(?:mwst|ust)"
    ),
    _label("tax", 3, r"totaal\s+btw|btw[\s\-]?bedrag|(?:total|importe|cuota|totale)\s+iva"),
    _label("tax", 3, r"\bimposta\b"),
    _label("tax", 2, r"\bmwst\b\.?|\bust\b\.?|\bbtw\b|\biva\b"),
    _label(
        "incl",
        3,
        r"(?:gesamtbetrag|rechnungsbetrag|bruttobetrag|gesamt\s*brutto|endbetrag)" + _BRACKETED,
    ),
    _label("incl", 3, r"summe\s+brutto|totaal\s+(?:incl\.?|inclusief)(?:\s+btw)?|importe\s+total"),
    _label("incl", 3, r"total\s+(?:a\s+pagar|factura)|totale\s+(?:fattura|documento|complessivo)"),
    _label("incl", 2, r"zu\s+zahlen|zahlbetrag|te\s+betalen|totaal\s+bedrag|totale\s+da\s+pagare"),
    _label("incl", 1, r"\bgesamt\b|\bsumme\b|\btotaal\b|\btotale\b|\bimporte\b"),
)


@dataclass(frozen=True, slots=True)
class Totals:
    total_excl_tax: Field[Decimal] | None
    total_tax: Field[Decimal] | None
    total_incl_tax: Field[Decimal] | None
    vat_lines: Field[tuple[VatLine, ...]] | None
    amounts_near_totals: tuple[Amount, ...]


def read_totals(lines: Sequence[str]) -> Totals:
    """Read the totals and VAT breakdown of a document given as lines of text."""
    pairings, unlabelled = pair_labels(lines, TOTAL_LABELS, find_amounts)
    best: dict[str, tuple[tuple[int, int], Field[Decimal]]] = {}
    vat_lines: list[VatLine] = []
    vat_confidence = LABELLED
    for pairing in pairings:
        if not pairing.values:
            continue
        confidence = ZIPPED if pairing.zipped else LABELLED
        rate = _rate_of(pairing, lines) if pairing.hit.kind == "tax" else None
        if rate is not None:
            vat_lines.append(_vat_line(rate, pairing))
            vat_confidence = min(vat_confidence, confidence)
            # A rated line is one row of the breakdown, even as "Total TVA 20 %": the VAT
            # total is their sum unless a rate-less total is written.
            continue
        rank = (pairing.hit.priority, pairing.line)
        field = Field(pairing.values[-1].value, "text", confidence)
        if pairing.hit.kind not in best or rank >= best[pairing.hit.kind][0]:
            best[pairing.hit.kind] = (rank, field)

    if not vat_lines:
        vat_lines = _verified_vat_rows(lines)

    incl = best["incl"][1] if "incl" in best else None
    every_amount = [v for p in pairings for v in p.values] + [v for _, v in unlabelled]
    if incl is None and every_amount:
        incl = Field(max(a.value for a in every_amount), "text", GUESSED)

    return Totals(
        total_excl_tax=best["excl"][1] if "excl" in best else None,
        total_tax=best["tax"][1] if "tax" in best else None,
        total_incl_tax=incl,
        vat_lines=Field(tuple(dict.fromkeys(vat_lines)), "text", vat_confidence)
        if vat_lines
        else None,
        amounts_near_totals=tuple(v for p in pairings for v in p.values),
    )


def _rate_of(pairing: Pairing[Amount], lines: Sequence[str]) -> Decimal | None:
    """The VAT rate written after the label ("MwSt. 19 %"), or right before it ("19 % MwSt")."""
    rate = find_rate(pairing.segment)
    if rate is not None:
        return rate
    before = _RATE_BEFORE.search(lines[pairing.line][: pairing.hit.start])
    return None if before is None else Decimal(before.group(1).replace(",", "."))


def _vat_line(rate: Decimal, pairing: Pairing[Amount]) -> VatLine:
    """One breakdown row. A row may hold base, tax and gross ("376,37 71,51 447,88"):
    the base and tax are the two neighbours that agree with the rate."""
    values = [v.value for v in pairing.values]
    for base, tax in itertools.pairwise(values):
        if base and abs(base * rate / 100 - tax) <= Decimal("0.01"):
            return VatLine(rate=rate, base=base, amount=tax)
    return VatLine(rate=rate, base=values[-2] if len(values) >= 2 else None, amount=values[-1])


def _verified_vat_rows(lines: Sequence[str]) -> list[VatLine]:
    """Unlabelled VAT-table rows "20 %  450,00  90,00", kept only when base × rate = tax.

    The arithmetic is what makes an unlabelled row trustworthy: item lines rarely satisfy
    it by chance, and the totals cross-check catches the ones that do.
    """
    rows = []
    for line in lines:
        rate = find_rate(line)
        amounts = find_amounts(line)
        if rate is None or len(amounts) != 2:
            continue
        base, tax = amounts[0].value, amounts[1].value
        if abs(base * rate / 100 - tax) <= Decimal("0.01"):
            rows.append(VatLine(rate=rate, base=base, amount=tax))
    return rows
