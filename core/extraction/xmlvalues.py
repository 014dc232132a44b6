"""Read typed values out of a parsed e-invoice, collecting warnings instead of failing.

A sender's XML can hold a bad amount or an impossible date in one element while the rest
is fine; we keep what is readable and record a machine warning for what is not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import TypeVar
from xml.etree.ElementTree import Element

from core.extraction.fields import Field, FieldSource
from core.extraction.identifiers import compact, is_valid_iban, is_valid_siren, is_valid_vat

T = TypeVar("T")

_IBAN_SHAPE = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{8,30}$")


class XmlValues:
    """Typed look-ups on one document, tagging every Field with the document's source."""

    def __init__(self, root: Element, namespaces: dict[str, str], source: FieldSource) -> None:
        self.root = root
        self.namespaces = namespaces
        self.source = source
        self.warnings: list[str] = []

    def warn(self, key: str) -> None:
        if key not in self.warnings:
            self.warnings.append(key)

    def find(self, path: str, at: Element | None = None) -> Element | None:
        return (self.root if at is None else at).find(path, self.namespaces)

    def findall(self, path: str, at: Element | None = None) -> list[Element]:
        return (self.root if at is None else at).findall(path, self.namespaces)

    def text(self, path: str, at: Element | None = None) -> str | None:
        element = self.find(path, at)
        return clean_text(element)

    def decimal(self, element: Element | None) -> Decimal | None:
        raw = clean_text(element)
        if raw is None:
            return None
        try:
            value = Decimal(raw)
        except InvalidOperation:
            self.warn("invalid_amount")
            return None
        if not value.is_finite():
            self.warn("invalid_amount")
            return None
        return value

    def iso_date(self, raw: str | None) -> date | None:
        if raw is None:
            return None
        try:
            return date.fromisoformat(raw[:10])
        except ValueError:
            self.warn("invalid_date")
            return None

    def field(self, value: T | None) -> Field[T] | None:
        return None if value is None else Field(value, self.source, 1.0)

    def vat_field(self, raw: str | None) -> Field[str] | None:
        """Keep the seller's declared VAT number even when its key is wrong, but say so."""
        vat = None if raw is None else compact(raw)
        if not vat:
            return None
        if is_valid_vat(vat):
            return Field(vat, self.source, 1.0)
        self.warn("invalid_vat_number")
        return Field(vat, self.source, 0.5)

    def iban(self, raw: str | None) -> str | None:
        """Return a valid IBAN; a wrong one is dropped with a warning, never paid into."""
        if raw is None:
            return None
        number = compact(raw)
        if is_valid_iban(number):
            return number
        if _IBAN_SHAPE.match(number):
            self.warn("invalid_iban")
        return None

    def siren(self, raw: str | None, scheme: str | None) -> str | None:
        """Read a SIREN (scheme 0002) or the SIREN part of a SIRET (scheme 0009)."""
        if raw is None or scheme not in ("0002", "0009"):
            return None
        digits = compact(raw)
        if scheme == "0002" and len(digits) == 9 and is_valid_siren(digits):
            return digits
        if scheme == "0009" and len(digits) == 14 and is_valid_siren(digits[:9]):
            return digits[:9]
        self.warn("invalid_siren")
        return None


def clean_text(element: Element | None) -> str | None:
    """Return the element's text with whitespace collapsed, or None when empty."""
    if element is None or element.text is None:
        return None
    text = " ".join(element.text.split())
    return text or None


def first(values: Iterable[T | None]) -> T | None:
    """Return the first value that is not None."""
    return next((v for v in values if v is not None), None)
