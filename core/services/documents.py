"""The purchase inbox: every source delivers here, and each document arrives once.

Deduplication is by the bytes (sha256 within the workspace) and by the supplier's own
reference. The file is made durable before its row, so a committed row always has its file;
a file without a row (a crash in between) is harmless, since the next delivery reuses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import and_, col, func, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.db.database import upsert_insert
from core.errors import NotFound
from core.filenames import safe_filename
from core.flows.steps import Text
from core.models import Document, DocumentSource, DocumentState, Workspace
from core.models.base import utcnow
from core.models.document import READ_MARKER
from core.permissions import Action, Who, allows, require
from core.services.document_labels import state_labels
from core.sniff import sniff_content_type
from core.statemachine import StateMachine
from core.storage import DocumentStore, StoredFile, digest

D = DocumentState
DOCUMENT_STATES: StateMachine[DocumentState] = StateMachine(
    name="document",
    moves={
        D.INBOX: frozenset({D.NEEDS_REVIEW, D.PUBLISHED, D.BLOCKED, D.FAILED}),
        D.NEEDS_REVIEW: frozenset({D.INBOX, D.PUBLISHED, D.BLOCKED, D.FAILED}),
        D.BLOCKED: frozenset({D.INBOX, D.NEEDS_REVIEW, D.PUBLISHED, D.FAILED}),
        D.FAILED: frozenset({D.INBOX, D.NEEDS_REVIEW}),
        D.ARCHIVED: frozenset({D.INBOX}),
    },
    from_any=frozenset({D.ARCHIVED}),
)


class DuplicateReason(StrEnum):
    SAME_FILE = "same_file"
    SAME_REFERENCE = "same_reference"


@dataclass(frozen=True, slots=True)
class IncomingDocument:
    """What a source knows about a file it delivers."""

    workspace_id: int
    source: DocumentSource
    content: bytes
    filename: str | None = None
    supplier_id: int | None = None
    supplier_name: str | None = None
    external_ref: str | None = None
    connection_id: int | None = None
    owner_member_id: int | None = None
    issue_date: date | None = None
    total_amount: Decimal | None = None
    currency: str | None = None
    #: Where a file behind a link was downloaded from (DocumentSource.LINK).
    source_url: str | None = None

    def __repr__(self) -> str:  # the bytes would flood a log line
        return (
            f"IncomingDocument(workspace_id={self.workspace_id}, source={self.source!s}, "
            f"filename={self.filename!r}, size={len(self.content)})"
        )


@dataclass(frozen=True, slots=True)
class IngestResult:
    document: Document
    created: bool
    duplicate: DuplicateReason | None = None


#: What makes two documents of a workspace the same one: the bytes, or the supplier's
#: reference (sha256, supplier_id, external_ref).
DuplicateKeys = tuple[str, int | None, str | None]


def _keys(document: Document) -> DuplicateKeys:
    return document.sha256, document.supplier_id, document.external_ref


async def _find_duplicate(
    session: AsyncSession, workspace_id: int, keys: DuplicateKeys
) -> IngestResult | None:
    return _match(await _rows_like(session, workspace_id, [keys]), keys)


def build_document(incoming: IncomingDocument, stored: StoredFile, *, now: datetime) -> Document:
    """The inbox row for a file already durable in the store."""
    return Document(
        workspace_id=incoming.workspace_id,
        source=incoming.source,
        filename=safe_filename(incoming.filename),
        content_type=sniff_content_type(incoming.content, incoming.filename),
        supplier_id=incoming.supplier_id,
        supplier_name=incoming.supplier_name,
        external_ref=incoming.external_ref or None,
        issue_date=incoming.issue_date,
        total_amount=incoming.total_amount,
        currency=incoming.currency,
        sha256=stored.sha256,
        size=stored.size,
        connection_id=incoming.connection_id,
        owner_member_id=incoming.owner_member_id,
        source_url=incoming.source_url,
        received_at=now,
    )


async def ingest_document(
    *,
    session: AsyncSession,
    store: DocumentStore,
    incoming: IncomingDocument,
    now: datetime | None = None,
    stored: StoredFile | None = None,
) -> IngestResult:
    """Store the file and add it to the inbox, or return the document it duplicates.

    `stored` is the store's copy of `incoming.content`, when the caller made it durable
    already: before its transaction, so the file's fsync never holds the writer's lock."""
    sha256 = stored.sha256 if stored is not None else digest(incoming.content)
    keys = (sha256, incoming.supplier_id, incoming.external_ref)
    found = await _find_duplicate(session, incoming.workspace_id, keys)
    if found is not None:
        return found
    if stored is None:
        stored = await store.put(incoming.content, sha256=sha256)
    document = build_document(incoming, stored, now=now or utcnow())
    await _insert_new(session, [document])
    if document.id is None:
        return await _twin(session, document)
    return IngestResult(document, created=True)


@dataclass(frozen=True, slots=True)
class StoredUpload:
    """A file added by hand, already streamed into the store rather than held in memory."""

    workspace_id: int
    stored: StoredFile
    content_type: str
    filename: str | None = None
    supplier_name: str | None = None
    issue_date: date | None = None
    total_amount: Decimal | None = None
    currency: str | None = None


async def ingest_upload(
    *, session: AsyncSession, upload: StoredUpload, now: datetime | None = None
) -> IngestResult:
    """Add a file already in the store to the inbox, or return the document it duplicates."""
    document = Document(
        workspace_id=upload.workspace_id,
        source=DocumentSource.UPLOAD,
        filename=safe_filename(upload.filename),
        content_type=upload.content_type,
        supplier_name=upload.supplier_name,
        issue_date=upload.issue_date,
        total_amount=upload.total_amount,
        currency=upload.currency,
        sha256=upload.stored.sha256,
        size=upload.stored.size,
        received_at=now or utcnow(),
    )
    [result] = await ingest_stored(session=session, documents=[document])
    return result


async def ingest_stored(
    *, session: AsyncSession, documents: Sequence[Document]
) -> list[IngestResult]:
    """Add rows for files already durable in the store, all of one workspace, at once.

    One INSERT adds them, skipping (ON CONFLICT DO NOTHING, no savepoint to pay) any row
    the workspace holds already: the same bytes, or the same supplier reference, whether
    it was there before or another delivery commits it meanwhile. Only when something
    was skipped does one SELECT find what it duplicates, so a batch of new files, the
    usual delivery, costs one statement. A twin within the batch is found here first."""
    if not documents:
        return []
    workspace_id = documents[0].workspace_id
    if any(d.workspace_id != workspace_id for d in documents):
        raise ValueError("ingest_stored takes the documents of one workspace")
    # Each document's first of its kind in the batch: itself, or the twin it follows.
    by_sha: dict[str, int] = {}
    by_ref: dict[tuple[int | None, str], int] = {}
    results: list[IngestResult] = []
    for i, document in enumerate(documents):
        ref = document.external_ref
        if (first := by_sha.get(document.sha256)) is not None:
            reason: DuplicateReason | None = DuplicateReason.SAME_FILE
        elif ref and (first := by_ref.get((document.supplier_id, ref))) is not None:
            reason = DuplicateReason.SAME_REFERENCE
        else:
            first, reason = i, None
            by_sha[document.sha256] = i
            if ref:
                by_ref[document.supplier_id, ref] = i
        results.append(IngestResult(documents[first], created=reason is None, duplicate=reason))
    fresh = [r.document for r in results if r.created]
    await _insert_new(session, fresh)
    skipped = [d for d in fresh if d.id is None]
    if not skipped:
        return results
    existing = await _rows_like(session, workspace_id, [_keys(d) for d in skipped])
    followers: list[int] = []
    for i, result in enumerate(results):
        if result.document.id is not None:
            continue
        if result.created:
            results[i] = _duplicate(result.document, existing)
        else:
            followers.append(i)
    if followers:
        # Their first in the batch was in the inbox already, so what they share with it
        # says nothing: the same number with other bytes is another file. Judged alone.
        again = await ingest_stored(session=session, documents=[documents[i] for i in followers])
        for i, result in zip(followers, again, strict=True):
            results[i] = result
    return results


async def _rows_like(
    session: AsyncSession, workspace_id: int, keys: Sequence[DuplicateKeys]
) -> list[Document]:
    """The workspace's rows with the same bytes or the same reference as any of these."""
    refs: dict[int, set[str]] = {}
    for _, supplier_id, external_ref in keys:
        if supplier_id is not None and external_ref:
            refs.setdefault(supplier_id, set()).add(external_ref)
    same: list[ColumnElement[bool]] = [col(Document.sha256).in_({k[0] for k in keys})]
    same += [
        and_(Document.supplier_id == supplier_id, col(Document.external_ref).in_(references))
        for supplier_id, references in refs.items()
    ]
    query = select(Document).where(Document.workspace_id == workspace_id, or_(*same))
    return list((await session.exec(query)).all())


def _match(rows: Sequence[Document], keys: DuplicateKeys) -> IngestResult | None:
    """What a document with these keys duplicates among `rows`: the same bytes first,
    then the same supplier reference."""
    sha256, supplier_id, external_ref = keys
    for row in rows:
        if row.sha256 == sha256:
            return IngestResult(row, created=False, duplicate=DuplicateReason.SAME_FILE)
    if supplier_id is None or not external_ref:
        return None
    for row in rows:
        if (row.supplier_id, row.external_ref) == (supplier_id, external_ref):
            return IngestResult(row, created=False, duplicate=DuplicateReason.SAME_REFERENCE)
    return None


def _duplicate(document: Document, existing: Sequence[Document]) -> IngestResult:
    """What a document the INSERT skipped duplicates: some row must."""
    found = _match(existing, _keys(document))
    if found is None:
        raise LookupError(f"document {document.sha256[:12]} conflicted with no row")
    return found


async def _insert_new(session: AsyncSession, documents: list[Document]) -> None:
    """Add the rows in one INSERT, which says which id went to which (by the sha256,
    unique within the workspace). A row the workspace holds already is skipped, and its
    document keeps no id.

    One statement on both backends: the ORM would insert row by row on SQLite, and on
    PostgreSQL a unique violation would abort the transaction without a savepoint."""
    table = Document.__table__  # type: ignore[attr-defined]
    names = [column.key for column in table.columns if column.key != "id"]
    rows = [{name: getattr(document, name) for name in names} for document in documents]
    statement = (
        upsert_insert(session)(table).on_conflict_do_nothing().returning(table.c.sha256, table.c.id)
    )
    ids = dict((await session.exec(statement, params=rows)).all())
    for document in documents:
        if (document_id := ids.get(document.sha256)) is not None:
            document.id = document_id
            # In the database now: the session holds it as if it had loaded it.
            make_transient_to_detached(document)
            session.add(document)


async def _twin(session: AsyncSession, document: Document) -> IngestResult:
    """The row that another delivery of the same invoice committed between our lookup
    and our insert."""
    return _duplicate(document, await _rows_like(session, document.workspace_id, [_keys(document)]))


def move_document(document: Document, target: DocumentState, *, reason: str | None = None) -> None:
    DOCUMENT_STATES.check(DocumentState(document.state), target)
    document.state = target
    document.state_reason = reason


async def archive_document(
    *, session: AsyncSession, by: Who, workspace_id: int, document_id: int
) -> Document:
    """Archive a document: a manager any, a member only their own (core/permissions.py).
    An archived one stays archived (the move is idempotent for a second press)."""
    document = await get_document(
        session=session, workspace_id=workspace_id, document_id=document_id
    )
    require(
        by,
        Action.ARCHIVE_DOCUMENT,
        workspace_id=workspace_id,
        resource_owner_id=document.owner_member_id,
    )
    if document.state != DocumentState.ARCHIVED:
        move_document(document, DocumentState.ARCHIVED)
        session.add(document)
    return document


async def get_document(*, session: AsyncSession, workspace_id: int, document_id: int) -> Document:
    document = await session.get(Document, document_id)
    if document is None or document.workspace_id != workspace_id:
        raise NotFound(kind="document", ident=document_id)
    return document


async def list_documents(
    *, session: AsyncSession, workspace_id: int, limit: int = 100
) -> list[Document]:
    query = (
        select(Document)
        .where(Document.workspace_id == workspace_id)
        .order_by(col(Document.received_at).desc(), col(Document.id).desc())
        .limit(limit)
    )
    return list((await session.exec(query)).all())


# --------------------------------------------------------------------------- the inbox list


class InboxFilter(StrEnum):
    """Which documents /inbox lists (none of them archived). FAILED: refused, or a file
    the reader could not read."""

    ALL = "all"
    REVIEW = "review"
    FAILED = "failed"
    MONTH = "month"


PER_PAGE = 5
#: A listed document's reason while the reader has not been through it yet.
UNREAD = "unread"


@dataclass(frozen=True, slots=True)
class Listed:
    """One document as a list shows it: what identifies it, its state and why."""

    id: int
    filename: str
    supplier: str | None
    amount: Decimal | None
    currency: str | None
    #: The invoice's date, or the day it arrived when none was read.
    day: date
    state: DocumentState
    #: Why it is in its state: `state_reason`, or the reader's error for a file it could
    #: not read (kept in `fields["_read"]` while the document stays in the inbox), or
    #: UNREAD while the reader has not been through it.
    reason: str | None
    #: The person listing may archive it (core/permissions.py); core checks again.
    archivable: bool
    #: What its state means in words (core/services/document_labels.py), when the list
    #: read it: "refused by your books: <the software's reason>", "unreadable: why".
    label: Text | None = None

    @property
    def reviewable(self) -> bool:
        return self.state == DocumentState.NEEDS_REVIEW


@dataclass(frozen=True, slots=True)
class DocumentPage:
    items: tuple[Listed, ...]
    shown: InboxFilter
    #: 0-based, within 0..pages-1 (a page past the end is the last one).
    page: int
    pages: int
    total: int

    @property
    def first_number(self) -> int:
        """The list number of the page's first item (numbers run on across pages)."""
        return self.page * PER_PAGE + 1


def _newest() -> ColumnElement[date]:
    """An invoice's date, else the day it arrived: the list's order and its month."""
    return func.coalesce(col(Document.issue_date), func.date(col(Document.received_at)))


async def page_documents(
    *,
    session: AsyncSession,
    workspace_id: int,
    by: Who,
    shown: InboxFilter = InboxFilter.ALL,
    page: int = 0,
    today: date | None = None,
) -> DocumentPage:
    """One page of the workspace's documents, newest invoice first, `PER_PAGE` a page.

    `MONTH` is the current month in the workspace's time zone (or of `today`).
    """
    conditions: list[ColumnElement[bool]] = [
        col(Document.workspace_id) == workspace_id,
        col(Document.state) != DocumentState.ARCHIVED,
    ]
    if shown == InboxFilter.REVIEW:
        conditions.append(col(Document.state) == DocumentState.NEEDS_REVIEW)
    elif shown == InboxFilter.FAILED:
        # Refused (by the books, or a person) or, still in the inbox, not readable.
        unreadable = and_(
            col(Document.state) == DocumentState.INBOX,
            col(Document.fields)[(READ_MARKER, "error")].as_string().is_not(None),
        )
        conditions.append(or_(col(Document.state) == DocumentState.FAILED, unreadable))
    elif shown == InboxFilter.MONTH:
        day = today or await _today(session, workspace_id)
        conditions.append(_newest() >= day.replace(day=1))
    total = (
        await session.exec(select(func.count()).select_from(Document).where(*conditions))
    ).one()
    pages = max(1, -(-total // PER_PAGE))
    page = min(max(page, 0), pages - 1)
    query = (
        select(Document)
        .where(*conditions)
        .order_by(
            _newest().desc(),
            col(Document.received_at).desc(),
            col(Document.id).desc(),
        )
        .offset(page * PER_PAGE)
        .limit(PER_PAGE)
    )
    documents = (await session.exec(query)).all()
    labels = await state_labels(session=session, documents=documents)
    items = tuple(
        replace(listed(document, by=by), label=labels.get(document.id or 0))
        for document in documents
    )
    return DocumentPage(items, shown, page, pages, total)


async def describe_document(
    *, session: AsyncSession, workspace_id: int, document_id: int, by: Who
) -> Listed:
    """One document as a list shows it (raises NotFound outside the workspace)."""
    document = await get_document(
        session=session, workspace_id=workspace_id, document_id=document_id
    )
    return listed(document, by=by)


def listed(document: Document, *, by: Who) -> Listed:
    assert document.id is not None
    read = (document.fields or {}).get(READ_MARKER)
    error = read.get("error") if isinstance(read, dict) else None
    if (
        read is None
        and document.state == DocumentState.INBOX
        and (document.total_amount is None or not document.supplier_name)
    ):
        error = UNREAD  # the reader has not been through it yet
    return Listed(
        id=document.id,
        filename=document.filename,
        supplier=document.supplier_name,
        amount=document.total_amount,
        currency=document.currency,
        day=document.issue_date or document.received_at.date(),
        state=DocumentState(document.state),
        reason=document.state_reason or (str(error) if error else None),
        archivable=document.state != DocumentState.ARCHIVED
        and allows(
            by,
            Action.ARCHIVE_DOCUMENT,
            workspace_id=document.workspace_id,
            resource_owner_id=document.owner_member_id,
        ),
    )


async def _today(session: AsyncSession, workspace_id: int) -> date:
    workspace = await session.get(Workspace, workspace_id)
    try:
        zone = ZoneInfo(workspace.timezone) if workspace is not None else None
    except (ZoneInfoNotFoundError, ValueError):
        zone = None
    now = utcnow()
    return now.astimezone(zone).date() if zone is not None else now.date()
