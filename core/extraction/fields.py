"""Values produced by the document-reading engine.

Every datum read from an invoice is a `Field`: the value plus where it came from and how
much we trust it, so that later stages (merge, review screens, the accounting export) can
decide what to keep and what to show a person. Money is always `Decimal`.

`InvoiceData.warnings` holds machine keys: totals_mismatch, invalid_date, due_before_issue,
invalid_vat_number, invalid_siren, invalid_iban, invalid_amount, einvoice_unreadable and
source_conflict:<field name>.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Generic, Literal, TypeVar, get_args

FieldSource = Literal["facturx", "ubl", "cii", "connector", "text", "ocr", "template", "user"]
# A receipt (a till's ticket, a "Sales Receipt") is paid already and names no customer.
DocumentType = Literal["invoice", "credit_note", "receipt"]

SOURCES: tuple[FieldSource, ...] = get_args(FieldSource)
DOCUMENT_TYPES: tuple[DocumentType, ...] = get_args(DocumentType)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Field(Generic[T]):
    """One value read from a document, with its origin and a 0..1 confidence."""

    value: T
    source: FieldSource
    confidence: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence must be within 0..1, got {self.confidence}")
        if self.source not in SOURCES:
            raise ValueError(f"unknown field source {self.source!r}")


@dataclass(frozen=True, slots=True)
class VatLine:
    """One row of the VAT breakdown: a rate in percent, its taxable base and tax."""

    rate: Decimal
    base: Decimal | None
    amount: Decimal


@dataclass(frozen=True, slots=True)
class InvoiceData:
    """Everything the engine could read from one document; absent fields are None."""

    supplier_name: Field[str] | None = None
    supplier_vat: Field[str] | None = None
    supplier_siren: Field[str] | None = None
    invoice_number: Field[str] | None = None
    document_type: Field[DocumentType] | None = None
    issue_date: Field[date] | None = None
    due_date: Field[date] | None = None
    period_start: Field[date] | None = None
    period_end: Field[date] | None = None
    currency: Field[str] | None = None
    total_excl_tax: Field[Decimal] | None = None
    total_tax: Field[Decimal] | None = None
    total_incl_tax: Field[Decimal] | None = None
    vat_lines: Field[tuple[VatLine, ...]] | None = None
    iban: Field[str] | None = None
    warnings: tuple[str, ...] = ()


FIELD_NAMES: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(InvoiceData) if f.name != "warnings"
)
_DATE_FIELDS = frozenset({"issue_date", "due_date", "period_start", "period_end"})
_MONEY_FIELDS = frozenset({"total_excl_tax", "total_tax", "total_incl_tax"})

JsonDict = dict[str, object]


def get_field(data: InvoiceData, name: str) -> Field[object] | None:
    """Return the named field of `data`; names come from FIELD_NAMES."""
    value: Field[object] | None = getattr(data, name)
    return value


def add_warnings(data: InvoiceData, *keys: str) -> InvoiceData:
    """Return `data` with `keys` appended to its warnings, each key at most once."""
    return dataclasses.replace(data, warnings=tuple(dict.fromkeys((*data.warnings, *keys))))


def retag(data: InvoiceData, source: FieldSource) -> InvoiceData:
    """Return `data` with every field's source replaced, e.g. CII read out of a Factur-X PDF."""
    changes: dict[str, object] = {}
    for name in FIELD_NAMES:
        field = get_field(data, name)
        if field is not None:
            changes[name] = dataclasses.replace(field, source=source)
    return dataclasses.replace(data, **changes)  # type: ignore[arg-type]


def _value_to_json(name: str, value: object) -> object:
    if name == "vat_lines":
        assert isinstance(value, tuple)
        return [
            {
                "rate": str(line.rate),
                "base": None if line.base is None else str(line.base),
                "amount": str(line.amount),
            }
            for line in value
        ]
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def invoice_to_dict(data: InvoiceData) -> JsonDict:
    """Turn `data` into plain JSON types: Decimals and dates become strings, never floats."""
    out: JsonDict = {}
    for name in FIELD_NAMES:
        field = get_field(data, name)
        out[name] = (
            None
            if field is None
            else {
                "value": _value_to_json(name, field.value),
                "source": field.source,
                "confidence": field.confidence,
            }
        )
    out["warnings"] = list(data.warnings)
    return out


def _decimal(raw: object) -> Decimal:
    if not isinstance(raw, str):
        raise ValueError(f"expected a decimal string, got {raw!r}")
    try:
        return Decimal(raw)
    except InvalidOperation as exc:
        raise ValueError(f"not a decimal: {raw!r}") from exc


def _value_from_json(name: str, raw: object) -> object:
    if name == "vat_lines":
        if not isinstance(raw, list):
            raise ValueError("vat_lines must be a list")
        lines = []
        for item in raw:
            if not isinstance(item, dict):
                raise ValueError("a VAT line must be an object")
            base = item.get("base")
            lines.append(
                VatLine(
                    rate=_decimal(item.get("rate")),
                    base=None if base is None else _decimal(base),
                    amount=_decimal(item.get("amount")),
                )
            )
        return tuple(lines)
    if name in _DATE_FIELDS:
        if not isinstance(raw, str):
            raise ValueError(f"{name} must be an ISO date string")
        return date.fromisoformat(raw)
    if name in _MONEY_FIELDS:
        return _decimal(raw)
    if name == "document_type" and raw not in DOCUMENT_TYPES:
        raise ValueError(f"unknown document type {raw!r}")
    if not isinstance(raw, str):
        raise ValueError(f"{name} must be a string")
    return raw


def _source(raw: object) -> FieldSource:
    for source in SOURCES:
        if source == raw:
            return source
    raise ValueError(f"unknown field source {raw!r}")


def invoice_from_dict(raw: JsonDict) -> InvoiceData:
    """Rebuild InvoiceData from `invoice_to_dict` output; raises ValueError on bad input."""
    changes: dict[str, object] = {}
    for name in FIELD_NAMES:
        item = raw.get(name)
        if item is None:
            continue
        if not isinstance(item, dict):
            raise ValueError(f"{name} must be an object or null")
        source = _source(item.get("source"))
        confidence = item.get("confidence")
        if not isinstance(confidence, int | float) or isinstance(confidence, bool):
            raise ValueError(f"{name}.confidence must be a number")
        changes[name] = Field(
            value=_value_from_json(name, item.get("value")),
            source=source,
            confidence=float(confidence),
        )
    warnings = raw.get("warnings", [])
    if not isinstance(warnings, list) or not all(isinstance(w, str) for w in warnings):
        raise ValueError("warnings must be a list of strings")
    return InvoiceData(warnings=tuple(warnings), **changes)  # type: ignore[arg-type]
