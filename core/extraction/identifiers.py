"""Validate and find company and bank identifiers: VAT numbers, SIREN/SIRET, IBAN.

Each identifier carries a check key (mod 97, Luhn, ISO 7064), so a number we cannot verify
is never reported as the supplier's: it is dropped with an "invalid_*" warning instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from stdnum import iban as std_iban
from stdnum.ch import vat as ch_vat
from stdnum.eu import vat as eu_vat
from stdnum.fr import siren as fr_siren
from stdnum.fr import siret as fr_siret
from stdnum.gb import vat as gb_vat

from core.extraction.fields import Field

_SIREN_IN_FR_VAT = re.compile(r"^FR[0-9A-Z]{2}(\d{9})$")
_COUNTRIES = (
    "AT|BE|BG|CY|CZ|DE|DK|EE|EL|ES|FI|FR|GB|HR|HU|IE|IT|LT|LU|LV|MT|NL|PL|PT|RO|SE|SI|SK|XI|CHE"
)
# The body must start like a real number (digit, or one/two letters then a digit) so that
# "DE TVA" or "FRANCE" are never taken for a VAT number.
_VAT_CANDIDATE = re.compile(
    rf"(?<![A-Z0-9])(?:{_COUNTRIES})[ \-.]?"
    r"(?=\d|[A-Z]\d|[A-Z]{2} ?\d)[0-9A-Z](?:[0-9A-Z]|[ .\-](?=[0-9A-Z])){7,20}"
)
_IBAN_CANDIDATE = re.compile(r"(?<![A-Z0-9])[A-Z]{2}\d{2}(?:[ \-]?[0-9A-Z]){10,32}")
_VAT_LABEL = re.compile(
    r"(?i)(?:n[°ºo]\.?\s*(?:de\s+)?tva|tva\s+intra|num[ée]ro\s+(?:de\s+)?tva|identifiant\s+tva"
    r"|\bvat\b|ust-?id|tax\s+id|\bmwst\b|\bid\s+tva)"
)
_IBAN_LABEL = re.compile(r"(?i)\biban\b")
_SIREN = re.compile(r"(?i)\bsiren\b\s*(?:n[°ºo]\.?)?\s*:?\s*(\d{3} ?\d{3} ?\d{3})(?! ?\d)")
_SIRET = re.compile(r"(?i)\bsiret\b\s*(?:n[°ºo]\.?)?\s*:?\s*(\d{3} ?\d{3} ?\d{3} ?\d{5})(?!\d)")
# Lines only the seller prints about itself: its registration, share capital, court.
_LEGAL_LINE = re.compile(
    r"\bau\s+capital\s+de\b|\bR\.?C\.?S\.?\s|\bKvK\b|\bHRB\b|\bHandelsregister\b"
    r"|\bAmtsgericht\b|\bRegistergericht\b|\bRegistered\s+in\s+(?:England|Scotland|Ireland)\b"
    r"|\bSteuernummer\b|\bcapitale\s+sociale\b|\bcapital\s+social\b|\bsi[eè]ge\s+social\b"
    r"|\bcompany\s+(?:registration\s+)?(?:number|no)\b|\bR\.?E\.?A\.?\b|\bKBO\b",
    re.IGNORECASE,
)
# Lines this close to a legal line are the seller's own footer or letterhead.
_LEGAL_NEIGHBOURS = 2
# "Your VAT ID", "Votre n° TVA", "Kundennummer": the customer's numbers on the seller's page.
_THEIRS = re.compile(
    r"\b(?:your|votre|vos|ihre?|uw|su|vostr[oa]|customer|client|kunden?(?:nummer|nr)?|klant"
    r"(?:nummer|nr)?|cliente)\b",
    re.IGNORECASE,
)
_COLUMN_GAP = re.compile(r"\s{2,}")
_UNSURE = 0.6
_RCS = re.compile(
    r"(?i)\bR\.?C\.?S\.?\s+(?:[A-Za-zÀ-ÿ'\-]+\s+){0,3}?(?:[AB]\s+)?(\d{3} ?\d{3} ?\d{3})(?! ?\d)"
)


def compact(raw: str) -> str:
    """Strip spaces, dots and dashes and upper-case, e.g. "fr 40 303-265.045" -> FR40303265045."""
    return re.sub(r"[\s.\-]", "", raw).upper()


def is_valid_vat(raw: str) -> bool:
    """Check an EU (incl. XI), UK or Swiss VAT number with its country's check key."""
    number = compact(raw)
    if number.startswith("GB"):
        return bool(gb_vat.is_valid(number))
    if number.startswith("CHE"):
        return bool(ch_vat.is_valid(number))
    return bool(eu_vat.is_valid(number))


def is_valid_siren(raw: str) -> bool:
    return bool(fr_siren.is_valid(compact(raw)))


def is_valid_siret(raw: str) -> bool:
    return bool(fr_siret.is_valid(compact(raw)))


def is_valid_iban(raw: str) -> bool:
    return bool(std_iban.is_valid(compact(raw)))


def siren_from_vat(vat: str) -> str | None:
    """The SIREN inside a valid French VAT number (FR + key + SIREN), else None."""
    number = compact(vat)
    match = _SIREN_IN_FR_VAT.match(number)
    if match is None or not is_valid_vat(number) or not is_valid_siren(match.group(1)):
        return None
    return match.group(1)


@dataclass(frozen=True, slots=True)
class Identifiers:
    """The supplier's identifiers found in a document's text, plus validation warnings."""

    supplier_vat: Field[str] | None
    supplier_siren: Field[str] | None
    iban: Field[str] | None
    warnings: tuple[str, ...]


def find_identifiers(lines: Sequence[str], buyer_lines: frozenset[int]) -> Identifiers:
    """Find the supplier's VAT, SIREN and IBAN; lines in `buyer_lines` are the customer's."""
    warnings: list[str] = []
    vats: list[tuple[int, Field[str]]] = []
    siren: Field[str] | None = None
    iban: Field[str] | None = None
    for index, line in enumerate(lines):
        # The customer's own numbers are not ours to judge; only the supplier's are warned on.
        supplier_line = index not in buyer_lines
        iban_spans = []
        for start, end, number in _valid_prefixes(_IBAN_CANDIDATE, line, is_valid_iban):
            iban_spans.append((start, end))
            if iban is None and supplier_line:
                labelled = _IBAN_LABEL.search(line) is not None
                iban = Field(number, "text", 0.95 if labelled else 0.8)
        if (
            supplier_line
            and not iban_spans
            and _IBAN_LABEL.search(line)
            and _IBAN_CANDIDATE.search(line)
        ):
            warnings.append("invalid_iban")

        vat_label = _VAT_LABEL.search(line) is not None
        found_vat = False
        for start, _end, number in _valid_prefixes(_VAT_CANDIDATE, line, is_valid_vat):
            if any(s <= start < e for s, e in iban_spans):
                continue
            found_vat = True
            if supplier_line and not _THEIRS.search(_cell_before(line, start)):
                vats.append((index, Field(number, "text", 0.95 if vat_label else 0.8)))
        if supplier_line and vat_label and not found_vat and _has_unchecked_vat(line, iban_spans):
            warnings.append("invalid_vat_number")

        if not supplier_line:
            continue
        for pattern, check, take in (
            (_SIRET, is_valid_siret, 9),
            (_SIREN, is_valid_siren, 9),
            (_RCS, is_valid_siren, 9),
        ):
            for match in pattern.finditer(line):
                number = compact(match.group(1))
                if not check(number):
                    warnings.append("invalid_siren")
                elif siren is None:
                    siren = Field(number[:take], "text", 0.95)
    vat = _sellers_vat(vats, lines)
    if siren is None and vat is not None:
        derived = siren_from_vat(vat.value)
        if derived is not None:
            siren = Field(derived, "text", 0.9)
    return Identifiers(vat, siren, iban, tuple(dict.fromkeys(warnings)))


def _sellers_vat(vats: list[tuple[int, Field[str]]], lines: Sequence[str]) -> Field[str] | None:
    """Of the VAT numbers outside the customer's block, the seller's: the first one near
    the seller's legal line (a customer's number may sit in the header's reference
    block, the seller's sits with its registration), else the first one."""
    for index, field in vats:
        near = lines[max(0, index - _LEGAL_NEIGHBOURS) : index + _LEGAL_NEIGHBOURS + 1]
        if any(_LEGAL_LINE.search(line) for line in near):
            return field
    if not vats:
        return None
    index, field = vats[0]
    if any(_THEIRS.search(line) for line in lines[max(0, index - 1) : index + 2]):
        # Beside the customer's number ("Kundennummer", "Customer ID"): maybe theirs.
        return Field(field.value, field.source, min(field.confidence, _UNSURE))
    return field


def _cell_before(line: str, start: int) -> str:
    """The text of `line` before `start`, back to the previous column gap or the start of
    the line before it: the label of the value at `start`."""
    before = line[:start].rstrip()
    gaps = [m.end() for m in _COLUMN_GAP.finditer(before)]
    return before[gaps[-2] if len(gaps) >= 2 else 0 :] if gaps else before


def _has_unchecked_vat(line: str, iban_spans: list[tuple[int, int]]) -> bool:
    return any(
        not any(s <= m.start() < e for s, e in iban_spans) for m in _VAT_CANDIDATE.finditer(line)
    )


def _valid_prefixes(
    pattern: re.Pattern[str], line: str, check: Callable[[str], bool]
) -> Iterator[tuple[int, int, str]]:
    """Yield (start, end, compact number) for each candidate whose longest prefix checks.

    A candidate may run into the next word ("FR76 3000 ... BIC AGRIFRPP"), so prefixes are
    tried from longest to shortest at separator boundaries. An invalid candidate does not
    swallow the text after its first character, so a real number right after still counts.
    """
    pos = 0
    while (match := pattern.search(line, pos)) is not None:
        text = match.group(0)
        cuts = [i for i in range(1, len(text) + 1) if i == len(text) or text[i] in " .-"]
        for cut in reversed(cuts):
            number = compact(text[:cut])
            if check(number):
                yield match.start(), match.start() + cut, number
                pos = match.start() + cut
                break
        else:
            pos = match.start() + 1
