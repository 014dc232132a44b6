"""Every broken or hostile file ends with a clear reason on its document, within its
limits, and the worker goes on to the next."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator

import pytest
from sqlmodel import select

from core.db import Database
from core.extraction.sandbox import shutdown_sandbox
from core.models import Document, DocumentSource, DocumentState, Notification
from core.services.documents import IncomingDocument, ingest_document
from core.services.outcome_notices import UNREADABLE
from core.services.reading import read_waiting_documents
from core.storage import LocalDocumentStore
from tests.integration.conftest import World
from tests.unit.extraction.bad_inputs import encrypted_pdf, flate_bomb_pdf, long_pdf, pixel_bomb_png
from tests.unit.extraction.corpus import BAKERY, visible_lines
from tests.unit.extraction.pdf_builders import build_pdf
from tests.unit.extraction.test_xml_safety import BILLION_LAUGHS, XXE

MEMORY_MB = 384


@pytest.fixture(autouse=True)
def _fresh_sandbox() -> Iterator[None]:
    yield
    shutdown_sandbox()


async def test_bad_files_get_their_reasons_and_the_good_one_is_still_read(
    db: Database, store: LocalDocumentStore, world: World
) -> None:
    impossible_date = [line.replace("15/11/2026", "31/02/2026") for line in visible_lines(BAKERY)]
    files = {
        "encrypted.pdf": (encrypted_pdf(), "encrypted_pdf"),
        "truncated.pdf": (build_pdf(visible_lines(BAKERY))[:300], "unreadable_pdf"),
        "empty.pdf": (b"", "unreadable_pdf"),
        "bomb.pdf": (flate_bomb_pdf(), "too_large"),
        "pixels.png": (pixel_bomb_png(), "decompression_bomb"),
        "xxe.xml": (XXE, "xml_dtd_forbidden"),
        "laughs.xml": (BILLION_LAUGHS, "xml_dtd_forbidden"),
    }
    ids: dict[str, int] = {}
    assert world.workspace.id is not None
    async with db.transaction() as session:
        for name, (content, _) in [
            *files.items(),
            ("5000-pages.pdf", (long_pdf(), "")),
            ("date.pdf", (build_pdf(impossible_date), "")),
            (
                "good.pdf",
                (build_pdf(visible_lines(dataclasses.replace(BAKERY, number="OK-1"))), ""),
            ),
        ]:
            result = await ingest_document(
                session=session,
                store=store,
                incoming=IncomingDocument(
                    workspace_id=world.workspace.id,
                    source=DocumentSource.UPLOAD,  # a person vouches for its bank details
                    content=content,
                    filename=name,
                ),
            )
            assert result.document.id is not None
            ids[name] = result.document.id

    started = time.monotonic()
    read = await read_waiting_documents(
        db=db, store=store, limit=20, read_timeout=30, memory_mb=MEMORY_MB
    )
    assert time.monotonic() - started < 60
    assert read == 3

    async with db.read() as session:
        documents = {name: await session.get(Document, ident) for name, ident in ids.items()}
    reasons = {
        name: document.fields.get("_read", {}).get("error")
        for name, document in documents.items()
        if document is not None and name in files
    }
    assert reasons == {name: reason for name, (_, reason) in files.items()}
    for name, (_, reason) in files.items():
        document = documents[name]
        assert document is not None
        # Kept, failed with its reason (issue #14, finding 3), and its sender told.
        assert (document.state, document.state_reason) == (DocumentState.FAILED, reason)
    async with db.read() as session:
        told = (
            await session.exec(select(Notification).where(Notification.kind == UNREADABLE))
        ).all()
    assert sorted(n.payload["reason"] for n in told) == sorted(r for _, r in files.values())

    long = documents["5000-pages.pdf"]
    assert long is not None
    assert long.total_amount == BAKERY.total_incl  # its first pages, within the limit
    dated = documents["date.pdf"]
    assert dated is not None
    assert (dated.state, dated.state_reason) == (DocumentState.NEEDS_REVIEW, "invalid_date")
    assert "invalid_date" in dated.fields["warnings"]
    good = documents["good.pdf"]
    assert good is not None
    assert good.fields["invoice_number"]["value"] == "OK-1"
