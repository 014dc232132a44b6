"""The publish flow (core/flows/publish.py), step by step: the bakery's owner sees what is
ready, sends it, and hears what happened: two bills written, one refused by the ledger
with Beancount's own reason; the refused one is retried once the ledger is fixed. Steps
and results are asserted by id and key, never by their English words."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from sqlmodel import col, select

from core.db import Database
from core.flows.accounting import accounting
from core.flows.flow import Actor
from core.flows.manager import Flows, Shown
from core.flows.publish import Publish
from core.flows.steps import Abort, Choice, Done, Text
from core.models import Document, DocumentState, Notification, Role
from core.services.accounting import Accounting
from core.services.authorisations import connect
from core.services.outcome_notices import REFUSED, REPORT, Report
from core.services.rules import set_rule
from core.storage import LocalDocumentStore
from core.vault import Vault
from tests.integration.accounting.conftest import LEDGER, add_document
from tests.integration.conftest import World, join
from tests.integration.flows.books import ledger_services

KEY = "tg:1:1001"


@dataclass(frozen=True)
class Books:
    acc: Accounting
    ledger: Path
    flows: Flows


@pytest.fixture
async def books(
    db: Database, vault: Vault, store: LocalDocumentStore, world: World, tmp_path: Path
) -> AsyncIterator[Books]:
    async with ledger_services(db=db, vault=vault, store=store, tmp_path=tmp_path) as (
        services,
        ledger,
    ):
        yield Books(accounting(services), ledger, Flows({"publish": Publish}, services))


def owner(world: World) -> Actor:
    return Actor(
        telegram_user_id=world.owner.telegram_user_id,
        member=world.owner,
        workspace_id=world.workspace.id,
    )


async def _start(books: Books, world: World, args: dict[str, object] | None = None) -> Shown:
    async with books.acc.db.transaction() as session:
        return await books.flows.start(
            session=session, key=KEY, name="publish", actor=owner(world), args=args
        )


async def _press(books: Books, world: World, shown: Shown, option: str) -> Shown:
    async with books.acc.db.transaction() as session:
        pressed = await books.flows.advance(
            session=session,
            key=KEY,
            actor=owner(world),
            user_input={"option": option},
            nonce=shown.nonce,
        )
    assert pressed is not None
    return pressed


async def _after_commit(shown: Shown) -> None:
    """What the chat runs once the step's transaction committed."""
    for work in shown.later:
        await work()


async def _reports(db: Database) -> list[Report]:
    async with db.read() as session:
        rows = await session.exec(
            select(Notification).where(Notification.kind == REPORT).order_by(col(Notification.id))
        )
        return [Report.load(row.payload) for row in rows.all()]


async def _state(db: Database, document_id: int) -> tuple[str, str | None]:
    async with db.read() as session:
        document = await session.get(Document, document_id)
    assert document is not None
    return str(document.state), document.state_reason


async def _bakery_with_a_ledger(books: Books, world: World) -> None:
    assert world.workspace.id is not None
    await connect(
        books.acc,
        workspace_id=world.workspace.id,
        actor=None,
        provider_name="beancount",
        secret=str(books.ledger),
    )
    async with books.acc.db.transaction() as session:
        await set_rule(
            session=session,
            workspace_id=world.workspace.id,
            party_name="EDF Entreprises",
            account_code="Expenses:Energy",
            check_lists=True,
        )


async def test_without_accounting_software_the_flow_says_where_to_link_it(
    books: Books, world: World
) -> None:
    shown = await _start(books, world)
    assert isinstance(shown.step, Abort)
    assert shown.step.reason == Text("flows.publish.abort.no_integration", {})


async def test_what_is_ready_goes_out_and_the_refused_bill_is_told_with_its_reason(
    books: Books, world: World
) -> None:
    await _bakery_with_a_ledger(books, world)
    november = await add_document(books.acc, world, name="edf-2026-11.pdf")
    october = await add_document(books.acc, world, name="edf-2026-10.pdf", day=date(2026, 10, 3))
    # Dated before the ledger opened its accounts: Beancount refuses the bill.
    old = await add_document(books.acc, world, name="edf-2025-12.pdf", day=date(2025, 12, 3))

    shown = await _start(books, world)
    assert isinstance(shown.step, Choice)
    assert shown.step.step_id == "ready"
    assert shown.step.prompt == Text(
        "flows.publish.ready", {"count": 3, "suppliers": "EDF Entreprises"}
    )
    assert [o.id for o in shown.step.options] == ["publish", "cancel"]

    sent = await _press(books, world, shown, "publish")
    assert isinstance(sent.step, Done)
    assert sent.step.result == Text("flows.publish.sending", {"count": 3})
    # Nothing went out inside the step: the ledger is written after the commit.
    assert await _state(books.acc.db, november) == ("inbox", None)
    await _after_commit(sent)

    assert await _state(books.acc.db, november) == ("published", None)
    assert await _state(books.acc.db, october) == ("published", None)
    assert await _state(books.acc.db, old) == ("failed", "publication_rejected")
    [report] = await _reports(books.acc.db)
    assert (report.written, report.waiting, report.held, report.failed) == (2, 0, 0, 0)
    [refusal] = report.refused
    assert (refusal.document_id, refusal.filename, refusal.reason) == (
        old,
        "edf-2025-12.pdf",
        "rejected",
    )
    assert "inactive account" in refusal.detail.lower()
    async with books.acc.db.read() as session:
        notices = (await session.exec(select(Notification.kind))).all()
    assert REFUSED not in notices  # told in the report, not twice to the same people

    # Next time, the refused one is offered again, alone.
    again = await _start(books, world)
    assert isinstance(again.step, Choice)
    assert again.step.prompt.key == "flows.publish.only_refused"
    assert again.step.note == Text("flows.publish.refused_note", {"count": 1})
    assert [o.id for o in again.step.options] == ["retry", "cancel"]
    assert await _press(books, world, again, "cancel") is not None


async def test_a_retry_sends_the_document_it_names_at_once(books: Books, world: World) -> None:
    await _bakery_with_a_ledger(books, world)
    old = await add_document(books.acc, world, name="edf-2025-12.pdf", day=date(2025, 12, 3))
    first = await _press(books, world, await _start(books, world), "publish")
    await _after_commit(first)
    assert await _state(books.acc.db, old) == ("failed", "publication_rejected")

    # The owner opens the accounts earlier in the ledger, then presses Retry.
    books.ledger.write_text(LEDGER.replace("2026-01-01 open", "2025-01-01 open"), "utf-8")
    retried = await _start(books, world, {"document": old})
    assert isinstance(retried.step, Done)
    assert retried.step.result == Text("flows.publish.retrying", {"count": 1})
    await _after_commit(retried)
    assert await _state(books.acc.db, old) == ("published", None)
    assert (await _reports(books.acc.db))[-1].written == 1

    # Pressed again, there is nothing left to send.
    twice = await _start(books, world, {"document": old})
    assert isinstance(twice.step, Abort)
    assert twice.step.reason.key == "flows.publish.abort.nothing_to_retry"


async def test_nothing_ready_is_said_and_a_typed_answer_gets_the_buttons_again(
    books: Books, world: World
) -> None:
    await _bakery_with_a_ledger(books, world)
    nothing = await _start(books, world)
    assert isinstance(nothing.step, Done)
    assert nothing.step.result.key == "flows.publish.nothing_ready"

    # One waits for a review (no amount): said, with where to look.
    await add_document(books.acc, world, name="edf-no-total.pdf", amount=None)
    async with books.acc.db.transaction() as session:
        for document in (await session.exec(select(Document))).all():
            document.state, document.state_reason = DocumentState.NEEDS_REVIEW, "missing_total"
            session.add(document)
    waiting = await _start(books, world)
    assert isinstance(waiting.step, Done)
    assert waiting.step.result == Text("flows.publish.nothing_ready_review", {"review": 1})

    await add_document(books.acc, world)
    shown = await _start(books, world)
    async with books.acc.db.transaction() as session:
        typed = await books.flows.advance(
            session=session, key=KEY, actor=owner(world), user_input={"text": "yes"}
        )
    assert typed is not None
    assert isinstance(typed.step, Choice)
    assert typed.step.step_id == "ready"
    assert typed.step.error == Text("flows.publish.error.choose", {})
    assert [o.id for o in typed.step.options] == [o.id for o in shown.step.options]  # type: ignore[union-attr]


async def test_a_plain_member_may_not_publish(books: Books, world: World, db: Database) -> None:
    await _bakery_with_a_ledger(books, world)
    member = await join(db, world, role=Role.MEMBER, telegram_user_id=2002)
    someone = Actor(telegram_user_id=2002, member=member, workspace_id=world.workspace.id)
    async with db.transaction() as session:
        shown = await books.flows.start(
            session=session, key="tg:1:2002", name="publish", actor=someone
        )
    assert isinstance(shown.step, Abort)
    assert shown.step.reason.key == "permissions.publish"
    async with db.read() as session:
        documents = (await session.exec(select(Document))).all()
    assert all(d.state != DocumentState.PUBLISHED for d in documents)


async def test_a_retry_never_sends_a_document_refused_for_another_reason(
    books: Books, world: World
) -> None:
    """A Retry names a document by id: one a person refused (new bank details) stays
    refused, whatever id a press carries."""
    await _bakery_with_a_ledger(books, world)
    refused_iban = await add_document(books.acc, world, name="edf-iban.pdf")
    async with books.acc.db.transaction() as session:
        document = await session.get(Document, refused_iban)
        assert document is not None
        document.state, document.state_reason = DocumentState.FAILED, "iban_refused"
        session.add(document)

    shown = await _start(books, world, {"document": refused_iban})
    assert isinstance(shown.step, Abort)
    assert shown.step.reason.key == "flows.publish.abort.nothing_to_retry"
    assert shown.later == ()
    assert await _state(books.acc.db, refused_iban) == ("failed", "iban_refused")
