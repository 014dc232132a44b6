"""Reading knows who sent the invoice: known suppliers, their rules, their bank details,
and the same invoice arriving twice by different roads."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from sqlmodel import select

from core.db import Database
from core.extraction.sandbox import shutdown_sandbox
from core.models import Document, DocumentSource, DocumentState, SupplierProfile
from core.services.documents import IncomingDocument, ingest_document, move_document
from core.services.provenance import VOUCHED, vouched
from core.services.reading import read_waiting_documents
from core.services.rules import set_rule
from core.storage import LocalDocumentStore
from tests.integration.conftest import World
from tests.unit.extraction.corpus import BAKERY, visible_lines
from tests.unit.extraction.pdf_builders import build_pdf
from tests.unit.extraction.xml_builders import build_ubl

NEXT_MONTH = dataclasses.replace(BAKERY, number="FA-2026-0043")
EDF = dataclasses.replace(
    BAKERY, seller_name="EDF ENTREPRISES S.A.", seller_vat="FR03552081317", seller_siren="552081317"
)


@pytest.fixture(autouse=True)
def _fresh_sandbox() -> Iterator[None]:
    yield
    shutdown_sandbox()


async def _deliver(
    db: Database,
    store: LocalDocumentStore,
    world: World,
    content: bytes,
    *,
    source: DocumentSource = DocumentSource.UPLOAD,
    spoofed: bool = False,
    vouched_by: str | None = None,
    **known: object,
) -> int:
    """Deliver a file as its source would; by default the owner uploads it (trusted).

    `vouched_by` is the domain whose authentication the mail gateway recorded.
    """
    async with db.transaction() as session:
        assert world.workspace.id is not None
        result = await ingest_document(
            session=session,
            store=store,
            incoming=IncomingDocument(
                workspace_id=world.workspace.id,
                source=source,
                content=content,
                filename="facture.pdf",
                **known,  # type: ignore[arg-type]
            ),
        )
        if vouched_by is not None:  # what mail/pipeline.py records for an authenticated mail
            result.document.fields = {VOUCHED: vouched("supplier_domain", vouched_by)}
        if spoofed:  # what mail/pipeline.py does for a sender that failed authentication
            move_document(
                result.document, DocumentState.NEEDS_REVIEW, reason="sender_unauthenticated"
            )
    assert result.document.id is not None
    return result.document.id


async def _get(db: Database, document_id: int) -> Document:
    async with db.read() as session:
        document = await session.get(Document, document_id)
    assert document is not None
    return document


async def test_a_known_supplier_is_recognised_by_vat_and_its_rule_applies_at_once(
    db: Database, store: LocalDocumentStore, world: World
) -> None:
    first = await _deliver(db, store, world, build_pdf(visible_lines(BAKERY)))
    await read_waiting_documents(db=db, store=store)
    async with db.transaction() as session:
        assert world.workspace.id is not None
        await set_rule(
            session=session,
            workspace_id=world.workspace.id,
            party_name="Boulangerie Dupont SAS",
            account_code="607000",
            tax_rate_code="TVA20",
        )
    renamed = [
        "Dupont & Fils" if line == BAKERY.seller_name else line
        for line in visible_lines(NEXT_MONTH)
    ]
    second = await _deliver(db, store, world, build_pdf(renamed))
    await read_waiting_documents(db=db, store=store)

    document = await _get(db, second)
    assert document.fields["_supplier"]["matched_by"] == "vat"
    assert document.supplier_name == BAKERY.seller_name  # the known name, not the page's
    assert document.fields["_rule"]["account_code"] == "607000"
    assert document.state == DocumentState.INBOX
    assert (await _get(db, first)).fields["_supplier"]["matched_by"] == "new"
    async with db.read() as session:
        profiles = (await session.exec(select(SupplierProfile))).all()
    assert [(p.name, p.vat, p.ibans) for p in profiles] == [
        (BAKERY.seller_name, BAKERY.seller_vat, [BAKERY.iban])
    ]


async def test_a_known_suppliers_invoice_with_a_new_iban_is_held_for_review(
    db: Database, store: LocalDocumentStore, world: World
) -> None:
    await _deliver(db, store, world, build_pdf(visible_lines(BAKERY)))
    await read_waiting_documents(db=db, store=store)
    same_bank = await _deliver(db, store, world, build_pdf(visible_lines(NEXT_MONTH)))
    fraud = dataclasses.replace(BAKERY, number="FA-2026-0044", iban="FR1420041010050500013M02606")
    new_bank = await _deliver(db, store, world, build_pdf(visible_lines(fraud)))
    await read_waiting_documents(db=db, store=store)

    assert (await _get(db, same_bank)).state == DocumentState.INBOX
    held = await _get(db, new_bank)
    assert (held.state, held.state_reason) == (DocumentState.NEEDS_REVIEW, "new_iban")
    assert held.fields["iban"]["value"] == fraud.iban


async def test_a_sender_that_failed_authentication_stays_held_after_reading(
    db: Database, store: LocalDocumentStore, world: World
) -> None:
    held = await _deliver(
        db,
        store,
        world,
        build_pdf(visible_lines(BAKERY)),
        source=DocumentSource.EMAIL,
        spoofed=True,
    )
    assert await read_waiting_documents(db=db, store=store) == 1
    document = await _get(db, held)
    assert (document.state, document.state_reason) == (
        DocumentState.NEEDS_REVIEW,
        "sender_unauthenticated",
    )
    assert document.fields["total_incl_tax"]["value"] == str(BAKERY.total_incl)


async def test_a_name_on_the_page_finds_the_catalog_supplier(
    db: Database, store: LocalDocumentStore, world: World
) -> None:
    document_id = await _deliver(db, store, world, build_pdf(visible_lines(EDF)))
    await read_waiting_documents(db=db, store=store)
    document = await _get(db, document_id)
    assert document.supplier_id == world.supplier.id
    assert document.supplier_name == "EDF Entreprises"
    assert document.fields["_supplier"]["matched_by"] == "name"


async def test_the_same_invoice_by_connector_and_by_mail_is_one_document(
    db: Database, store: LocalDocumentStore, world: World
) -> None:
    by_connector = await _deliver(
        db,
        store,
        world,
        build_ubl(EDF),
        source=DocumentSource.CONNECTOR,
        supplier_id=world.supplier.id,
        supplier_name=world.supplier.name,
        external_ref=EDF.number,
    )
    by_mail = await _deliver(
        db,
        store,
        world,
        build_pdf(visible_lines(EDF)),
        source=DocumentSource.EMAIL,
        vouched_by="edf.fr",
    )
    other_invoice = await _deliver(
        db,
        store,
        world,
        build_pdf(visible_lines(dataclasses.replace(EDF, number="FA-9"))),
        source=DocumentSource.EMAIL,
        vouched_by="edf.fr",
    )
    await read_waiting_documents(db=db, store=store)

    assert (await _get(db, by_connector)).state == DocumentState.INBOX
    duplicate = await _get(db, by_mail)
    assert (duplicate.state, duplicate.state_reason) == (DocumentState.ARCHIVED, "duplicate")
    assert duplicate.fields["_duplicate_of"] == by_connector
    assert (await _get(db, other_invoice)).state == DocumentState.INBOX
