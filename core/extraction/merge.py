"""Combine several readings of one document into the best InvoiceData.

Per field the most reliable source wins, then the higher confidence, then the earlier
candidate. A person's correction ("user") outranks everything; a structured e-invoice
(facturx/ubl/cii) outranks connectors, templates, the text layer and OCR. When the
e-invoice and the document's own text disagree on a field the text states with a label,
the XML is kept and "source_conflict:<field>" is recorded so a person can look.
"""

from __future__ import annotations

import re
from decimal import Decimal

from core.extraction.checks import cross_check_totals
from core.extraction.fields import (
    FIELD_NAMES,
    Field,
    FieldSource,
    InvoiceData,
    VatLine,
    add_warnings,
    get_field,
)

SOURCE_RANK: dict[FieldSource, int] = {
    "user": 0,
    "facturx": 1,
    "ubl": 1,
    "cii": 1,
    "connector": 2,
    "template": 3,
    "text": 4,
    "ocr": 5,
}
_EINVOICE: frozenset[FieldSource] = frozenset({"facturx", "ubl", "cii"})
_VISIBLE: frozenset[FieldSource] = frozenset({"text", "ocr"})
# Below this the text only guessed (e.g. the largest amount), which contradicts nothing.
CONFLICT_MIN_CONFIDENCE = 0.7

# Which fields a warning is about: if every one of them was won by a better source than
# the candidate that raised it, the warning no longer describes the result and is dropped.
_WARNING_FIELDS: dict[str, tuple[str, ...]] = {
    "totals_mismatch": ("total_excl_tax", "total_tax", "total_incl_tax", "vat_lines"),
    "invalid_date": ("issue_date", "due_date", "period_start", "period_end"),
    "due_before_issue": ("issue_date", "due_date"),
    "invalid_vat_number": ("supplier_vat",),
    "invalid_siren": ("supplier_siren",),
    "invalid_iban": ("iban",),
    "invalid_amount": ("total_excl_tax", "total_tax", "total_incl_tax", "vat_lines"),
}


def merge(*candidates: InvoiceData) -> InvoiceData:
    """Merge readings of the same document; see the module docstring for the rules."""
    if not candidates:
        return InvoiceData()
    chosen: dict[str, Field[object]] = {}
    winner_of: dict[str, int] = {}
    conflicts: list[str] = []
    for name in FIELD_NAMES:
        present = [
            (index, field)
            for index, candidate in enumerate(candidates)
            if (field := get_field(candidate, name)) is not None
        ]
        if not present:
            continue
        index, best = min(
            present, key=lambda item: (SOURCE_RANK[item[1].source], -item[1].confidence, item[0])
        )
        chosen[name] = best
        winner_of[name] = index
        if best.source in _EINVOICE and any(
            other.source in _VISIBLE
            and other.confidence >= CONFLICT_MIN_CONFIDENCE
            and not _same(name, best.value, other.value, unsigned=_credit_note(candidates))
            for _, other in present
        ):
            conflicts.append(f"source_conflict:{name}")

    warnings: list[str] = []
    for index, candidate in enumerate(candidates):
        for key in candidate.warnings:
            if _still_relevant(key, index, candidates, winner_of):
                warnings.append(key)
    merged = InvoiceData(**chosen)  # type: ignore[arg-type]
    merged = add_warnings(merged, *warnings, *conflicts)
    # Fields from different readings may not add up together; say so if they do not.
    return cross_check_totals(merged, confirmed_confidence=None)


def _still_relevant(
    key: str, index: int, candidates: tuple[InvoiceData, ...], winner_of: dict[str, int]
) -> bool:
    """Keep a warning unless a strictly better source supplied every field it is about."""
    fields = _WARNING_FIELDS.get(key)
    if fields is None:
        return True
    own_rank = _rank(candidates[index])
    for name in fields:
        winner = winner_of.get(name)
        if winner is None or winner == index:
            return True
        won = get_field(candidates[winner], name)
        if won is None or SOURCE_RANK[won.source] >= own_rank:
            return True
    return False


def _rank(candidate: InvoiceData) -> int:
    ranks = [
        SOURCE_RANK[field.source]
        for name in FIELD_NAMES
        if (field := get_field(candidate, name)) is not None
    ]
    return min(ranks, default=max(SOURCE_RANK.values()))


def _credit_note(candidates: tuple[InvoiceData, ...]) -> bool:
    """Whether an e-invoice among `candidates` says the document is a credit note."""
    return any(
        c.document_type is not None
        and c.document_type.source in _EINVOICE
        and c.document_type.value == "credit_note"
        for c in candidates
    )


def _same(name: str, left: object, right: object, *, unsigned: bool = False) -> bool:
    """Whether two readings agree; `unsigned` for a credit note, whose XML states its
    amounts positive (type 381 carries the sign) while its page often prints them negative."""
    if name == "vat_lines":
        assert isinstance(left, tuple)
        assert isinstance(right, tuple)
        return _vat_key(left, unsigned) == _vat_key(right, unsigned)
    if isinstance(left, Decimal) and isinstance(right, Decimal):
        return abs(left) == abs(right) if unsigned else left == right
    if isinstance(left, str) and isinstance(right, str):
        return _loose(left) == _loose(right)
    return left == right


def _vat_key(lines: tuple[VatLine, ...], unsigned: bool) -> list[tuple[Decimal, Decimal]]:
    return sorted(
        (line.rate.normalize(), abs(line.amount) if unsigned else line.amount) for line in lines
    )


def _loose(text: str) -> str:
    """Compare identifiers and names ignoring case, spaces and punctuation."""
    return re.sub(r"[\W_]+", "", text.casefold())
