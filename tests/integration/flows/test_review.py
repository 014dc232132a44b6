"""Review as a flow: the bakery's first invoice arrives with its total misread (the totals
do not add up) from a supplier Courier has never seen. Marie is asked only what is
doubtful, each with the likely answers as buttons, and never for a total that follows
from the others; "Later" and a cancel say truthfully what was kept."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from core.accounting.registry import ProviderRegistry
from core.db import Database
from core.extraction.sandbox import shutdown_sandbox
from core.flows.flow import Actor
from core.flows.manager import Flows, Shown
from core.flows.review import Review
from core.flows.steps import Abort, Choice, Done, Form, Text
from core.models import Document, DocumentSource, DocumentState, FlowState, Role
from core.services.documents import IncomingDocument, ingest_document
from core.services.reading import read_waiting_documents
from core.storage import LocalDocumentStore
from core.vault import Vault
from tests.conftest import make_settings
from tests.integration.conftest import World, join
from tests.unit.extraction.corpus import BAKERY, visible_lines
from tests.unit.extraction.pdf_builders import build_pdf

KEY = "tg:1001:1001"
SUPPLIER = BAKERY.seller_name
#: The page says 721,06 € in all; its "Total TTC" line was misread as 1 721,06.
MISREAD_TOTAL = [
    line.replace("Total TTC : ", "Total TTC : 1") if line.startswith("Total TTC") else line
    for line in visible_lines(BAKERY)
]


@pytest.fixture(autouse=True)
def _fresh_sandbox() -> Iterator[None]:
    yield
    shutdown_sandbox()


@pytest.fixture
async def flows(
    db: Database, store: LocalDocumentStore, vault: Vault, tmp_path: Path
) -> AsyncIterator[Flows]:
    settings = make_settings(tmp_path / "var")
    providers = ProviderRegistry(settings)  # the process's one, as courier/runtime.py has it
    services = {
        "db": db,
        "settings": settings,
        "store": store,
        "vault": vault,
        "providers": providers,
    }
    yield Flows({"review": Review}, services)
    await providers.aclose()


def marie(world: World) -> Actor:
    return Actor(
        telegram_user_id=world.owner.telegram_user_id,
        member=world.owner,
        workspace_id=world.workspace.id,
    )


async def _deliver(db: Database, store: LocalDocumentStore, world: World, lines: list[str]) -> int:
    """An upload of Marie's, read as the scheduler reads it."""
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
                owner_member_id=world.owner.id,
            ),
        )
    await read_waiting_documents(db=db, store=store)
    assert result.document.id is not None
    return result.document.id


async def _document(db: Database, document_id: int) -> Document:
    async with db.read() as session:
        document = await session.get(Document, document_id)
    assert document is not None
    return document


async def _start(db: Database, flows: Flows, actor: Actor, document_id: int) -> Shown:
    async with db.transaction() as session:
        return await flows.start(
            session=session, key=KEY, name="review", actor=actor, args={"document_id": document_id}
        )


async def _give(db: Database, flows: Flows, actor: Actor, shown: Shown, **given: str) -> Shown:
    """Marie's next input: `option=` presses a button of the step shown, else she types."""
    async with db.transaction() as session:
        after = await flows.advance(
            session=session,
            key=KEY,
            actor=actor,
            user_input=given,
            nonce=shown.nonce if "option" in given else None,
        )
    assert after is not None
    return after


def _step(shown: Shown) -> str:
    step = shown.step
    assert isinstance(step, Form | Choice), step
    return step.step_id


def _option(shown: Shown, label: Text) -> str:
    step = shown.step
    assert isinstance(step, Form | Choice)
    [ident] = [o.id for o in step.options if o.label == label]
    return ident


def _value(label: str, *, read: bool = False) -> Text:
    return Text(f"flows.review.option.{'read' if read else 'value'}", {"value": label})


async def test_two_doubtful_fields_are_two_presses_and_the_totals_follow(
    db: Database, store: LocalDocumentStore, world: World, flows: Flows
) -> None:
    held = await _deliver(db, store, world, MISREAD_TOTAL)
    document = await _document(db, held)
    assert (document.state, document.state_reason) == (
        DocumentState.NEEDS_REVIEW,
        "totals_mismatch",
    )

    shown = await _start(db, flows, marie(world), held)
    # What the document is and why it is held, then the first doubt: the new supplier.
    assert _step(shown) == "supplier_name"
    assert shown.step.note is not None
    assert shown.step.note.key == "flows.review.why.totals_mismatch"
    assert SUPPLIER in str(shown.step.note.params["document"])
    assert isinstance(shown.step, Form)
    assert [o.id for o in shown.step.options] == ["c0", "later", "archive"]

    shown = await _give(
        db, flows, marie(world), shown, option=_option(shown, _value(SUPPLIER, read=True))
    )
    # The total as read, and the total that the amounts excl. tax and of VAT add up to.
    assert _step(shown) == "total_incl_tax"
    assert isinstance(shown.step, Form)
    labels = [o.label for o in shown.step.options]
    assert labels[:2] == [_value("1721.06", read=True), _value("721.06")]

    done = await _give(db, flows, marie(world), shown, option=_option(shown, _value("721.06")))
    # Neither the total excl. tax nor the VAT is asked: they add up to the settled total.
    assert isinstance(done.step, Done)
    assert done.step.result == Text("flows.review.complete", {"filename": "facture.pdf"})
    document = await _document(db, held)
    assert (document.state, document.total_amount) == (DocumentState.INBOX, Decimal("721.06"))
    assert document.fields["total_excl_tax"]["source"] == "derived"
    assert document.fields["total_tax"] == {
        "value": "101.06",
        "source": "derived",
        "confidence": 1.0,
    }
    # Publishing runs once the step committed, never inside it.
    assert len(done.later) == 1


async def test_a_total_typed_against_the_others_asks_one_of_them_and_derives_the_other(
    db: Database, store: LocalDocumentStore, world: World, flows: Flows
) -> None:
    held = await _deliver(db, store, world, MISREAD_TOTAL)
    shown = await _start(db, flows, marie(world), held)
    shown = await _give(db, flows, marie(world), shown, supplier_name=SUPPLIER)
    assert _step(shown) == "total_incl_tax"

    # Marie types the total as the page shows it: 620 + 101.06 no longer adds up.
    shown = await _give(db, flows, marie(world), shown, total_incl_tax="1 721,06")
    assert _step(shown) == "total_excl_tax"
    assert isinstance(shown.step, Form)
    assert [o.label for o in shown.step.options][:2] == [
        _value("620.00", read=True),
        _value("1620.00"),
    ]
    done = await _give(db, flows, marie(world), shown, option=_option(shown, _value("1620.00")))
    assert isinstance(done.step, Done)
    document = await _document(db, held)
    assert document.fields["total_excl_tax"]["source"] == "user"
    assert document.fields["total_tax"] == {
        "value": "101.06",
        "source": "derived",
        "confidence": 1.0,
    }


async def test_an_answer_that_is_no_amount_stays_at_its_step_with_its_error(
    db: Database, store: LocalDocumentStore, world: World, flows: Flows
) -> None:
    held = await _deliver(db, store, world, MISREAD_TOTAL)
    shown = await _start(db, flows, marie(world), held)
    shown = await _give(db, flows, marie(world), shown, supplier_name=SUPPLIER)
    again = await _give(db, flows, marie(world), shown, total_incl_tax="beaucoup")
    assert _step(again) == "total_incl_tax"
    assert isinstance(again.step, Form)
    assert again.step.error == Text("flows.review.error.not_an_amount", {})
    assert (await _document(db, held)).total_amount is None
    # A button of an older step does nothing.
    async with db.transaction() as session:
        stale = await flows.advance(
            session=session, key=KEY, actor=marie(world), user_input={"option": "c0"}, nonce="0"
        )
    assert stale is None


async def test_later_says_what_was_saved(
    db: Database, store: LocalDocumentStore, world: World, flows: Flows
) -> None:
    held = await _deliver(db, store, world, MISREAD_TOTAL)
    shown = await _start(db, flows, marie(world), held)
    nothing = await _give(db, flows, marie(world), shown, option="later")
    assert isinstance(nothing.step, Done)
    assert nothing.step.result.key == "flows.review.later_nothing"

    shown = await _start(db, flows, marie(world), held)
    shown = await _give(db, flows, marie(world), shown, supplier_name=SUPPLIER)
    # Held for cancel: what /cancel says now (bot/routers/common.py words it).
    async with db.read() as session:
        row = await session.get(FlowState, KEY)
    assert row is not None
    assert row.data["_on_cancel"] == {
        "key": "flows.review.cancelled_saved",
        "params": {"filename": "facture.pdf", "count": 1},
    }
    saved = await _give(db, flows, marie(world), shown, option="later")
    assert isinstance(saved.step, Done)
    assert saved.step.result == Text(
        "flows.review.later_saved", {"filename": "facture.pdf", "count": 1}
    )
    document = await _document(db, held)
    assert document.state == DocumentState.NEEDS_REVIEW
    assert document.fields["supplier_name"]["source"] == "user"


async def test_archiving_instead_of_answering(
    db: Database, store: LocalDocumentStore, world: World, flows: Flows
) -> None:
    held = await _deliver(db, store, world, MISREAD_TOTAL)
    shown = await _start(db, flows, marie(world), held)
    done = await _give(db, flows, marie(world), shown, option="archive")
    assert isinstance(done.step, Done)
    assert done.step.result.key == "flows.review.archived"
    assert (await _document(db, held)).state == DocumentState.ARCHIVED


async def test_a_document_of_another_workspace_is_not_found(
    db: Database, store: LocalDocumentStore, world: World, flows: Flows
) -> None:
    held = await _deliver(db, store, world, MISREAD_TOTAL)
    stranger = Actor(telegram_user_id=1001, member=world.owner, workspace_id=999_999)
    shown = await _start(db, flows, stranger, held)
    assert isinstance(shown.step, Abort)
    assert shown.step.reason.key == "errors.not_found"
    async with db.read() as session:
        assert await session.get(FlowState, KEY) is None


async def test_a_plain_member_is_not_asked_to_confirm_new_bank_details(
    db: Database, store: LocalDocumentStore, world: World, flows: Flows
) -> None:
    await _deliver(db, store, world, visible_lines(BAKERY))
    fraud = dataclasses.replace(BAKERY, number="FA-2026-0044", iban="FR1420041010050500013M02606")
    held = await _deliver(db, store, world, visible_lines(fraud))
    assert (await _document(db, held)).state_reason == "new_iban"
    paul = await join(db, world, role=Role.MEMBER, telegram_user_id=2002)
    member = Actor(telegram_user_id=2002, member=paul, workspace_id=world.workspace.id)
    shown = await _start(db, flows, member, held)
    assert isinstance(shown.step, Abort)
    assert shown.step.reason.key == "permissions.confirm_trust"
    assert shown.step.note is not None
    assert shown.step.note.key == "flows.review.why.new_iban"

    shown = await _start(db, flows, marie(world), held)
    assert _step(shown) == "iban"
    assert isinstance(shown.step, Choice)
    assert [o.id for o in shown.step.options] == ["yes", "no", "later"]
    done = await _give(db, flows, marie(world), shown, option="yes")
    assert isinstance(done.step, Done)
    assert (await _document(db, held)).state == DocumentState.INBOX
