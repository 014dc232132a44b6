"""Per-supplier templates: where one supplier's layout puts its fields, as data.

invoice2data's idea, kept as data rather than code: a TOML file in
core/extraction/templates/ says how to recognise the supplier and where each field is,
for the suppliers whose layout the general rules misread. Adding one needs no code.

    name = "Papeterie Lenoir"
    [match]                   # selects the template: all keywords, or any identifier
    keywords = ["papeterie lenoir"]
    identifiers = ["FR83404833048"]        # VAT numbers, SIRENs, IBANs (spaces ignored)
    [options]                 # all optional
    date_formats = ["%d.%m.%Y"]            # strptime formats, tried in order
    decimal_separator = ","                # "," (1 234,56) or "." (1,234.56)
    currency = "EUR"                       # when the page never says
    [fields]                  # each: { value = "..." } | { regex = '...(?P<value>...)...' }
    invoice_number = { regex = 'Piece\\s+(?P<value>\\S+)' }
    total_incl_tax = { anchor = "A REGLER" }   # the first value after the label on its line

Fields: supplier_name, supplier_vat, invoice_number, issue_date, due_date, currency,
total_excl_tax, total_tax, total_incl_tax, iban. A misspelt key or a regex without a
`value` group is an error that names it, when the file is loaded.

A learned template (core/extraction/learned.py: one a person's correction taught) has the
same tables, with two additions. `[options] examples = 1` says how many corrected
documents it was learned from, and `month_first = true` how its numeric dates are written.
An anchor rule may say where its value sits and what it looks like:

    invoice_number = { anchor = "Invoice No", place = "right", shape = '[A-Za-z]+-\\d+' }
    issue_date = { anchor = "Date", place = "below", shape = "date" }
    total_tax = { anchor = "VAT", place = "right", shape = "amount", nth = 1 }

`place` is "right" (on the label's line, after it) or "below" (under the label's columns,
in the next rows); `shape` is "amount", "date" or a regex of the value; `nth` skips that
many values of the shape first.

Values read by a hand-written template get source "template" and confidence 0.9; by a
learned one, LEARNED_CONFIDENCE (one example is weaker evidence than a person's rule). The
totals are then cross-checked like any reading.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Any

from core.extraction.checks import cross_check_totals
from core.extraction.fields import Field, InvoiceData
from core.extraction.learned import Anchor, locate

TEMPLATE_CONFIDENCE = 0.9
#: A learned template's values: calibrated on the corpus with bench/read_corpus.py --learn.
LEARNED_CONFIDENCE = 0.85
CROSS_CHECKED = 0.97
_TEXT_FIELDS = frozenset({"supplier_name", "supplier_vat", "invoice_number", "currency", "iban"})
_DATE_FIELDS = frozenset({"issue_date", "due_date"})
_MONEY_FIELDS = frozenset({"total_excl_tax", "total_tax", "total_incl_tax"})
FIELDS = _TEXT_FIELDS | _DATE_FIELDS | _MONEY_FIELDS
_TOP_KEYS = frozenset({"name", "match", "options", "fields"})
_MATCH_KEYS = frozenset({"keywords", "identifiers"})
_OPTION_KEYS = frozenset(
    {"date_formats", "decimal_separator", "currency", "examples", "month_first"}
)
_RULE_KEYS = frozenset({"value", "regex", "anchor"})
_PLACE_KEYS = frozenset({"place", "shape", "nth"})
_VALUE_AFTER_ANCHOR = r"[\s:.\-_…]*(?P<value>\S.*?)\s*$"


class TemplateInvalid(ValueError):
    """A template file is wrong; the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class FieldRule:
    field: str
    value: str | None = None
    pattern: re.Pattern[str] | None = None
    anchor: Anchor | None = None


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    keywords: tuple[str, ...]
    identifiers: tuple[str, ...]
    rules: tuple[FieldRule, ...]
    date_formats: tuple[str, ...] = ("%d/%m/%Y",)
    decimal_separator: str = ","
    currency: str | None = None
    #: How many corrected documents taught it; 0 for a hand-written template.
    examples: int = 0
    month_first: bool = False

    def matches(self, text: str) -> bool:
        folded = text.casefold()
        if self.identifiers:
            squashed = re.sub(r"\s+", "", text).upper()
            if any(identifier in squashed for identifier in self.identifiers):
                return True
        return bool(self.keywords) and all(k in folded for k in self.keywords)


def parse_template(raw: dict[str, Any], *, origin: str) -> Template:
    """Build a Template from a TOML table; raises TemplateInvalid naming what is wrong."""
    _only(raw, _TOP_KEYS, origin)
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise TemplateInvalid(f"{origin}: name: missing")
    match = _table(raw, "match", origin)
    _only(match, _MATCH_KEYS, f"{origin}: match")
    keywords = tuple(k.casefold() for k in _strings(match, "keywords", origin))
    identifiers = tuple(
        re.sub(r"\s+", "", i).upper() for i in _strings(match, "identifiers", origin)
    )
    if not keywords and not identifiers:
        raise TemplateInvalid(f"{origin}: match: needs keywords or identifiers")
    options = _table(raw, "options", origin, required=False)
    _only(options, _OPTION_KEYS, f"{origin}: options")
    separator = options.get("decimal_separator", ",")
    if separator not in (",", "."):
        raise TemplateInvalid(f"{origin}: options.decimal_separator: must be ',' or '.'")
    currency = options.get("currency")
    if currency is not None and not (
        isinstance(currency, str) and re.fullmatch(r"[A-Z]{3}", currency)
    ):
        raise TemplateInvalid(f"{origin}: options.currency: must be a 3-letter code")
    examples = options.get("examples", 0)
    if not isinstance(examples, int) or isinstance(examples, bool) or examples < 0:
        raise TemplateInvalid(f"{origin}: options.examples: must be a whole number")
    month_first = options.get("month_first", False)
    if not isinstance(month_first, bool):
        raise TemplateInvalid(f"{origin}: options.month_first: must be true or false")
    rules = tuple(
        _rule(field, spec, origin) for field, spec in _table(raw, "fields", origin).items()
    )
    return Template(
        name=name,
        keywords=keywords,
        identifiers=identifiers,
        rules=rules,
        date_formats=tuple(_strings(options, "date_formats", origin)) or ("%d/%m/%Y",),
        decimal_separator=separator,
        currency=currency,
        examples=examples,
        month_first=month_first,
    )


def load_templates(directory: Path) -> tuple[Template, ...]:
    """Every *.toml template of `directory`, in file-name order."""
    templates = []
    for path in sorted(directory.glob("*.toml")):
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise TemplateInvalid(f"{path.name}: {exc}") from exc
        templates.append(parse_template(raw, origin=path.name))
    return tuple(templates)


@functools.cache
def shipped_templates() -> tuple[Template, ...]:
    """The templates packaged in core/extraction/templates/."""
    return load_templates(Path(str(resources.files("core.extraction.templates"))))


def read_with_template(
    text: str, templates: Sequence[Template] | None = None
) -> InvoiceData | None:
    """Read `text` with the first template that matches it; None when none does."""
    for template in shipped_templates() if templates is None else templates:
        if template.matches(text):
            return apply_template(template, text)
    return None


def apply_template(template: Template, text: str) -> InvoiceData:
    values: dict[str, Field[object]] = {}
    confidence = LEARNED_CONFIDENCE if template.examples else TEMPLATE_CONFIDENCE
    lines = text.splitlines()
    for rule in template.rules:
        raw = rule.value
        value: object | None = None
        if rule.anchor is not None:
            value = locate(lines, rule.anchor, month_first=template.month_first)
        else:
            if rule.pattern is not None:
                found = rule.pattern.search(text)
                raw = found["value"] if found else None
            value = None if raw is None else _convert(template, rule.field, raw.strip())
        if value is not None:
            values[rule.field] = Field(value, "template", confidence)
    if "currency" not in values and template.currency is not None:
        values["currency"] = Field(template.currency, "template", confidence)
    data = InvoiceData(**values)  # type: ignore[arg-type]
    return cross_check_totals(data, confirmed_confidence=CROSS_CHECKED)


def _convert(template: Template, field: str, raw: str) -> object | None:
    if field in _DATE_FIELDS:
        for pattern in template.date_formats:
            try:
                parsed: date = datetime.strptime(raw.split()[0], pattern).date()
            except (ValueError, IndexError):
                continue
            return parsed
        return None
    if field in _MONEY_FIELDS:
        decimal_mark = re.escape(template.decimal_separator)
        thousands = r"[\s.]" if template.decimal_separator == "," else r"[\s,]"
        amount = re.compile(
            rf"-?(?:\d{{1,3}}(?:{thousands}\d{{3}})+|\d+)(?:{decimal_mark}\d{{1,2}})?(?!\d)"
        )
        # After a label, the amount is the line's last number ("Taxes 20 % .... 50,00").
        found = amount.findall(raw)
        if not found:
            return None
        number = re.sub(thousands, "", found[-1]).replace(template.decimal_separator, ".")
        try:
            return Decimal(number)
        except InvalidOperation:
            return None
    if field in ("supplier_vat", "iban"):
        return re.sub(r"\s+", "", raw).upper()
    return raw


def _rule(field: str, spec: object, origin: str) -> FieldRule:
    where = f"{origin}: fields.{field}"
    if field not in FIELDS:
        raise TemplateInvalid(f"{where}: unknown field")
    if not isinstance(spec, dict):
        raise TemplateInvalid(f"{where}: needs exactly one of value, regex, anchor")
    placed = {k: v for k, v in spec.items() if k in _PLACE_KEYS}
    spec = {k: v for k, v in spec.items() if k not in _PLACE_KEYS}
    if len(spec) != 1:
        raise TemplateInvalid(f"{where}: needs exactly one of value, regex, anchor")
    _only(spec, _RULE_KEYS, where)
    [(kind, raw)] = spec.items()
    if not isinstance(raw, str) or not raw:
        raise TemplateInvalid(f"{where}.{kind}: must be a non-empty string")
    if placed and kind != "anchor":
        raise TemplateInvalid(f"{where}: place, shape and nth go with an anchor")
    if kind == "value":
        return FieldRule(field, value=raw)
    if placed:
        return FieldRule(field, anchor=_placed_anchor(raw, placed, where))
    pattern_text = raw if kind == "regex" else re.escape(raw) + _VALUE_AFTER_ANCHOR
    try:
        pattern = re.compile(pattern_text, re.IGNORECASE | re.MULTILINE)
    except re.error as exc:
        raise TemplateInvalid(f"{where}.{kind}: {exc}") from exc
    if "value" not in pattern.groupindex:
        raise TemplateInvalid(f"{where}.regex: needs a (?P<value>...) group")
    return FieldRule(field, pattern=pattern)


def _placed_anchor(label: str, placed: dict[str, Any], where: str) -> Anchor:
    place, shape, nth = placed.get("place", "right"), placed.get("shape"), placed.get("nth", 0)
    if place not in ("right", "below"):
        raise TemplateInvalid(f"{where}.place: must be 'right' or 'below'")
    if not isinstance(shape, str) or not shape:
        raise TemplateInvalid(f"{where}.shape: must be 'amount', 'date' or a regex")
    try:
        re.compile(shape)
    except re.error as exc:
        raise TemplateInvalid(f"{where}.shape: {exc}") from exc
    if not isinstance(nth, int) or isinstance(nth, bool) or nth < 0:
        raise TemplateInvalid(f"{where}.nth: must be a whole number")
    return Anchor(label, place, shape, nth)


def _only(table: dict[str, Any], allowed: frozenset[str], where: str) -> None:
    for key in table:
        if key not in allowed:
            raise TemplateInvalid(f"{where}: unknown key {key!r}")


def _table(raw: dict[str, Any], key: str, origin: str, *, required: bool = True) -> dict[str, Any]:
    value = raw.get(key)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise TemplateInvalid(f"{origin}: {key}: missing")
    return value


def _strings(table: dict[str, Any], key: str, origin: str) -> list[str]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise TemplateInvalid(f"{origin}: {key}: must be a list of strings")
    return value
