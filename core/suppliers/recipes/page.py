"""A fetched HTML page as a recipe sees it: probes, forms, columns, dates and amounts.

Parsing uses selectolax (the Lexbor HTML5 parser), which repairs broken markup the way a
browser does, so a recipe's selectors see what a user would see.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

import httpx
from selectolax.lexbor import LexborHTMLParser, LexborNode

from core.suppliers.recipes.model import Column, Probe

_SPACES = re.compile(r"\s+")
_NUMBER = re.compile(r"-?\d[\d\s.,'\u00a0\u202f]*")
_CURRENCIES = {"€": "EUR", "$": "USD", "£": "GBP", "CHF": "CHF", "EUR": "EUR", "USD": "USD"}


@dataclass(frozen=True, slots=True)
class Form:
    """A form's target and the fields a browser would send if nobody typed anything."""

    action: httpx.URL
    method: str
    fields: dict[str, str]
    names: frozenset[str]  # every named control, sent or not
    checkboxes: dict[str, str]  # unchecked boxes: name → value sent when ticked


class Page:
    def __init__(self, url: httpx.URL, status: int, html: str) -> None:
        self.url, self.status = url, status
        self.tree = LexborHTMLParser(html)
        self._text: str | None = None

    @property
    def path(self) -> str:
        return self.url.path

    def text(self) -> str:
        if self._text is None:
            body = self.tree.body
            self._text = _SPACES.sub(" ", body.text(separator=" ") if body else "").strip()
        return self._text

    def matches(self, probe: Probe) -> bool:
        if probe.selector is not None and self.tree.css_first(probe.selector) is not None:
            return True
        return probe.text is not None and probe.text.casefold() in self.text().casefold()

    def probe_text(self, probe: Probe) -> str | None:
        """The text of what the probe found (the site's error message, say), if a node."""
        return self.node_text(probe.selector) if probe.selector else None

    def node_text(self, selector: str) -> str | None:
        node = self.tree.css_first(selector)
        return clean(node.text(separator=" ")) if node is not None else None

    def value(self, column: Column, scope: LexborNode | None = None) -> str | None:
        node = (scope or self.tree).css_first(column.selector)
        return None if node is None else read_column(node, column)

    def link(self, href: str) -> httpx.URL:
        return self.url.join(href)

    def form(self, selector: str) -> Form | None:
        node = self.tree.css_first(selector)
        if node is None:
            return None
        if node.tag != "form":  # a selector may point inside the form
            parent = node.parent
            while parent is not None and parent.tag != "form":
                parent = parent.parent
            if parent is None:
                return None
            node = parent
        fields: dict[str, str] = {}
        names: set[str] = set()
        checkboxes: dict[str, str] = {}
        submitted = False
        for control in node.css("input, select, textarea, button"):
            attrs = control.attributes
            name = attrs.get("name")
            if not name or "disabled" in attrs:
                continue
            names.add(name)
            kind = (attrs.get("type") or ("submit" if control.tag == "button" else "text")).lower()
            if kind in {"submit", "image"}:
                # Pressing Enter "clicks" the first submit button, whose value is then sent.
                if not submitted:
                    fields[name], submitted = attrs.get("value") or "", True
            elif kind in {"button", "reset", "file"}:
                continue
            elif kind in {"checkbox", "radio"}:
                value = attrs.get("value") or "on"
                if "checked" in attrs:
                    fields[name] = value
                elif kind == "checkbox":
                    checkboxes[name] = value
            elif control.tag == "select":
                option = control.css_first("option[selected]") or control.css_first("option")
                if option is not None:
                    option_value = option.attributes.get("value")
                    fields[name] = option_value if option_value is not None else option.text()
            elif control.tag == "textarea":
                fields[name] = control.text()
            else:
                fields[name] = attrs.get("value") or ""
        action = node.attributes.get("action") or ""
        method = (node.attributes.get("method") or "get").upper()
        return Form(self.url.join(action), method, fields, frozenset(names), checkboxes)


def clean(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def read_column(node: LexborNode, column: Column) -> str | None:
    raw = node.attributes.get(column.attribute) if column.attribute else node.text(separator=" ")
    if raw is None:
        return None
    text = clean(raw)
    if column.pattern is not None:
        match = re.search(column.pattern, text)
        if match is None:
            return None
        text = clean(match.group(1) if match.groups() else match.group(0))
    return text or None


def parse_date(text: str, formats: tuple[str, ...]) -> date:
    for fmt in formats:
        try:
            return datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            continue
    raise ValueError(f"{text!r} matches none of {list(formats)}")


def parse_amount(text: str, decimal_separator: str) -> tuple[Decimal, str | None]:
    """ "1 234,56 €" → (Decimal("1234.56"), "EUR"). Raises ValueError when no number."""
    match = _NUMBER.search(text)
    if match is None:
        raise ValueError(f"no amount in {text!r}")
    digits = re.sub(r"[\s'\u00a0\u202f]", "", match.group(0)).rstrip(".,")
    thousands = "." if decimal_separator == "," else ","
    digits = digits.replace(thousands, "").replace(decimal_separator, ".")
    try:
        amount = Decimal(digits)
    except InvalidOperation as err:
        raise ValueError(f"no amount in {text!r}") from err
    rest = text.replace(match.group(0), " ")
    currency = next((code for sign, code in _CURRENCIES.items() if sign in rest), None)
    return amount, currency
