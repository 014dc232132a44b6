"""/integration as a flow, step by step, without the chat: what is offered comes from the
providers' own metadata, a ledger that fails its check asks for another one, reconnect
and disconnect go through the same flow, and only owners and admins get in."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlmodel import select

from core.accounting.registry import ProviderRegistry
from core.config import Settings
from core.db import Database
from core.flows.flow import Actor
from core.flows.integration import IntegrationFlow
from core.flows.manager import INTERNAL, Flows, Shown
from core.flows.steps import Abort, Choice, Done, Form, Progress, Text
from core.models import Integration, IntegrationState, Role, Rule
from core.storage import LocalDocumentStore
from core.vault import Vault
from tests.conftest import make_settings
from tests.integration.accounting.conftest import LEDGER
from tests.integration.conftest import World, join

KEY = "tg:1001:1001"
#: A ledger Beancount refuses: it books to an account it never opened.
BROKEN = LEDGER + (
    '\n2026-02-01 * "Moulin Bio" "Seigle"\n'
    "  Expenses:Nowhere  10 EUR\n"
    "  Assets:Bank:Checking  -10 EUR\n"
)


class Chat:
    """One person's conversation with the flow, as an interface drives it."""

    def __init__(self, db: Database, flows: Flows, actor: Actor) -> None:
        self.db, self.flows, self.actor = db, flows, actor
        self.shown: Shown | None = None

    async def start(self, args: Mapping[str, Any] | None = None) -> Shown:
        async with self.db.transaction() as session:
            self.shown = await self.flows.start(
                session=session, key=KEY, name="integration", actor=self.actor, args=args
            )
        return await self._after()

    async def send(self, **user_input: Any) -> Shown:
        nonce = self.shown.nonce if self.shown and "option" in user_input else None
        async with self.db.transaction() as session:
            shown = await self.flows.advance(
                session=session, key=KEY, actor=self.actor, user_input=user_input, nonce=nonce
            )
        assert shown is not None, "the flow no longer waits"
        self.shown = shown
        return await self._after()

    async def press(self, option: str) -> Shown:
        return await self.send(option=option)

    async def _after(self) -> Shown:
        """The work a step started, run as the interface runs it after the commit; the step
        its outcome led to is what the person sees last."""
        assert self.shown is not None
        while self.shown.later:
            follow = [await work() for work in self.shown.later]
            shown = next((f for f in follow if f is not None), None)
            if shown is None:
                break
            self.shown = shown
        return self.shown


def workspace_id(world: World) -> int:
    assert world.workspace.id is not None
    return world.workspace.id


def step_id(shown: Shown) -> str:
    step = shown.step
    assert isinstance(step, Form | Choice | Progress), step
    return step.step_id


def options(shown: Shown) -> list[str]:
    return [o.id for o in getattr(shown.step, "options", ())]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "var")


@pytest.fixture
async def providers(settings: Settings) -> AsyncIterator[ProviderRegistry]:
    """The process's one provider registry, as courier/runtime.py builds and closes it."""
    registry = ProviderRegistry(settings)
    yield registry
    await registry.aclose()


def services(
    db: Database,
    settings: Settings,
    vault: Vault,
    store: LocalDocumentStore,
    providers: ProviderRegistry,
) -> dict[str, Any]:
    return {"db": db, "settings": settings, "vault": vault, "store": store, "providers": providers}


@pytest.fixture
def folder(settings: Settings, world: World) -> Path:
    path = settings.ledgers_dir / world.workspace.slug
    path.mkdir(parents=True)
    (path / "main.beancount").write_text(LEDGER, encoding="utf-8")
    (path / "broken.beancount").write_text(BROKEN, encoding="utf-8")
    return path


@pytest.fixture
def chat(
    db: Database,
    world: World,
    settings: Settings,
    vault: Vault,
    store: LocalDocumentStore,
    providers: ProviderRegistry,
) -> Chat:
    flows = Flows({"integration": IntegrationFlow}, services(db, settings, vault, store, providers))
    owner = Actor(
        telegram_user_id=world.owner.telegram_user_id,
        member=world.owner,
        workspace_id=world.workspace.id,
    )
    return Chat(db, flows, owner)


async def live(db: Database, world: World) -> Integration | None:
    async with db.read() as session:
        query = select(Integration).where(
            Integration.workspace_id == world.workspace.id,
            Integration.state != IntegrationState.DISCONNECTED,
        )
        return (await session.exec(query)).first()


async def test_only_the_software_this_installation_set_up_is_offered(
    chat: Chat, folder: Path
) -> None:
    offer = await chat.start()
    assert step_id(offer) == "software"
    # Xero and QuickBooks need an app registered by whoever runs Courier: not offered,
    # and said so in words an owner can act on.
    assert options(offer) == ["beancount", "pennylane", "cancel"]
    assert offer.step.note == Text(
        "flows.integration.unavailable", {"names": "Xero, QuickBooks Online"}
    )
    # A press naming one anyway (an old client, a forged one) meets the same words,
    # never the setting's name.
    refused = await chat.press("xero")
    assert step_id(refused) == "software"
    assert getattr(refused.step, "error", None) == Text(
        "flows.integration.error.not_configured", {"software": "Xero"}
    )


async def test_xero_set_up_by_the_operator_is_offered_and_gives_its_address(
    db: Database, world: World, vault: Vault, store: LocalDocumentStore, tmp_path: Path
) -> None:
    settings = make_settings(
        tmp_path / "var", xero_client_id="courier-app", xero_client_secret="s3cret"
    )
    providers = ProviderRegistry(settings)
    flows = Flows({"integration": IntegrationFlow}, services(db, settings, vault, store, providers))
    chat = Chat(db, flows, Actor(1001, world.owner, world.workspace.id))
    offer = await chat.start()
    assert options(offer) == ["beancount", "xero", "pennylane", "cancel"]
    assert offer.step.note == Text("flows.integration.unavailable", {"names": "QuickBooks Online"})
    sent = await chat.press("xero")
    assert isinstance(sent.step, Done)
    assert sent.step.result.key == "flows.integration.authorise"
    assert str(sent.step.result.params["url"]).startswith(settings.xero_authorize_url)
    assert "courier-app" in str(sent.step.result.params["url"])
    await providers.aclose()


async def test_pennylane_with_a_partner_app_gives_its_consent_address_not_a_token_form(
    db: Database, world: World, vault: Vault, store: LocalDocumentStore, tmp_path: Path
) -> None:
    settings = make_settings(
        tmp_path / "var", pennylane_client_id="courier-partner", pennylane_client_secret="s3cret"
    )
    providers = ProviderRegistry(settings)
    flows = Flows({"integration": IntegrationFlow}, services(db, settings, vault, store, providers))
    chat = Chat(db, flows, Actor(1001, world.owner, world.workspace.id))
    await chat.start()
    sent = await chat.press("pennylane")
    assert isinstance(sent.step, Done)  # no token asked: the person signs in at Pennylane
    assert sent.step.result.key == "flows.integration.authorise"
    url = str(sent.step.result.params["url"])
    assert url.startswith("https://app.pennylane.com/oauth/authorize?")
    assert "courier-partner" in url
    assert "s3cret" not in url
    await providers.aclose()


async def test_an_expired_xero_link_whose_app_was_removed_says_whom_to_ask(
    db: Database, world: World, chat: Chat
) -> None:
    async with db.transaction() as session:
        session.add(
            Integration(
                workspace_id=workspace_id(world),
                provider="xero",
                state=IntegrationState.EXPIRED,
                company_id="tenant-1",
                company_name="Dupont SARL",
            )
        )
    link = await live(db, world)
    assert link is not None
    shown = await chat.start({"reconnect": link.id})
    assert step_id(shown) == "status"
    assert getattr(shown.step, "error", None) == Text(
        "flows.integration.error.not_configured", {"software": "Xero"}
    )


async def test_a_ledger_that_fails_its_check_asks_for_another_one(
    db: Database, world: World, chat: Chat, folder: Path
) -> None:
    await chat.start()
    ask = await chat.press("beancount")
    assert step_id(ask) == "ledger"
    assert options(ask) == ["l0", "l1", "new", "cancel"]  # broken, main

    # A name that is no ledger: asked again, at once.
    missing = await chat.send(ledger="nowhere")
    assert step_id(missing) == "ledger"
    assert getattr(missing.step, "error", None) == Text(
        "errors.ledger_not_found", {"name": "nowhere.beancount"}
    )
    # A ledger that does not load: checked after the commit, then asked again.
    refused = await chat.send(ledger="broken")
    assert step_id(refused) == "ledger"
    error = getattr(refused.step, "error", None)
    assert error is not None
    assert error.key == "errors.ledger_invalid"
    assert await live(db, world) is None
    # The corrected name, sent next, is taken.
    linked = await chat.send(ledger="main")
    assert step_id(linked) == "status"
    assert linked.step.note == Text("flows.integration.linked", {"software": "Beancount"})
    assert options(linked) == ["reconnect", "refresh", "lists", "change", "disconnect"]
    link = await live(db, world)
    assert link is not None
    assert link.state == IntegrationState.ACTIVE
    assert link.company_id == str((folder / "main.beancount").resolve())


async def test_a_ledger_sent_that_fails_is_taken_back_so_the_fixed_one_can_follow(
    db: Database, world: World, chat: Chat, folder: Path
) -> None:
    await chat.start()
    await chat.press("beancount")
    refused = await chat.send(file={"name": "dupont.beancount", "content": BROKEN.encode()})
    assert step_id(refused) == "ledger"
    assert getattr(refused.step, "error", None) is not None
    assert not (folder / "dupont.beancount").exists()
    too_big = await chat.send(file={"refused": "too_big"})
    assert getattr(too_big.step, "error", None) == Text("flows.integration.error.too_big", {})
    linked = await chat.send(file={"name": "dupont.beancount", "content": LEDGER.encode()})
    assert step_id(linked) == "status"
    assert (folder / "dupont.beancount").read_text(encoding="utf-8") == LEDGER


async def test_an_empty_token_is_asked_again_and_a_token_is_never_kept(
    db: Database, world: World, chat: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    await chat.start()
    ask = await chat.press("pennylane")
    assert step_id(ask) == "token"
    assert isinstance(ask.step, Form)
    assert ask.step.fields[0].kind == "secret"
    empty = await chat.send(token=SecretStr("   "))
    assert getattr(empty.step, "error", None) == Text("flows.integration.error.token_empty", {})


async def test_the_menu_reloads_reconnects_and_disconnects_keeping_the_rules(
    db: Database, world: World, chat: Chat, folder: Path
) -> None:
    await chat.start()
    await chat.press("beancount")
    await chat.press("l1")  # main.beancount
    with (folder / "main.beancount").open("a", encoding="utf-8") as handle:
        handle.write("\n2026-02-01 open Expenses:Rent EUR\n")

    refreshed = await chat.press("refresh")
    assert step_id(refreshed) == "status"
    assert refreshed.step.note == Text("flows.integration.refreshed", {})
    assert isinstance(refreshed.step, Choice)
    assert refreshed.step.prompt.params["accounts"] == 7

    which = await chat.press("lists")
    assert options(which) == ["accounts", "suppliers", "tax_rates", "cancel"]
    one = await chat.press("tax_rates")
    assert one.step.note == Text("flows.integration.reloaded.tax_rates", {"count": 1})

    back = await chat.press("reconnect")
    assert step_id(back) == "status"
    assert back.step.note == Text("flows.integration.reconnected", {"software": "Beancount"})

    async with db.transaction() as session:
        session.add(Rule(workspace_id=workspace_id(world), party_key="edf", party_name="EDF"))
    confirm = await chat.press("disconnect")
    assert options(confirm) == ["keep", "drop", "cancel"]
    done = await chat.press("keep")
    assert isinstance(done.step, Done)
    assert done.step.result == Text(
        "flows.integration.disconnected_kept", {"software": "Beancount"}
    )
    assert await live(db, world) is None
    async with db.read() as session:
        assert len((await session.exec(select(Rule))).all()) == 1


async def test_a_reconnect_button_of_another_workspace_leads_nowhere(
    db: Database, world: World, chat: Chat, folder: Path
) -> None:
    shown = await chat.start({"reconnect": 4242})
    assert isinstance(shown.step, Abort)
    assert shown.step.reason == Text("flows.integration.abort.gone", {})
    shown = await chat.start({"linked": "nonsense"})
    assert isinstance(shown.step, Abort)


async def test_only_owners_and_admins_get_in(db: Database, world: World, chat: Chat) -> None:
    member = await join(db, world, role=Role.MEMBER, telegram_user_id=2002)
    chat.actor = Actor(telegram_user_id=2002, member=member, workspace_id=world.workspace.id)
    shown = await chat.start()
    assert isinstance(shown.step, Abort)
    assert shown.step.reason.key == "permissions.manage_integration"


async def test_work_that_fails_unplanned_ends_the_flow_instead_of_leaving_it_waiting(
    db: Database,
    world: World,
    settings: Settings,
    vault: Vault,
    store: LocalDocumentStore,
    folder: Path,
) -> None:
    def explode(_settings: Settings) -> Any:
        raise RuntimeError("a bug in a provider")

    broken = ProviderRegistry(settings)
    broken.register("beancount", explode)
    flows = Flows({"integration": IntegrationFlow}, services(db, settings, vault, store, broken))
    chat = Chat(db, flows, Actor(1001, world.owner, world.workspace.id))
    await chat.start()
    await chat.press("beancount")
    shown = await chat.send(ledger="main")
    assert isinstance(shown.step, Abort)
    assert shown.step.reason == INTERNAL
    async with db.read() as session:
        from core.models import FlowState

        assert await session.get(FlowState, KEY) is None


async def test_text_typed_at_the_menu_closes_it_rather_than_keep_later_messages(
    db: Database, world: World, chat: Chat, folder: Path
) -> None:
    await chat.start()
    await chat.press("beancount")
    menu = await chat.press("l1")
    assert step_id(menu) == "status"
    closed = await chat.send(text="493817")  # a code meant for a supplier, say
    assert isinstance(closed.step, Abort)
    assert closed.step.reason == Text("flows.integration.abort.closed", {})
    async with db.read() as session:
        from core.models import FlowState

        assert await session.get(FlowState, KEY) is None


async def test_a_change_of_software_previews_the_transfer_and_can_leave_the_rules(
    db: Database, world: World, chat: Chat, folder: Path
) -> None:
    await chat.start()
    await chat.press("beancount")
    await chat.press("l1")
    async with db.transaction() as session:
        session.add(
            Rule(
                workspace_id=workspace_id(world),
                party_key="orange",
                party_name="Orange",
                account_code="Expenses:Telecom",
            )
        )
    (folder / "new.beancount").write_text(
        LEDGER.replace("2026-01-01 open Expenses:Telecom           EUR\n", ""), encoding="utf-8"
    )
    choose = await chat.press("change")
    assert step_id(choose) == "software"
    assert isinstance(choose.step, Choice)
    assert choose.step.prompt == Text("flows.integration.change", {"software": "Beancount"})
    await chat.press("beancount")
    preview = await chat.send(ledger="new")
    assert step_id(preview) == "transfer"
    assert isinstance(preview.step, Choice)
    assert preview.step.prompt.key == "flows.integration.transfer_unmapped"
    assert preview.step.prompt.params["mapped"] == 0
    left = await chat.press("leave")
    assert left.step.note == Text("flows.integration.transfer_left", {})
    async with db.read() as session:
        rules = (await session.exec(select(Rule))).all()
    assert [r.flagged for r in rules] != ["transfer_unmapped"]  # shown, never applied
