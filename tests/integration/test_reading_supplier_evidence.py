"""The supplier of a reading comes from the best evidence first: a number that belongs to
one supplier (VAT, SIREN, a bank account already confirmed for it) outweighs whatever the
page's top line says, which is often a table header or a label."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from core.db import Database
from core.extraction.sandbox import shutdown_sandbox
from core.models import Document, DocumentSource, DocumentState
from core.services.documents import IncomingDocument, ingest_document
from core.services.reading import read_waiting_documents
from core.storage import LocalDocumentStore
from tests.integration.conftest import World
from tests.unit.extraction.corpus import BAKERY, visible_lines
from tests.unit.extraction.pdf_builders import build_pdf

NEXT_MONTH = dataclasses.replace(BAKERY, number="FA-2026-0043")


@pytest.fixture(autouse=True)
def _fresh_sandbox() -> Iterator[None]:
    yield
    shutdown_sandbox()


async def _upload(db: Database, store: LocalDocumentStore, world: World, lines: list[str]) -> int:
    async with db.transaction() as session:
        assert world.workspace.id is not None
        result = await ingest_document(
            session=session,
            store=store,
            incoming=IncomingDocument(
                workspace_id=world.workspace.id,
                source=DocumentSource.UPLOAD,
                content=build_pdf(lines),
                filename="receipt.pdf",
            ),
        )
    assert result.document.id is not None
    return result.document.id


async def _get(db: Database, document_id: int) -> Document:
    async with db.read() as session:
        document = await session.get(Document, document_id)
    assert document is not None
    return document


def _receipt_without_identifiers() -> list[str]:
    """The supplier's payment receipt: a title where its name should be, no VAT, no SIREN,
    but the same bank account as its invoices."""
    lines = visible_lines(NEXT_MONTH)
    return [
        "PAYMENT RECEIPT" if line == BAKERY.seller_name else line
        for line in lines
        if "SIREN" not in line and "intracommunautaire" not in line
    ]


async def test_a_known_bank_account_names_the_supplier_when_the_page_does_not(
    db: Database, store: LocalDocumentStore, world: World
) -> None:
    await _upload(db, store, world, visible_lines(BAKERY))
    await read_waiting_documents(db=db, store=store)

    receipt = await _upload(db, store, world, _receipt_without_identifiers())
    await read_waiting_documents(db=db, store=store)

    document = await _get(db, receipt)
    assert document.fields["_supplier"]["matched_by"] == "iban"
    assert document.supplier_name == BAKERY.seller_name
    assert document.state == DocumentState.INBOX


async def test_an_account_nobody_confirmed_names_no_supplier(
    db: Database, store: LocalDocumentStore, world: World
) -> None:
    await _upload(db, store, world, visible_lines(BAKERY))
    await read_waiting_documents(db=db, store=store)
    other_bank = dataclasses.replace(NEXT_MONTH, iban="FR1420041010050500013M02606")
    lines = [
        "PAYMENT RECEIPT" if line == BAKERY.seller_name else line
        for line in visible_lines(other_bank)
        if "SIREN" not in line and "intracommunautaire" not in line
    ]

    receipt = await _upload(db, store, world, lines)
    await read_waiting_documents(db=db, store=store)

    document = await _get(db, receipt)
    # Neither the title nor a stranger's account is taken for the supplier: a person says.
    assert "_supplier" not in document.fields
    assert document.supplier_name is None
