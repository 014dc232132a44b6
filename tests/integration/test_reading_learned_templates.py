"""One correction teaches Courier a supplier's layout: its next invoice is read right.

Quincaillerie Morel writes "Ref. piece" for its number, "Marchandises" for the total
before tax and "Net a payer" for the total: the general rules read only the total and
guess the date. A person corrects the first invoice once; the second one, with other
values, is then read by the template learned from that correction.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import select

from core.db import Database
from core.extraction.sandbox import shutdown_sandbox
from core.extraction.template import parse_template
from core.models import Document, DocumentSource, SupplierProfile
from core.permissions import OPERATOR
from core.services.documents import IncomingDocument, ingest_document
from core.services.learned_templates import TEMPLATE
from core.services.reading import read_waiting_documents
from core.services.review import answer_question, ask_next
from core.storage import LocalDocumentStore
from tests.integration.conftest import World
from tests.unit.extraction.pdf_builders import build_pdf


@pytest.fixture(autouse=True)
def _fresh_sandbox() -> Iterator[None]:
    yield
    shutdown_sandbox()


def _morel(number: str, issued: str, excl: str, tax: str, incl: str) -> list[str]:
    return [
        "Quincaillerie Morel",
        "12 rue des Forges, 69002 Lyon",
        "Client : Boulangerie Dupont, 3 place du Marche, 75011 Paris",
        f"Bon de livraison-facture      Ref. piece {number}",
        f"Etabli le {issued}",
        "Designation                          Qte     Montant",
        f"Visserie inox assortie                 1    {excl}",
        f"Marchandises  {excl}",
        f"Taxe 20 pc  {tax}",
        f"Net a payer  {incl} EUR",
    ]


async def _deliver(db: Database, store: LocalDocumentStore, world: World, lines: list[str]) -> int:
    assert world.workspace.id is not None
    async with db.transaction() as session:
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
    assert result.document.id is not None
    await read_waiting_documents(db=db, store=store)
    return result.document.id


async def test_one_correction_and_the_suppliers_next_invoice_is_read_right(
    db: Database, store: LocalDocumentStore, world: World
) -> None:
    assert world.workspace.id is not None
    first = await _deliver(
        db, store, world, _morel("QM-26-00412", "03.02.2026", "1 000,00", "200,00", "1 200,00")
    )
    async with db.read() as session:
        document = await session.get(Document, first)
        assert document is not None
        assert document.fields.get("invoice_number") is None  # "Ref. piece" is no rule's label

    # The person corrects the first invoice in review, field by field.
    corrections = {
        "invoice_number": "QM-26-00412",
        "issue_date": "03/02/2026",
        "total_excl_tax": "1000,00",
        "total_tax": "200,00",
        "total_incl_tax": "1200,00",
    }
    for field, answer in corrections.items():
        async with db.transaction() as session:
            await answer_question(
                session=session,
                workspace_id=world.workspace.id,
                document_id=first,
                field=field,
                answer=answer,
                by=OPERATOR,
            )

    async with db.read() as session:
        profile = (await session.exec(select(SupplierProfile))).one()
    learned = profile.habits[TEMPLATE]
    # Stored as data, in the hand-written templates' format.
    template = parse_template(learned, origin="learned")
    assert template.examples == 1
    assert learned["fields"]["invoice_number"]["anchor"] == "Ref. piece"
    assert learned["fields"]["total_excl_tax"]["anchor"] == "Marchandises"

    second = await _deliver(
        db, store, world, _morel("QM-26-00977", "17.03.2026", "450,00", "90,00", "540,00")
    )
    async with db.read() as session:
        document = await session.get(Document, second)
        assert document is not None
        fields = document.fields
        assert {name: fields[name]["value"] for name in corrections} == {
            "invoice_number": "QM-26-00977",
            "issue_date": "2026-03-17",
            "total_excl_tax": "450.00",
            "total_tax": "90.00",
            "total_incl_tax": "540.00",
        }
        assert fields["invoice_number"]["source"] == "template"
        # Read with confidence: nothing about it is asked.
        assert (
            await ask_next(session=session, workspace_id=world.workspace.id, document_id=second)
            is None
        )
