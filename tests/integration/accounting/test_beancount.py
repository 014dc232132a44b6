"""The bakery keeps its books in a Beancount ledger it writes by hand; Courier publishes
its purchase invoices there, and the ledger passes Beancount's own check every time."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import select

from core.accounting.errors import CompanyMismatch, LedgerInvalid, ManagerRequired
from core.models import (
    Document,
    DocumentState,
    Integration,
    IntegrationState,
    ListKind,
    Member,
    Publication,
    Role,
    Rule,
)
from core.services.accounting import Accounting
from core.services.authorisations import change_software, connect, reconnect, refresh_lists
from core.services.integrations import current_integration, list_loads
from core.services.publishing import on_document_ready, publish_document, publish_ready
from core.services.rules import set_rule, transfer_rules
from tests.integration.accounting.conftest import (
    LEDGER,
    add_document,
    bean_check,
    bytes_of,
    files_in,
    text_of,
    write,
)
from tests.integration.conftest import World


async def _connect(acc: Accounting, world: World, ledger: Path) -> None:
    assert world.workspace.id is not None
    result = await connect(
        acc,
        workspace_id=world.workspace.id,
        actor=world.owner.id,
        provider_name="beancount",
        secret=str(ledger),
    )
    assert result.state == IntegrationState.ACTIVE


async def _rule(acc: Accounting, world: World, account: str, tax: str | None = None) -> None:
    assert world.workspace.id is not None
    async with acc.db.transaction() as session:
        await set_rule(
            session=session,
            workspace_id=world.workspace.id,
            party_name="EDF Entreprises",
            account_code=account,
            tax_rate_code=tax,
            check_lists=True,
        )


async def test_connecting_a_ledger_loads_its_accounts_payees_and_tax_accounts(
    acc: Accounting, world: World, ledger: Path
) -> None:
    await _connect(acc, world, ledger)
    assert world.workspace.id is not None
    async with acc.db.read() as session:
        integration = await current_integration(session=session, workspace_id=world.workspace.id)
        assert integration is not None
        assert integration.company_id == str(ledger)
        assert integration.company_name == "Boulangerie Dupont"
        assert integration.id is not None
        loads = {
            load.kind: load.count
            for load in await list_loads(session=session, integration_id=integration.id)
        }
    assert loads == {
        ListKind.ACCOUNTS: 6,
        ListKind.SUPPLIERS: 1,
        ListKind.TAX_RATES: 1,
    }
    assert text_of(ledger) == LEDGER


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "does not exist"),
        (
            '2026-01-01 open Assets:Bank EUR\n2026-01-02 * "x"\n'
            "  Expenses:Nowhere 1 EUR\n  Assets:Bank\n",
            "Invalid reference to unknown account 'Expenses:Nowhere'",
        ),
    ],
    ids=["missing", "does-not-balance-its-accounts"],
)
async def test_a_ledger_that_is_missing_or_broken_is_refused_with_beancounts_message(
    acc: Accounting, world: World, tmp_path: Path, content: str | None, expected: str
) -> None:
    path = tmp_path / "other.beancount"
    if content is not None:
        write(path, content)
    assert world.workspace.id is not None
    with pytest.raises(LedgerInvalid) as caught:
        await connect(
            acc,
            workspace_id=world.workspace.id,
            actor=world.owner.id,
            provider_name="beancount",
            secret=str(path),
        )
    assert expected in str(caught.value.params["reason"])
    async with acc.db.read() as session:
        assert (await session.exec(select(Integration))).all() == []


async def test_a_document_is_published_once_as_a_balanced_transaction_with_its_file(
    acc: Accounting, world: World, ledger: Path
) -> None:
    await _connect(acc, world, ledger)
    await _rule(acc, world, "Expenses:Energy", "Assets:VAT:Deductible")
    document_id = await add_document(
        acc,
        world,
        fields={"invoice_number": "F-2026-118", "total_excl_tax": "100.00", "total_tax": "20.00"},
    )
    assert world.workspace.id is not None

    outcome = await publish_document(acc, workspace_id=world.workspace.id, document_id=document_id)

    assert outcome.state == "published", outcome
    text = text_of(ledger)
    assert text.startswith(LEDGER)  # the user's lines, byte for byte
    added = text[len(LEDGER) :]
    assert '2026-11-03 * "EDF Entreprises" "Invoice F-2026-118"' in added
    assert "Expenses:Energy" in added
    assert "100.00 EUR" in added
    assert "Assets:VAT:Deductible" in added
    assert "20.00 EUR" in added
    assert "Liabilities:AccountsPayable" in added
    assert "-120.00 EUR" in added
    linked = next(x for x in added.splitlines() if x.strip().startswith("document:"))
    copied = ledger.parent / linked.split('"')[1]
    assert bytes_of(copied).startswith(b"%PDF")
    bean_check(ledger)
    assert outcome.location == f"{ledger}:{LEDGER.count(chr(10)) + 2}"

    # Asked again, and even with the row lost (a crash after the write), no second entry.
    again = await publish_document(acc, workspace_id=world.workspace.id, document_id=document_id)
    assert again.state == "published"
    async with acc.db.transaction() as session:
        for row in (await session.exec(select(Publication))).all():
            await session.delete(row)
        document = await session.get(Document, document_id)
        assert document is not None
        document.state = DocumentState.INBOX
        session.add(document)
    retried = await publish_document(acc, workspace_id=world.workspace.id, document_id=document_id)
    assert retried.state == "published"
    assert text_of(ledger) == text
    bean_check(ledger)


async def test_a_document_without_an_amount_waits_for_review_and_goes_once_answered(
    acc: Accounting, world: World, ledger: Path
) -> None:
    await _connect(acc, world, ledger)
    await _rule(acc, world, "Expenses:Energy")
    document_id = await add_document(acc, world, amount=None)
    assert world.workspace.id is not None

    outcome = await publish_document(acc, workspace_id=world.workspace.id, document_id=document_id)

    assert (outcome.state, outcome.reason) == ("needs_review", "missing_total")
    assert text_of(ledger) == LEDGER
    async with acc.db.transaction() as session:
        document = await session.get(Document, document_id)
        assert document is not None
        assert (document.state, document.state_reason) == (
            DocumentState.NEEDS_REVIEW,
            "missing_total",
        )
        document.total_amount = Decimal("64.90")
        session.add(document)
    # The person's answer is committed: the hook sends it, no rule needs to say auto-publish.
    answered = await on_document_ready(acc, document_id=document_id)
    assert answered is not None
    assert answered.state == "published"
    assert "-64.90 EUR" in text_of(ledger)
    bean_check(ledger)


async def test_a_rule_pointing_at_a_deleted_account_holds_its_documents_until_fixed(
    acc: Accounting, world: World, ledger: Path
) -> None:
    await _connect(acc, world, ledger)
    await _rule(acc, world, "Expenses:Telecom")
    # The bookkeeper closes the account in the ledger (their own edit).
    write(ledger, "\n2026-06-30 close Expenses:Telecom\n", append=True)
    user_text = text_of(ledger)
    assert world.workspace.id is not None
    refreshed = await refresh_lists(
        acc, workspace_id=world.workspace.id, actor=world.owner.id, kind=ListKind.ACCOUNTS
    )
    assert refreshed.flagged_rules == ["EDF Entreprises"]
    document_id = await add_document(acc, world)

    held = await publish_document(acc, workspace_id=world.workspace.id, document_id=document_id)

    assert (held.state, held.reason) == ("blocked", "rule_account_deleted")
    assert text_of(ledger) == user_text
    await _rule(acc, world, "Expenses:Energy")
    outcomes = await publish_ready(acc, workspace_id=world.workspace.id)
    assert [(o.document_id, o.state) for o in outcomes] == [(document_id, "published")]
    bean_check(ledger)


async def test_an_entry_beancount_refuses_is_undone_and_the_publication_fails_with_its_words(
    acc: Accounting, world: World, ledger: Path
) -> None:
    await _connect(acc, world, ledger)
    await _rule(acc, world, "Expenses:Energy")
    document_id = await add_document(acc, world, day=None, fields={"issue_date": "2025-12-01"})
    assert world.workspace.id is not None

    # Dated before the accounts were opened: Beancount says so, and the write is undone.
    outcome = await publish_document(acc, workspace_id=world.workspace.id, document_id=document_id)

    assert (outcome.state, outcome.reason) == ("failed", "rejected")
    assert outcome.detail is not None
    assert "inactive account" in outcome.detail.lower()
    assert bytes_of(ledger) == LEDGER.encode("utf-8")
    assert files_in(ledger.parent / "documents", "*.pdf") == []
    async with acc.db.read() as session:
        document = await session.get(Document, document_id)
        assert document is not None
        assert (document.state, document.state_reason) == (
            DocumentState.FAILED,
            "publication_rejected",
        )
    bean_check(ledger)


async def test_only_owners_and_admins_link_the_accounting_software(
    acc: Accounting, world: World, ledger: Path
) -> None:
    assert world.workspace.id is not None
    async with acc.db.transaction() as session:
        clerk = Member(
            workspace_id=world.workspace.id,
            telegram_user_id=2002,
            display_name="Léo",
            role=Role.MEMBER,
        )
        session.add(clerk)
        await session.flush()
    with pytest.raises(ManagerRequired):
        await connect(
            acc,
            workspace_id=world.workspace.id,
            actor=clerk.id,
            provider_name="beancount",
            secret=str(ledger),
        )
    async with acc.db.read() as session:
        assert (await session.exec(select(Rule))).all() == []
        assert (await session.exec(select(Integration))).all() == []


async def test_reconnecting_needs_the_same_ledger_and_changing_moves_to_another(
    acc: Accounting, world: World, ledger: Path, tmp_path: Path
) -> None:
    await _connect(acc, world, ledger)
    await _rule(acc, world, "Expenses:Energy", "Assets:VAT:Deductible")
    assert world.workspace.id is not None
    again = await reconnect(acc, workspace_id=world.workspace.id, actor=world.owner.id)
    assert again.state == IntegrationState.ACTIVE
    other = tmp_path / "other.beancount"
    write(other, LEDGER.replace("Boulangerie Dupont", "Pâtisserie Martin"))
    with pytest.raises(CompanyMismatch):
        await reconnect(
            acc, workspace_id=world.workspace.id, actor=world.owner.id, secret=str(other)
        )

    changed = await change_software(
        acc,
        workspace_id=world.workspace.id,
        actor=world.owner.id,
        provider_name="beancount",
        secret=str(other),
    )
    assert changed.state == IntegrationState.ACTIVE
    async with acc.db.transaction() as session:
        report = await transfer_rules(
            session=session, workspace_id=world.workspace.id, actor=world.owner.id
        )
        live = await current_integration(session=session, workspace_id=world.workspace.id)
    assert (report.rules, report.mapped, report.unmapped) == (1, 1, [])
    assert live is not None
    assert live.company_id == str(other)
    document_id = await add_document(acc, world)
    outcome = await publish_document(acc, workspace_id=world.workspace.id, document_id=document_id)
    assert outcome.state == "published"
    assert text_of(ledger) == LEDGER
    assert text_of(other).count("courier_key:") == 1
    bean_check(ledger)
    bean_check(other)
