"""When QuickBooks cannot take the bakery's bill as it stands, Marie gets one question in
the chat whose buttons fix it, and the bill is then posted, through the QuickBooks
stand-in over real HTTP:
- a bill without VAT lines, in a French company that books VAT, needs a tax code: she
  picks one of QuickBooks' purchase codes, it becomes EDF's, and the bill goes with it;
- a VAT rate QuickBooks has no code for: she adds the code in QuickBooks and presses
  "I added it" (the tax list is read again), or picks a code, kept for EDF at that rate;
- a company without multicurrency: she turns it on and presses "try again".
A button of an older step does nothing; a forged option, or a code QuickBooks dropped
meanwhile, gets the question again with a clear error. Steps and results are asserted by
id and key."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from core.accounting.registry import ProviderRegistry
from core.config import Settings
from core.db import Database
from core.flows.accounting import accounting
from core.flows.flow import Actor
from core.flows.manager import Flows, Shown
from core.flows.review import Review
from core.flows.steps import Abort, Choice, Done, Text
from core.models import (
    Document,
    DocumentState,
    Integration,
    ListKind,
    Notification,
    Role,
    Rule,
)
from core.services.accounting import Accounting, refresh_link
from core.services.authorisations import complete_callback, connect, refresh_lists
from core.services.publishing import PublishOutcome, publish_document
from core.services.rules import set_rule
from core.storage import LocalDocumentStore
from core.vault import Vault
from tests.integration.accounting.conftest import add_document
from tests.integration.accounting_http import consent
from tests.integration.conftest import World, join
from tests.standins import quickbooks as qb
from tests.standins import running

KEY = "tg:1:1001"
#: An invoice whose page gives its totals but no VAT line.
NO_VAT_LINES = {"invoice_number": "F-2026-0501", "total_excl_tax": "100.00", "total_tax": "20.00"}
#: An invoice at 10 %: the bakery's QuickBooks has purchase codes at 20 % and 5.5 % only.
AT_TEN = {
    "invoice_number": "F-2026-0502",
    "total_excl_tax": "100.00",
    "total_tax": "10.00",
    "vat_lines": [{"rate": "10", "base": "100.00", "amount": "10.00"}],
}


@dataclass
class Stage:
    acc: Accounting
    flows: Flows
    quickbooks: qb.QuickBooksStandin

    @property
    def realm(self) -> qb.Realm:
        (realm,) = self.quickbooks.realms.values()
        return realm


@pytest.fixture
async def stage(
    db: Database, vault: Vault, store: LocalDocumentStore, world: World, tmp_path: Path
) -> AsyncIterator[Stage]:
    app = qb.create_app()
    async with running(app) as q:
        settings = Settings(
            _env_file=None,
            data_dir=tmp_path / "var",
            quickbooks_client_id=qb.CLIENT_ID,
            quickbooks_client_secret=qb.CLIENT_SECRET,
            quickbooks_authorize_url=f"{q}/connect/oauth2",
            quickbooks_token_url=f"{q}/oauth2/v1/tokens/bearer",
            quickbooks_revoke_url=f"{q}/v2/oauth2/tokens/revoke",
            quickbooks_api_url=q,
        )
        providers = ProviderRegistry(settings)
        services: dict[str, Any] = {
            "settings": settings,
            "db": db,
            "vault": vault,
            "store": store,
            "providers": providers,
        }
        stage = Stage(accounting(services), Flows({"review": Review}, services), app[qb.STANDIN])
        assert world.workspace.id is not None
        started = await connect(
            stage.acc,
            workspace_id=world.workspace.id,
            actor=world.owner.id,
            provider_name="quickbooks",
        )
        assert started.authorization_url is not None
        await complete_callback(stage.acc, params=await consent(started.authorization_url))
        yield stage
        await providers.aclose()


def marie(world: World) -> Actor:
    return Actor(
        telegram_user_id=world.owner.telegram_user_id,
        member=world.owner,
        workspace_id=world.workspace.id,
    )


async def _rule(stage: Stage, world: World, tax: str | None) -> None:
    assert world.workspace.id is not None
    async with stage.acc.db.transaction() as session:
        await set_rule(
            session=session,
            workspace_id=world.workspace.id,
            party_name="EDF Entreprises",
            account_code="30",
            tax_rate_code=tax,
        )


async def _publish(
    stage: Stage, world: World, fields: Mapping[str, object], *, name: str, amount: str
) -> PublishOutcome:
    assert world.workspace.id is not None
    read = {
        "supplier_name": "EDF Entreprises",
        "total_incl_tax": amount,
        "issue_date": "2026-11-03",
        "currency": "EUR",
        **fields,
    }
    document = await add_document(stage.acc, world, name=name, amount=amount, fields=read)
    return await publish_document(stage.acc, workspace_id=world.workspace.id, document_id=document)


async def _open(stage: Stage, world: World, document_id: int, actor: Actor | None = None) -> Shown:
    async with stage.acc.db.transaction() as session:
        return await stage.flows.start(
            session=session,
            key=KEY,
            name="review",
            actor=actor or marie(world),
            args={"document_id": document_id},
        )


async def _press(stage: Stage, world: World, shown: Shown, option: str) -> Shown | None:
    async with stage.acc.db.transaction() as session:
        return await stage.flows.advance(
            session=session,
            key=KEY,
            actor=marie(world),
            user_input={"option": option},
            nonce=shown.nonce,
        )


async def _after_commit(shown: Shown) -> None:
    for work in shown.later:
        await work()


def _options(shown: Shown) -> list[tuple[str, Text]]:
    assert isinstance(shown.step, Choice), shown.step
    return [(o.id, o.label) for o in shown.step.options]


def _code(name: str, code: str) -> Text:
    return Text("flows.review.option.code", {"name": name, "code": code})


async def _document(stage: Stage, document_id: int) -> Document:
    async with stage.acc.db.read() as session:
        document = await session.get(Document, document_id)
    assert document is not None
    return document


async def _rule_row(stage: Stage) -> Rule:
    async with stage.acc.db.read() as session:
        (rule,) = (await session.exec(select(Rule))).all()
    return rule


async def _told(stage: Stage) -> list[tuple[str, Any]]:
    async with stage.acc.db.read() as session:
        rows = (await session.exec(select(Notification).order_by(col(Notification.id)))).all()
    return [(n.kind, n.payload.get("reason") or n.payload.get("state")) for n in rows]


async def test_a_bill_without_vat_lines_asks_for_a_tax_code_and_goes_with_it(
    stage: Stage, world: World
) -> None:
    await _rule(stage, world, None)
    held = await _publish(stage, world, NO_VAT_LINES, name="edf-1.pdf", amount="120.00")
    assert (held.state, held.reason) == ("needs_review", "tax_code_missing")
    assert stage.quickbooks.bills == {}

    shown = await _open(stage, world, held.document_id)
    # One question: which of QuickBooks' purchase codes (never its sales-only one).
    assert isinstance(shown.step, Choice)
    assert shown.step.step_id == "tax_code_one"
    assert shown.step.prompt.key == "flows.review.tax_code_one"
    assert shown.step.prompt.params["supplier"] == "EDF Entreprises"
    assert _options(shown) == [
        ("c0", _code("TVA 20%", "4")),
        ("c1", _code("TVA 5.5%", "5")),
        ("later", Text("flows.review.option.later", {})),
    ]

    done = await _press(stage, world, shown, "c0")
    assert done is not None
    assert isinstance(done.step, Done)
    assert done.step.result == Text("flows.review.publishing", {"filename": "edf-1.pdf"})
    assert stage.quickbooks.bills == {}  # nothing is sent inside the answer's transaction
    await _after_commit(done)

    (bill,) = stage.quickbooks.bills.values()
    assert {
        line["AccountBasedExpenseLineDetail"]["TaxCodeRef"]["value"] for line in bill.body["Line"]
    } == {"4"}
    assert (await _document(stage, held.document_id)).state == DocumentState.PUBLISHED
    assert (await _rule_row(stage)).tax_rate_code == "4"  # EDF's from now on
    assert (await _told(stage))[-1] == ("document_reviewed", "published")

    # EDF's next bill is not asked about.
    nxt = await _publish(
        stage,
        world,
        {**NO_VAT_LINES, "invoice_number": "F-2026-0503"},
        name="edf-2.pdf",
        amount="120.00",
    )
    assert nxt.state == "published"


async def test_a_rate_quickbooks_lacks_is_added_there_and_read_again(
    stage: Stage, world: World
) -> None:
    await _rule(stage, world, "4")
    held = await _publish(stage, world, AT_TEN, name="edf-10.pdf", amount="110.00")
    assert (held.state, held.reason) == ("needs_review", "vat_rate_unmapped")

    shown = await _open(stage, world, held.document_id)
    assert isinstance(shown.step, Choice)
    assert shown.step.prompt.key == "flows.review.tax_code"
    assert shown.step.prompt.params["rate"] == "10 %"
    assert [ident for ident, _ in _options(shown)] == ["c0", "c1", "reload", "later"]

    # The bookkeeper adds a purchase code at 10 % in QuickBooks, then Marie says so.
    stage.realm.entities["TaxRate"].append(
        {"Id": "11", "Name": "TVA 10% achats", "RateValue": 10, "Active": True}
    )
    stage.realm.entities["TaxCode"].append(
        {
            "Id": "12",
            "Name": "TVA 10%",
            "Active": True,
            "PurchaseTaxRateList": {
                "TaxRateDetail": [
                    {"TaxRateRef": {"value": "11"}, "TaxTypeApplicable": "TaxOnAmount"}
                ]
            },
        }
    )
    done = await _press(stage, world, shown, "reload")
    assert done is not None
    assert isinstance(done.step, Done)
    assert done.step.result.key == "flows.review.reloading"
    await _after_commit(done)

    (bill,) = stage.quickbooks.bills.values()
    codes = {
        line["AccountBasedExpenseLineDetail"]["TaxCodeRef"]["value"] for line in bill.body["Line"]
    }
    assert codes == {"12"}
    assert (await _document(stage, held.document_id)).state == DocumentState.PUBLISHED


async def test_a_code_chosen_for_a_rate_is_kept_for_the_supplier_at_that_rate(
    stage: Stage, world: World
) -> None:
    await _rule(stage, world, "4")
    held = await _publish(stage, world, AT_TEN, name="edf-10.pdf", amount="110.00")
    shown = await _open(stage, world, held.document_id)
    done = await _press(stage, world, shown, "c1")  # "TVA 5.5% (5)": her books, her call
    assert done is not None
    await _after_commit(done)

    rule = await _rule_row(stage)
    assert rule.tax_codes == {"10": "5"}
    assert rule.tax_rate_code == "4"  # the rule's own code is untouched
    nxt = await _publish(
        stage,
        world,
        {**AT_TEN, "invoice_number": "F-2026-0504"},
        name="edf-11.pdf",
        amount="110.00",
    )
    assert nxt.state == "published"
    assert len(stage.quickbooks.bills) == 2
    for bill in stage.quickbooks.bills.values():
        (line,) = bill.body["Line"]
        assert line["AccountBasedExpenseLineDetail"]["TaxCodeRef"] == {"value": "5"}


async def test_a_forged_or_stale_press_is_refused_with_a_clear_error(
    stage: Stage, world: World, db: Database
) -> None:
    await _rule(stage, world, "4")
    held = await _publish(stage, world, AT_TEN, name="edf-10.pdf", amount="110.00")
    shown = await _open(stage, world, held.document_id)

    # An option the step never showed (a forged button): the question again, with why.
    forged = await _press(stage, world, shown, "c9")
    assert forged is not None
    assert isinstance(forged.step, Choice)
    assert forged.step.error == Text("flows.review.error.pick_or_type", {})
    # A button of the step shown before (its nonce is spent): nothing happens.
    assert await _press(stage, world, shown, "c0") is None

    # QuickBooks drops the 5.5 % code and the lists are read again before she presses it.
    stage.realm.entities["TaxCode"][1]["Active"] = False
    assert world.workspace.id is not None
    await refresh_lists(
        stage.acc, workspace_id=world.workspace.id, actor=world.owner.id, kind=ListKind.TAX_RATES
    )
    stale = await _press(stage, world, forged, "c1")
    assert stale is not None
    assert isinstance(stale.step, Choice)
    assert stale.step.error == Text("flows.review.error.code_gone", {})
    assert _options(stale)[0] == ("c0", _code("TVA 20%", "4"))
    assert [ident for ident, _ in _options(stale)] == ["c0", "reload", "later"]
    assert stage.quickbooks.bills == {}
    assert (await _rule_row(stage)).tax_codes is None

    # A plain member is not asked: choosing a code changes the supplier's rule.
    member = await join(db, world, role=Role.MEMBER, telegram_user_id=2002)
    refused = await _open(
        stage,
        world,
        held.document_id,
        Actor(telegram_user_id=2002, member=member, workspace_id=world.workspace.id),
    )
    assert isinstance(refused.step, Abort)
    assert refused.step.reason == Text("permissions.manage_rules", {})


async def test_multicurrency_turned_on_then_try_again_posts_the_bill(
    stage: Stage, world: World
) -> None:
    stage.realm.home_currency = "GBP"
    await _rule(stage, world, "4")
    # The setup is read at connect, when the realm kept euros: the next refresh reads it.
    async with stage.acc.db.read() as session:
        (integration,) = (await session.exec(select(Integration))).all()
    assert integration.id is not None
    await refresh_link(stage.acc, integration_id=integration.id, only_if_due=False)

    held = await _publish(
        stage,
        world,
        {
            **AT_TEN,
            "vat_lines": [{"rate": "20", "base": "100.00", "amount": "20.00"}],
            "total_tax": "20.00",
        },
        name="edf-eur.pdf",
        amount="120.00",
    )
    assert (held.state, held.reason) == ("needs_review", "currency_not_enabled")
    shown = await _open(stage, world, held.document_id)
    assert isinstance(shown.step, Choice)
    assert shown.step.step_id == "currency_enabled"
    assert shown.step.prompt.params["currency"] == "EUR"
    assert [ident for ident, _ in _options(shown)] == ["retry", "later"]

    # Pressed before it is on: still refused, and she is told so.
    done = await _press(stage, world, shown, "retry")
    assert done is not None
    assert isinstance(done.step, Done)
    assert done.step.result.key == "flows.review.rechecking"
    await _after_commit(done)
    assert stage.quickbooks.bills == {}
    assert (await _told(stage))[-1] == ("document_reviewed", "currency_not_enabled")

    stage.realm.multicurrency = True
    shown = await _open(stage, world, held.document_id)
    done = await _press(stage, world, shown, "retry")
    assert done is not None
    await _after_commit(done)
    (bill,) = stage.quickbooks.bills.values()
    assert bill.body["CurrencyRef"] == {"value": "EUR"}
    assert (await _document(stage, held.document_id)).state == DocumentState.PUBLISHED
    assert (await _told(stage))[-1] == ("document_reviewed", "published")
