"""A run's files become inbox rows at once, with the inbox's dedup rules."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import select

from core.db import Database
from core.models import Document, DocumentSource
from core.models.base import utcnow
from core.services.documents import (
    DuplicateReason,
    IncomingDocument,
    IngestResult,
    build_document,
    ingest_document,
    ingest_stored,
)
from core.storage import LocalDocumentStore
from tests.integration.conftest import World


def _pdf(text: str) -> bytes:
    return f"%PDF-1.4 {text}\n%%EOF\n".encode()


async def _stored(store: LocalDocumentStore, world: World, reference: str, text: str) -> Document:
    assert world.workspace.id is not None
    content = _pdf(text)
    incoming = IncomingDocument(
        workspace_id=world.workspace.id,
        source=DocumentSource.CONNECTOR,
        content=content,
        filename=f"{reference}.pdf",
        supplier_id=world.supplier.id,
        external_ref=reference,
    )
    return build_document(incoming, await store.put(content), now=utcnow())


async def test_a_batch_keeps_the_new_and_points_the_rest_at_what_they_duplicate(
    db: Database, store: LocalDocumentStore, world: World
) -> None:
    assert world.workspace.id is not None
    async with db.transaction() as session:  # already in the inbox: FA-1, by mail
        earlier = await ingest_document(
            session=session,
            store=store,
            incoming=IncomingDocument(
                workspace_id=world.workspace.id,
                source=DocumentSource.CONNECTOR,
                content=_pdf("one"),
                supplier_id=world.supplier.id,
                external_ref="FA-1",
            ),
        )
    batch = [
        await _stored(store, world, "FA-1", "one, fetched again"),  # same reference
        await _stored(store, world, "FA-9", "one"),  # the same bytes as FA-1
        await _stored(store, world, "FA-2", "two"),  # new
        await _stored(store, world, "FA-3", "two"),  # the same bytes as FA-2, in the batch
        await _stored(store, world, "FA-4", "four"),  # new, the same day as FA-2: kept
    ]

    async with db.transaction() as session:
        results = await ingest_stored(session=session, documents=batch)

    assert [(r.created, r.duplicate) for r in results] == [
        (False, DuplicateReason.SAME_REFERENCE),
        (False, DuplicateReason.SAME_FILE),
        (True, None),
        (False, DuplicateReason.SAME_FILE),
        (True, None),
    ]
    assert results[0].document.id == results[1].document.id == earlier.document.id
    assert results[3].document is batch[2]
    async with db.read() as session:
        refs = sorted(d.external_ref or "" for d in (await session.exec(select(Document))).all())
    assert refs == ["FA-1", "FA-2", "FA-4"]


async def test_a_file_following_one_already_in_the_inbox_is_judged_on_its_own(
    db: Database, store: LocalDocumentStore, world: World
) -> None:
    """FA-7's file comes again numbered FA-8, then another FA-8 in the same batch: the
    first points at FA-7, and the second, whose bytes the inbox has never seen, is kept."""
    async with db.transaction() as session:
        [earlier] = await ingest_stored(
            session=session, documents=[await _stored(store, world, "FA-7", "seven")]
        )
    batch = [
        await _stored(store, world, "FA-8", "seven"),  # FA-7's bytes under a new number
        await _stored(store, world, "FA-8", "eight"),  # FA-8 again, other bytes
        await _stored(store, world, "FA-9", "seven"),  # FA-7's bytes once more
    ]

    async with db.transaction() as session:
        results = await ingest_stored(session=session, documents=batch)

    assert [(r.created, r.duplicate) for r in results] == [
        (False, DuplicateReason.SAME_FILE),
        (True, None),
        (False, DuplicateReason.SAME_FILE),
    ]
    assert results[0].document.id == results[2].document.id == earlier.document.id
    assert results[1].document is batch[1]
    async with db.read() as session:
        refs = sorted(d.external_ref or "" for d in (await session.exec(select(Document))).all())
    assert refs == ["FA-7", "FA-8"]


@pytest.mark.parametrize(
    "db", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_a_twin_committed_while_the_batch_looked_is_pointed_at_not_doubled(
    db: Database, store: LocalDocumentStore, world: World
) -> None:
    """Two deliveries at once: the batch's lookup runs before the other commits, so its
    INSERT meets the other's row. PostgreSQL only: SQLite's writers take turns, and there
    the lookup always sees what the other committed."""
    other = await _stored(store, world, "FA-9", "nine, by mail")
    batch = [
        await _stored(store, world, "FA-9", "nine"),  # the same reference as the other's
        await _stored(store, world, "FA-10", "ten"),
        await _stored(store, world, "FA-11", "ten"),  # the same bytes as FA-10, in the batch
    ]

    async def deliver() -> list[IngestResult]:
        async with db.transaction() as session:
            return await ingest_stored(session=session, documents=batch)

    async with db.transaction() as session:
        [first] = await ingest_stored(session=session, documents=[other])
        delivering = asyncio.create_task(deliver())
        await asyncio.sleep(0.3)  # its lookup misses FA-9; its INSERT waits for this commit
        assert not delivering.done()
    results = await delivering

    assert [(r.created, r.duplicate) for r in results] == [
        (False, DuplicateReason.SAME_REFERENCE),
        (True, None),
        (False, DuplicateReason.SAME_FILE),
    ]
    assert results[0].document.id == first.document.id
    assert results[2].document is batch[1]
    async with db.read() as session:
        refs = sorted(d.external_ref or "" for d in (await session.exec(select(Document))).all())
    assert refs == ["FA-10", "FA-9"]


async def test_an_empty_batch_adds_nothing(db: Database) -> None:
    async with db.transaction() as session:
        assert await ingest_stored(session=session, documents=[]) == []
