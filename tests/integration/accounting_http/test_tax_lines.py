"""The bakery's books come out right in each HTTP software, through its stand-in: an
invoice at 20 % and 5.5 % has each line under the software's own code for its rate, a
credit note is posted as that software's credit note, and a rate the software has no
code for sends the document to review instead of under another rate's code."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from decimal import Decimal

import pytest
from sqlmodel import select

from core.accounting.registry import ProviderRegistry
from core.config import Settings
from core.db import Database
from core.models import Document, DocumentState, Integration, IntegrationState, Notification
from core.services.accounting import Accounting, refresh_link
from core.services.authorisations import complete_callback, connect
from core.services.publishing import PublishOutcome, publish_document
from core.services.rules import set_rule
from core.storage import LocalDocumentStore
from core.vault import Vault
from tests.integration.accounting.conftest import add_document
from tests.integration.accounting_http import CALLBACK, consent
from tests.integration.conftest import World
from tests.standins import pennylane as pl
from tests.standins import quickbooks as qb
from tests.standins import running, xero

MIXED = {
    "invoice_number": "F-2026-0412",
    "total_excl_tax": "140.00",
    "total_tax": "22.20",
    "vat_lines": [
        {"rate": "20", "base": "100.00", "amount": "20.00"},
        {"rate": "5.5", "base": "40.00", "amount": "2.20"},
    ],
}
MIXED_TOTAL = "162.20"
#: A credit note as its UBL gives it: the type says so, the amounts are positive.
CREDIT_NOTE = {
    "invoice_number": "AV-2026-0007",
    "document_type": "credit_note",
    "total_excl_tax": "50.00",
    "total_tax": "10.00",
    "vat_lines": [{"rate": "20", "base": "50.00", "amount": "10.00"}],
}
#: A refund as a supplier's API gives it (Scaleway's): only the negative total says so.
REFUND = {
    "invoice_number": "AV-2026-0008",
    "vat_lines": [{"rate": "20", "base": "-50.00", "amount": "-10.00"}],
}


@dataclass
class Stage:
    acc: Accounting
    xero: xero.XeroStandin
    quickbooks: qb.QuickBooksStandin
    pennylane: pl.PennylaneStandin


@pytest.fixture
async def stage(db: Database, vault: Vault, store: LocalDocumentStore) -> AsyncIterator[Stage]:
    xero_app, qb_app, pl_app = xero.create_app(), qb.create_app(), pl.create_app()
    async with running(xero_app) as x, running(qb_app) as q, running(pl_app) as p:
        settings = Settings(
            _env_file=None,
            xero_client_id=xero.CLIENT_ID,
            xero_client_secret=xero.CLIENT_SECRET,
            xero_authorize_url=f"{x}/identity/connect/authorize",
            xero_token_url=f"{x}/connect/token",
            xero_revoke_url=f"{x}/connect/revocation",
            xero_api_url=x,
            quickbooks_client_id=qb.CLIENT_ID,
            quickbooks_client_secret=qb.CLIENT_SECRET,
            quickbooks_authorize_url=f"{q}/connect/oauth2",
            quickbooks_token_url=f"{q}/oauth2/v1/tokens/bearer",
            quickbooks_revoke_url=f"{q}/v2/oauth2/tokens/revoke",
            quickbooks_api_url=q,
            pennylane_api_url=f"{p}/api/external/v2",
        )
        providers = ProviderRegistry(settings)
        acc = Accounting(
            db=db, vault=vault, store=store, providers=providers, callback_url=CALLBACK
        )
        yield Stage(acc, xero_app[xero.STANDIN], qb_app[qb.STANDIN], pl_app[pl.STANDIN])
        await providers.aclose()


async def _link(stage: Stage, world: World, provider: str, account: str, tax: str) -> None:
    """The software linked (its lists loaded), and EDF's rule: its account and tax code."""
    assert world.workspace.id is not None
    secret = pl.TOKEN if provider == "pennylane" else None
    started = await connect(
        stage.acc,
        workspace_id=world.workspace.id,
        actor=world.owner.id,
        provider_name=provider,
        secret=secret,
    )
    if started.authorization_url is not None:
        outcome = await complete_callback(
            stage.acc, params=await consent(started.authorization_url)
        )
        assert outcome.connecting.state == IntegrationState.ACTIVE
    async with stage.acc.db.transaction() as session:
        await set_rule(
            session=session,
            workspace_id=world.workspace.id,
            party_name="EDF Entreprises",
            account_code=account,
            tax_rate_code=tax,
        )


async def _publish(
    stage: Stage, world: World, amount: str, fields: Mapping[str, object]
) -> PublishOutcome:
    assert world.workspace.id is not None
    document = await add_document(
        stage.acc, world, name=f"{fields['invoice_number']}.pdf", amount=amount, fields=fields
    )
    return await publish_document(stage.acc, workspace_id=world.workspace.id, document_id=document)


async def test_xero_gets_each_rate_under_its_tax_type_and_a_credit_note_as_accpaycredit(
    stage: Stage, world: World
) -> None:
    await _link(stage, world, "xero", "445", "INPUT2")

    invoice = await _publish(stage, world, MIXED_TOTAL, MIXED)
    credit = await _publish(stage, world, "60.00", CREDIT_NOTE)

    assert (invoice.state, credit.state) == ("published", "published")
    bill, note = (
        stage.xero.bills[invoice.external_id or ""],
        stage.xero.bills[credit.external_id or ""],
    )
    assert bill.kind == "Invoices"
    assert bill.body["Type"] == "ACCPAY"
    assert [
        (line["TaxType"], line["UnitAmount"], line["TaxAmount"]) for line in bill.body["LineItems"]
    ] == [("INPUT2", 100.0, 20.0), ("TAX001", 40.0, 2.2)]
    assert note.kind == "CreditNotes"
    assert note.body["Type"] == "ACCPAYCREDIT"
    assert note.body["CreditNoteNumber"] == "AV-2026-0007"
    assert [(li["TaxType"], li["UnitAmount"]) for li in note.body["LineItems"]] == [
        ("INPUT2", 50.0)
    ]
    assert list(note.attachments) == ["AV-2026-0007.pdf"]


async def test_quickbooks_gets_each_rate_under_its_tax_code_and_a_refund_as_a_vendor_credit(
    stage: Stage, world: World
) -> None:
    await _link(stage, world, "quickbooks", "30", "4")

    invoice = await _publish(stage, world, MIXED_TOTAL, MIXED)
    credit = await _publish(stage, world, "-60.00", REFUND)

    assert (invoice.state, credit.state) == ("published", "published")
    bill = stage.quickbooks.bills[invoice.external_id or ""]
    assert bill.entity == "Bill"
    assert [
        (line["Amount"], line["AccountBasedExpenseLineDetail"]["TaxCodeRef"]["value"])
        for line in bill.body["Line"]
    ] == [(100.0, "4"), (40.0, "5")]
    vendor_credit = stage.quickbooks.bills[credit.external_id or ""]
    assert vendor_credit.entity == "VendorCredit"
    assert [line["Amount"] for line in vendor_credit.body["Line"]] == [50.0]
    assert vendor_credit.attachments[0][0] == "AV-2026-0008.pdf"


async def test_pennylane_gets_each_rate_under_its_vat_code_and_a_credit_note_negative(
    stage: Stage, world: World
) -> None:
    await _link(stage, world, "pennylane", "9000", "FR_200")

    invoice = await _publish(stage, world, MIXED_TOTAL, MIXED)
    credit = await _publish(stage, world, "-60.00", {**REFUND, "document_type": "credit_note"})

    assert (invoice.state, credit.state) == ("published", "published")
    first, second = stage.pennylane.invoices
    assert [
        (line["vat_rate"], line["currency_amount"], line["currency_tax"])
        for line in first.body["invoice_lines"]
    ] == [("FR_200", "120.00", "20.00"), ("FR_55", "42.20", "2.20")]
    assert (second.body["currency_amount"], second.body["currency_tax"]) == ("-60.00", "-10.00")
    assert second.body["currency_amount_before_tax"] == "-50.00"
    assert [
        (line["vat_rate"], line["currency_amount"]) for line in second.body["invoice_lines"]
    ] == [("FR_200", "-60.00")]


@pytest.mark.parametrize(
    ("provider", "account", "tax", "rate"),
    [
        ("xero", "445", "INPUT2", "10"),  # Xero's 10 % is for sales only
        ("quickbooks", "30", "4", "10"),  # so is QuickBooks'
        ("pennylane", "9000", "FR_200", "7"),  # no French code at 7 %
    ],
)
async def test_a_rate_without_a_code_goes_to_review_never_under_the_rules_code(
    stage: Stage, world: World, provider: str, account: str, tax: str, rate: str
) -> None:
    await _link(stage, world, provider, account, tax)
    base = Decimal(100)
    vat = base * Decimal(rate) / 100
    fields = {
        "invoice_number": "F-2026-0413",
        "vat_lines": [{"rate": rate, "base": str(base), "amount": str(vat)}],
    }

    outcome = await _publish(stage, world, str(base + vat), fields)

    assert (outcome.state, outcome.reason, outcome.detail) == (
        "needs_review",
        "vat_rate_unmapped",
        f"{rate} %",
    )
    assert stage.xero.bills == {}
    assert stage.quickbooks.bills == {}
    assert stage.pennylane.invoices == []
    async with stage.acc.db.read() as session:
        document = await session.get(Document, outcome.document_id)
        notices = (await session.exec(select(Notification))).all()
    assert document is not None
    assert (document.state, document.state_reason) == (
        DocumentState.NEEDS_REVIEW,
        "vat_rate_unmapped",
    )
    assert [(n.kind, n.payload["reason"]) for n in notices] == [
        ("document_needs_review", "vat_rate_unmapped")
    ]


async def test_a_quickbooks_company_that_keeps_no_euros_sends_the_invoice_to_review(
    stage: Stage, world: World
) -> None:
    """A UK company without multicurrency cannot take a bill in euros: nothing is posted in
    pounds that are euros, and the owners are asked, with the reason."""
    (realm,) = stage.quickbooks.realms.values()
    realm.home_currency = "GBP"
    await _link(stage, world, "quickbooks", "30", "4")

    outcome = await _publish(stage, world, MIXED_TOTAL, MIXED)

    assert (outcome.state, outcome.reason) == ("needs_review", "currency_not_enabled")
    assert "GBP" in (outcome.detail or "")
    assert stage.quickbooks.bills == {}
    async with stage.acc.db.read() as session:
        document = await session.get(Document, outcome.document_id)
        notices = (await session.exec(select(Notification))).all()
    assert document is not None
    assert (document.state, document.state_reason) == (
        DocumentState.NEEDS_REVIEW,
        "currency_not_enabled",
    )
    assert [(n.kind, n.payload["reason"]) for n in notices] == [
        ("document_needs_review", "currency_not_enabled")
    ]

    # Multicurrency turned on in QuickBooks: the next token refresh reads it, and the
    # same document goes as it is.
    realm.multicurrency = True
    await refresh_link(stage.acc, integration_id=await _integration_id(stage), only_if_due=False)
    assert world.workspace.id is not None
    again = await publish_document(
        stage.acc, workspace_id=world.workspace.id, document_id=outcome.document_id
    )
    assert again.state == "published"
    (bill,) = stage.quickbooks.bills.values()
    assert bill.body["CurrencyRef"] == {"value": "EUR"}
    assert bill.body["TotalAmt"] == float(MIXED_TOTAL)


async def _integration_id(stage: Stage) -> int:
    async with stage.acc.db.read() as session:
        (integration,) = (await session.exec(select(Integration))).all()
    assert integration.id is not None
    return integration.id
