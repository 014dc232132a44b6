"""Every source delivers into one inbox, and one invoice is one document."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from core.db import Database
from core.errors import IllegalTransition
from core.models import Document, DocumentSource, DocumentState
from core.services.documents import (
    DuplicateReason,
    IncomingDocument,
    ingest_document,
    list_documents,
    move_document,
)
from core.storage import LocalDocumentStore
from tests.integration.conftest import World

PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _incoming(world: World, content: bytes = PDF, **changes: object) -> IncomingDocument:
    assert world.workspace.id is not None
    values: dict[str, object] = {
        "workspace_id": world.workspace.id,
        "source": DocumentSource.EMAIL,
        "content": content,
        "filename": "Facture_février.pdf",
    }
    return IncomingDocument(**(values | changes))  # type: ignore[arg-type]


async def test_a_file_lands_in_the_inbox_once_stored(
    db: Database, store: LocalDocumentStore, world: World
) -> None:
    async with db.transaction() as session:
        result = await ingest_document(
            session=session, store=store, incoming=_incoming(world, total_amount=Decimal("118.80"))
        )
    assert result.created
    document = result.document
    assert (document.state, document.content_type, document.filename) == (
        DocumentState.INBOX,
        "application/pdf",
        "Facture_février.pdf",
    )
    assert await store.get(document.sha256) == PDF
    async with db.transaction() as session:
        assert world.workspace.id is not None
        [listed] = await list_documents(session=session, workspace_id=world.workspace.id)
    assert listed.total_amount == Decimal("118.80")


async def test_the_same_bytes_twice_is_one_document(
    db: Database, store: LocalDocumentStore, world: World
) -> None:
    async with db.transaction() as session:
        first = await ingest_document(session=session, store=store, incoming=_incoming(world))
    async with db.transaction() as session:
        second = await ingest_document(
            session=session,
            store=store,
            incoming=_incoming(world, source=DocumentSource.TELEGRAM, filename="x.pdf"),
        )
    assert not second.created
    assert second.duplicate == DuplicateReason.SAME_FILE
    assert second.document.id == first.document.id


async def test_the_same_supplier_reference_twice_is_one_document(
    db: Database, store: LocalDocumentStore, world: World
) -> None:
    ref: dict[str, Any] = {"supplier_id": world.supplier.id, "external_ref": "FA-2026-0042"}
    async with db.transaction() as session:
        first = await ingest_document(
            session=session, store=store, incoming=_incoming(world, **ref)
        )
    # The same invoice fetched by the connector comes as other bytes (a re-rendered PDF).
    async with db.transaction() as session:
        again = await ingest_document(
            session=session,
            store=store,
            incoming=_incoming(world, content=PDF + b"%re-rendered\n", **ref),
        )
    assert (again.created, again.duplicate, again.document.id) == (
        False,
        DuplicateReason.SAME_REFERENCE,
        first.document.id,
    )


async def test_two_bills_of_one_day_from_one_supplier_are_both_kept(
    db: Database, store: LocalDocumentStore, world: World
) -> None:
    async with db.transaction() as session:
        a = await ingest_document(
            session=session,
            store=store,
            incoming=_incoming(
                world, supplier_id=world.supplier.id, external_ref="A-1", filename="facture.pdf"
            ),
        )
        b = await ingest_document(
            session=session,
            store=store,
            incoming=_incoming(
                world,
                content=PDF + b"%2\n",
                supplier_id=world.supplier.id,
                external_ref="A-2",
                filename="facture.pdf",
            ),
        )
    assert a.created
    assert b.created
    assert a.document.id != b.document.id


async def test_a_failed_transaction_leaves_no_row(
    db: Database, store: LocalDocumentStore, world: World
) -> None:
    class Crash(Exception):
        pass

    async def _deliver_then_crash() -> None:
        async with db.transaction() as session:
            await ingest_document(session=session, store=store, incoming=_incoming(world))
            raise Crash

    with pytest.raises(Crash):
        await _deliver_then_crash()
    async with db.transaction() as session:
        assert world.workspace.id is not None
        assert await list_documents(session=session, workspace_id=world.workspace.id) == []
    # …and the file left behind is reused, not duplicated, by the next delivery.
    async with db.transaction() as session:
        assert (
            await ingest_document(session=session, store=store, incoming=_incoming(world))
        ).created


async def test_a_dangerous_filename_is_made_safe(
    db: Database, store: LocalDocumentStore, world: World
) -> None:
    async with db.transaction() as session:
        result = await ingest_document(
            session=session,
            store=store,
            incoming=_incoming(world, filename="../../etc/pass\x00wd.pdf"),
        )
    assert "/" not in result.document.filename
    assert "\x00" not in result.document.filename


async def test_document_states_refuse_illegal_moves(
    db: Database, store: LocalDocumentStore, world: World
) -> None:
    async with db.transaction() as session:
        document: Document = (
            await ingest_document(session=session, store=store, incoming=_incoming(world))
        ).document
        move_document(document, DocumentState.BLOCKED, reason="integration_expired")
        move_document(document, DocumentState.PUBLISHED)
        with pytest.raises(IllegalTransition):
            move_document(document, DocumentState.NEEDS_REVIEW)
