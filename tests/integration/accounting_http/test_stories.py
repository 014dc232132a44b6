"""The integration's life through the services, for each HTTP software behind its stand-in
over real HTTP on loopback: connect, publish with the file, expiry (blocked documents, one
alert), reconnect (the queue goes out once each), another company refused, and a change
from Xero to QuickBooks with its rules transferred, including the ones that cannot be."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlmodel import select

from core.accounting.errors import CompanyMismatch
from core.accounting.provider import ListKind
from core.accounting.registry import ProviderRegistry
from core.config import Settings
from core.db import Database
from core.models import Integration, IntegrationState, Notification, Publication, Rule
from core.services.accounting import Accounting
from core.services.authorisations import change_software, complete_callback, connect, reconnect
from core.services.integrations import current_integration, list_loads
from core.services.publishing import publish_document
from core.services.rules import set_rule, transfer_rules
from core.storage import LocalDocumentStore
from core.vault import Vault
from tests.integration.accounting.conftest import add_document
from tests.integration.accounting_http import CALLBACK, consent
from tests.integration.conftest import World
from tests.standins import pennylane as pl
from tests.standins import quickbooks as qb
from tests.standins import running, xero
from tests.standins.accounting_limits import Fault
from tests.standins.xero import bakery as xero_bakery

OTHER_TENANT = "5a8e1c3d-7f20-4b6a-9c4e-0d2b4f6a8c13"


@dataclass
class Stage:
    acc: Accounting
    xero: xero.XeroStandin
    quickbooks: qb.QuickBooksStandin
    pennylane: pl.PennylaneStandin


@pytest.fixture
async def stage(
    db: Database, vault: Vault, store: LocalDocumentStore, tmp_path: object
) -> AsyncIterator[Stage]:
    other = xero_bakery(OTHER_TENANT)
    other.name = "Pâtisserie Martin"
    xero_app = xero.create_app(tenants=[xero_bakery(), other])
    qb_app, pl_app = qb.create_app(), pl.create_app()
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


async def _authorise(stage: Stage, url: str | None) -> None:
    assert url is not None
    outcome = await complete_callback(stage.acc, params=await consent(url))
    assert outcome.connecting.state == IntegrationState.ACTIVE


async def _integration(stage: Stage, world: World) -> Integration:
    assert world.workspace.id is not None
    async with stage.acc.db.read() as session:
        integration = await current_integration(session=session, workspace_id=world.workspace.id)
    assert integration is not None
    return integration


async def _rule(stage: Stage, world: World, supplier: str, account: str, tax: str | None) -> None:
    assert world.workspace.id is not None
    async with stage.acc.db.transaction() as session:
        await set_rule(
            session=session,
            workspace_id=world.workspace.id,
            party_name=supplier,
            account_code=account,
            tax_rate_code=tax,
        )


async def _publish(
    stage: Stage, world: World, documents: list[int]
) -> list[tuple[str, str | None]]:
    assert world.workspace.id is not None
    return [
        (o.state, o.reason)
        for o in [
            await publish_document(stage.acc, workspace_id=world.workspace.id, document_id=d)
            for d in documents
        ]
    ]


async def _alerts(stage: Stage) -> list[Notification]:
    async with stage.acc.db.read() as session:
        return list((await session.exec(select(Notification))).all())


async def test_xero_expires_alerts_once_refuses_another_tenant_and_reconnects(
    stage: Stage, world: World
) -> None:
    assert world.workspace.id is not None
    started = await connect(
        stage.acc, workspace_id=world.workspace.id, actor=world.owner.id, provider_name="xero"
    )
    await _authorise(stage, started.authorization_url)
    integration = await _integration(stage, world)
    assert integration.company_id == xero_bakery().tenant_id
    async with stage.acc.db.read() as session:
        assert integration.id is not None
        counts = {
            load.kind: load.count
            for load in await list_loads(session=session, integration_id=integration.id)
        }
    assert counts[ListKind.SUPPLIERS] == 207  # every active contact, billed or not
    await _rule(stage, world, "EDF Entreprises", "445", "INPUT2")

    first = await add_document(stage.acc, world, name="edf-1.pdf")
    assert await _publish(stage, world, [first]) == [("published", None)]
    (bill,) = stage.xero.bills.values()
    assert bill.body["LineItems"][0]["AccountCode"] == "445"
    assert list(bill.attachments) == ["edf-1.pdf"]

    # Sixty days without a refresh: every token is dead at Xero.
    stage.xero.tokens.expire_now()
    stage.xero.tokens.kill_refresh_tokens()
    waiting = [await add_document(stage.acc, world, name=f"edf-{n}.pdf") for n in (2, 3)]
    assert await _publish(stage, world, waiting) == [("blocked", "integration_expired")] * 2
    assert (await _integration(stage, world)).state == IntegrationState.EXPIRED
    (alert,) = await _alerts(stage)
    assert alert.kind == "integration_expired"
    assert alert.payload["documents_waiting"] == 2

    # The person picks another organisation on Xero's page: refused, nothing published.
    stage.xero.consent_tenant = OTHER_TENANT
    started = await reconnect(stage.acc, workspace_id=world.workspace.id, actor=world.owner.id)
    assert started.authorization_url is not None
    params = await consent(started.authorization_url)
    with pytest.raises(CompanyMismatch):
        await complete_callback(stage.acc, params=params)
    assert len(stage.xero.bills) == 1

    stage.xero.consent_tenant = None
    started = await reconnect(stage.acc, workspace_id=world.workspace.id, actor=world.owner.id)
    await _authorise(stage, started.authorization_url)
    assert (await _integration(stage, world)).state == IntegrationState.ACTIVE
    names = sorted(name for b in stage.xero.bills.values() for name in b.attachments)
    assert names == ["edf-1.pdf", "edf-2.pdf", "edf-3.pdf"]  # each blocked one, once
    assert len(await _alerts(stage)) == 1


async def test_a_xero_bill_whose_file_failed_gets_its_file_alone_on_the_retry(
    stage: Stage, world: World
) -> None:
    assert world.workspace.id is not None
    started = await connect(
        stage.acc, workspace_id=world.workspace.id, actor=world.owner.id, provider_name="xero"
    )
    await _authorise(stage, started.authorization_url)
    await _rule(stage, world, "EDF Entreprises", "445", "INPUT2")
    document = await add_document(stage.acc, world, name="edf-1.pdf")

    stage.xero.attachment_failures = 1  # Xero made the bill, then failed on its file
    assert await _publish(stage, world, [document]) == [("waiting", "attachment_failed")]
    (bill,) = stage.xero.bills.values()
    assert bill.attachments == {}
    async with stage.acc.db.read() as session:
        publication = (await session.exec(select(Publication))).one()
    assert publication.external_id == bill.invoice_id  # recorded: the bill is there

    assert await _publish(stage, world, [document]) == [("published", None)]
    assert list(stage.xero.bills.values()) == [bill]
    assert list(bill.attachments) == ["edf-1.pdf"]
    made = [p for m, p in stage.xero.knobs.requests if m == "PUT" and "/Attachments/" not in p]
    assert len(made) == 1  # the bill was sent once; the retry sent the file alone


async def test_quickbooks_expires_and_reconnects_publishing_the_queue_once(
    stage: Stage, world: World
) -> None:
    assert world.workspace.id is not None
    started = await connect(
        stage.acc,
        workspace_id=world.workspace.id,
        actor=world.owner.id,
        provider_name="quickbooks",
    )
    await _authorise(stage, started.authorization_url)
    await _rule(stage, world, "EDF Entreprises", "30", "4")
    stage.quickbooks.tokens.revoke_grant(next(iter(stage.quickbooks.grant_realm)))
    waiting = [await add_document(stage.acc, world, name=f"edf-{n}.pdf") for n in (1, 2)]
    assert await _publish(stage, world, waiting) == [("blocked", "integration_expired")] * 2
    assert len(await _alerts(stage)) == 1

    started = await reconnect(stage.acc, workspace_id=world.workspace.id, actor=world.owner.id)
    await _authorise(stage, started.authorization_url)
    files = sorted(name for b in stage.quickbooks.bills.values() for name, _ in b.attachments)
    assert files == ["edf-1.pdf", "edf-2.pdf"]


async def test_pennylane_token_expiry_blocks_and_a_new_token_releases(
    stage: Stage, world: World
) -> None:
    assert world.workspace.id is not None
    await connect(
        stage.acc,
        workspace_id=world.workspace.id,
        actor=world.owner.id,
        provider_name="pennylane",
        secret=f"{pl.TOKEN} 2027-03-31",
    )
    assert (await _integration(stage, world)).state == IntegrationState.ACTIVE
    await _rule(stage, world, "EDF Entreprises", "9000", "FR_200")
    stage.pennylane.expire_now(pl.TOKEN)
    waiting = [await add_document(stage.acc, world, name=f"edf-{n}.pdf") for n in (1, 2)]
    assert await _publish(stage, world, waiting) == [("blocked", "integration_expired")] * 2
    assert len(await _alerts(stage)) == 1

    fresh = "pl_company_" + "N3w" * 12
    stage.pennylane.tokens[fresh] = None
    await reconnect(stage.acc, workspace_id=world.workspace.id, actor=world.owner.id, secret=fresh)
    assert (await _integration(stage, world)).state == IntegrationState.ACTIVE
    assert len(stage.pennylane.invoices) == 2


async def test_changing_from_xero_to_quickbooks_transfers_the_rules_it_can(
    stage: Stage, world: World
) -> None:
    assert world.workspace.id is not None
    started = await connect(
        stage.acc, workspace_id=world.workspace.id, actor=world.owner.id, provider_name="xero"
    )
    await _authorise(stage, started.authorization_url)
    await _rule(stage, world, "Orange Pro", "489", None)  # Telephone & Internet
    await _rule(stage, world, "EDF Entreprises", "445", "INPUT2")  # Light, Power, Heating
    async with stage.acc.db.transaction() as session:
        orange = (await session.exec(select(Rule).where(Rule.party_name == "Orange Pro"))).one()
        orange.tax_codes = {"10": "INPUT2"}  # chosen in the chat for a rate Xero lacked
        session.add(orange)

    started = await change_software(
        stage.acc,
        workspace_id=world.workspace.id,
        actor=world.owner.id,
        provider_name="quickbooks",
    )
    await _authorise(stage, started.authorization_url)
    assert stage.xero.connections == []  # the old link is revoked at Xero
    async with stage.acc.db.transaction() as session:
        report = await transfer_rules(
            session=session, workspace_id=world.workspace.id, actor=world.owner.id
        )
    async with stage.acc.db.read() as session:
        rules = {r.party_name: r for r in (await session.exec(select(Rule))).all()}
    assert (report.rules, report.mapped) == (2, 1)
    assert rules["Orange Pro"].account_code == "31"  # the same name in QuickBooks
    assert rules["Orange Pro"].flagged is None
    # Nothing in QuickBooks looks like "Light, Power, Heating" or Xero's VAT type: shown
    # to the person, the rule flagged and its documents held, never silently dropped.
    assert {(u.party_name, u.field, u.code) for u in report.unmapped} == {
        ("EDF Entreprises", "account", "445"),
        ("EDF Entreprises", "tax_rate", "INPUT2"),
    }
    assert rules["EDF Entreprises"].flagged == "transfer_unmapped"
    assert rules["EDF Entreprises"].account_code == "445"
    # A code chosen per rate follows by its name, or is dropped to be asked again: never
    # a Xero code left to be sent to QuickBooks.
    kept = rules["Orange Pro"].tax_codes or {}
    assert "INPUT2" not in kept.values()
    assert set(kept.values()) <= {"4", "5", "6"}


@pytest.mark.parametrize("fault", [Fault.SERVER_ERROR, Fault.RATE_LIMITED, Fault.MALFORMED_JSON])
async def test_a_broken_or_busy_xero_delays_the_bill_and_leaves_the_link_alone(
    stage: Stage, world: World, fault: Fault, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert world.workspace.id is not None
    started = await connect(
        stage.acc, workspace_id=world.workspace.id, actor=world.owner.id, provider_name="xero"
    )
    await _authorise(stage, started.authorization_url)
    await _rule(stage, world, "EDF Entreprises", "445", "INPUT2")
    stage.xero.knobs.fault = fault
    stage.xero.knobs.retry_after = 600  # longer than a publish waits: handed to the scheduler
    document = await add_document(stage.acc, world)

    ((state, reason),) = await _publish(stage, world, [document])

    assert state == "waiting"
    assert reason in {"unavailable", "rate_limited"}
    integration = await _integration(stage, world)
    assert integration.state == IntegrationState.ACTIVE
    assert stage.xero.bills == {}
    assert await _alerts(stage) == []
    # The tokens Xero issued are sealed at rest and never logged.
    issued = [*stage.xero.tokens.access, *stage.xero.tokens.refresh]
    assert issued
    for token in issued:
        assert token not in (integration.tokens_sealed or "")
        assert token not in caplog.text
