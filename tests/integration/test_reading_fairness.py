"""One workspace flooded with documents does not hold up reading for the others."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlmodel import col, select

from core.db import Database
from core.extraction.sandbox import shutdown_sandbox
from core.models import Document, DocumentSource, WorkspaceCreate
from core.models.document import READ_MARKER
from core.services.documents import IncomingDocument, ingest_document
from core.services.reading import read_waiting_documents
from core.services.workspaces import create_workspace
from core.storage import LocalDocumentStore
from tests.integration.conftest import World


@pytest.fixture(autouse=True)
def _fresh_sandbox() -> Iterator[None]:
    yield
    shutdown_sandbox()


async def _ingest(db: Database, store: LocalDocumentStore, workspace_id: int, n: int) -> int:
    incoming = IncomingDocument(
        workspace_id=workspace_id,
        source=DocumentSource.EMAIL,
        # Unreadable on purpose: each read is quick, and still marks the document read.
        content=b"%PDF-1.7\n1 0 obj<<" + str(n).encode(),
        filename=f"f-{n}.pdf",
    )
    async with db.transaction() as session:
        result = await ingest_document(session=session, store=store, incoming=incoming)
    assert result.document.id is not None
    return result.document.id


async def _read_ids(db: Database) -> list[int]:
    async with db.read() as session:
        documents = (await session.exec(select(Document).order_by(col(Document.id)))).all()
    return [d.id for d in documents if d.id is not None and READ_MARKER in (d.fields or {})]


async def test_a_flooded_workspace_waits_its_turn_behind_the_others(
    db: Database, store: LocalDocumentStore, world: World
) -> None:
    flooded = world.workspace.id
    assert flooded is not None
    async with db.transaction() as session:
        quiet, _ = await create_workspace(
            session=session, data=WorkspaceCreate(name="Quiet"), invite_ttl=timedelta(hours=1)
        )
    assert quiet.id is not None
    # One sender drops a pile of files on one workspace; another's invoice arrives after.
    pile = [await _ingest(db, store, flooded, n) for n in range(8)]
    invoice = await _ingest(db, store, quiet.id, 100)

    await read_waiting_documents(db=db, store=store, limit=2)

    # One turn each, oldest first within a workspace: not the pile's two oldest.
    assert await _read_ids(db) == [pile[0], invoice]
    await read_waiting_documents(db=db, store=store, limit=3)
    assert await _read_ids(db) == [*pile[:4], invoice]
