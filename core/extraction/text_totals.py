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
DERIVED = 0.75

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
    # A utility's excise duties ("Taxes et contributions") are not its VAT.
    _label(IGNORE, 0, r"(?:total\s+)?taxes\s+et\s+contributions"),
    # "TVA 20 % sur un montant total de 34,24 €  6,85 €": one row, base then tax.
    _label(
        "tax", 3, _TVA + r"\s*\d{1,2}(?:[.,]\d{1,3})?\s?%\s+sur\s+(?:un\s+)?montant(?:\s+total)?"
    ),
    _label(IGNORE, 0, r"vat\s*(?:reg(?:istration)?\.?\s*)?(?:n(?:o|umber)\b\.?|id\b|#)"),
    _label(IGNORE, 0, r"tax\s+id|vat\s+rate|prix\s+(?:unitaire\s+)?" + _HT),
    _label(IGNORE, 0, r"p\.?u\.?\s+" + _HT + r"|unit\s+price"),
    _label("excl", 3, r"(?:total|montant)\s+(?:net\s+)?(?:total\s+)?" + _HT),
    _label(
        "excl",
        3,
        r"(?:total|montant)(?:\s+[^\W\d]+){0,2}?\s+hors\s+(?:tax\w*|tva)"
        r"(?:\s+soumis\s+[àa]\s+(?:une\s+)?tva(?:\s+[àa]\s+\d{1,2}(?:[.,]\d+)?\s?%)?)?",
    ),
    # "Montant de la facture soumis à TVA": a base and its gross side by side, no total.
    _label(IGNORE, 0, r"soumis\s+[àa]\s+(?:une\s+|la\s+)?tva"),
    # What is left after a discount is the total before tax. ("Less discount" is not:
    # some invoices print the discount itself under it.)
    _label("excl", 3, r"(?:total\s+)?after\s+discount|apr[èe]s\s+remise|nach\s+rabatt"),
    _label(
        "excl", 3, r"(?:total|amount)\s*\(?(?:excl\.?|excluding|ex\.?|before)\s*(?:vat|tax\w*)\)?"
    ),
    _label("excl", 2, r"(?:sous|sub)[\s\-]?total(?:\s+" + _HT + r")?|net\s+" + _HT),
    _label("excl", 2, r"net\s+(?:total|amount)|total\s+net(?!\s+[àa]\s+payer)"),
    _label("tax", 3, r"(?:total|montant)\s+(?:de\s+la\s+|total\s+)?" + _TVA),
    _label("tax", 3, r"total\s+(?:vat|tax(?:es)?|sales\s+tax)|(?:vat|tax)\s+(?:total|amount)"),
    _label("tax", 3, r"taxe\s+sur\s+la\s+valeur\s+ajout[ée]e|value\s+added\s+tax"),
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
    _label("tax", 2, r"\bmwst\b\.?|\bust\b\.?|\bbtw\b|\bb\.t\.w\b\.?|\biva\b|\bi\.v\.a\b\.?"),
    _label(
        "incl",
        3,
        r"(?:gesamtbetrag|rechnungsbetrag|bruttobetrag|gesamt\s*brutto|endbetrag)" + _BRACKETED,
    ),
    _label("incl", 3, r"summe\s+brutto|totaal\s+(?:incl\.?|inclusief)(?:\s+btw)?|importe\s+total"),
    _label("incl", 3, r"total\s+(?:a\s+pagar|factura)|totale\s+(?:fattura|documento|complessivo)"),
    _label("incl", 2, r"zu\s+zahlen|zahlbetrag|te\s+betalen|totaal\s+bedrag|totale\s+da\s+pagare"),
    _label("incl", 2, r"\bbrutto\b|\blordo\b|\bbruto\b"),
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

    every_amount = [v for p in pairings for v in p.values] + [v for _, v in unlabelled]
    excl = best["excl"][1] if "excl" in best else None
    tax = best["tax"][1] if "tax" in best else None
    incl = best["incl"][1] if "incl" in best else None
    if excl is None and incl is not None and tax is not None and incl.confidence >= LABELLED:
        net = incl.value - tax.value
        # Written without decimals ("Less discount 1436"), the net is no amount to the
        # finder, but printed on the page it is the net: the arithmetic says which.
        if net > 0 and _printed(net, lines):
            excl = Field(net, "text", min(LABELLED, tax.confidence))
    if (
        tax is None
        and not vat_lines
        and excl is not None
        and incl is not None
        and min(excl.confidence, incl.confidence) >= LABELLED
        and incl.value > excl.value
        and _printed(incl.value - excl.value, lines)
    ):
        # The VAT's label was misread (OCR's "Taxis sur a valeur") but its amount is on the
        # page: the gross less the net. Not sure enough to go unchecked.
        tax = Field(incl.value - excl.value, "text", DERIVED)
    vat_lines = _reconcile(vat_lines, excl, tax, lines)
    rows_sum = sum((v.amount for v in vat_lines), Decimal(0))
    if (
        tax is not None
        and excl is not None
        and incl is not None
        and vat_lines
        and abs(tax.value - rows_sum) > _TOLERANCE
        # Within a cent: a page may round its total apart from its rows.
        and abs(excl.value + rows_sum - incl.value) <= _TOLERANCE
    ):
        # The rows add up with the net to the total and the "VAT total" does not: it was
        # some other amount under a VAT label, and the rows' sum is the VAT total.
        tax = None
    tax_sum = tax.value if tax is not None else rows_sum
    # The invoice's total is its net plus its tax: of the totals written ("Total",
    # "Amount due" after a previous balance), the one that adds up is it.
    if excl is not None and (tax is not None or vat_lines):
        gross = excl.value + tax_sum
        adding_up = [
            p
            for p in pairings
            if p.hit.kind == "incl"
            and p.values
            and gross in (p.values[-1].value, *_dropped_separator(p.values[-1].value))
        ]
        if adding_up and (incl is None or incl.value != gross):
            incl = Field(gross, "text", LABELLED)
    if incl is None and every_amount:
        incl = Field(max(a.value for a in every_amount), "text", GUESSED)

    return Totals(
        total_excl_tax=excl,
        total_tax=tax,
        total_incl_tax=incl,
        vat_lines=Field(tuple(dict.fromkeys(vat_lines)), "text", vat_confidence)
        if vat_lines
        else None,
        amounts_near_totals=tuple(v for p in pairings for v in p.values),
    )


_TOLERANCE = Decimal("0.01")


def _dropped_separator(value: Decimal) -> tuple[Decimal, ...]:
    """What a whole amount may be when OCR lost its decimal comma ("6286€" for 62,86 €).

    Only ever used where the arithmetic confirms it: a row's base times its rate, or the
    net plus the tax.
    """
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= 0 and abs(value) >= 100:
        return (value / 100,)
    return ()


def _agrees(base: Decimal, rate: Decimal, amount: Decimal) -> bool:
    return abs(base * rate / 100 - amount) <= _TOLERANCE


def _reconcile(
    lines_read: list[VatLine],
    excl: Field[Decimal] | None,
    tax: Field[Decimal] | None,
    lines: Sequence[str],
) -> list[VatLine]:
    """Keep the VAT rows the arithmetic supports.

    An item line "TVA 20 %  1 500,00" reads like a VAT row; a row whose tax is its base
    times its rate is one. A row with no base is given the net total when the tax is that
    net times the rate (a single-rate invoice). With no row read, a rate printed on the
    page that turns the net into the VAT total makes the one row.
    """
    verified = [
        line for line in lines_read if line.base and _agrees(line.base, line.rate, line.amount)
    ]
    if not verified and excl is not None:
        verified = [
            VatLine(line.rate, excl.value, line.amount)
            for line in lines_read
            if _agrees(excl.value, line.rate, line.amount)
        ][:1]
    if verified:
        return verified
    if not lines_read and excl is not None and tax is not None:
        rates = {rate for line in lines if (rate := find_rate(line)) is not None}
        fitting = [rate for rate in rates if _agrees(excl.value, rate, tax.value)]
        if len(fitting) == 1:
            return [VatLine(fitting[0], excl.value, tax.value)]
    return lines_read


# A whole number written alone, with or without thousands separators: "1436", "1,436".
_WHOLE = re.compile(
    r"(?<![\d.,])\d{1,3}(?:[,.' ]\d{3})*(?![\d]|[.,]\d)|(?<![\d.,])\d+(?![\d]|[.,]\d)"
)


def _printed(value: Decimal, lines: Sequence[str]) -> bool:
    """Whether `value` is written on the page as a number of its own, in any format."""
    for line in lines:
        if any(a.value == value for a in find_amounts(line)):
            return True
        wholes = (Decimal(re.sub(r"\D", "", m.group(0))) for m in _WHOLE.finditer(line))
        if any(whole == value for whole in wholes):
            return True
    return False


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
        for amount in (tax, *_dropped_separator(tax)):
            if base and abs(base * rate / 100 - amount) <= Decimal("0.01"):
                return VatLine(rate=rate, base=base, amount=amount)
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
