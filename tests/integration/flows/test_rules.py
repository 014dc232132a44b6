"""The rules flow (core/flows/rules.py), step by step: the bakery's owner lists the rules,
gives EDF an account and a tax rate from the ledger's lists and saves; a wrong account name
or a tax rate not in the books is an error at the same step; an auto-publish rule sends
the supplier's ready documents once the step committed and the report says what the books
wrote and refused; a rule that publishes when asked offers the publish flow's own step; a
plain member never gets a step. Steps and results are asserted by id and key, never by
their English words."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from sqlmodel import col, select

from core.db import Database
from core.flows.accounting import accounting
from core.flows.flow import Actor, Input
from core.flows.manager import Flows, Shown
from core.flows.rules import PAGE, Rules
from core.flows.steps import Abort, Choice, Done, Form, Text
from core.models import Document, ListEntry, ListKind, Member, Notification, Role, Rule
from core.services.accounting import Accounting
from core.services.authorisations import connect
from core.services.outcome_notices import REPORT, Report
from core.services.rules import set_rule
from core.storage import LocalDocumentStore
from core.vault import Vault
from tests.integration.accounting.conftest import add_document
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
    """The bakery, its ledger linked (its lists loaded), and the rules flow."""
    async with ledger_services(db=db, vault=vault, store=store, tmp_path=tmp_path) as (
        services,
        ledger,
    ):
        acc = accounting(services)
        assert world.workspace.id is not None
        await connect(
            acc,
            workspace_id=world.workspace.id,
            actor=None,
            provider_name="beancount",
            secret=str(ledger),
        )
        yield Books(acc, ledger, Flows({"rules": Rules}, services))


def actor(world: World, member: Member | None = None) -> Actor:
    who = member or world.owner
    return Actor(telegram_user_id=who.telegram_user_id, member=who, workspace_id=world.workspace.id)


async def _start(books: Books, world: World, member: Member | None = None) -> Shown:
    async with books.acc.db.transaction() as session:
        return await books.flows.start(
            session=session, key=KEY, name="rules", actor=actor(world, member)
        )


async def _give(books: Books, world: World, shown: Shown, user_input: Input) -> Shown:
    async with books.acc.db.transaction() as session:
        given = await books.flows.advance(
            session=session,
            key=KEY,
            actor=actor(world),
            user_input=user_input,
            nonce=shown.nonce if "option" in user_input else None,
        )
    assert given is not None
    return given


async def _press(books: Books, world: World, shown: Shown, option: str) -> Shown:
    return await _give(books, world, shown, {"option": option})


def _step(shown: Shown) -> str:
    assert isinstance(shown.step, Form | Choice), shown.step
    return shown.step.step_id


def _error(shown: Shown) -> str | None:
    assert isinstance(shown.step, Form | Choice), shown.step
    return shown.step.error.key if shown.step.error is not None else None


def _options(shown: Shown) -> list[str]:
    assert isinstance(shown.step, Form | Choice), shown.step
    return [option.id for option in shown.step.options]


def _details(shown: Shown) -> list[str]:
    assert isinstance(shown.step, Form | Choice | Done), shown.step
    return [line.key for line in shown.step.details]


async def _rules(db: Database) -> list[Rule]:
    async with db.read() as session:
        return list((await session.exec(select(Rule).order_by(col(Rule.party_key)))).all())


async def _tax_rate(db: Database) -> str:
    async with db.read() as session:
        return (
            await session.exec(select(ListEntry.code).where(ListEntry.kind == ListKind.TAX_RATES))
        ).one()


async def test_the_owner_gives_edf_an_account_and_a_tax_rate_and_saves(
    books: Books, world: World
) -> None:
    await add_document(books.acc, world)  # EDF Entreprises, no rule yet

    shown = await _start(books, world)
    assert _step(shown) == "list"
    assert isinstance(shown.step, Choice)
    assert shown.step.prompt.key == "flows.rules.empty"
    assert _options(shown) == ["add"]

    shown = await _press(books, world, shown, "add")
    assert _step(shown) == "supplier"
    assert _options(shown) == ["s0", "cancel"]  # the supplier of the document
    shown = await _press(books, world, shown, "s0")
    assert _step(shown) == "draft"
    assert isinstance(shown.step, Choice)
    assert shown.step.prompt == Text("flows.rules.draft", {"supplier": "EDF Entreprises"})
    assert _details(shown) == [
        "flows.rules.draft_account_none",
        "flows.rules.draft_tax_none",
        "flows.rules.draft_ask",
    ]
    assert "delete" not in _options(shown)  # nothing to delete yet

    # Saving without an account: an error at the same step, nothing saved.
    shown = await _press(books, world, shown, "save")
    assert (_step(shown), _error(shown)) == ("draft", "flows.rules.error.account_first")
    assert await _rules(books.acc.db) == []

    # A wrong account name: an error at the account step, which waits for another word.
    shown = await _press(books, world, shown, "account")
    assert _step(shown) == "account"
    shown = await _give(books, world, shown, {"account": "plumbing"})
    assert (_step(shown), _error(shown)) == ("account", "flows.rules.error.no_account")
    # Several accounts match: offered as buttons; the one pressed is the rule's.
    shown = await _give(books, world, shown, {"account": "expenses"})
    assert (_step(shown), _error(shown)) == ("account", None)
    assert _options(shown) == ["a0", "a1", "a2", "cancel"]
    shown = await _press(books, world, shown, "a0")  # Expenses:Energy, by code
    assert _step(shown) == "draft"
    assert isinstance(shown.step, Choice)
    assert shown.step.details[0] == Text(
        "flows.rules.draft_account", {"account": "Energy (Expenses:Energy)"}
    )

    # A tax rate not in the books: an error at the tax step; the ledger's rate is taken.
    shown = await _press(books, world, shown, "tax")
    assert _step(shown) == "tax"
    assert _options(shown) == ["t0", "none", "cancel"]
    shown = await _give(books, world, shown, {"tax": "7.7"})
    assert (_step(shown), _error(shown)) == ("tax", "flows.rules.error.no_tax_rate")
    shown = await _press(books, world, shown, "t0")
    assert _details(shown)[1] == "flows.rules.draft_tax"

    shown = await _press(books, world, shown, "auto")
    assert _details(shown)[2] == "flows.rules.draft_auto"
    shown = await _press(books, world, shown, "auto")
    assert _details(shown)[2] == "flows.rules.draft_ask"
    shown = await _press(books, world, shown, "save")
    # The document (ready, no rule held it) goes when asked: Publish is offered.
    assert _step(shown) == "saved_ready"
    assert _options(shown) == ["publish"]
    [rule] = await _rules(books.acc.db)
    assert (rule.party_name, rule.account_code, rule.auto_publish) == (
        "EDF Entreprises",
        "Expenses:Energy",
        False,
    )
    assert rule.tax_rate_code == await _tax_rate(books.acc.db)

    # Publish is the publish flow's own step, run here: what is ready, then sent.
    shown = await _press(books, world, shown, "publish")
    assert _step(shown) == "ready"
    assert _options(shown) == ["publish", "cancel"]
    shown = await _press(books, world, shown, "publish")
    assert isinstance(shown.step, Done)
    assert shown.step.result == Text("flows.publish.sending", {"count": 1})
    for work in shown.later:
        await work()
    async with books.acc.db.read() as session:
        states = (await session.exec(select(Document.state))).all()
    assert [str(s) for s in states] == ["published"]


async def test_one_matching_account_is_taken_without_a_press(books: Books, world: World) -> None:
    shown = await _start(books, world)
    shown = await _press(books, world, shown, "add")
    shown = await _give(books, world, shown, {"supplier": "  Orange   Business "})
    assert isinstance(shown.step, Choice)
    assert shown.step.prompt == Text("flows.rules.draft", {"supplier": "Orange Business"})
    shown = await _press(books, world, shown, "account")
    shown = await _give(books, world, shown, {"account": "telecom"})
    assert _step(shown) == "draft"
    shown = await _press(books, world, shown, "save")
    assert isinstance(shown.step, Done)
    assert shown.step.result == Text("flows.rules.saved", {"supplier": "Orange Business"})
    [rule] = await _rules(books.acc.db)
    assert rule.account_code == "Expenses:Telecom"


async def test_a_supplier_name_too_long_is_an_error_at_the_same_step(
    books: Books, world: World
) -> None:
    shown = await _start(books, world)
    shown = await _press(books, world, shown, "add")
    shown = await _give(books, world, shown, {"supplier": "x" * 161})
    assert (_step(shown), _error(shown)) == ("supplier", "flows.rules.error.bad_supplier")
    # Typed at the list, a name opens its rule (or a new one) at once.
    shown = await _start(books, world)
    shown = await _give(books, world, shown, {"text": "EDF Entreprises"})
    assert _step(shown) == "draft"


async def test_an_account_that_left_the_books_since_it_was_chosen_is_an_error_on_the_draft(
    books: Books, world: World
) -> None:
    shown = await _start(books, world)
    shown = await _give(books, world, shown, {"text": "EDF"})
    shown = await _press(books, world, shown, "account")
    shown = await _give(books, world, shown, {"account": "energy"})
    async with books.acc.db.transaction() as session:  # the lists reloaded meanwhile
        entry = (
            await session.exec(select(ListEntry).where(ListEntry.code == "Expenses:Energy"))
        ).one()
        await session.delete(entry)
    shown = await _press(books, world, shown, "save")
    assert (_step(shown), _error(shown)) == ("draft", "flows.rules.error.account_unknown")
    assert _details(shown)[0] == "flows.rules.draft_account_none"
    assert await _rules(books.acc.db) == []


async def test_the_list_is_paged_and_says_why_a_flagged_rule_is_not_applied(
    books: Books, world: World
) -> None:
    assert world.workspace.id is not None
    suppliers = ["Amazon", "Boulanger", "Castorama", "Darty", "EDF", "Free", "Google"]
    async with books.acc.db.transaction() as session:
        for supplier in suppliers:
            rule = await set_rule(
                session=session,
                workspace_id=world.workspace.id,
                party_name=supplier,
                account_code="Expenses:Supplies",
                auto_publish=True,
            )
        rule.flagged = "account_deleted"  # Google's
        session.add(rule)

    shown = await _start(books, world)
    assert isinstance(shown.step, Choice)
    assert shown.step.prompt == Text("flows.rules.list_paged", {"count": 7, "page": 1, "pages": 2})
    assert len(shown.step.details) == PAGE
    ids = [o for o in _options(shown) if o.startswith("r")]
    assert len(ids) == PAGE
    # Every rule publishes by itself: no Publish button.
    assert _options(shown)[PAGE:] == ["next", "add"]

    shown = await _press(books, world, shown, "next")
    assert _details(shown) == [
        "flows.rules.line.auto_no_tax",
        "flows.rules.line.auto_no_tax",
        "flows.rules.flag.account_deleted",
    ]
    assert _options(shown)[2:] == ["previous", "add"]
    # A rule of the first page, no longer shown, cannot be opened from this one.
    shown = await _press(books, world, shown, ids[0])
    assert (_step(shown), _error(shown)) == ("list", "flows.rules.error.choose")

    shown = await _press(books, world, shown, _options(shown)[1])  # Edit Google
    assert _step(shown) == "draft"
    assert _details(shown)[-1] == "flows.rules.flag.account_deleted"
    shown = await _press(books, world, shown, "delete")
    assert _step(shown) == "delete"
    shown = await _press(books, world, shown, "delete")
    assert isinstance(shown.step, Done)
    assert shown.step.result == Text("flows.rules.deleted", {"supplier": "Google"})
    assert [r.party_name for r in await _rules(books.acc.db)] == suppliers[:-1]


async def test_saving_an_auto_publish_rule_sends_and_reports_what_the_books_wrote_and_refused(
    books: Books, world: World
) -> None:
    """Issue #14, finding 6: the rule's ready documents go once the step committed, and
    one report says what was written and what the books refused, with the reason."""
    await add_document(books.acc, world, name="edf-2026-11.pdf")
    await add_document(books.acc, world, name="edf-2026-10.pdf", day=date(2026, 10, 3))
    # Dated before the ledger opened its accounts: Beancount refuses the bill.
    await add_document(books.acc, world, name="edf-2025-12.pdf", day=date(2025, 12, 3))

    shown = await _start(books, world)
    shown = await _give(books, world, shown, {"text": "EDF Entreprises"})
    shown = await _press(books, world, shown, "account")
    shown = await _give(books, world, shown, {"account": "energy"})
    shown = await _press(books, world, shown, "auto")
    shown = await _press(books, world, shown, "save")
    assert isinstance(shown.step, Done)
    assert shown.step.result == Text(
        "flows.rules.saved_sending", {"supplier": "EDF Entreprises", "count": 3}
    )
    assert len(shown.later) == 1
    for work in shown.later:
        await work()

    async with books.acc.db.read() as session:
        rows = await session.exec(select(Notification).where(Notification.kind == REPORT))
        [report] = [Report.load(row.payload) for row in rows.all()]
    assert (report.occasion, report.supplier, report.written) == ("rule", "EDF Entreprises", 2)
    [refused] = report.refused
    assert refused.filename == "edf-2025-12.pdf"
    assert "inactive" in refused.detail.lower()


async def test_an_edit_is_cancelled_by_its_button(books: Books, world: World) -> None:
    shown = await _start(books, world)
    shown = await _give(books, world, shown, {"text": "EDF"})
    shown = await _press(books, world, shown, "account")
    shown = await _press(books, world, shown, "cancel")
    assert isinstance(shown.step, Abort)
    assert shown.step.reason.key == "flows.rules.abort.cancelled"
    assert await _rules(books.acc.db) == []


async def test_a_plain_member_gets_no_step(books: Books, world: World, db: Database) -> None:
    paul = await join(db, world, role=Role.MEMBER, telegram_user_id=2002)
    shown = await _start(books, world, paul)
    assert isinstance(shown.step, Abort)
    assert shown.step.reason.key == "permissions.manage_rules"
