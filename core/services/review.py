"""Review: what to ask a person about a document Courier could not read with confidence,
one question at a time, and what to do with the answer.

The chat (bot/) shows `Question.key` worded in the person's language, with `read` as the
one-press "✓" answer and `choices` as buttons; then it calls `answer_question`. Answers
are stored as fields with source "user", which outrank every reading. Some answers hold
for every invoice of the supplier (its currency, its VAT rate): they are remembered in
the supplier's profile and not asked again (see reading.apply_habits). Each answer also
teaches the supplier's learned template where that value sits on the page, so the next
invoice of the supplier is read with it (core/services/learned_templates.py).

Only what is doubtful is asked, and never a total that follows from the others: once the
total incl. tax is settled, the totals excl. tax and of VAT that add up to it (or the one
left when the other is settled) are stored with source "derived" (the identity of
core/extraction/checks.py), so they are not asked again.

Message keys returned (for bot/locales): `review.confirm.iban`, `review.confirm.sender`,
`review.ask.<field>` for each of ASKED_FIELDS, and the error key `answer_invalid`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from core.errors import AnswerInvalid
from core.extraction.amounts import parse_amount
from core.extraction.checks import TOLERANCE
from core.extraction.dates import find_dates
from core.extraction.identifiers import is_valid_iban, is_valid_vat
from core.models import Document, DocumentState, Member, SupplierProfile
from core.permissions import Action, Who, require
from core.services.documents import get_document, move_document
from core.services.learned_templates import LEARNABLE, learn_answer
from core.services.reading import CONFIRM, TRUSTED_CONFIDENCE
from core.services.supplier_profiles import trust_bank_account

#: Fields a person may be asked for, most important first.
ASKED_FIELDS: tuple[str, ...] = (
    "supplier_name",
    "total_incl_tax",
    "issue_date",
    "currency",
    "vat_rate",
    "invoice_number",
    "total_excl_tax",
    "total_tax",
    "due_date",
    "supplier_vat",
)
#: Without these a document cannot be published, so their absence is asked about.
REQUIRED: frozenset[str] = frozenset({"supplier_name", "total_incl_tax", "issue_date", "currency"})
#: A held document's reason, and the confirmation it needs before anything else.
CONFIRMATIONS: dict[str, str] = {"new_iban": "iban", "sender_unauthenticated": "sender"}
YES, NO = "yes", "no"
#: The answers that hold for every invoice of a supplier.
HABITS: frozenset[str] = frozenset({"currency", "vat_rate"})
COMMON_CURRENCIES = ("EUR", "USD", "GBP", "CHF")
FRENCH_RATES = ("20", "10", "5.5", "2.1", "0")
_TOTALS = ("total_excl_tax", "total_tax", "total_incl_tax")
_CENT = Decimal("0.01")
#: A person's answer, and what follows from their answers by arithmetic: never asked again.
USER, DERIVED = "user", "derived"
SETTLED: frozenset[str] = frozenset({USER, DERIVED})


@dataclass(frozen=True, slots=True)
class Question:
    """One question: `field` to fill, the message `key`, what was read, likely answers."""

    document_id: int
    field: str
    key: str
    read: str | None
    choices: tuple[str, ...]


def next_question(document: Document, *, habits: dict[str, Any] | None = None) -> Question | None:
    """What to ask next about `document`, or None when nothing is left to ask.

    A pending confirmation (new bank details, an unauthenticated sender) comes first; then
    each field that is missing and required, unsure, or contradicted, in ASKED_FIELDS order,
    except what a person already answered or the supplier's habits cover.
    """
    assert document.id is not None
    # What follows from the settled totals is never asked (stored at the next answer).
    fields: dict[str, Any] = settle_totals(document.fields or {})
    habits = habits or {}
    confirmed = set(fields.get("_confirmed", []))
    if document.state == DocumentState.NEEDS_REVIEW:
        # The reason's confirmation first, then any other the reading found (both an
        # unproven sender and an unknown account: each needs its own "yes").
        subjects = [CONFIRMATIONS.get(document.state_reason or ""), *fields.get(CONFIRM, [])]
        for subject in dict.fromkeys(s for s in subjects if s in CONFIRMATIONS.values()):
            if subject is None or subject in confirmed:
                continue
            shown = _value(fields.get("iban")) if subject == "iban" else document.supplier_name
            read = None if shown is None else str(shown)
            return Question(document.id, subject, f"review.confirm.{subject}", read, (YES, NO))
    warnings = set(fields.get("warnings", []))
    for name in ASKED_FIELDS:
        if name in habits:
            continue
        item = fields.get(name if name != "vat_rate" else "vat_lines")
        if isinstance(item, dict) and item.get("source") in SETTLED:
            continue
        if name == "supplier_name" and _recognised(fields, document):
            continue
        if not _doubtful(name, item, warnings, fields):
            continue
        return Question(
            document.id, name, f"review.ask.{name}", _shown(name, item), _likely(name, fields)
        )
    return None


async def ask_next(
    *, session: AsyncSession, workspace_id: int, document_id: int
) -> Question | None:
    document = await get_document(
        session=session, workspace_id=workspace_id, document_id=document_id
    )
    profile = await _profile(session, document)
    return next_question(document, habits=profile.habits if profile is not None else None)


@dataclass(frozen=True, slots=True)
class Opened:
    """A document as its review starts (or goes on): what to ask, and whether the totals
    that follow from the others just released it from review."""

    document: Document
    question: Question | None
    released: bool = False


async def open_review(*, session: AsyncSession, workspace_id: int, document_id: int) -> Opened:
    """The document and the question to ask now.

    Totals that follow from the settled ones are stored first; when that leaves nothing
    to ask, a held document goes back to the inbox, as after a last answer.
    Raises NotFound for a document not in the workspace.
    """
    document = await get_document(
        session=session, workspace_id=workspace_id, document_id=document_id
    )
    profile = await _profile(session, document)
    question = next_question(document, habits=profile.habits if profile is not None else None)
    if document.state not in (DocumentState.NEEDS_REVIEW, DocumentState.INBOX):
        return Opened(document, question)
    before = dict(document.fields or {})
    if settle_totals(before) == before:
        return Opened(document, question)
    _keep_settled(document, before)
    released = question is None and document.state == DocumentState.NEEDS_REVIEW
    if released:
        move_document(document, DocumentState.INBOX)
    session.add(document)
    await session.flush()
    return Opened(document, question, released)


async def answer_question(
    *,
    session: AsyncSession,
    workspace_id: int,
    document_id: int,
    field: str,
    answer: str,
    by: Who,
) -> Question | None:
    """Store `by`'s `answer` for `field`; return the next question, or None when done.

    When nothing is left to ask, a held document goes back to the inbox, ready to publish.
    Refusing new bank details or a sender fails the document: it is never published.
    Either answer to such a confirmation is for owners and admins only (NotAllowed).
    Raises AnswerInvalid (key "answer_invalid") for an answer that cannot be the field's.
    """
    document = await get_document(
        session=session, workspace_id=workspace_id, document_id=document_id
    )
    if document.state not in (DocumentState.NEEDS_REVIEW, DocumentState.INBOX):
        raise AnswerInvalid(field=field, reason="not_in_review")
    profile = await _profile(session, document)
    fields: dict[str, Any] = dict(document.fields or {})
    if field in CONFIRMATIONS.values():
        require(by, Action.CONFIRM_TRUST, workspace_id=workspace_id)
        if answer not in (YES, NO):
            raise AnswerInvalid(field=field, reason="yes_or_no")
        if answer == NO:
            move_document(document, DocumentState.FAILED, reason=f"{field}_refused")
            session.add(document)
            return None
        fields["_confirmed"] = sorted({*fields.get("_confirmed", []), field})
        if isinstance(by, Member):  # who vouched, kept with the document
            fields["_confirmed_by"] = {**fields.get("_confirmed_by", {}), field: by.id}
        if field == "iban" and profile is not None and _value(fields.get("iban")):
            trust_bank_account(profile, str(_value(fields.get("iban"))))
    elif field in ASKED_FIELDS:
        fields = _store_answer(document, fields, field, answer.strip())
        if field in LEARNABLE and profile is not None:
            learn_answer(profile, fields, field, fields[field]["value"])
        if field == "supplier_vat" and profile is not None and profile.vat is None:
            profile.vat = fields[field]["value"]  # how the supplier's next invoice is known
        if field in HABITS and profile is not None:
            habit = fields["currency"]["value"] if field == "currency" else answer.strip()
            profile.habits = {**profile.habits, field: habit.replace(",", ".")}
    else:
        raise AnswerInvalid(field=field, reason="unknown_field")
    _keep_settled(document, fields)
    if profile is not None:
        session.add(profile)
    upcoming = next_question(document, habits=profile.habits if profile else None)
    if upcoming is None and document.state == DocumentState.NEEDS_REVIEW:
        move_document(document, DocumentState.INBOX)
    session.add(document)
    await session.flush()
    return upcoming


def settle_totals(fields: dict[str, Any]) -> dict[str, Any]:
    """The totals that follow from the settled ones, stored with source "derived".

    excl. tax + VAT = incl. tax (core/extraction/checks.py). With the total incl. tax
    settled: the other two as read when they add up to it, else the one left when the
    other is settled. With both others settled and no settled total, the total. A value
    that would be of the other sign than the total, or larger, is not derived: the
    person is asked instead.
    """
    excl, tax, incl = (_settled(name, fields) for name in _TOTALS)
    out = dict(fields)
    if incl is None:
        if excl is not None and tax is not None:
            out["total_incl_tax"] = _derived(excl + tax)
        return out
    if excl is not None and tax is None and _part_of(incl - excl, incl):
        out["total_tax"] = _derived(incl - excl)
    elif tax is not None and excl is None and _part_of(incl - tax, incl):
        out["total_excl_tax"] = _derived(incl - tax)
    elif excl is None and tax is None:
        read_excl, read_tax = (
            _decimal(fields.get("total_excl_tax")),
            _decimal(fields.get("total_tax")),
        )
        if (
            read_excl is not None
            and read_tax is not None
            and abs(read_excl + read_tax - incl) <= TOLERANCE
        ):
            out["total_excl_tax"], out["total_tax"] = _derived(read_excl), _derived(read_tax)
    return out


# --------------------------------------------------------------------------- helpers


def _keep_settled(document: Document, fields: dict[str, Any]) -> None:
    """Store `fields` with the totals that follow from them (the total's column too)."""
    settled = settle_totals(fields)
    document.fields = settled  # a new dict: the JSON column only sees reassignment
    incl = settled.get("total_incl_tax")
    if isinstance(incl, dict) and incl.get("source") == DERIVED:
        document.total_amount = Decimal(str(incl["value"]))


def _settled(name: str, fields: dict[str, Any]) -> Decimal | None:
    """A total nobody needs to be asked about: answered, derived, or read with confidence
    and caught in no contradiction."""
    item = fields.get(name)
    if not isinstance(item, dict):
        return None
    if item.get("source") not in SETTLED:
        warnings = set(fields.get("warnings", []))
        if "totals_mismatch" in warnings or f"source_conflict:{name}" in warnings:
            return None
        if not _sure(item):
            return None
    return _decimal(item)


def _part_of(part: Decimal, total: Decimal) -> bool:
    """`part` can be a share of `total`: of its sign (or zero) and not larger."""
    return abs(part) <= abs(total) and (part == 0 or (part > 0) == (total > 0))


def _derived(value: Decimal) -> dict[str, Any]:
    return {"value": str(value.quantize(_CENT)), "source": DERIVED, "confidence": 1.0}


def _store_answer(
    document: Document, fields: dict[str, Any], field: str, answer: str
) -> dict[str, Any]:
    """Parse `answer` for `field`, store it with source "user" and fill its column."""
    value: object
    if field in _TOTALS:
        amount = parse_amount(answer)
        if amount is None:
            raise AnswerInvalid(field=field, reason="not_an_amount")
        value = str(amount)
        if field == "total_incl_tax":
            document.total_amount = amount
    elif field in ("issue_date", "due_date"):
        found = find_dates(answer)
        if len(found) != 1 or found[0].value is None:
            raise AnswerInvalid(field=field, reason="not_a_date")
        value = found[0].value.isoformat()
        if field == "issue_date":
            document.issue_date = found[0].value
    elif field == "currency":
        if not re.fullmatch(r"[A-Za-z]{3}", answer):
            raise AnswerInvalid(field=field, reason="not_a_currency")
        value = answer.upper()
        document.currency = answer.upper()
    elif field == "vat_rate":
        return {**fields, "vat_lines": _user(_vat_lines(fields, answer))}
    elif field == "iban":
        if not is_valid_iban(answer):
            raise AnswerInvalid(field=field, reason="not_an_iban")
        value = re.sub(r"\s+", "", answer).upper()
    elif field == "supplier_vat":
        value = re.sub(r"[\s.\-]+", "", answer).upper()
        if not is_valid_vat(value):
            raise AnswerInvalid(field=field, reason="not_a_vat_number")
    else:  # supplier_name, invoice_number: free text
        if not answer or len(answer) > 160:
            raise AnswerInvalid(field=field, reason="empty_or_too_long")
        value = answer
        if field == "supplier_name":
            document.supplier_name = answer
    return {**fields, field: _user(value)}


def _vat_lines(fields: dict[str, Any], answer: str) -> list[dict[str, str]]:
    try:
        rate = Decimal(answer.replace(",", ".").rstrip("% "))
    except ArithmeticError as exc:
        raise AnswerInvalid(field="vat_rate", reason="not_a_rate") from exc
    if not Decimal(0) <= rate <= Decimal(30):
        raise AnswerInvalid(field="vat_rate", reason="not_a_rate")
    incl, excl = _decimal(fields.get("total_incl_tax")), _decimal(fields.get("total_excl_tax"))
    if excl is None and incl is not None:
        excl = (incl * 100 / (100 + rate)).quantize(_CENT, ROUND_HALF_UP)
    if excl is None:
        return [{"rate": str(rate), "base": "0", "amount": "0"}]
    amount = incl - excl if incl is not None else (excl * rate / 100).quantize(_CENT)
    return [{"rate": str(rate), "base": str(excl), "amount": str(amount)}]


def _doubtful(name: str, item: object, warnings: set[str], fields: dict[str, Any]) -> bool:
    if name == "supplier_vat":
        # Asked only when the page shows one that fails its check digits: a supplier
        # without a VAT number is no doubt, a misprinted or misread one is.
        return "invalid_vat_number" in warnings and not _sure(item)
    if name == "vat_rate":  # the breakdown, asked as its rate when neither it nor the tax is sure
        return not _sure(item) and not _sure(fields.get("total_tax"))
    if item is None:
        return name in REQUIRED
    if f"source_conflict:{name}" in warnings:
        return True
    if name in _TOTALS and "totals_mismatch" in warnings:
        return True
    return not _sure(item)


def _recognised(fields: dict[str, Any], document: Document) -> bool:
    """The supplier is one the workspace or the catalog knows: its name needs no asking."""
    link = fields.get("_supplier")
    matched = isinstance(link, dict) and link.get("matched_by") not in (None, "new")
    return matched and document.supplier_name is not None


def _likely(name: str, fields: dict[str, Any]) -> tuple[str, ...]:
    """Buttons: what the page most likely says, best first, without repeats."""
    read = _shown(name, fields.get(name))
    options: list[str] = [read] if read else []
    if name == "currency":
        options += COMMON_CURRENCIES
    elif name == "vat_rate":
        options += FRENCH_RATES
    elif name in _TOTALS:
        options += [str(value.quantize(_CENT)) for value in _from_the_others(name, fields)]
    return tuple(dict.fromkeys(options))


def _from_the_others(name: str, fields: dict[str, Any]) -> list[Decimal]:
    """What a total would be by the identity, from the other two as read (or as settled)
    and from the VAT lines' sums."""
    excl, tax, incl = (_decimal(fields.get(n)) for n in _TOTALS)
    lines = _value(fields.get("vat_lines"))
    bases = taxes = None
    if isinstance(lines, list) and lines:
        try:
            bases = sum((Decimal(str(line["base"])) for line in lines), Decimal(0))
            taxes = sum((Decimal(str(line["amount"])) for line in lines), Decimal(0))
        except (KeyError, TypeError, ArithmeticError):
            bases = taxes = None
    found: list[Decimal | None] = []
    if name == "total_incl_tax":
        found += [excl + tax if excl is not None and tax is not None else None]
        found += [bases + taxes if bases is not None and taxes is not None else None]
    elif name == "total_excl_tax":
        found += [incl - tax if incl is not None and tax is not None else None, bases]
    else:
        found += [incl - excl if incl is not None and excl is not None else None, taxes]
    return [value for value in found if value is not None]


def _shown(name: str, item: object) -> str | None:
    value = _value(item)
    if value is None or name == "vat_rate":
        return None
    return value.isoformat() if isinstance(value, date) else str(value)


def _user(value: object) -> dict[str, Any]:
    return {"value": value, "source": "user", "confidence": 1.0}


def _value(item: object) -> object | None:
    return item.get("value") if isinstance(item, dict) else None


def _decimal(item: object) -> Decimal | None:
    value = _value(item)
    return None if value is None else Decimal(str(value))


def _sure(item: object) -> bool:
    return isinstance(item, dict) and float(item.get("confidence", 0)) >= TRUSTED_CONFIDENCE


async def _profile(session: AsyncSession, document: Document) -> SupplierProfile | None:
    link = (document.fields or {}).get("_supplier")
    if not isinstance(link, dict) or link.get("profile_id") is None:
        return None
    return await session.get(SupplierProfile, int(link["profile_id"]))
