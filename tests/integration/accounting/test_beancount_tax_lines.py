"""The bakery's ledger keeps one VAT account per rate: an invoice at 20 % and 5.5 % puts
each rate's tax on its own account, a credit note reverses every sign, the ledger passes
`bean-check` and its balances are the books a bookkeeper expects. A rate the ledger has
no account for waits for review, the ledger untouched."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from beancount import loader
from beancount.core import realization

from core.services.accounting import Accounting
from core.services.authorisations import connect, refresh_lists
from core.services.publishing import publish_document, publish_ready
from core.services.rules import set_rule
from tests.integration.accounting.conftest import add_document, bean_check, text_of, write
from tests.integration.conftest import World

REDUCED_RATE_ACCOUNT = """
2026-01-01 open Assets:VAT:Deductible55    EUR
  tax_rate: "5.5"
"""


def balances(path: Path) -> dict[str, Decimal]:
    """Each account's balance in euros, as Beancount itself adds the ledger up."""
    entries, errors, _ = loader.load_file(str(path))
    assert errors == []
    root = realization.realize(entries)  # type: ignore[no-untyped-call]
    return {
        account.account: account.balance.get_currency_units("EUR").number
        for account in realization.iter_children(root)  # type: ignore[no-untyped-call]
        if not account.balance.is_empty()
    }


async def _linked(acc: Accounting, world: World, ledger: Path) -> None:
    assert world.workspace.id is not None
    write(ledger, REDUCED_RATE_ACCOUNT, append=True)
    await connect(
        acc,
        workspace_id=world.workspace.id,
        actor=world.owner.id,
        provider_name="beancount",
        secret=str(ledger),
    )
    async with acc.db.transaction() as session:
        await set_rule(
            session=session,
            workspace_id=world.workspace.id,
            party_name="EDF Entreprises",
            account_code="Expenses:Energy",
            tax_rate_code="Assets:VAT:Deductible",
        )


async def test_each_rate_on_its_account_and_a_credit_note_reversed(
    acc: Accounting, world: World, ledger: Path
) -> None:
    await _linked(acc, world, ledger)
    assert world.workspace.id is not None
    invoice = await add_document(
        acc,
        world,
        name="f-0412.pdf",
        amount="162.20",
        fields={
            "invoice_number": "F-2026-0412",
            "vat_lines": [
                {"rate": "20", "base": "100.00", "amount": "20.00"},
                {"rate": "5.5", "base": "40.00", "amount": "2.20"},
            ],
        },
    )
    credit = await add_document(
        acc,
        world,
        name="av-0007.pdf",
        amount="60.00",
        fields={
            "invoice_number": "AV-2026-0007",
            "document_type": "credit_note",
            "vat_lines": [{"rate": "20", "base": "50.00", "amount": "10.00"}],
        },
    )

    for document in (invoice, credit):
        outcome = await publish_document(acc, workspace_id=world.workspace.id, document_id=document)
        assert outcome.state == "published", outcome

    bean_check(ledger)
    assert balances(ledger) == {
        "Assets:VAT:Deductible": Decimal("10.00"),  # 20.00 on the bill, 10.00 back
        "Assets:VAT:Deductible55": Decimal("2.20"),
        "Expenses:Energy": Decimal("90.00"),  # 140.00 less the 50.00 credited
        "Liabilities:AccountsPayable": Decimal("-102.20"),  # owed 162.20, 60.00 back
        "Expenses:Supplies": Decimal("42.50"),  # the user's own lines, untouched
        "Assets:Bank:Checking": Decimal("-42.50"),
    }
    assert '"Credit note AV-2026-0007"' in text_of(ledger)


async def test_a_rate_without_an_account_waits_for_review_and_the_ledger_is_untouched(
    acc: Accounting, world: World, ledger: Path
) -> None:
    await _linked(acc, world, ledger)
    assert world.workspace.id is not None
    before = text_of(ledger)
    document = await add_document(
        acc,
        world,
        amount="110.00",
        fields={"vat_lines": [{"rate": "10", "base": "100.00", "amount": "10.00"}]},
    )

    outcome = await publish_document(acc, workspace_id=world.workspace.id, document_id=document)

    assert (outcome.state, outcome.reason, outcome.detail) == (
        "needs_review",
        "vat_rate_unmapped",
        "10 %",
    )
    assert text_of(ledger) == before
    bean_check(ledger)

    # The bookkeeper opens the 10 % account and reloads the lists: the document is ready
    # again, and goes with its tax on that account.
    write(
        ledger, '\n2026-01-01 open Assets:VAT:Deductible10    EUR\n  tax_rate: "10"\n', append=True
    )
    await refresh_lists(acc, workspace_id=world.workspace.id, actor=world.owner.id)
    (published,) = await publish_ready(acc, workspace_id=world.workspace.id)
    assert (published.document_id, published.state) == (document, "published")
    bean_check(ledger)
    assert balances(ledger)["Assets:VAT:Deductible10"] == Decimal("10.00")
