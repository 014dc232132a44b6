"""A catalog supplier's own VAT number or SIREN on the page names it, however the page's
name reads: the numbers live in core/catalog/identifiers.json, by catalog key."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.catalog.identifiers import load_identifiers
from core.db import Database
from core.extraction.sandbox import shutdown_sandbox
from core.models import Document, DocumentSource, Supplier
from core.services.documents import IncomingDocument, ingest_document
from core.services.reading import read_waiting_documents
from core.storage import LocalDocumentStore
from tests.integration.conftest import World
from tests.unit.extraction.pdf_builders import build_pdf

# The catalog's Gandi, as its identifiers file knows it.
GANDI_VAT = next(vat for vat, key in load_identifiers().by_vat.items() if key == "gandi")


@pytest.fixture(autouse=True)
def _fresh_sandbox() -> Iterator[None]:
    yield
    shutdown_sandbox()


def _invoice(vat_line: str) -> list[str]:
    """A domain registrar's invoice whose top line is a label, not its name."""
    return [
        "Récapitulatif de commande",
        "Facture n° 2026030200001",
        "Date : 02/03/2026",
        "Total HT : 10,00 EUR",
        "Total TVA : 2,00 EUR",
        "Total TTC : 12,00 EUR",
        vat_line,
    ]


async def _read(
    db: Database, store: LocalDocumentStore, world: World, lines: list[str]
) -> Document:
    async with db.transaction() as session:
        assert world.workspace.id is not None
        gandi = Supplier(key="gandi", name="Gandi", portal="pro", portal_url="https://gandi.net")
        session.add(gandi)
        result = await ingest_document(
            session=session,
            store=store,
            incoming=IncomingDocument(
                workspace_id=world.workspace.id,
                source=DocumentSource.UPLOAD,
                content=build_pdf(lines),
                filename="facture.pdf",
            ),
        )
    await read_waiting_documents(db=db, store=store)
    async with db.read() as session:
        document = await session.get(Document, result.document.id)
    assert document is not None
    return document


async def test_the_catalog_suppliers_vat_number_names_it(
    db: Database, store: LocalDocumentStore, world: World
) -> None:
    document = await _read(db, store, world, _invoice(f"Numéro de TVA {GANDI_VAT}"))

    assert document.fields["_supplier"]["matched_by"] == "vat"
    assert document.supplier_name == "Gandi"


async def test_its_siren_names_it_too(
    db: Database, store: LocalDocumentStore, world: World
) -> None:
    siren = GANDI_VAT[4:]
    document = await _read(
        db, store, world, _invoice(f"SAS au capital de 1 000 euros - SIREN {siren}")
    )

    assert document.fields["_supplier"]["matched_by"] == "siren"
    assert document.supplier_name == "Gandi"


async def test_a_vat_number_the_catalog_does_not_know_names_no_catalog_supplier(
    db: Database, store: LocalDocumentStore, world: World
) -> None:
    document = await _read(db, store, world, _invoice("Numéro de TVA FR40303265045"))

    assert document.fields["_supplier"]["matched_by"] not in ("vat", "siren")
    assert document.supplier_name != "Gandi"
