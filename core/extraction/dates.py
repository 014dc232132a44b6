"""Find calendar dates in French or English text.

Recognised: "15/11/2026", "15.11.26", "2026-11-15", "15 novembre 2026", "1er mars 2026",
"15 Nov 2026", "Nov 15, 2026", "November 15th, 2026". A date that matches a pattern but
does not exist (31/02/2026) is reported with value None so the caller can warn
"invalid_date" instead of crashing or silently dropping it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

_MONTHS = {
    "janvier": 1, "janv": 1, "jan": 1, "january": 1,
    "février": 2, "fevrier": 2, "févr": 2, "fevr": 2, "fév": 2, "fev": 2, "feb": 2,
    "february": 2,
    "mars": 3, "mar": 3, "march": 3,
    "avril": 4, "avr": 4, "apr": 4, "april": 4,
    "mai": 5, "may": 5,
    "juin": 6, "jun": 6, "june": 6,
    "juillet": 7, "juil": 7, "jul": 7, "july": 7,
    "août": 8, "aout": 8, "aug": 8, "august": 8,
    "septembre": 9, "sept": 9, "sep": 9, "september": 9,
    "octobre": 10, "oct": 10, "october": 10,
    "novembre": 11, "nov": 11, "november": 11,
    "décembre": 12, "decembre": 12, "déc": 12, "dec": 12, "december": 12,
}  # fmt: skip
# Longest names first so "septembre" is not read as "sept" + garbage.
_MONTH = "|".join(sorted((re.escape(m) for m in _MONTHS), key=len, reverse=True))

_ISO = re.compile(r"(?<![\d/.\-])(\d{4})-(\d{1,2})-(\d{1,2})(?![\d])")
_NUMERIC = re.compile(r"(?<![\d/.\-])(\d{1,2})([/.\-])(\d{1,2})\2(\d{4}|\d{2})(?![\d]|[/.\-]\d)")
_DAY_MONTH = re.compile(
    rf"(?<!\d)(\d{{1,2}})(?:er|st|nd|rd|th)?[\s\-]+({_MONTH})\.?[\s\-,]+(\d{{4}})(?!\d)",
    re.IGNORECASE,
)
_MONTH_DAY = re.compile(
    rf"(?<![A-Za-zÀ-ÿ])({_MONTH})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})(?!\d)",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class DateMatch:
    """A date written at [start, end) of a line; value is None when it cannot exist."""

    value: date | None
    start: int
    end: int
    raw: str


def find_dates(line: str, *, month_first: bool = False) -> list[DateMatch]:
    """Return the dates of `line` in reading order.

    Numeric dates are read day-first (French and British use) unless the first number
    cannot be a month, or `month_first` is set (US documents) and the reading is ambiguous.
    """
    found: list[DateMatch | None] = []
    for match in _ISO.finditer(line):
        found.append(_make(match, int(match[1]), int(match[2]), int(match[3])))
    for match in _NUMERIC.finditer(line):
        first, second, year = int(match[1]), int(match[3]), _year(match[4])
        day, month = first, second
        if (month_first and first <= 12) or (second > 12 and first <= 12):
            day, month = second, first
        found.append(_make(match, year, month, day))
    for match in _DAY_MONTH.finditer(line):
        found.append(_make(match, int(match[3]), _MONTHS[match[2].lower()], int(match[1])))
    for match in _MONTH_DAY.finditer(line):
        found.append(_make(match, int(match[3]), _MONTHS[match[1].lower()], int(match[2])))
    return _without_overlaps(found)


def written_month_first(lines: Iterable[str]) -> bool | None:
    """What the document's own unambiguous numeric dates say of its order.

    "17/11/2017" can only be day-first and "11/17/2017" only month-first; one writer uses
    one order throughout, so such a date settles "11/03/2017" on the same page. None when
    no date settles it, or when the page holds both orders.
    """
    orders: set[bool] = set()
    for line in lines:
        for match in _NUMERIC.finditer(line):
            first, second = int(match[1]), int(match[3])
            if first > 12 >= second >= 1:
                orders.add(False)
            elif second > 12 >= first >= 1 and second <= 31:
                orders.add(True)
    return orders.pop() if len(orders) == 1 else None


def _year(raw: str) -> int:
    # Two-digit years on invoices are always this century.
    return 2000 + int(raw) if len(raw) == 2 else int(raw)


def _make(match: re.Match[str], year: int, month: int, day: int) -> DateMatch | None:
    if not (1 <= month <= 12 and 1 <= day <= 31 and 1990 <= year <= 2099):
        # Not shaped like a date at all (a reference, a version): not worth a warning.
        return None
    try:
        value: date | None = date(year, month, day)
    except ValueError:
        value = None
    return DateMatch(value, match.start(), match.end(), match.group(0))


def _without_overlaps(found: list[DateMatch | None]) -> list[DateMatch]:
    kept: list[DateMatch] = []
    real = [item for item in found if item is not None]
    for item in sorted(real, key=lambda d: (d.start, -(d.end - d.start))):
        if kept and item.start < kept[-1].end:
            continue
        kept.append(item)
    return kept
