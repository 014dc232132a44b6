"""Managing the link as the reference page describes it: change software (the old one
fully disconnected, rules transferred by code then by name, the unmappable reported),
disconnect keeping the rules or not (documents stay), refresh, and auto-publish."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from sqlmodel import col, select

from core.accounting.provider import ListItem
from core.models import (
    Document,
    DocumentState,
    Integration,
    IntegrationState,
    ListKind,
    Publication,
    Rule,
)
from core.services.accounting import Accounting
from core.services.authorisations import (
    change_software,
    complete_callback,
    connect,
    disconnect,
    refresh_lists,
)
from core.services.integrations import current_integration
from core.services.publishing import on_document_ready, publish_auto_ready, publish_document
from core.services.rules import list_rules, set_rule, transfer_rules
from tests.integration.accounting.conftest import (
    FakeProvider,
    FakeSoftware,
    add_document,
    bean_check,
    expired,
    state_of,
)
from tests.integration.conftest import World


async def _beancount(acc: Accounting, world: World, ledger: Path) -> None:
    assert world.workspace.id is not None
    await connect(
        acc,
        workspace_id=world.workspace.id,
        actor=world.owner.id,
        provider_name="beancount",
        secret=str(ledger),
    )
    async with acc.db.transaction() as session:
        for name, account, tax in (
            ("EDF Entreprises", "Expenses:Energy", "Assets:VAT:Deductible"),
            ("Orange Pro", "Expenses:Telecom", None),
            ("Moulin Bio", "Expenses:Supplies", None),
        ):
            await set_rule(
                session=session,
                workspace_id=world.workspace.id,
                party_name=name,
                account_code=account,
                tax_rate_code=tax,
                contact_code=name if name == "Moulin Bio" else None,
            )


async def test_changing_software_disconnects_the_old_and_transfers_what_can_be_mapped(
    acc: Accounting,
    world: World,
    ledger: Path,
    fake: FakeProvider,
    software: FakeSoftware,
) -> None:
    await _beancount(acc, world, ledger)
    assert world.workspace.id is not None
    software.lists[ListKind.ACCOUNTS] = [
        ListItem("606100", "Energy"),
        ListItem("606300", "Telecom"),  # same name, another code: mapped by name
    ]
    software.lists[ListKind.TAX_RATES] = [ListItem("FR_200", "TVA 20 %")]
    software.lists[ListKind.SUPPLIERS] = [ListItem("C-EDF", "EDF Entreprises")]

    started = await change_software(
        acc, workspace_id=world.workspace.id, actor=world.owner.id, provider_name="fake"
    )
    assert started.authorization_url is not None
    async with acc.db.read() as session:
        still = await current_integration(session=session, workspace_id=world.workspace.id)
        assert still is not None
        assert still.provider == "beancount"  # until the new one is authorised
    await complete_callback(
        acc, params={"code": "good-code", "state": state_of(started.authorization_url)}
    )

    async with acc.db.transaction() as session:
        rows = (await session.exec(select(Integration).order_by(col(Integration.id)))).all()
        assert [(i.provider, i.state) for i in rows] == [
            ("beancount", IntegrationState.DISCONNECTED),
            ("fake", IntegrationState.ACTIVE),
        ]
        assert rows[0].tokens_sealed is None
        report = await transfer_rules(
            session=session, workspace_id=world.workspace.id, actor=world.owner.id
        )
        rules = {
            r.party_name: r
            for r in await list_rules(session=session, workspace_id=world.workspace.id)
        }

    assert report.rules == 3
    assert rules["EDF Entreprises"].account_code == "606100"
    assert rules["EDF Entreprises"].contact_code == "C-EDF"
    assert rules["Orange Pro"].account_code == "606300"
    # Nothing in the new software looks like a supplies account, a VAT account or the mill.
    unmapped = {(u.party_name, u.field, u.code) for u in report.unmapped}
    assert unmapped == {
        ("EDF Entreprises", "tax_rate", "Assets:VAT:Deductible"),
        ("Moulin Bio", "account", "Expenses:Supplies"),
        ("Moulin Bio", "contact", "Moulin Bio"),
    }
    assert rules["Moulin Bio"].flagged == "transfer_unmapped"
    assert rules["Moulin Bio"].account_code == "Expenses:Supplies"  # kept for the user to decide
    assert rules["Orange Pro"].flagged is None
    bean_check(ledger)


async def test_disconnecting_keeps_or_drops_the_rules_and_never_the_documents(
    acc: Accounting, world: World, ledger: Path, fake: FakeProvider, software: FakeSoftware
) -> None:
    await _beancount(acc, world, ledger)
    assert world.workspace.id is not None
    published = await add_document(acc, world, name="a.pdf")
    await publish_document(acc, workspace_id=world.workspace.id, document_id=published)

    dropped = await disconnect(
        acc, workspace_id=world.workspace.id, actor=world.owner.id, keep_rules=True
    )
    assert dropped == 0
    async with acc.db.read() as session:
        assert len(await list_rules(session=session, workspace_id=world.workspace.id)) == 3
        assert await current_integration(session=session, workspace_id=world.workspace.id) is None
        assert (await session.get(Document, published)) is not None

    # Next, an OAuth link that expires with a document blocked, then dropped with its rules.
    started = await connect(
        acc, workspace_id=world.workspace.id, actor=world.owner.id, provider_name="fake"
    )
    assert started.authorization_url is not None
    await complete_callback(
        acc, params={"code": "good-code", "state": state_of(started.authorization_url)}
    )
    async with acc.db.transaction() as session:
        await set_rule(
            session=session,
            workspace_id=world.workspace.id,
            party_name="EDF Entreprises",
            account_code="606100",
        )
    blocked = await add_document(acc, world, name="b.pdf")
    software.fail_next = [expired()]
    software.fail_refresh = [expired()]
    outcome = await publish_document(acc, workspace_id=world.workspace.id, document_id=blocked)
    assert outcome.state == "blocked"

    dropped = await disconnect(
        acc, workspace_id=world.workspace.id, actor=world.owner.id, keep_rules=False
    )
    assert dropped == 3
    assert software.revoked != []
    async with acc.db.read() as session:
        assert await list_rules(session=session, workspace_id=world.workspace.id) == []
        documents = {d.id: d for d in (await session.exec(select(Document))).all()}
        publications = (await session.exec(select(Publication))).all()
    assert documents[published].state == DocumentState.PUBLISHED
    assert (documents[blocked].state, documents[blocked].state_reason) == (
        DocumentState.INBOX,
        None,
    )
    assert [p.document_id for p in publications] == [published]


async def test_refresh_reloads_every_list_or_just_one(
    acc: Accounting, world: World, fake: FakeProvider, software: FakeSoftware
) -> None:
    assert world.workspace.id is not None
    started = await connect(
        acc, workspace_id=world.workspace.id, actor=world.owner.id, provider_name="fake"
    )
    assert started.authorization_url is not None
    await complete_callback(
        acc, params={"code": "good-code", "state": state_of(started.authorization_url)}
    )
    software.lists[ListKind.SUPPLIERS].append(ListItem("C-ORA", "Orange Pro"))
    software.lists[ListKind.ACCOUNTS].append(ListItem("613200", "Rent"))

    one = await refresh_lists(
        acc, workspace_id=world.workspace.id, actor=world.owner.id, kind=ListKind.SUPPLIERS
    )
    assert one.counts == {ListKind.SUPPLIERS: 2}
    every = await refresh_lists(acc, workspace_id=world.workspace.id, actor=world.owner.id)
    assert every.counts == {
        ListKind.ACCOUNTS: 3,
        ListKind.CUSTOMERS: 0,
        ListKind.SUPPLIERS: 2,
        ListKind.TAX_RATES: 1,
    }


async def test_a_supplier_set_to_auto_publish_goes_out_as_soon_as_it_is_ready(
    acc: Accounting, world: World, ledger: Path
) -> None:
    await _beancount(acc, world, ledger)
    assert world.workspace.id is not None
    async with acc.db.transaction() as session:
        await set_rule(
            session=session,
            workspace_id=world.workspace.id,
            party_name="EDF Entreprises",
            account_code="Expenses:Energy",
            auto_publish=True,
        )
    hooked = await add_document(acc, world, name="hook.pdf")
    swept = await add_document(acc, world, name="sweep.pdf")
    manual = await add_document(acc, world, name="orange.pdf", supplier="Orange Pro")

    outcome = await on_document_ready(acc, document_id=hooked)
    assert outcome is not None
    assert outcome.state == "published"
    assert await on_document_ready(acc, document_id=manual) is None  # its rule does not say so

    # Orange's invoice was asked for without its amount; the answer arrives by a path
    # that does not call the hook, and the sweep sends it along with EDF's.
    async with acc.db.transaction() as session:
        await set_rule(
            session=session,
            workspace_id=world.workspace.id,
            party_name="Orange Pro",
            account_code="Expenses:Telecom",
        )
    answered = await add_document(
        acc, world, name="orange-2.pdf", supplier="Orange Pro", amount=None
    )
    review = await publish_document(acc, workspace_id=world.workspace.id, document_id=answered)
    assert review.state == "needs_review"
    async with acc.db.transaction() as session:
        document = await session.get(Document, answered)
        assert document is not None
        document.total_amount = Decimal("39.99")
        session.add(document)

    swept_outcomes = await publish_auto_ready(acc)
    assert [(o.document_id, o.state) for o in swept_outcomes] == [
        (swept, "published"),
        (answered, "published"),
    ]
    assert await publish_auto_ready(acc) == []
    async with acc.db.read() as session:
        rule = (await session.exec(select(Rule).where(Rule.party_name == "Orange Pro"))).one()
        assert not rule.auto_publish
        document = await session.get(Document, manual)
        assert document is not None
        assert document.state == DocumentState.INBOX
    bean_check(ledger)
