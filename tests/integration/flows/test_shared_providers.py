"""Issue #19: chat actions share the process's provider registry. The bakery is linked to
Xero (its stand-in on loopback); the owner publishes from the chat twice. Both actions go
through the same Xero client, whose limiter counts the company's calls as Xero counts
them: one minute window for the company, not a fresh one per action (which let a busy
chat run past Xero's 60 calls a minute into 429s)."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select

from core.accounting.providers.xero import XeroProvider
from core.accounting.registry import ProviderRegistry
from core.db import Database
from core.flows.accounting import accounting
from core.flows.flow import Actor
from core.flows.manager import Flows
from core.flows.publish import Publish
from core.flows.steps import Choice, Done
from core.models import Document, DocumentState
from core.services.authorisations import complete_callback, connect
from core.services.rules import set_rule
from core.storage import LocalDocumentStore
from core.vault import Vault
from tests.conftest import make_settings
from tests.integration.accounting.conftest import add_document
from tests.integration.accounting_http import CALLBACK, consent
from tests.integration.conftest import World
from tests.standins import running, xero
from tests.standins.xero import bakery as xero_bakery
from tests.standins.xero_state import MINUTE_LIMIT

KEY = "tg:1:1001"


async def _publish_in_the_chat(flows: Flows, db: Database, world: World) -> None:
    """/publish, then Publish: two presses of one chat action, its work run after commit."""
    owner = Actor(world.owner.telegram_user_id, world.owner, world.workspace.id)
    async with db.transaction() as session:
        shown = await flows.start(session=session, key=KEY, name="publish", actor=owner)
    assert isinstance(shown.step, Choice)
    async with db.transaction() as session:
        sent = await flows.advance(
            session=session,
            key=KEY,
            actor=owner,
            user_input={"option": "publish"},
            nonce=shown.nonce,
        )
    assert sent is not None
    assert isinstance(sent.step, Done)
    for work in sent.later:
        await work()


async def test_two_publishes_from_the_chat_share_one_xero_client_and_one_minute_window(
    db: Database, world: World, vault: Vault, store: LocalDocumentStore, tmp_path: Path
) -> None:
    assert world.workspace.id is not None
    tenant = xero_bakery().tenant_id
    app = xero.create_app(tenants=[xero_bakery()])
    async with running(app) as url:
        settings = make_settings(
            tmp_path / "var",
            public_url=CALLBACK.removesuffix("/oauth/callback"),
            xero_client_id=xero.CLIENT_ID,
            xero_client_secret=xero.CLIENT_SECRET,
            xero_authorize_url=f"{url}/identity/connect/authorize",
            xero_token_url=f"{url}/connect/token",
            xero_revoke_url=f"{url}/connect/revocation",
            xero_api_url=url,
        )
        providers = ProviderRegistry(settings)  # the process's one, as the runtime builds it
        services = {
            "db": db,
            "settings": settings,
            "vault": vault,
            "store": store,
            "providers": providers,
        }
        flows = Flows({"publish": Publish}, services)
        try:
            acc = accounting(services)
            started = await connect(
                acc, workspace_id=world.workspace.id, actor=world.owner.id, provider_name="xero"
            )
            assert started.authorization_url is not None
            await complete_callback(acc, params=await consent(started.authorization_url))
            async with db.transaction() as session:
                await set_rule(
                    session=session,
                    workspace_id=world.workspace.id,
                    party_name="EDF Entreprises",
                    account_code="445",
                    tax_rate_code="INPUT2",
                )
            provider = providers.get("xero")
            assert isinstance(provider, XeroProvider)
            limiter = provider.api.limiter(tenant)
            before, _day = await limiter.counted()

            for name in ("edf-2026-10.pdf", "edf-2026-11.pdf"):  # two chat actions
                await add_document(acc, world, name=name)
                await _publish_in_the_chat(flows, db, world)

            standin = app[xero.STANDIN]
            assert sorted(n for bill in standin.bills.values() for n in bill.attachments) == [
                "edf-2026-10.pdf",
                "edf-2026-11.pdf",
            ]
            async with db.read() as session:
                states = (await session.exec(select(Document.state))).all()
            assert states == [DocumentState.PUBLISHED] * 2
            # Both actions' calls were counted by the one limiter of the company, in the
            # same minute window Xero counted them in.
            counted_by_xero = MINUTE_LIMIT - standin.minute[tenant].remaining(standin.clock.now())
            minute, _day = await limiter.counted()
            assert minute == counted_by_xero
            assert minute - before >= 4  # each publish: at least the bill and its file
            assert providers.get("xero") is provider
        finally:
            await providers.aclose()
