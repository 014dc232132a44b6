"""Documents waiting in the inbox are read once, and what was read lands where it belongs."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from decimal import Decimal

import pytest

from core.db import Database
from core.extraction.sandbox import shutdown_sandbox
from core.models import Document, DocumentSource, DocumentState
from core.services.documents import IncomingDocument, ingest_document
from core.services.reading import read_waiting_documents
from core.storage import LocalDocumentStore
from tests.integration.conftest import World
from tests.unit.extraction.corpus import ACME_UK, BAKERY, Line, fr, visible_lines
from tests.unit.extraction.pdf_builders import build_facturx, build_pdf
from tests.unit.extraction.xml_builders import build_cii, build_ubl


@pytest.fixture(autouse=True)
def _fresh_sandbox() -> Iterator[None]:
    yield
    shutdown_sandbox()


async def _ingest(
    db: Database,
    store: LocalDocumentStore,
    world: World,
    content: bytes,
    filename: str,
    **known: object,
) -> int:
    assert world.workspace.id is not None
    incoming = IncomingDocument(
        workspace_id=world.workspace.id,
        # The owner's upload: a person vouches for it, bank details included.
        source=DocumentSource.UPLOAD,
        content=content,
        filename=filename,
        **known,  # type: ignore[arg-type]
    )
    async with db.transaction() as session:
        result = await ingest_document(session=session, store=store, incoming=incoming)
    assert result.document.id is not None
    return result.document.id


async def _get(db: Database, document_id: int) -> Document:
    async with db.read() as session:
        document = await session.get(Document, document_id)
    assert document is not None
    return document


async def test_the_inbox_is_read_once_and_each_document_filed(
    db: Database, store: LocalDocumentStore, world: World
) -> None:
    text_pdf = await _ingest(db, store, world, build_pdf(visible_lines(BAKERY)), "facture.pdf")
    ubl = await _ingest(db, store, world, build_ubl(ACME_UK), "invoice.xml")
    # Without the VAT lines too: from those the engine would infer a (doubtful) total.
    no_total_lines = [
        line for line in visible_lines(BAKERY) if not line.startswith(("Total", "TVA "))
    ]
    no_total = await _ingest(db, store, world, build_pdf(no_total_lines), "sans_total.pdf")
    empty = await _ingest(db, store, world, b"", "vide.pdf")
    truncated = await _ingest(db, store, world, b"%PDF-1.7\n1 0 obj<<", "coupe.pdf")

    assert await read_waiting_documents(db=db, store=store) == 3

    document = await _get(db, text_pdf)
    assert (document.state, document.state_reason) == (DocumentState.INBOX, None)
    assert document.total_amount == BAKERY.total_incl
    assert document.issue_date == BAKERY.issue
    assert document.currency == "EUR"
    total = document.fields["total_incl_tax"]
    assert total["value"] == str(BAKERY.total_incl)
    assert total["source"] == "text"
    assert total["confidence"] >= 0.8
    assert document.fields["invoice_number"]["value"] == BAKERY.number
    assert "at" in document.fields["_read"]

    document = await _get(db, ubl)
    assert document.state == DocumentState.INBOX
    assert (document.total_amount, document.currency) == (ACME_UK.total_incl, ACME_UK.currency)
    assert document.supplier_name == ACME_UK.seller_name
    assert document.fields["total_incl_tax"]["source"] == "ubl"
    assert document.fields["warnings"] == []

    document = await _get(db, no_total)
    assert (document.state, document.state_reason) == (
        DocumentState.NEEDS_REVIEW,
        "missing_total",
    )
    assert document.total_amount is None
    assert document.fields["invoice_number"]["value"] == BAKERY.number

    for broken in (empty, truncated):
        # Not left "in the inbox" with an empty reason (issue #14, finding 3): failed, with
        # the reader's reason, and never read again by itself.
        document = await _get(db, broken)
        assert (document.state, document.state_reason) == (DocumentState.FAILED, "unreadable_pdf")
        assert document.fields == {"_read": {"error": "unreadable_pdf"}}

    assert await read_waiting_documents(db=db, store=store) == 0


async def test_values_from_the_connector_are_kept(
    db: Database, store: LocalDocumentStore, world: World
) -> None:
    document_id = await _ingest(
        db,
        store,
        world,
        build_pdf(visible_lines(BAKERY)),
        "facture.pdf",
        supplier_name="Boulangerie (portail)",
        total_amount=Decimal("1.00"),
    )
    assert await read_waiting_documents(db=db, store=store) == 1
    document = await _get(db, document_id)
    assert (document.supplier_name, document.total_amount) == (
        "Boulangerie (portail)",
        Decimal("1.00"),
    )
    assert document.issue_date == BAKERY.issue  # empty, so filled
    assert document.fields["total_incl_tax"]["value"] == str(BAKERY.total_incl)


async def test_the_fields_a_connector_gave_outrank_what_the_page_says(
    db: Database, store: LocalDocumentStore, world: World
) -> None:
    """The supplier's API listed the invoice with its number: that number is the one kept,
    and what only the page says (the date, the VAT) is read from the page."""
    document_id = await _ingest(db, store, world, build_pdf(visible_lines(BAKERY)), "facture.pdf")
    async with db.transaction() as session:
        document = await session.get(Document, document_id)
        assert document is not None
        document.fields = {
            "invoice_number": {"value": "API-2026-77", "source": "connector", "confidence": 1.0}
        }
    assert await read_waiting_documents(db=db, store=store) == 1
    document = await _get(db, document_id)
    assert document.fields["invoice_number"] == {
        "value": "API-2026-77",
        "source": "connector",
        "confidence": 1.0,
    }
    assert document.fields["issue_date"]["source"] == "text"
    assert document.issue_date == BAKERY.issue


async def test_totals_that_do_not_add_up_need_review(
    db: Database, store: LocalDocumentStore, world: World
) -> None:
    lines = visible_lines(BAKERY)
    wrong = [
        f"Total TTC : {fr(BAKERY.total_incl + 10)} EUR" if line.startswith("Total TTC") else line
        for line in lines
    ]
    document_id = await _ingest(db, store, world, build_pdf(wrong), "facture.pdf")
    assert await read_waiting_documents(db=db, store=store) == 1
    document = await _get(db, document_id)
    assert document.state == DocumentState.NEEDS_REVIEW
    assert document.state_reason in {"totals_mismatch", "low_confidence"}
    assert "totals_mismatch" in document.fields["warnings"]


async def test_a_facturx_that_contradicts_its_text_needs_review(
    db: Database, store: LocalDocumentStore, world: World
) -> None:
    other = dataclasses.replace(
        BAKERY, lines=(*BAKERY.lines, Line("Extra", Decimal(1), Decimal("50.00"), Decimal(20)))
    )
    pdf = build_facturx(build_cii(BAKERY, "en16931"), visible_lines(other))
    document_id = await _ingest(db, store, world, pdf, "facturx.pdf")
    assert await read_waiting_documents(db=db, store=store) == 1
    document = await _get(db, document_id)
    assert (document.state, document.state_reason) == (
        DocumentState.NEEDS_REVIEW,
        "source_conflict",
    )
    assert document.total_amount == BAKERY.total_incl  # the XML wins
    assert document.fields["total_incl_tax"]["source"] == "facturx"


async def test_the_limit_is_respected_and_the_rest_waits(
    db: Database, store: LocalDocumentStore, world: World
) -> None:
    for number in ("A-1", "A-2", "A-3"):
        sample = dataclasses.replace(BAKERY, number=number)
        await _ingest(db, store, world, build_ubl(sample), f"{number}.xml")
    assert await read_waiting_documents(db=db, store=store, limit=2) == 2
    assert await read_waiting_documents(db=db, store=store, limit=2) == 1
    assert await read_waiting_documents(db=db, store=store, limit=2) == 0
