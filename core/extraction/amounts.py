"""Find money amounts, VAT rates and currencies in a line of French or English text.

Handles "1 234,56 €" (with plain, no-break U+00A0 or narrow no-break U+202F spaces),
"1.234,56", "€1,234.56", "1,234.56 EUR", "CHF 1'234.50". The decimal separator is the last
"," or "." followed by one or two digits; a bare integer counts only next to a currency,
so dates, quantities and phone numbers are not taken for money.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

# Spaces PDF tools emit inside numbers; swapped one-for-one so match offsets stay valid.
_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2009": " ", "\u2007": " "})

_CURRENCY_TOKENS = {
    "€": "EUR",
    "EUR": "EUR",
    "EUROS": "EUR",
    "EURO": "EUR",
    "£": "GBP",
    "GBP": "GBP",
    "$": "USD",
    "US$": "USD",
    "USD": "USD",
    "CHF": "CHF",
}
_CUR = r"(?:US\$|€|£|\$|EUROS?|EUR|GBP|USD|CHF)"
_AMOUNT = re.compile(
    rf"(?:(?P<pre>{_CUR})\s?)?"
    r"(?<![\w.,'’\-/])(?P<sign>[-−]\s?)?"
    r"(?P<int>\d{1,3}(?:(?P<sep>[ .,'’])\d{3})(?:(?P=sep)\d{3})*|\d+)"
    r"(?:(?P<dec>[.,])(?P<frac>\d{1,2}))?"
    r"(?![\d]|[.,/]\d)"
    # A symbol followed by a number is that number's prefix ("2 £650.00"), not our suffix.
    rf"(?:\s?(?P<post>{_CUR})(?![A-Za-z])(?!\s?\d))?",
    re.IGNORECASE,
)
_PERCENT_AFTER = re.compile(r"\s?%")
_RATE = re.compile(r"(?<![\d.,])(\d{1,2}(?:[.,]\d{1,3})?)\s?%")
_CURRENCY_ANYWHERE = re.compile(rf"(?<![A-Za-z]){_CUR}(?![A-Za-z])", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Amount:
    """A money amount found at [start, end) of a line, with its currency if written."""

    value: Decimal
    start: int
    end: int
    currency: str | None


def normalise_spaces(text: str) -> str:
    """Replace no-break and thin spaces with plain spaces, keeping every offset."""
    return text.translate(_SPACES)


def find_amounts(line: str) -> list[Amount]:
    """Return the money amounts of `line` in reading order; percentages are skipped."""
    text = normalise_spaces(line)
    found = []
    for match in _AMOUNT.finditer(text):
        if _PERCENT_AFTER.match(text, match.end()):
            continue
        value = _to_decimal(match)
        if value is None:
            continue
        token = match.group("pre") or match.group("post")
        currency = None if token is None else _CURRENCY_TOKENS[token.upper()]
        if match.group("frac") is None and currency is None:
            continue
        found.append(Amount(value, match.start(), match.end(), currency))
    return found


def parse_amount(raw: str) -> Decimal | None:
    """Parse one amount written alone, e.g. "1 234,56 €" -> Decimal("1234.56")."""
    amounts = find_amounts(raw.strip())
    if len(amounts) != 1:
        return None
    return amounts[0].value


def _to_decimal(match: re.Match[str]) -> Decimal | None:
    sep, dec = match.group("sep"), match.group("dec")
    if sep is not None and sep == dec:
        # "1,234,56" or "1.234.56": no reading of that is a sane amount.
        return None
    digits = match.group("int")
    if sep is not None:
        digits = digits.replace(sep, "")
    frac = match.group("frac")
    value = Decimal(f"{digits}.{frac}" if frac else digits)
    return -value if match.group("sign") else value


def find_rate(text: str) -> Decimal | None:
    """Return the first VAT rate written as a percentage ("20 %", "5,5%"), if any."""
    match = _RATE.search(normalise_spaces(text))
    if match is None:
        return None
    return Decimal(match.group(1).replace(",", "."))


def detect_currency(text: str, near_totals: list[Amount]) -> tuple[str, float] | None:
    """Pick the document currency: the one written next to a total, else the most frequent."""
    written = [a.currency for a in near_totals if a.currency is not None]
    if written:
        return Counter(written).most_common(1)[0][0], 0.9
    tokens = [
        _CURRENCY_TOKENS[m.group(0).upper()]
        for m in _CURRENCY_ANYWHERE.finditer(normalise_spaces(text))
    ]
    if not tokens:
        return None
    return Counter(tokens).most_common(1)[0][0], 0.7
