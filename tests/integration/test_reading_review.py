"""A person answers what Courier could not read, one question at a time, and is not asked
the same thing about the same supplier twice."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlmodel import select

from core.db import Database
from core.errors import AnswerInvalid
from core.extraction.sandbox import shutdown_sandbox
from core.models import Document, DocumentSource, DocumentState, SupplierProfile
from core.permissions import OPERATOR
from core.services.documents import IncomingDocument, ingest_document, move_document
from core.services.reading import read_waiting_documents
from core.services.review import answer_question, ask_next
from core.storage import LocalDocumentStore
from tests.integration.conftest import World
from tests.unit.extraction.corpus import BAKERY, visible_lines
from tests.unit.extraction.pdf_builders import build_pdf

NEXT_MONTH = dataclasses.replace(BAKERY, number="FA-2026-0043")
# A catalog supplier (see the `world` fixture), recognised by its name on the page.
EDF = dataclasses.replace(BAKERY, seller_name="EDF Entreprises", seller_vat="FR03552081317")
FRAUD = dataclasses.replace(BAKERY, number="FA-2026-0044", iban="FR1420041010050500013M02606")


@pytest.fixture(autouse=True)
def _fresh_sandbox() -> Iterator[None]:
    yield
    shutdown_sandbox()


def _without_currency(lines: list[str]) -> list[str]:
    return [line.replace(" EUR", "") for line in lines]


async def _deliver(
    db: Database,
    store: LocalDocumentStore,
    world: World,
    lines: list[str],
    *,
    spoofed: bool = False,
) -> int:
    assert world.workspace.id is not None
    async with db.transaction() as session:
        result = await ingest_document(
            session=session,
            store=store,
            incoming=IncomingDocument(
                workspace_id=world.workspace.id,
                # By mail when the sender failed authentication, else the owner's upload.
                source=DocumentSource.EMAIL if spoofed else DocumentSource.UPLOAD,
                content=build_pdf(lines),
                filename="facture.pdf",
            ),
        )
        if spoofed:
            move_document(
                result.document, DocumentState.NEEDS_REVIEW, reason="sender_unauthenticated"
            )
    assert result.document.id is not None
    await read_waiting_documents(db=db, store=store)
    return result.document.id


async def _get(db: Database, document_id: int) -> Document:
    async with db.read() as session:
        document = await session.get(Document, document_id)
    assert document is not None
    return document


async def test_a_supplier_always_invoiced_in_usd_is_asked_once(
    db: Database, store: LocalDocumentStore, world: World
) -> None:
    assert world.workspace.id is not None
    first = await _deliver(db, store, world, _without_currency(visible_lines(BAKERY)))
    document = await _get(db, first)
    assert (document.state, document.state_reason) == (
        DocumentState.NEEDS_REVIEW,
        "missing_currency",
    )

    async with db.transaction() as session:
        question = await ask_next(
            session=session, workspace_id=world.workspace.id, document_id=first
        )
        # A supplier never seen before: its name, as guessed from the page, is one press.
        assert question is not None
        assert (question.key, question.read) == ("review.ask.supplier_name", BAKERY.seller_name)
        assert question.choices == (BAKERY.seller_name,)
        question = await answer_question(
            session=session,
            workspace_id=world.workspace.id,
            document_id=first,
            field="supplier_name",
            answer=BAKERY.seller_name,
            by=OPERATOR,
        )
    assert question is not None
    assert (question.field, question.key, question.read) == (
        "currency",
        "review.ask.currency",
        None,
    )
    assert question.choices[:2] == ("EUR", "USD")

    async with db.transaction() as session:
        after = await answer_question(
            session=session,
            workspace_id=world.workspace.id,
            document_id=first,
            field="currency",
            answer="usd",
            by=OPERATOR,
        )
    assert after is None
    document = await _get(db, first)
    assert (document.state, document.currency) == (DocumentState.INBOX, "USD")
    assert document.fields["currency"] == {"value": "USD", "source": "user", "confidence": 1.0}

    second = await _deliver(db, store, world, _without_currency(visible_lines(NEXT_MONTH)))
    document = await _get(db, second)
    assert (document.state, document.currency) == (DocumentState.INBOX, "USD")
    assert document.fields["currency"]["source"] == "user"
    async with db.read() as session:
        assert (
            await ask_next(session=session, workspace_id=world.workspace.id, document_id=second)
            is None
        )
        [profile] = (await session.exec(select(SupplierProfile))).all()
    assert profile.habits["currency"] == "USD"
    # The confirmed name also went into the supplier's learned template.
    assert profile.habits["template"]["fields"] == {"supplier_name": {"value": BAKERY.seller_name}}


async def test_new_bank_details_confirmed_once_are_trusted_after(
    db: Database, store: LocalDocumentStore, world: World
) -> None:
    assert world.workspace.id is not None
    await _deliver(db, store, world, visible_lines(BAKERY))
    held = await _deliver(db, store, world, visible_lines(FRAUD))
    async with db.transaction() as session:
        question = await ask_next(
            session=session, workspace_id=world.workspace.id, document_id=held
        )
        assert question is not None
        assert (question.key, question.read, question.choices) == (
            "review.confirm.iban",
            FRAUD.iban,
            ("yes", "no"),
        )
        assert (
            await answer_question(
                session=session,
                workspace_id=world.workspace.id,
                document_id=held,
                field="iban",
                answer="yes",
                by=OPERATOR,
            )
            is None
        )
    assert (await _get(db, held)).state == DocumentState.INBOX
    later = await _deliver(
        db, store, world, visible_lines(dataclasses.replace(FRAUD, number="FA-2026-0045"))
    )
    assert (await _get(db, later)).state == DocumentState.INBOX


async def test_refusing_an_unauthenticated_sender_fails_the_document(
    db: Database, store: LocalDocumentStore, world: World
) -> None:
    assert world.workspace.id is not None
    held = await _deliver(db, store, world, visible_lines(BAKERY), spoofed=True)
    async with db.transaction() as session:
        question = await ask_next(
            session=session, workspace_id=world.workspace.id, document_id=held
        )
        assert question is not None
        assert question.key == "review.confirm.sender"
        await answer_question(
            session=session,
            workspace_id=world.workspace.id,
            document_id=held,
            field="sender",
            answer="no",
            by=OPERATOR,
        )
    document = await _get(db, held)
    assert (document.state, document.state_reason) == (DocumentState.FAILED, "sender_refused")


async def test_an_answer_that_is_no_amount_is_refused_and_changes_nothing(
    db: Database, store: LocalDocumentStore, world: World
) -> None:
    assert world.workspace.id is not None
    no_totals = [line for line in visible_lines(EDF) if not line.startswith(("Total", "TVA "))]
    held = await _deliver(db, store, world, no_totals)
    async with db.transaction() as session:
        question = await ask_next(
            session=session, workspace_id=world.workspace.id, document_id=held
        )
        assert question is not None
        assert question.field == "total_incl_tax"
        with pytest.raises(AnswerInvalid) as caught:
            await answer_question(
                session=session,
                workspace_id=world.workspace.id,
                document_id=held,
                field="total_incl_tax",
                answer="beaucoup",
                by=OPERATOR,
            )
    assert caught.value.params == {"field": "total_incl_tax", "reason": "not_an_amount"}
    document = await _get(db, held)
    assert (document.state, document.total_amount) == (DocumentState.NEEDS_REVIEW, None)

    async with db.transaction() as session:
        following = await answer_question(
            session=session,
            workspace_id=world.workspace.id,
            document_id=held,
            field="total_incl_tax",
            answer="1 234,56 €",
            by=OPERATOR,
        )
    document = await _get(db, held)
    assert document.total_amount == Decimal("1234.56")
    assert document.fields["total_incl_tax"]["source"] == "user"
    # One question at a time: what the page did not give either comes next, in order.
    assert following is not None
    assert (following.field, following.choices[0]) == ("currency", "EUR")
    async with db.transaction() as session:
        following = await answer_question(
            session=session,
            workspace_id=world.workspace.id,
            document_id=held,
            field="currency",
            answer="EUR",
            by=OPERATOR,
        )
        assert following is not None
        assert (following.field, following.choices[0]) == ("vat_rate", "20")
        done = await answer_question(
            session=session,
            workspace_id=world.workspace.id,
            document_id=held,
            field="vat_rate",
            answer="20 %",
            by=OPERATOR,
        )
    assert done is None
    document = await _get(db, held)
    assert document.state == DocumentState.INBOX
    assert document.fields["vat_lines"]["value"] == [
        {"rate": "20", "base": "1028.80", "amount": "205.76"}
    ]


async def test_a_vat_number_that_fails_its_check_is_asked_and_kept_for_the_supplier(
    db: Database, store: LocalDocumentStore, world: World
) -> None:
    """A misprinted (or misread) VAT number is never taken as the supplier's; once the
    document is in review, the person is asked for it, and the right one is kept."""
    assert world.workspace.id is not None
    misprinted = dataclasses.replace(BAKERY, seller_vat="FR41303265045")
    lines = [line for line in visible_lines(misprinted) if not line.startswith("Total TTC")]
    held = await _deliver(db, store, world, lines)
    document = await _get(db, held)
    assert document.state == DocumentState.NEEDS_REVIEW
    assert "supplier_vat" not in document.fields
    assert "invalid_vat_number" in document.fields["warnings"]

    fields_asked: list[str] = []
    async with db.transaction() as session:
        question = await ask_next(
            session=session, workspace_id=world.workspace.id, document_id=held
        )
        while question is not None and question.field != "supplier_vat":
            fields_asked.append(question.field)
            question = await answer_question(
                session=session,
                workspace_id=world.workspace.id,
                document_id=held,
                field=question.field,
                answer=question.choices[0] if question.choices else "Boulangerie Dupont",
                by=OPERATOR,
            )
        assert question is not None, fields_asked
        with pytest.raises(AnswerInvalid) as caught:
            await answer_question(
                session=session,
                workspace_id=world.workspace.id,
                document_id=held,
                field="supplier_vat",
                answer="FR41 303 265 045",  # as printed: it fails its check
                by=OPERATOR,
            )
    assert caught.value.params == {"field": "supplier_vat", "reason": "not_a_vat_number"}

    async with db.transaction() as session:
        following = await answer_question(
            session=session,
            workspace_id=world.workspace.id,
            document_id=held,
            field="supplier_vat",
            answer="fr 40 303.265.045",
            by=OPERATOR,
        )
    assert following is None
    document = await _get(db, held)
    assert document.fields["supplier_vat"] == {
        "value": "FR40303265045",
        "source": "user",
        "confidence": 1.0,
    }
    assert document.state == DocumentState.INBOX
    async with db.read() as session:
        profiles = (await session.exec(select(SupplierProfile))).all()
    assert [profile.vat for profile in profiles if profile.vat] == ["FR40303265045"]
