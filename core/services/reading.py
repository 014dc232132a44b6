"""Read the documents waiting in the inbox and file what the engine found.

A document is waiting while it is in the inbox and its `fields` have no "_read" key; every
attempt, good or bad, writes that key, so each file is read once. Success stores
`{"_read": {"at": ..., "warnings": [...]}}` next to the engine's fields; a failure stores
`{"_read": {"error": reason}}` and leaves the document in the inbox for a person.

Reading happens in the sandbox process with no transaction open, since it can take
seconds and a database lock held that long would stall every other writer. Two processes
reading the same document is harmless: the second write finds the marker and skips it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlmodel import col, select

from core.db import Database
from core.errors import NotFound
from core.extraction import ExtractionError, InvoiceData, invoice_to_dict
from core.extraction.fields import Field
from core.extraction.sandbox import read_document
from core.models import Document, DocumentState
from core.models.base import utcnow
from core.services.documents import move_document
from core.storage import DocumentStore

log = logging.getLogger(__name__)

READ_MARKER = "_read"
#: Below this, a value is shown to a person but not copied into the document's columns.
TRUSTED_CONFIDENCE = 0.8
# The columns' widths (core/models/document.py): PostgreSQL refuses longer values.
_SUPPLIER_NAME_MAX = 160
_CURRENCY_LEN = 3


@dataclass(frozen=True, slots=True)
class _Waiting:
    """What the read needs, copied out of the session so nothing is lazily loaded later."""

    id: int
    sha256: str
    content_type: str


async def read_waiting_documents(
    *, db: Database, store: DocumentStore, limit: int = 10, read_timeout: float = 30.0
) -> int:
    """Read up to `limit` waiting documents, oldest first; return how many were read.

    A file the engine cannot read counts as not read, gets its error marker and never
    stops the others. `read_timeout` bounds each file's read, in seconds.
    """
    async with db.read() as session:
        # As text, `fields["_read"]` is SQL NULL exactly when the key is absent, on SQLite
        # and PostgreSQL; compared as JSON, SQLite would see the string "null" instead.
        query = (
            select(Document.id, Document.sha256, Document.content_type)
            .where(
                Document.state == DocumentState.INBOX,
                col(Document.fields)[READ_MARKER].as_string().is_(None),
            )
            .order_by(col(Document.received_at), col(Document.id))
            .limit(limit)
        )
        waiting = [_Waiting(*row) for row in (await session.exec(query)).all()]
    read = 0
    for item in waiting:
        data: InvoiceData | None = None
        error: str | None = None
        try:
            content = await store.get(item.sha256)
            data = await read_document(content, item.content_type, timeout=read_timeout)
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
                document.fields = {**(document.fields or {}), READ_MARKER: {"error": error}}
            else:
                apply_reading(document, data)
                read += 1
            session.add(document)
    return read


def apply_reading(document: Document, data: InvoiceData) -> None:
    """Store `data` on `document`: fields, empty columns, and the review state if needed."""
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

    reason = review_reason(data, known_total=document.total_amount)
    if reason is not None and document.state == DocumentState.INBOX:
        move_document(document, DocumentState.NEEDS_REVIEW, reason=reason)


def review_reason(data: InvoiceData, *, known_total: Decimal | None) -> str | None:
    """Why a person must look at this reading, or None when it can go on unaided.

    The most basic problem wins: no total at all, then totals that do not add up, then a
    Factur-X that contradicts its own visible text, then a total read without confidence.
    A total the connector supplied counts as known, so it does not need review.
    """
    total = data.total_incl_tax
    if total is None and known_total is None:
        return "missing_total"
    if "totals_mismatch" in data.warnings:
        return "totals_mismatch"
    if any(w.startswith("source_conflict") for w in data.warnings):
        return "source_conflict"
    if total is not None and total.confidence < TRUSTED_CONFIDENCE and known_total is None:
        return "low_confidence"
    return None


def _trusted(field: Field[Any] | None) -> bool:
    return field is not None and field.confidence >= TRUSTED_CONFIDENCE
