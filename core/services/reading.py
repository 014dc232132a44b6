"""Read the documents waiting in the inbox and file what the engine found.

A document is waiting while it is in the inbox and its `fields` have no "_read" key; every
attempt, good or bad, writes that key, so each file is read once. Success stores
`{"_read": {"at": ..., "warnings": [...]}}` next to the engine's fields; a failure stores
`{"_read": {"error": reason}}`, moves the document to `failed` with the reason as its
state reason, and tells the person who sent it (`mark_unreadable`).

Reading happens in the sandbox process with no transaction open, since it can take
seconds and a database lock held that long would stall every other writer. Two processes
reading the same document is harmless: the second write finds the marker and skips it.

Filing a reading (`file_reading`) also matches the supplier (core/services/supplier_profiles,
then the catalog's VAT numbers and SIRENs in core/catalog/identifiers.json),
applies what a person taught Courier about it (habits, its rule), spots the same invoice
delivered by another source, and holds a known supplier's invoice with a new IBAN.
A document already held for review (a sender that failed authentication) is read too, and
stays held for its first reason.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select as sa_select
from sqlmodel import col, func, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.catalog.identifiers import load_identifiers
from core.db import Database
from core.errors import NotFound
from core.extraction import ExtractionError, InvoiceData, invoice_to_dict
from core.extraction.fields import Field, invoice_from_dict
from core.extraction.merge import merge
from core.extraction.sandbox import read_document_with_text
from core.models import Document, DocumentSource, DocumentState, Supplier, SupplierProfile
from core.models.base import utcnow
from core.models.document import READ_MARKER
from core.services.documents import move_document
from core.services.learned_templates import keep_page_text, read_with_learned
from core.services.outcome_notices import announce_unreadable
from core.services.provenance import trusted_for
from core.services.review_notices import announce_review
from core.services.supplier_profiles import (
    CatalogName,
    MatchedBy,
    SupplierMatch,
    check_bank_account,
    find_supplier_rule,
    load_catalog_names,
    match_supplier,
    remember_supplier,
)
from core.storage import DocumentStore

log = logging.getLogger(__name__)

#: The confirmations a held document waits for, in order: "sender", "iban".
CONFIRM = "_confirm"
SENDER_UNAUTHENTICATED = "sender_unauthenticated"
#: Below this, a value is shown to a person but not copied into the document's columns.
TRUSTED_CONFIDENCE = 0.8
# The columns' widths (core/models/document.py): PostgreSQL refuses longer values.
_SUPPLIER_NAME_MAX = 160
_CURRENCY_LEN = 3
_REASON_MAX = 60


@dataclass(frozen=True, slots=True)
class _Waiting:
    """What the read needs, copied out of the session so nothing is lazily loaded later."""

    id: int
    sha256: str
    content_type: str


async def read_waiting_documents(
    *,
    db: Database,
    store: DocumentStore,
    limit: int = 10,
    read_timeout: float = 30.0,
    memory_mb: int = 512,
    on_filed: Callable[[int], Awaitable[object]] | None = None,
) -> int:
    """Read up to `limit` waiting documents, a turn per workspace, oldest first within each;
    return how many were read.

    A file the engine cannot read counts as not read, is marked unreadable (failed, with
    its reason, and its sender told) and never stops the others. `read_timeout` bounds
    each file's read, in seconds, and `memory_mb` the reading process's address space. A
    document held for review is announced to its people in the transaction that files
    it; `on_filed(document_id)` runs after that transaction commits (the auto-publish
    hook), and its failure stops nothing.
    """
    async with db.read() as session:
        # As text, `fields["_read"]` is SQL NULL exactly when the key is absent, on SQLite
        # and PostgreSQL; compared as JSON, SQLite would see the string "null" instead.
        # Fair between workspaces: each one's oldest first, then each one's second, and so
        # on. Oldest first across all of them let one flooded workspace delay everyone.
        turn = (
            func.row_number()
            .over(
                partition_by=col(Document.workspace_id),
                order_by=(col(Document.received_at), col(Document.id)),
            )
            .label("turn")
        )
        waiting_now = (
            # SQLAlchemy's own select: SQLModel's is typed for at most four columns.
            sa_select(
                col(Document.id),
                col(Document.sha256),
                col(Document.content_type),
                col(Document.received_at),
                turn,
            )
            .where(
                col(Document.state).in_([DocumentState.INBOX, DocumentState.NEEDS_REVIEW]),
                col(Document.fields)[READ_MARKER].as_string().is_(None),
            )
            .subquery()
        )
        query = (
            select(waiting_now.c.id, waiting_now.c.sha256, waiting_now.c.content_type)
            .order_by(waiting_now.c.turn, waiting_now.c.received_at, waiting_now.c.id)
            .limit(limit)
        )
        waiting = [_Waiting(*row) for row in (await session.exec(query)).all()]
    read = 0
    catalog: list[CatalogName] | None = None
    for item in waiting:
        data: InvoiceData | None = None
        text = ""
        error: str | None = None
        try:
            content = await store.get(item.sha256)
            data, text = await read_document_with_text(
                content, item.content_type, timeout=read_timeout, memory_mb=memory_mb
            )
        except NotFound:
            error = "missing_file"
        except ExtractionError as exc:
            error = exc.reason
            log.info("document %s unreadable: %s", item.id, exc)
        async with db.transaction() as session:
            document = await session.get(Document, item.id)
            if document is None or READ_MARKER in (document.fields or {}):
                continue  # deleted meanwhile, or read by another process
            if data is None:
                await mark_unreadable(
                    session=session, document=document, reason=error or "unreadable"
                )
            else:
                if catalog is None:
                    catalog = await load_catalog_names(session=session)
                await file_reading(
                    session=session, document=document, data=data, catalog=catalog, text=text
                )
                await announce_review(session=session, document=document)
                read += 1
            session.add(document)
        if data is not None and on_filed is not None:
            try:
                await on_filed(item.id)
            except Exception:
                log.exception("document %s: the hook after reading failed", item.id)
    return read


async def mark_unreadable(*, session: AsyncSession, document: Document, reason: str) -> None:
    """A document the reader gave up on: it keeps the reason (never read again by itself),
    leaves the inbox as `failed` with that reason, so no list calls it "in the inbox", and
    its sender is told why, in words, with what to do (core/services/outcome_notices.py).
    One held for review stays held for its first reason; its sender is told all the same."""
    document.fields = {**(document.fields or {}), READ_MARKER: {"error": reason}}
    if document.state == DocumentState.INBOX:
        move_document(document, DocumentState.FAILED, reason=reason[:_REASON_MAX])
    session.add(document)
    await announce_unreadable(session=session, document=document, reason=reason)


async def file_reading(
    *,
    session: AsyncSession,
    document: Document,
    data: InvoiceData,
    catalog: list[CatalogName],
    text: str = "",
) -> None:
    """Store `data` on `document`, with its supplier, and decide whether a person must look.

    `text` is the laid-out text the reading saw: kept with the document for a correction
    to be learned from, and read with the supplier's learned template when it has one.
    """
    given = _given_by_connector(document)
    if given is not None:
        data = merge(data, given)
    assert document.id is not None
    match = await match_supplier(
        session=session,
        workspace_id=document.workspace_id,
        data=data,
        source_supplier_id=document.supplier_id,
        catalog=catalog,
    )
    if match is None or match.by == "name":
        # A catalog supplier's own VAT number or SIREN on the page names it more surely
        # than a name read on the page.
        match = (
            await match_catalog_identifiers(
                session=session, workspace_id=document.workspace_id, data=data
            )
            or match
        )
    if match is not None and match.profile is not None:
        # The supplier is known: what a person taught about its pages is read first.
        data = read_with_learned(match.profile, text, data)
    apply_reading(document, data, review=False)
    if match is not None:
        document.supplier_id = document.supplier_id or match.supplier_id
        document.supplier_name = document.supplier_name or match.name[:_SUPPLIER_NAME_MAX]
    profile = await remember_supplier(
        session=session, workspace_id=document.workspace_id, match=match, data=data
    )
    suppliers = await _suppliers_named(
        session, document.supplier_id, match.supplier_id if match else None
    )
    # Each supplier the document is filed under must vouch for it, whoever named it.
    trusted = all(trusted_for(document, s.domains) for s in suppliers)
    pending: list[str] = []
    if not trusted and _by_mail(document) and any(s.domains for s in suppliers):
        pending.append("sender")
    fields = keep_page_text(dict(document.fields), text)
    if profile is not None:
        fields["_supplier"] = {"profile_id": profile.id, "matched_by": match.by if match else "new"}
        # Without a supplier whose domain could prove it, only a person's word counts.
        vouched = trusted_for(document, ()) or (trusted and any(s.domains for s in suppliers))
        if check_bank_account(profile, data, trusted=vouched) is not None:
            pending.append("iban")
        fields = apply_habits(fields, profile.habits)
        rule = await find_supplier_rule(
            session=session,
            workspace_id=document.workspace_id,
            supplier_id=document.supplier_id,
            name=profile.name,
        )
        if rule is not None:
            fields["_rule"] = {
                "id": rule.id,
                "account_code": rule.account_code,
                "tax_rate_code": rule.tax_rate_code,
                "auto_publish": rule.auto_publish,
            }
    document.fields = fields
    if document.currency is None and isinstance(fields.get("currency"), dict):
        currency = fields["currency"]
        if currency.get("source") == "user":
            document.currency = str(currency["value"])[:_CURRENCY_LEN]

    original = await find_same_invoice(session=session, document=document, data=data)
    if original is not None:
        document.fields = {**document.fields, "_duplicate_of": original}
        move_document(document, DocumentState.ARCHIVED, reason="duplicate")
        return
    if pending:
        # Each confirmation is asked in turn (core/services/review.py), sender first.
        document.fields = {**document.fields, CONFIRM: pending}
    fraud = {"sender": SENDER_UNAUTHENTICATED, "iban": "new_iban"}[pending[0]] if pending else None
    reason = fraud or review_reason(
        data, known_total=document.total_amount, supplier_known=document.supplier_name is not None
    )
    if reason is None and document.currency is None and not _sure(fields.get("currency")):
        reason = "missing_currency"
    if reason is not None and document.state == DocumentState.INBOX:
        move_document(document, DocumentState.NEEDS_REVIEW, reason=reason)


async def match_catalog_identifiers(
    *, session: AsyncSession, workspace_id: int, data: InvoiceData
) -> SupplierMatch | None:
    """The catalog supplier whose VAT number or SIREN (core/catalog/identifiers.json) the
    reading carries, with the workspace's profile of it if there is one; else None."""
    identifiers = load_identifiers()
    vat = data.supplier_vat.value if data.supplier_vat else None
    siren = data.supplier_siren.value if data.supplier_siren else None
    by: MatchedBy = "vat"
    key = identifiers.key_for(vat=vat)
    if key is None:
        by, key = "siren", identifiers.key_for(siren=siren)
    if key is None:
        return None
    query = select(Supplier).where(Supplier.key == key, col(Supplier.listed).is_(True))
    supplier = (await session.exec(query)).first()
    if supplier is None or supplier.id is None:
        return None
    owned = select(SupplierProfile).where(
        SupplierProfile.workspace_id == workspace_id,
        SupplierProfile.supplier_id == supplier.id,
    )
    profile = (await session.exec(owned)).first()
    name = profile.name if profile is not None else supplier.name
    return SupplierMatch(profile, supplier.id, name, by, 1.0)


async def _suppliers_named(session: AsyncSession, *ids: int | None) -> list[Supplier]:
    found = [await session.get(Supplier, i) for i in sorted({i for i in ids if i is not None})]
    return [supplier for supplier in found if supplier is not None]


def _by_mail(document: Document) -> bool:
    return DocumentSource(document.source) in (DocumentSource.EMAIL, DocumentSource.IMAP)


def apply_habits(fields: dict[str, Any], habits: dict[str, Any]) -> dict[str, Any]:
    """Fill what a person already told Courier about this supplier, where the page is unsure.

    The values keep source "user": they are the person's answers, given once for all.
    """
    out = dict(fields)
    currency = habits.get("currency")
    if isinstance(currency, str) and not _sure(out.get("currency")):
        out["currency"] = {"value": currency, "source": "user", "confidence": 1.0}
    rate = habits.get("vat_rate")
    if isinstance(rate, str) and not _sure(out.get("vat_lines")):
        excl, incl = out.get("total_excl_tax"), out.get("total_incl_tax")
        if _sure(excl) and _sure(incl):
            assert isinstance(excl, dict)
            assert isinstance(incl, dict)
            base, total = Decimal(str(excl["value"])), Decimal(str(incl["value"]))
            line = {"rate": rate, "base": str(base), "amount": str(total - base)}
            out["vat_lines"] = {"value": [line], "source": "user", "confidence": 1.0}
    return out


async def find_same_invoice(
    *, session: AsyncSession, document: Document, data: InvoiceData
) -> int | None:
    """The id of an earlier document holding the same supplier's same invoice number.

    The same invoice arrives by mail and by a connector as two different files; the
    supplier and its number make them one. The earlier document is the one kept.
    """
    if data.invoice_number is None or data.invoice_number.confidence < TRUSTED_CONFIDENCE:
        return None
    number = data.invoice_number.value
    if document.supplier_id is not None:
        same_supplier = col(Document.supplier_id) == document.supplier_id
    elif document.supplier_name is not None:
        same_supplier = col(Document.supplier_name) == document.supplier_name
    else:
        return None
    query = (
        select(Document.id)
        .where(
            Document.workspace_id == document.workspace_id,
            col(Document.id) != document.id,
            col(Document.id) < document.id,
            Document.state != DocumentState.ARCHIVED,
            same_supplier,
            or_(
                col(Document.external_ref) == number,
                col(Document.fields)[("invoice_number", "value")].as_string() == number,
            ),
        )
        .order_by(col(Document.id))
        .limit(1)
    )
    found: int | None = (await session.exec(query)).first()
    return found


def _given_by_connector(document: Document) -> InvoiceData | None:
    """The fields the supplier's connector gave when it fetched `document`, if any."""
    given: dict[str, object] = {
        name: item
        for name, item in (document.fields or {}).items()
        if isinstance(item, dict) and item.get("source") == "connector"
    }
    return invoice_from_dict(given) if given else None


def apply_reading(document: Document, data: InvoiceData, *, review: bool = True) -> None:
    """Store `data` on `document`: fields, empty columns, and (if `review`) the review state."""
    existing: dict[str, Any] = dict(document.fields or {})
    engine = invoice_to_dict(data)
    warnings = list(data.warnings)
    fields: dict[str, Any] = dict(existing)
    for name, item in engine.items():
        if name == "warnings" or item is None:
            continue
        previous = existing.get(name)
        if isinstance(previous, dict) and previous.get("source") == "user":
            continue  # a person's correction beats anything read
        fields[name] = item
    fields["warnings"] = warnings
    fields[READ_MARKER] = {"at": utcnow().isoformat()}
    # A new dict, not an in-place change: the JSON column only sees reassignment.
    document.fields = fields

    # Only empty columns are filled: a value already there came from the connector or a
    # person, who knew it rather than read it.
    if document.issue_date is None and _trusted(data.issue_date):
        assert data.issue_date is not None
        document.issue_date = data.issue_date.value
    if document.total_amount is None and _trusted(data.total_incl_tax):
        assert data.total_incl_tax is not None
        document.total_amount = data.total_incl_tax.value
    if document.currency is None and _trusted(data.currency):
        assert data.currency is not None
        if len(data.currency.value) == _CURRENCY_LEN:
            document.currency = data.currency.value.upper()
    if document.supplier_name is None and _trusted(data.supplier_name):
        assert data.supplier_name is not None
        document.supplier_name = data.supplier_name.value[:_SUPPLIER_NAME_MAX]

    if not review:
        return
    reason = review_reason(data, known_total=document.total_amount)
    if reason is not None and document.state == DocumentState.INBOX:
        move_document(document, DocumentState.NEEDS_REVIEW, reason=reason)


def review_reason(
    data: InvoiceData, *, known_total: Decimal | None, supplier_known: bool = True
) -> str | None:
    """Why a person must look at this reading, or None when it can go on unaided.

    The most basic problem wins: no total at all, then totals that do not add up, then a
    Factur-X that contradicts its own visible text, then a total read without confidence.
    A total the connector supplied counts as known, so it does not need review.
    """
    total = data.total_incl_tax
    if total is None and known_total is None:
        return "missing_total"
    if not supplier_known and data.supplier_name is None:
        return "missing_supplier"
    if "invalid_date" in data.warnings and data.issue_date is None:
        return "invalid_date"  # e.g. 31/02/2026: a person knows which day was meant
    if "totals_mismatch" in data.warnings:
        return "totals_mismatch"
    if any(w.startswith("source_conflict") for w in data.warnings):
        return "source_conflict"
    if total is not None and total.confidence < TRUSTED_CONFIDENCE and known_total is None:
        return "low_confidence"
    return None


def _sure(item: object) -> bool:
    """A stored field (a JSON object) that is there and trusted."""
    return isinstance(item, dict) and float(item.get("confidence", 0)) >= TRUSTED_CONFIDENCE


def _trusted(field: Field[Any] | None) -> bool:
    return field is not None and field.confidence >= TRUSTED_CONFIDENCE
