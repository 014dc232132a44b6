"""`/rules` in the chat: the bakery's admin gives Moulin Bio an account and a tax rate from
the ledger's lists and switches auto-publish on, and the invoice held for want of a rule
goes to the ledger, and the chat says so; saving an auto-publish rule tells what it wrote
and what the books refused, with Retry; a rule that publishes when asked offers the
Publish button; a rule whose account left the ledger says why it is not applied; an edit
can be cancelled halfway; a plain member is refused; a press forged from another
workspace does nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import select

from bot.flows import FlowButton
from bot.i18n import Texts
from core.accounting.registry import ProviderRegistry
from core.config import Settings
from core.models import (
    Document,
    DocumentSource,
    DocumentState,
    Notification,
    Publication,
    Role,
    Rule,
)
from core.services.accounting import Accounting
from core.services.authorisations import connect, refresh_lists
from core.services.documents import IncomingDocument, ingest_document
from core.services.publishing import publish_document
from core.services.rules import set_rule
from courier.sandbox.chat import BotMessage, TelegramUser
from tests.integration.accounting.conftest import LEDGER
from tests.integration.bot.conftest import Harness
from tests.integration.bot.test_bot_uploads import notifier
from tests.integration.bot.test_integration import toast

__all__ = ["notifier"]  # the fixture, delivering the outbox beside the bot
EN = Texts("en")


@pytest.fixture
async def books(harness: Harness, tmp_path: Path) -> AsyncIterator[tuple[Accounting, Path]]:
    """The accounting services over the bot's database, and the bakery's ledger."""
    ledger = tmp_path / "books" / "main.beancount"
    ledger.parent.mkdir()
    ledger.write_text(LEDGER, encoding="utf-8")
    providers = ProviderRegistry(Settings(_env_file=None, data_dir=tmp_path / "acc"))
    yield (
        Accounting(
            db=harness.db,
            vault=harness.vault,
            store=harness.store,
            providers=providers,
            callback_url="http://127.0.0.1:8780/oauth/callback",
        ),
        ledger,
    )
    await providers.aclose()


async def _held_invoice(acc: Accounting, workspace_id: int, supplier: str) -> int:
    """An invoice a publish held: its supplier has no rule yet."""
    async with acc.db.transaction() as session:
        added = await ingest_document(
            session=session,
            store=acc.store,
            incoming=IncomingDocument(
                workspace_id=workspace_id,
                source=DocumentSource.UPLOAD,
                content=b"%PDF-1.4\n% moulin\n%%EOF\n",
                filename="moulin-2026-11.pdf",
                supplier_name=supplier,
                issue_date=date(2026, 11, 3),
                total_amount=Decimal("60.00"),
                currency="EUR",
            ),
        )
        assert added.document.id is not None
        ident = added.document.id
    held = await publish_document(acc, workspace_id=workspace_id, document_id=ident)
    assert (held.state, held.reason) == ("needs_review", "missing_account")
    return ident


def _data(message: BotMessage, label: str) -> str:
    """What a button of `message` carried, as the message was when received."""
    data = message.button(label).callback_data
    assert data is not None
    return data


async def _rules(harness: Harness) -> list[Rule]:
    async with harness.db.read() as session:
        return list((await session.exec(select(Rule))).all())


async def test_an_admin_gives_a_supplier_its_account_and_the_held_invoice_goes_out(
    harness: Harness, books: tuple[Accounting, Path], notifier: None
) -> None:
    acc, ledger = books
    bakery, code = await harness.workspace("Boulangerie")
    await harness.member("Marie", code)
    luc = await harness.member("Luc", await harness.invite(bakery, Role.ADMIN))
    assert bakery.id is not None
    await connect(
        acc, workspace_id=bakery.id, actor=None, provider_name="beancount", secret=str(ledger)
    )
    held = await _held_invoice(acc, bakery.id, "Moulin Bio")

    await luc.say("/rules")
    listing = await luc.wait_for_reply()
    assert "No supplier rule yet" in listing.text
    await luc.press("Add a rule", message=listing)
    ask = await luc.wait_for_reply()
    assert "Which supplier?" in ask.text
    assert ask.labels == ["Moulin Bio", "Cancel"]  # the supplier of the held invoice
    await luc.press("Moulin Bio", message=ask)
    draft = await luc.wait_for_reply()
    assert "Rule for Moulin Bio:" in draft.text
    assert "Account: none" in draft.text

    # Saving without an account is refused, at the same step: a rule without one
    # publishes nothing.
    await luc.press("Save", message=draft)
    draft = await luc.wait_for_reply()
    assert EN("flows.rules.error.account_first") in draft.text
    assert "Rule for Moulin Bio:" in draft.text

    await luc.press("Choose the account", message=draft)
    assert "Type part of the account" in (await luc.wait_for_reply()).text
    await luc.say("plumbing")
    assert "No account matches “plumbing”" in (await luc.wait_for_reply()).text
    await luc.say("suppl")  # one account matches: taken without a press
    draft = await luc.wait_for_reply()
    assert "Account: Supplies (Expenses:Supplies)" in draft.text

    await luc.press("Choose the tax rate", message=draft)
    rates = await luc.wait_for_reply()
    assert rates.labels[-2:] == ["No tax rate", "Cancel"]
    assert len(rates.labels) == 3  # the ledger's one tax rate
    await luc.press(rates.labels[0], message=rates)
    draft = await luc.wait_for_reply()
    assert f"Tax rate: {rates.labels[0]}" in draft.text
    assert "published when you ask" in draft.text

    await luc.press("Publish automatically", message=draft)
    draft = await luc.wait_for_reply()
    assert "published automatically" in draft.text
    await luc.press("Save", message=draft)
    assert (await luc.wait_for_reply()).text == EN(
        "flows.rules.saved_sending", supplier="Moulin Bio", count=1
    )
    # What auto-publish did is told (issue #14, finding 6).
    released = await luc.wait_for_reply()
    assert released.text == "\n".join(
        [EN("outcomes.report_rule", supplier="Moulin Bio"), EN("outcomes.report_written", count=1)]
    )
    async with harness.db.read() as session:
        document = await session.get(Document, held)
        assert document is not None
        assert document.state == DocumentState.PUBLISHED
    assert "Moulin Bio" in ledger.read_text(encoding="utf-8")

    # The list shows the rule; auto-publish is switched off again from it.
    await luc.say("/rules")
    listing = await luc.wait_for_reply()
    assert "• Moulin Bio: account Supplies (Expenses:Supplies)" in listing.text
    assert "published automatically" in listing.text
    await luc.press("Edit Moulin Bio", message=listing)
    draft = await luc.wait_for_reply()
    await luc.press("Stop publishing automatically", message=draft)
    draft = await luc.wait_for_reply()
    assert "published when you ask" in draft.text
    await luc.press("Save", message=draft)
    assert (await luc.wait_for_reply()).text == EN("flows.rules.saved", supplier="Moulin Bio")
    [rule] = await _rules(harness)
    assert (rule.account_code, rule.auto_publish) == ("Expenses:Supplies", False)
    assert rule.tax_rate_code is not None


async def test_a_rule_whose_account_left_the_ledger_says_why_and_can_be_deleted(
    harness: Harness, books: tuple[Accounting, Path]
) -> None:
    acc, ledger = books
    bakery, code = await harness.workspace("Boulangerie")
    marie = await harness.member("Marie", code)
    assert bakery.id is not None
    await connect(
        acc, workspace_id=bakery.id, actor=None, provider_name="beancount", secret=str(ledger)
    )
    async with harness.db.transaction() as session:
        for supplier, account in (("Orange", "Expenses:Telecom"), ("EDF", "Expenses:Energy")):
            await set_rule(
                session=session,
                workspace_id=bakery.id,
                party_name=supplier,
                account_code=account,
                check_lists=True,
            )
    ledger.write_text(
        LEDGER.replace("2026-01-01 open Expenses:Telecom           EUR\n", ""), encoding="utf-8"
    )
    await refresh_lists(acc, workspace_id=bakery.id, actor=None)

    await marie.say("/rules")
    listing = await marie.wait_for_reply()
    lines = listing.text.splitlines()
    assert lines[0] == EN("flows.rules.list", count=2)
    orange = lines.index(next(line for line in lines if line.startswith("• Orange")))
    assert "its account was deleted in the accounting software" in lines[orange + 1]
    assert not any("⚠" in line for line in lines[1:orange])  # EDF's rule is fine
    # Neither rule auto-publishes: their invoices go when asked, with this button.
    assert listing.labels == ["Edit EDF", "Edit Orange", "Add a rule", "Publish"]

    await marie.press("Edit Orange", message=listing)
    draft = await marie.wait_for_reply()
    assert "its account was deleted" in draft.text
    await marie.press("Delete this rule", message=draft)
    confirm = await marie.wait_for_reply()
    assert "Delete the rule for Orange?" in confirm.text
    await marie.press("Delete it", message=confirm)
    assert (await marie.wait_for_reply()).text == EN("flows.rules.deleted", supplier="Orange")
    assert [r.party_name for r in await _rules(harness)] == ["EDF"]
    # The draft's buttons (taken away once answered, pressed again by a slow client)
    # belong to a step that is gone now.
    harness.forge_press(marie, _data(draft, "Delete this rule"), draft)
    assert await toast(marie) == "This action has expired."


async def test_an_edit_can_be_cancelled_halfway(
    harness: Harness, books: tuple[Accounting, Path]
) -> None:
    acc, ledger = books
    bakery, code = await harness.workspace("Boulangerie")
    marie = await harness.member("Marie", code)
    assert bakery.id is not None
    await connect(
        acc, workspace_id=bakery.id, actor=None, provider_name="beancount", secret=str(ledger)
    )
    await marie.say("/rules")
    await marie.press("Add a rule", message=await marie.wait_for_reply())
    await marie.wait_for_reply()
    await marie.say("EDF")
    draft = await marie.wait_for_reply()
    assert "Rule for EDF:" in draft.text
    await marie.press("Choose the account", message=draft)
    await marie.wait_for_reply()
    await marie.say("/cancel")
    assert "Cancelled" in (await marie.wait_for_reply()).text
    await marie.say("energy")  # no longer taken for an account
    assert "Matching accounts" not in (await marie.wait_for_reply()).text
    harness.forge_press(marie, _data(draft, "Save"), draft)  # the cancelled edit's button
    assert await toast(marie) == "This action has expired."
    assert await _rules(harness) == []

    await marie.say("/rules")
    await marie.press("Add a rule", message=await marie.wait_for_reply())
    ask = await marie.wait_for_reply()
    await marie.press("Cancel", message=ask)
    assert (await marie.wait_for_reply()).text == EN("flows.rules.abort.cancelled")
    await marie.say("EDF")  # no longer taken for a supplier
    assert "Rule for" not in (await marie.wait_for_reply()).text


async def test_a_member_is_refused_and_forged_presses_do_nothing(
    harness: Harness, books: tuple[Accounting, Path], tmp_path: Path
) -> None:
    acc, ledger = books
    bakery, code = await harness.workspace("Boulangerie")
    marie = await harness.member("Marie", code)
    paul = await harness.member("Paul", await harness.invite(bakery, Role.MEMBER))
    garage, other = await harness.workspace("Garage")
    zoe = await harness.member("Zoe", other)
    assert bakery.id is not None
    assert garage.id is not None
    await connect(
        acc, workspace_id=bakery.id, actor=None, provider_name="beancount", secret=str(ledger)
    )
    theirs = tmp_path / "garage.beancount"
    theirs.write_text(LEDGER, encoding="utf-8")
    await connect(
        acc, workspace_id=garage.id, actor=None, provider_name="beancount", secret=str(theirs)
    )
    async with harness.db.transaction() as session:
        rule = await set_rule(
            session=session,
            workspace_id=bakery.id,
            party_name="EDF",
            account_code="Expenses:Energy",
            check_lists=True,
        )
    assert rule.id is not None

    await paul.say("/rules")
    assert "Only the workspace's owners and admins" in (await paul.wait_for_reply()).text
    await marie.say("/rules")
    listing = await marie.wait_for_reply()
    await paul.say("/inbox")
    on = await paul.wait_for_reply()
    # Paul never got a step of the rules flow: a press naming Marie's rule is no input.
    listed = listing.buttons[0][0].callback_data
    assert listed is not None
    harness.forge_press(paul, listed, on)
    assert await toast(paul) == "This action has expired."

    # Zoe, owner of the garage, forges a press naming the bakery's rule in her own list:
    # it is not on her page, so nothing opens.
    await zoe.say("/rules")
    hers = await zoe.wait_for_reply()
    nonce = FlowButton.unpack(hers.buttons[0][0].callback_data or "").n
    harness.forge_press(zoe, FlowButton(n=nonce, o=f"r{rule.id}").pack(), hers)
    hers = await zoe.wait_for_reply()
    assert EN("flows.rules.error.choose") in hers.text
    # ...and, inside her own edit, an account she was not offered: buttons carry only
    # the index of an account her own ledger's list offered.
    await zoe.press("Add a rule", message=hers)
    await zoe.wait_for_reply()
    await zoe.say("Total Energies")
    draft = await zoe.wait_for_reply()
    await zoe.press("Choose the account", message=draft)
    await zoe.wait_for_reply()
    await zoe.say("expenses")
    matches = await zoe.wait_for_reply()
    assert matches.labels == [
        "Energy (Expenses:Energy)",
        "Supplies (Expenses:Supplies)",
        "Telecom (Expenses:Telecom)",
        "Cancel",
    ]
    nonce = FlowButton.unpack(matches.buttons[0][0].callback_data or "").n
    harness.forge_press(zoe, FlowButton(n=nonce, o="a7").pack(), matches)
    matches = await zoe.wait_for_reply()
    assert EN("flows.rules.error.choose") in matches.text
    await zoe.press("Energy (Expenses:Energy)", message=matches)  # her own ledger's is fine
    assert "Account: Energy (Expenses:Energy)" in (await zoe.wait_for_reply()).text

    [kept] = await _rules(harness)
    assert (kept.workspace_id, kept.party_name, kept.account_code) == (
        bakery.id,
        "EDF",
        "Expenses:Energy",
    )
    assert "Edit EDF" in listing.labels


async def test_many_rules_are_paged_and_the_integration_view_leads_to_them(
    harness: Harness, books: tuple[Accounting, Path]
) -> None:
    acc, ledger = books
    bakery, code = await harness.workspace("Boulangerie")
    marie = await harness.member("Marie", code)
    assert bakery.id is not None
    await connect(
        acc, workspace_id=bakery.id, actor=None, provider_name="beancount", secret=str(ledger)
    )
    suppliers = ["Amazon", "Boulanger", "Castorama", "Darty", "EDF", "Free", "Google"]
    async with harness.db.transaction() as session:
        for supplier in suppliers:
            await set_rule(
                session=session,
                workspace_id=bakery.id,
                party_name=supplier,
                account_code="Expenses:Supplies",
            )

    await marie.say("/integration")
    status = await marie.wait_for_reply()
    assert "/rules" in status.text  # the status says where the rules are
    await marie.say("/rules")
    first = await marie.wait_for_reply()
    assert first.text.splitlines()[0] == EN("flows.rules.list_paged", count=7, page=1, pages=2)
    assert first.labels == [
        *(f"Edit {s}" for s in suppliers[:5]),
        "Next ▶",
        "Add a rule",
        "Publish",
    ]
    await marie.press("Next ▶", message=first)
    second = await marie.wait_for_reply()
    assert second.text.splitlines()[0] == EN("flows.rules.list_paged", count=7, page=2, pages=2)
    assert "• Google: account Supplies (Expenses:Supplies)" in second.text
    assert "Amazon" not in second.text
    assert second.labels == ["Edit Free", "Edit Google", "◀ Previous", "Add a rule", "Publish"]


async def _ready_invoices(
    acc: Accounting, workspace_id: int, supplier: str, days: list[date]
) -> list[int]:
    """Invoices in the inbox, ready (amount, supplier, date known), that no publish held."""
    ids: list[int] = []
    async with acc.db.transaction() as session:
        for day in days:
            added = await ingest_document(
                session=session,
                store=acc.store,
                incoming=IncomingDocument(
                    workspace_id=workspace_id,
                    source=DocumentSource.UPLOAD,
                    content=f"%PDF-1.4\n% {supplier} {day}\n%%EOF\n".encode(),
                    filename=f"{fold_name(supplier)}-{day:%Y-%m}.pdf",
                    supplier_name=supplier,
                    issue_date=day,
                    total_amount=Decimal("60.00"),
                    currency="EUR",
                ),
            )
            assert added.document.id is not None
            ids.append(added.document.id)
    return ids


def fold_name(supplier: str) -> str:
    return supplier.lower().replace(" ", "-")


async def _give_account(person: TelegramUser, supplier: str) -> BotMessage:
    """/rules → Add a rule → the suggested supplier → the Supplies account: the draft."""
    await person.say("/rules")
    await person.press("Add a rule", message=await person.wait_for_reply())
    await person.press(supplier, message=await person.wait_for_reply())
    draft = await person.wait_for_reply()
    await person.press("Choose the account", message=draft)
    await person.wait_for_reply()
    await person.say("suppl")  # the one account that matches: taken at once
    return await person.wait_for_reply()


async def _states(harness: Harness, ids: list[int]) -> list[tuple[str, str | None]]:
    async with harness.db.read() as session:
        found = [await session.get(Document, i) for i in ids]
    return [(str(d.state), d.state_reason) for d in found if d is not None]


async def test_saving_an_auto_publish_rule_tells_what_it_wrote_and_what_the_books_refused(
    harness: Harness, books: tuple[Accounting, Path], notifier: None
) -> None:
    """Issue #14, finding 6: a rule saved with auto-publish wrote 11 bills and failed on 1
    without a word. Now the report says both, with the software's reason and Retry."""
    acc, ledger = books
    bakery, code = await harness.workspace("Boulangerie")
    marie = await harness.member("Marie", code)
    assert bakery.id is not None
    await connect(
        acc, workspace_id=bakery.id, actor=None, provider_name="beancount", secret=str(ledger)
    )
    written = await _ready_invoices(
        acc, bakery.id, "Moulin Bio", [date(2026, 9, 3), date(2026, 10, 3), date(2026, 11, 3)]
    )
    # Dated before the ledger opened its accounts: Beancount refuses this bill.
    [refused] = await _ready_invoices(acc, bakery.id, "Moulin Bio", [date(2025, 12, 3)])

    draft = await _give_account(marie, "Moulin Bio")
    await marie.press("Publish automatically", message=draft)
    draft = await marie.wait_for_reply()
    await marie.press("Save", message=draft)
    assert (await marie.wait_for_reply()).text == EN(
        "flows.rules.saved_sending", supplier="Moulin Bio", count=4
    )

    report = await marie.wait_for_reply()
    assert await _states(harness, written) == [("published", None)] * 3
    assert await _states(harness, [refused]) == [("failed", "publication_rejected")]
    async with harness.db.read() as session:
        publication = (
            await session.exec(select(Publication).where(Publication.document_id == refused))
        ).one()
        kinds = (await session.exec(select(Notification.kind))).all()
    assert "inactive account" in (publication.detail or "").lower()
    assert report.text == "\n".join(
        [
            EN("outcomes.report_rule", supplier="Moulin Bio"),
            EN("outcomes.report_written", count=3),
            EN("outcomes.report_refused", count=1),
            EN(
                "outcomes.report_refused_line",
                filename="moulin-bio-2025-12.pdf",
                detail=publication.detail,
            ),
        ]
    )
    assert report.labels == [EN("outcomes.retry")]
    assert "publication_refused" not in kinds  # told once, in the report

    # The ledger is fixed; Retry sends the refused bill again, and says how it went.
    ledger.write_text(LEDGER.replace("2026-01-01 open", "2025-01-01 open"), encoding="utf-8")
    await marie.press(EN("outcomes.retry"), message=report)
    assert (await marie.wait_for_reply()).text == EN("flows.publish.retrying", count=1)
    assert (await marie.wait_for_reply()).text == EN("outcomes.report_written", count=1)
    assert await _states(harness, [refused]) == [("published", None)]


async def test_a_rule_that_publishes_when_asked_offers_the_publish_button(
    harness: Harness, books: tuple[Accounting, Path], notifier: None
) -> None:
    acc, ledger = books
    bakery, code = await harness.workspace("Boulangerie")
    marie = await harness.member("Marie", code)
    assert bakery.id is not None
    await connect(
        acc, workspace_id=bakery.id, actor=None, provider_name="beancount", secret=str(ledger)
    )
    ids = await _ready_invoices(acc, bakery.id, "Moulin Bio", [date(2026, 10, 3)])

    draft = await _give_account(marie, "Moulin Bio")
    await marie.press("Save", message=draft)
    saved = await marie.wait_for_reply()
    assert saved.text == EN("flows.rules.saved_ready", supplier="Moulin Bio", count=1)
    assert saved.labels == [EN("flows.rules.option.publish")]
    assert await _states(harness, ids) == [("inbox", None)]  # nothing went unasked

    await marie.press(EN("flows.rules.option.publish"), message=saved)
    ready = await marie.wait_for_reply()
    assert ready.text == EN("flows.publish.ready", count=1, suppliers="Moulin Bio")
    await marie.press(EN("flows.publish.option.publish", count=1), message=ready)
    assert (await marie.wait_for_reply()).text == EN("flows.publish.sending", count=1)
    assert (await marie.wait_for_reply()).text == EN("outcomes.report_written", count=1)
    assert await _states(harness, ids) == [("published", None)]
