"""Learn a supplier's template from one corrected document, and find values by it.

A person's correction says what a field's value is; the document's laid-out text
(core/extraction/layout.py: a page row per line, columns kept) says where it sat. From
both, `learn_field` records the field's anchor: the label nearest to the value, on its
left on the same line ("Invoice No: INV-0046") or above it in its column ("Date" over
"12/03/2024"), where the value sits from it (`place`: "right" or "below"), and the value's
shape (an amount, a date, or a pattern such as `INV-\\d+` for "INV-0046": its letters as
written, any number of digits). Values that do not change between a supplier's invoices
(its name, VAT number) are kept as they are. The result is a template table in the
format of the hand-written templates (core/extraction/template.py), stored as data with
the supplier's profile.

`locate` applies one such anchor to another document's text. An anchor is only kept when
it finds the corrected value again on its own document, so a label that points elsewhere
(a second "Total" higher up the page) is never learned.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from core.extraction.amounts import find_amounts, normalise_spaces
from core.extraction.dates import find_dates

AMOUNT, DATE = "amount", "date"
RIGHT, BELOW = "right", "below"
#: Fields read at a place on the page; the others are the same on each invoice.
PLACED_FIELDS = frozenset(
    {"invoice_number", "issue_date", "due_date", "total_excl_tax", "total_tax", "total_incl_tax"}
)
# Not the currency: a supplier may bill in two, and the page says which; a person's answer
# about it is kept as the supplier's habit instead (core/services/review.py). Never the
# IBAN: a constant one would hide a changed account on the page (bank-detail fraud).
CONSTANT_FIELDS = frozenset({"supplier_name", "supplier_vat"})
_DATE_FIELDS = frozenset({"issue_date", "due_date"})
# How far above a value its column's label may be: a header row, maybe one row between.
_ROWS_ABOVE = 3
_ROWS_BELOW = 4
_MAX_LABEL_WORDS = 4
_SEGMENT = re.compile(r"\S+(?: \S+)*")


@dataclass(frozen=True, slots=True)
class Anchor:
    """Where a field's value sits: after `label`, at `place`, with the value's `shape`;
    `nth` counts the values of that shape passed over after the label."""

    label: str
    place: str
    shape: str
    nth: int = 0

    def as_rule(self) -> dict[str, Any]:
        rule: dict[str, Any] = {"anchor": self.label, "place": self.place, "shape": self.shape}
        if self.nth:
            rule["nth"] = self.nth
        return rule


@dataclass(frozen=True, slots=True)
class _Token:
    value: object
    start: int
    end: int


def learn_field(
    text: str, field: str, value: object, *, month_first: bool = False
) -> dict[str, Any] | None:
    """The template rule for `field`, whose right value is `value`, on this document's
    `text`; None when the value cannot be found at a labelled place."""
    if field in CONSTANT_FIELDS:
        return {"value": str(value)} if str(value).strip() else None
    if field not in PLACED_FIELDS:
        return None
    anchor = find_anchor(text, field, value, month_first=month_first)
    return None if anchor is None else anchor.as_rule()


def find_anchor(
    text: str, field: str, value: object, *, month_first: bool = False
) -> Anchor | None:
    """The label nearest to where `value` is written (left on its line, else above it),
    checked by finding the value again from it; None when no label leads back to it."""
    lines = normalise_spaces(text).splitlines()
    shape = shape_of(field, value)
    candidates: list[tuple[int, Anchor]] = []
    for index, line in enumerate(lines):
        for token in tokens(line, shape, month_first=month_first):
            if not _same(token.value, value):
                continue
            labels, written = _labels_before(line[: token.start])
            candidates.extend((0, Anchor(label, RIGHT, shape)) for label in labels)
            above = _label_above(lines, index, token)
            if above is not None:
                candidates.append((1, Anchor(above, BELOW, shape)))
            if written is not None:
                candidates.append((2, Anchor(written, RIGHT, shape)))
    for _, anchor in sorted(candidates, key=lambda item: item[0]):
        for nth in range(3):
            tried = Anchor(anchor.label, anchor.place, anchor.shape, nth)
            found = locate(lines, tried, month_first=month_first)
            if found is None:
                break
            if _same(found, value):
                return tried
    return None


def locate(lines: Sequence[str], anchor: Anchor, *, month_first: bool = False) -> object | None:
    """The value `anchor` points at in `lines`, at its first label that leads to one."""
    label = _label_pattern(anchor.label)
    for index, raw in enumerate(lines):
        line = normalise_spaces(raw)
        for hit in label.finditer(line):
            if anchor.place == RIGHT:
                after = [
                    t
                    for t in tokens(line, anchor.shape, month_first=month_first)
                    if t.start >= hit.end()
                ]
                if len(after) > anchor.nth:
                    return after[anchor.nth].value
                continue
            found = _below(lines, index, hit.start(), hit.end(), anchor, month_first)
            if found is not None:
                return found
    return None


def shape_of(field: str, value: object) -> str:
    """An amount, a date, or a pattern: the value's letters and signs as written (a
    supplier's prefix stays), each run of digits as any number of digits."""
    if field in _DATE_FIELDS or isinstance(value, date):
        return DATE
    if isinstance(value, Decimal) or field.startswith("total_"):
        return AMOUNT
    pattern = ""
    for run in re.findall(r"[A-Za-z]+|\d+|\s+|.", str(value).strip()):
        if run[0].isdigit():
            pattern += r"\d+"
        elif run[0].isalpha():
            pattern += re.escape(run)
        elif run[0].isspace():
            pattern += r"\s?"
        else:
            pattern += re.escape(run)
    return pattern


def tokens(line: str, shape: str, *, month_first: bool = False) -> list[_Token]:
    """The values of `shape` written on `line`, in reading order."""
    if shape == AMOUNT:
        return [_Token(a.value, a.start, a.end) for a in find_amounts(line)]
    if shape == DATE:
        return [
            _Token(d.value, d.start, d.end)
            for d in find_dates(line, month_first=month_first)
            if d.value is not None
        ]
    pattern = re.compile(rf"(?<![\w#]){shape}(?!\w)")
    return [_Token(m.group(0), m.start(), m.end()) for m in pattern.finditer(line)]


def _below(
    lines: Sequence[str], index: int, start: int, end: int, anchor: Anchor, month_first: bool
) -> object | None:
    """The value of the anchor's shape under the label's columns, in the next rows."""
    for following in range(index + 1, min(index + 1 + _ROWS_BELOW, len(lines))):
        line = normalise_spaces(lines[following])
        under = [
            t
            for t in tokens(line, anchor.shape, month_first=month_first)
            if t.start < end + 2 and t.end > start - 2
        ]
        if under:
            return under[0].value
    return None


def _labels_before(left: str) -> tuple[list[str], str | None]:
    """The labels ending just before a value: the last words with no digits in them, in
    the last column of what precedes it; two words first (a phrase, yet the nearest
    one), then longer, and one word last ("Total" alone is on many lines). Apart, as a
    last resort, the column's last words as written, digits and all ("TVA 20 %"), unless
    they end with a number (a quantity in a table's row)."""
    segments = _SEGMENT.findall(left.rstrip())
    if not segments:
        return [], None
    words = segments[-1].split(" ")
    longest = _label_words(words)
    labels = []
    if longest is not None:
        kept = longest.split(" ")
        for count in (2, 3, 4, 1):
            if count <= len(kept):
                label = _label_words(kept[-count:])
                if label is not None:
                    labels.append(label)
    written: str | None = " ".join(words[-_MAX_LABEL_WORDS:]).strip(" :#.-–|")
    if (
        written is None
        or sum(c.isalpha() for c in written) < 2
        or re.fullmatch(r"[\d.,]+", written.split(" ")[-1])
        or written in labels
    ):
        written = None
    return list(dict.fromkeys(labels)), written


def _label_above(lines: Sequence[str], index: int, token: _Token) -> str | None:
    """The label written over the value's columns in the rows above it."""
    for above in range(index - 1, max(-1, index - 1 - _ROWS_ABOVE), -1):
        line = normalise_spaces(lines[above])
        for segment in _SEGMENT.finditer(line):
            if segment.start() < token.end + 2 and segment.end() > token.start - 2:
                label = _label_words(segment.group(0).split(" ")[:_MAX_LABEL_WORDS])
                if label is not None:
                    return label
                break
    return None


def _label_words(words: list[str]) -> str | None:
    kept: list[str] = []
    for word in reversed(words):
        if any(c.isdigit() for c in word) or len(kept) == _MAX_LABEL_WORDS:
            break
        kept.insert(0, word)
    label = " ".join(kept).strip(" :#.-–|")
    return label if sum(c.isalpha() for c in label) >= 2 else None


def _label_pattern(label: str) -> re.Pattern[str]:
    words = [re.escape(w) for w in label.split()]
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)[\s:#.\-–|]*", re.IGNORECASE)


def _same(found: object, wanted: object) -> bool:
    if isinstance(wanted, Decimal) or isinstance(found, Decimal):
        try:
            return Decimal(str(found)) == Decimal(str(wanted))
        except ArithmeticError:
            return False
    if isinstance(wanted, date) or isinstance(found, date):
        return found == wanted
    squash = re.compile(r"[\s#]+")
    return squash.sub("", str(found)).casefold() == squash.sub("", str(wanted)).casefold()


def learn_template(
    text: str,
    values: dict[str, object],
    *,
    name: str,
    identifiers: Sequence[str] = (),
    month_first: bool = False,
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A template table (core/extraction/template.py's format) learned from one document's
    `text` and its right `values`, added to `previous` (the supplier's learned template)."""
    template: dict[str, Any] = {
        "name": name,
        "match": {"keywords": [name.casefold()], "identifiers": list(identifiers)},
        "options": {"examples": 1, "month_first": month_first},
        "fields": {},
    }
    if previous:
        template = {
            **previous,
            "options": {**previous.get("options", {}), "month_first": month_first},
            "fields": dict(previous.get("fields", {})),
        }
        if identifiers:
            known = list(template.get("match", {}).get("identifiers", []))
            template["match"] = {
                **template.get("match", {}),
                "identifiers": list(dict.fromkeys([*known, *identifiers])),
            }
    for field, value in values.items():
        rule = learn_field(text, field, value, month_first=month_first)
        if rule is not None:
            template["fields"][field] = rule
    return template
