"""Read an invoice's header from plain text: number, document type, supplier name.

Also tells which lines describe the customer, so that the customer's name and
identifiers are not mistaken for the supplier's. Labels are French, English, German,
Dutch, Spanish and Italian ("Rechnungsnummer", "Factuurnummer", "Número de factura",
"Numero fattura", "Rechnungsempfänger", "Facturar a"...).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from core.extraction.dates import find_dates
from core.extraction.fields import DocumentType, Field

# Longest first: "Rechnungsnummer" must not stop at "num".
_NO = r"(?:nummer|n[úu]mero|num(?:[ée]ro|ber)?\.?|n[°ºo]\.?|nr\.?|no\.?|#)"
_DOC = (
    r"(?:facture|invoice|avoir|credit\s+note|note\s+de\s+cr[ée]dit|rechnungs?|gutschrift"
    r"|factuur|creditnota|factura|fattura|nota\s+di\s+credito"
    r"|receipt|re[çc]u|quittung|kassenbon|recibo|ricevuta|kwitantie|bonnetje|documento)"
)
_VALUE = r"\s*[:.]?\s*#?(?P<v>[A-Z0-9][A-Z0-9\-_/.]*)?"
# (pattern, confidence): labels naming the invoice number, strongest first.
_NUMBER_LABELS = tuple(
    (re.compile(pattern + _VALUE, re.IGNORECASE), confidence)
    for pattern, confidence in (
        (rf"\b{_DOC}[\s\-]*(?:#\s*)?{_NO}", 0.85),
        (rf"\b{_NO}\s*(?:de\s+|di\s+|der\s+)?(?:la\s+|l['’])?{_DOC}", 0.85),
        (rf"\bnum[ée]ro\s+(?:de\s+)?(?:la\s+|l['’])?{_DOC}", 0.85),
        (r"\binvoice\s+(?:number|id|ref(?:erence)?)\b", 0.85),
        # "Facture du 11/12/2022 N° 12345678901": the date between title and number.
        (rf"\b{_DOC}\s+(?:du|vom|van|del)\s+\d{{1,2}}[/.\-]\d{{1,2}}[/.\-]\d{{2,4}}\s+{_NO}", 0.8),
        (rf"\b{_DOC}\s*:", 0.75),
        (r"\br[ée]f[ée]rence(?:\s+(?:de\s+la\s+)?facture)?(?!\s+(?:client|commande))\b", 0.6),
        (r"\b(?:r[ée]f|ref)\.?\s*:", 0.6),
        (r"\b(?:num[ée]ro|number)\s*:", 0.6),
        # A title followed by its number and nothing else: "Invoice VT/2022/0001".
        (rf"^\s*{_DOC}(?=\s+#?[A-Z]{{0,4}}[\-/]?\d[\w\-/.]*(?:\s{{2,}}|\s*$))", 0.7),
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
# A page calling itself a receipt and nowhere an invoice.
_RECEIPT = re.compile(
    r"\b(?:receipt|re[çc]u|ticket\s+de\s+caisse|kassenbon|quittung|recibo|ricevuta|kassabon)\b",
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
_FORMS = (
    r"SAS|SASU|SARL|EURL|SA|SNC|SCI|SCOP|SCM|SELARL|EIRL|Ltd|Limited|LLP|PLC|Inc|LLC"
    r"|GmbH|AG|BV|NV|SRL|SL|SpA|LTD|LIMITED|INC|GMBH|SPA"
)
# Also glued to the name, as some PDF text layers drop spaces ("OrangeDemoInc.").
_LEGAL_FORM = re.compile(rf"\b(?:{_FORMS})\b\.?|(?<=[a-z])(?:Inc|Ltd|GmbH|LLC)\b\.?")
_SPECKS = re.compile(r"^(?:\S\s+){2,}(?=\w{3})")
# A letterhead sharing its line with the document's title: "Stanford Plumbing INVOICE".
_TITLE_AT_END = re.compile(
    r"\s+(?:INVOICE|FACTURE|RECHNUNG|FACTUUR|FACTURA|FATTURA|RECEIPT|AVOIR|GUTSCHRIFT)\.?$"
)
_NOT_A_NAME = re.compile(
    r"\b(?:facture|invoice|avoir|credit\s+note|page|date|devis|quote|total|tva|vat|tax"
    # The words of a table's header row, a payment slip, a signature.
    r"|description|d[ée]signation|quantit[éy]|qty|unit|price|prix|amount|montant"
    r"|details?|payment|paiement|receipt|re[çc]u|remittance|advice|statement|signature"
    r"|signatory|authori[sz]ed|sincerely|regards|cordialement"
    # What a legal line says about the company, not its name.
    r"|registergericht|amtsgericht|handelsregister|gesch[äa]ftsf[üu]hrer|sitz|registered"
    r"|si[èe]ge|capital|g[ée]rant|bankverbindung"
    # The same in German, Dutch, Spanish and Italian.
    r"|rechnung|gutschrift|datum|menge|preis|betrag|beschreibung|summe|gesamt"
    r"|factuur|omschrijving|aantal|prijs|bedrag|totaal"
    r"|factura|descripci[óo]n|cantidad|precio|importe|fecha"
    r"|fattura|descrizione|quantit[àa]|prezzo|importo|totale|data)\b",
    re.IGNORECASE,
)
# Label words run together by a text layer that dropped the spaces: "PAYMENTADVICE".
_GLUED_LABELS = re.compile(
    r"(?:" + _NOT_A_NAME.pattern.replace(r"\b", "").replace(r"\s+", "") + r"){2,}",
    re.IGNORECASE,
)
# Addresses on the web or by mail are not names, however high on the page.
_WEB_OR_MAIL = re.compile(r"@|\bwww\.|https?:|\.(?:com|net|org|fr|de|nl|es|it|eu)\b", re.I)
# A sender line strings its parts with bullets or bars: the name is the first part.
_PARTS = re.compile(r"\s{2,}|\s*[•·|]\s*")
# Lines only the seller prints about itself: its registration and share capital.
_LEGAL_LINE = re.compile(
    r"\bau\s+capital\s+de\b|\bR\.?C\.?S\.?\s|\bKvK\b|\bHRB\b|\bHandelsregister\b"
    r"|\bAmtsgericht\b|\bRegistered\s+in\s+(?:England|Scotland|Ireland)\b|\bSteuernummer\b"
    r"|\bcapitale\s+sociale\b|\bcapital\s+social\b|\bsi[eè]ge\s+social\b"
    r"|\bcompany\s+(?:registration\s+)?(?:number|no)\b",
    re.IGNORECASE,
)
# The long forms a legal line spells out after the name ("Bouygues Telecom - Société
# Anonyme au capital de..."), dropped so the name stands alone.
_CAPITAL_FORM = re.compile(
    r"\b(?:soci[ée]t[ée]\s+(?:anonyme|par\s+actions\s+simplifi[ée]e|[àa]\s+responsabilit[ée]"
    r"\s+limit[ée]e))\b.*$",
    re.IGNORECASE,
)
_LEGAL_SEPARATOR = re.compile(r"\s+[-–—|•·]\s+")
# A line stating the seller's VAT number or SIREN ends the seller's address block.
_IDENTIFIER_LINE = re.compile(
    r"\b(?i:VAT|TVA|BTW|IVA|MwSt|USt-?Id(?:Nr)?|UID|SIRE[NT]|Tax\s+ID)\b[^0-9]{0,25}"
    r"(?:\b[A-Z]{2}[ .\-]?\d[\dA-Z .]{7,}|\b\d{3} ?\d{3} ?\d{3}\b)"
)
# "Your VAT ID", "Votre n° TVA": the customer's number, printed on the seller's page.
_THEIR_OWN = re.compile(r"\b(?:your|votre|ihre?|uw|su|vostr[oa])\b", re.IGNORECASE)
_COUNTRY = re.compile(
    r"(?:France|Deutschland|Germany|Nederland|Netherlands|Belgique|Belgium|Espa[ñn]a|Spain"
    r"|Italia|Italy|Schweiz|Suisse|Switzerland|[ÖO]sterreich|Austria|Luxembourg|Ireland"
    r"|United\s+Kingdom|UK|USA|United\s+States)\.?",
    re.IGNORECASE,
)
_BLOCK_LINES = 6
_MIN_NAME_LETTERS = 3
_BUYER_BLOCK_LINES = 6
_NAME_SEARCH_LINES = 10


@dataclass(frozen=True, slots=True)
class BuyerBlocks:
    """The page with the customer's cells blanked, and the customer's names.

    `lines` keep their length and columns, so other readers' offsets still hold; `lines`
    fully blanked are listed in `rows`.
    """

    lines: tuple[str, ...]
    rows: frozenset[int]
    names: frozenset[str]


# How far (in characters) a value may sit to the right of its label on a laid-out row.
_BESIDE = 12
_CELL = re.compile(r"\S+(?:\s\S+)*")


def find_buyer_blocks(lines: Sequence[str]) -> BuyerBlocks:
    """Blank the customer's block: under "Bill to", "Facturé à", "Rechnungsempfänger",
    "Factuuradres", "Facturar a", "Fatturare a"... the label's cell, the value beside it,
    and the cells below it in the same column down to a blank line (at most a few lines).
    A cell naming the customer ("Customer", "Kunde") is blanked with its value too.

    Column by column, not line by line: a laid-out row also holds the seller's columns
    (its name, the invoice number), which stay.
    """
    masked = [list(line) for line in lines]
    names: set[str] = set()

    def blank(index: int, start: int, end: int) -> None:
        names.add(_plain(lines[index][start:end]))
        masked[index][start:end] = " " * (end - start)

    for index, line in enumerate(lines):
        cells = [(m.start(), m.end()) for m in _CELL.finditer(line)]
        for position, (start, end) in enumerate(cells):
            if "".join(masked[index][start:end]).strip() == "":
                continue
            cell = line[start:end]
            block = _BUYER_BLOCK.match(cell) is not None
            if not block and _BUYER_WORD.search(cell) is None:
                continue
            blank(index, start, end)
            # Its value beside it, not a cell of the row's next column across the page.
            if position + 1 < len(cells) and cells[position + 1][0] - end <= _BESIDE:
                blank(index, *cells[position + 1])
            if block:
                _blank_below(lines, index, start, end, blank)
    rows = frozenset(
        i for i, row in enumerate(masked) if lines[i].strip() and not "".join(row).strip()
    )
    names.discard("")
    return BuyerBlocks(tuple("".join(row) for row in masked), rows, frozenset(names))


def _blank_below(
    lines: Sequence[str], index: int, start: int, end: int, blank: Callable[[int, int, int], None]
) -> None:
    """Blank the cells under a buyer label, in its column, down to a gap in the block."""
    for below in range(index + 1, min(index + 1 + _BUYER_BLOCK_LINES, len(lines))):
        under = [
            (m.start(), m.end())
            for m in _CELL.finditer(lines[below])
            if m.start() < max(end, start + 12) and start - 4 < m.end()
        ]
        if not under:
            return
        for cell in under:
            blank(below, *cell)


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
    if best is None or not any(c in best.value for c in _LOOKALIKE_LETTERS):
        return best
    # Every number a label announces, for the look-alike check below.
    candidates = [
        value
        for line in lines
        for pattern, _ in _NUMBER_LABELS
        for match in pattern.finditer(line)
        if (value := _number_value(match.group("v"))) is not None
    ]
    return _digits_where_ocr_read_letters(best, candidates)


# Letters OCR reads for digits: "RO0SS32486" is R0005532486 when the page says so elsewhere.
_LOOKALIKE_LETTERS = "OoSsIlBZ"
_LOOKALIKES = str.maketrans(_LOOKALIKE_LETTERS, "00551182")


def _digits_where_ocr_read_letters(
    best: Field[str] | None, candidates: Sequence[str]
) -> Field[str] | None:
    """The same number read elsewhere on the page with digits where `best` has look-alike
    letters (O for 0, S for 5): that reading, since invoice numbers run on digits."""
    if best is None:
        return None
    wanted = best.value.translate(_LOOKALIKES)
    digits = sum(c.isdigit() for c in best.value)
    for other in candidates:
        if other.translate(_LOOKALIKES) == wanted and sum(c.isdigit() for c in other) > digits:
            return Field(other, best.source, best.confidence)
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
    if _RECEIPT.search(text):
        return Field("receipt", "text", 0.7)
    return None


def guess_supplier_name(
    lines: Sequence[str], buyer_lines: frozenset[int], buyer_names: frozenset[str] = frozenset()
) -> Field[str] | None:
    """The supplier's name from the page, from the best evidence first. Always a guess
    (confidence <= 0.6): the service layer prefers a supplier known by its identifiers.

    1. the legal line ("Dupont SAS au capital de...", "... RCS Paris", "KvK", "HRB"),
       which only the seller prints about itself;
    2. the head of the address block that carries the seller's VAT number or SIREN;
    3. a company with a legal form near the top of the page (the letterhead);
    4. a company with a legal form anywhere outside the customer's block;
    5. the first line near the top that reads like a name.
    """
    for index, line in enumerate(lines):
        if index not in buyer_lines and _LEGAL_LINE.search(line):
            name = _legal_line_name(line)
            if name is not None:
                return Field(name, "text", 0.6)
    for index, line in enumerate(lines):
        if (
            index not in buyer_lines
            and _IDENTIFIER_LINE.search(line)
            and not _THEIR_OWN.search(line)
        ):
            column = _column_of(line)
            # The block above the identifier's own column, else above the whole line
            # ("contact@atelier.example  VAT: FR...": the mail shares the block).
            name = _block_head(lines, index, buyer_lines, column)
            if name is None and column:
                name = _block_head(lines, index, buyer_lines)
            if name is not None:
                return Field(name, "text", 0.55)
    # The customer's name, wherever else it is printed, is not the supplier's.
    buyers = buyer_names | {
        _plain(part) for index in buyer_lines for part in _PARTS.split(lines[index])
    }
    # A laid-out line holds a row of the page: each of its columns may be the letterhead.
    candidates = [
        (index, name)
        for index, line in enumerate(lines)
        if index not in buyer_lines
        for part in _PARTS.split(line.strip())
        if (name := _name_part(part)) is not None and _plain(name) not in buyers
    ]
    top = [name for index, name in candidates if index < _NAME_SEARCH_LINES]
    for name in top:
        if _LEGAL_FORM.search(name) and ":" not in name:
            return Field(name, "text", 0.5)
    for _, name in candidates:
        if _LEGAL_FORM.search(name) and ":" not in name and not _has_digit(name):
            return Field(name, "text", 0.4)
    for name in top:
        if not _has_digit(name) and ":" not in name and len(name) <= 80:
            return Field(name, "text", 0.3)
    return None


def _plain(text: str) -> str:
    return re.sub(r"[\W_]+", " ", text).strip().casefold()


def _has_digit(text: str) -> bool:
    return any(c.isdigit() for c in text)


def _legal_line_name(line: str) -> str | None:
    """The company a legal line is about: its first part, when that part is a name."""
    first = _LEGAL_SEPARATOR.split(line.strip(), maxsplit=1)[0]
    marker = _LEGAL_LINE.search(first)
    if marker is not None:
        # "Dupont SAS au capital de 10 000 EUR": the name is what precedes the statement.
        first = first[: marker.start()]
    first = _CAPITAL_FORM.sub("", first).strip(" ,;-")
    name = _name_part(first)
    if name is None or _has_digit(name):
        return None
    return name


def _column_of(line: str) -> int:
    """Where the cell holding the line's identifier starts."""
    match = _IDENTIFIER_LINE.search(line)
    start = 0 if match is None else match.start()
    gaps = [m.end() for m in re.finditer(r"\s{2,}", line[:start])]
    return gaps[-1] if gaps else len(line) - len(line.lstrip())


def _cell_at(line: str, column: int) -> str:
    """The cell of a laid-out line (text between gaps of two spaces) at `column`: the
    block of the page above an identifier, not the row's other columns."""
    cells = [(m.start(), m.group(0)) for m in re.finditer(r"\S+(?:\s\S+)*", line)]
    for start, text in cells:
        if start <= column + 2 and column < start + len(text):
            return text
    return ""


def _block_head(
    lines: Sequence[str], index: int, buyer_lines: frozenset[int], column: int = 0
) -> str | None:
    """The first line of the address block holding line `index`: its name.

    Walks up past address lines (a number, a web or mail address, a country) to the first
    line that is none of those; a line, the identifier's own included, that starts with a
    company's name and legal form ends the walk.
    """
    for above in range(index, max(index - _BLOCK_LINES, -1), -1):
        line = _cell_at(lines[above], column).strip() if column else lines[above].strip()
        if not line or above in buyer_lines:
            return None
        # "Acme Ltd., 42 Milky Way, Faraway": a company heading its own address line.
        own = _name_part(line.split(",")[0])
        if own is not None and _LEGAL_FORM.search(own) and not _has_digit(own):
            return own
        if above == index:
            continue
        if _has_digit(line) or _WEB_OR_MAIL.search(line) or _COUNTRY.fullmatch(line):
            continue
        name = _name_part(line)
        if name is None or ":" in name or _IDENTIFIER_LINE.search(line):
            return None
        return name
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
    # OCR reads specks and logo fragments as single letters before the name: "F e j Contoso".
    name = _TITLE_AT_END.sub("", _SPECKS.sub("", parts[0].strip()))
    form = _LEGAL_FORM.search(name)
    if form is not None and form.start() > 0:
        name = name[: form.end()]
        if " " not in name and name[form.start() - 1].islower():
            # The text layer dropped the spaces ("OrangeDemoInc."): put them back.
            name = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name)
    letters = sum(c.isalpha() for c in name)
    if (
        not name[:1].isalnum()
        or letters < _MIN_NAME_LETTERS
        or _NOT_A_NAME.search(name)
        or _GLUED_LABELS.fullmatch(re.sub(r"[\W_]+", "", name))
        # A title printed letter-spaced ("I N VO I C E") reads as scraps, never a name.
        or all(sum(c.isalpha() for c in word) <= 2 for word in name.split())
        or _WEB_OR_MAIL.search(name)
    ):
        return None
    return name
