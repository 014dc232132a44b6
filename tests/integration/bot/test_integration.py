"""`/integration` in the chat: an owner links the bakery's Beancount ledger, reloads the
lists, is told when the link expires and reconnects from the alert, and disconnects keeping
the rules; every conversation can be cancelled halfway; a plain member is refused; a press
forged across workspaces does nothing."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import select

from bot.app import build_bot
from bot.flow_callbacks import IntegrationAction, SoftwarePick
from bot.notifier import Notifier
from bot.notify_pacing import Pace
from core.accounting.registry import ProviderRegistry
from core.config import Settings
from core.models import Conversation, Integration, IntegrationState, Role, Rule, Workspace
from core.services.accounting import Accounting
from core.services.authorisations import connect
from core.services.integrations import expire_integration
from core.services.rules import set_rule
from courier.sandbox.chat import BotMessage, TelegramUser
from tests.conftest import make_settings
from tests.integration.accounting.conftest import LEDGER
from tests.integration.bot.conftest import TOKEN, Harness


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    """The bakery's ledger, in its folder under the ledger root (the harness's data dir)."""
    path = tmp_path / "var" / "ledgers" / "boulangerie" / "main.beancount"
    path.parent.mkdir(parents=True)
    path.write_text(LEDGER, encoding="utf-8")
    return path


@pytest.fixture
async def acc(harness: Harness, tmp_path: Path) -> AsyncIterator[Accounting]:
    providers = ProviderRegistry(Settings(_env_file=None, data_dir=tmp_path / "acc"))
    yield Accounting(
        db=harness.db,
        vault=harness.vault,
        store=harness.store,
        providers=providers,
        callback_url="http://127.0.0.1:8780/oauth/callback",
    )
    await providers.aclose()


async def toast(person: TelegramUser) -> str:
    """The next answer to a press that says something (silent answers are skipped)."""
    while True:
        answer = await person.wait_for_answer()
        if answer.text:
            return answer.text


async def _integration(harness: Harness, workspace: Workspace) -> Integration | None:
    async with harness.db.read() as session:
        query = select(Integration).where(Integration.workspace_id == workspace.id)
        return (await session.exec(query.order_by(Integration.id.desc()))).first()  # type: ignore[union-attr]


async def _ask_for_a_ledger(marie: TelegramUser) -> BotMessage:
    await marie.say("/integration")
    offer = await marie.wait_for_reply()
    assert "No accounting software is linked yet" in offer.text
    assert offer.labels[:4] == ["Beancount", "Xero", "QuickBooks Online", "Pennylane"]
    await marie.press("Beancount", message=offer)
    assert "You chose Beancount" in (await marie.wait_for_edit()).text
    ask = await marie.wait_for_reply()
    assert "Which ledger?" in ask.text
    return ask


async def _link_from_the_chat(marie: TelegramUser, ledger: Path) -> None:
    """The ledger picked from the list of the workspace's folder."""
    ask = await _ask_for_a_ledger(marie)
    await marie.press(ledger.name, message=ask)
    assert "Checking the ledger" in (await marie.wait_for_reply()).text


async def test_an_owner_links_the_ledger_reloads_it_and_disconnects_keeping_the_rules(
    harness: Harness, ledger: Path, tmp_path: Path
) -> None:
    workspace, code = await harness.workspace("Boulangerie")
    marie = await harness.member("Marie", code)

    # A name that is no ledger of the folder is refused; nothing is linked.
    ask = await _ask_for_a_ledger(marie)
    assert ask.labels == ["main.beancount", "New ledger", "Cancel"]
    await marie.say("nowhere")
    refused = await marie.wait_for_reply()
    assert "There is no ledger nowhere.beancount" in refused.text
    assert await _integration(harness, workspace) is None
    await marie.say("/cancel")
    await marie.wait_for_reply()

    await _link_from_the_chat(marie, ledger)
    linked = await marie.wait_for_reply()
    assert "Linked to Beancount." in linked.text
    assert "working" in linked.text
    assert "• Accounts: 6" in linked.text
    assert linked.labels == [
        "Reconnect",
        "Refresh all data",
        "Reload one list",
        "Change software",
        "Disconnect",
        "Supplier rules",
    ]
    integration = await _integration(harness, workspace)
    assert integration is not None
    assert integration.state == IntegrationState.ACTIVE

    # The ledger gains an account: a refresh finds it, and says so when done.
    with ledger.open("a", encoding="utf-8") as handle:
        handle.write("\n2026-02-01 open Expenses:Rent EUR\n")
    await marie.press("Refresh all data", message=linked)
    assert "Reloading" in (await marie.wait_for_reply()).text
    refreshed = await marie.wait_for_reply()
    assert "Data reloaded:" in refreshed.text
    assert "• Accounts: 7" in refreshed.text

    await marie.press("Reload one list", message=linked)
    which = await marie.wait_for_reply()
    assert "Which list" in which.text
    await marie.press("Tax rates", message=which)
    assert "Reloading" in (await marie.wait_for_reply()).text
    one = await marie.wait_for_reply()
    assert "• Tax rates: 1" in one.text
    assert "Accounts" not in one.text

    assert workspace.id is not None
    async with harness.db.transaction() as session:
        await set_rule(
            session=session,
            workspace_id=workspace.id,
            party_name="EDF Entreprises",
            account_code="Expenses:Energy",
        )
    await marie.press("Disconnect", message=linked)
    confirm = await marie.wait_for_reply()
    assert "Disconnect Beancount?" in confirm.text
    await marie.press("Disconnect, keep the rules", message=confirm)
    assert "Disconnecting" in (await marie.wait_for_edit()).text
    assert "The rules are kept" in (await marie.wait_for_reply()).text
    integration = await _integration(harness, workspace)
    assert integration is not None
    assert integration.state == IntegrationState.DISCONNECTED
    async with harness.db.read() as session:
        rules = (await session.exec(select(Rule))).all()
    assert [r.party_name for r in rules] == ["EDF Entreprises"]

    # The status message's buttons are stale now: they say so and do nothing.
    await marie.press("Refresh all data", message=linked)
    assert await toast(marie) == "This action has expired."
    await marie.say("/integration")
    assert "No accounting software is linked yet" in (await marie.wait_for_reply()).text


async def test_the_expiry_alert_leads_to_reconnect(
    harness: Harness, ledger: Path, acc: Accounting, tmp_path: Path
) -> None:
    workspace, code = await harness.workspace("Boulangerie")
    marie = await harness.member("Marie", code)
    assert workspace.id is not None
    await connect(
        acc, workspace_id=workspace.id, actor=None, provider_name="beancount", secret=str(ledger)
    )
    integration = await _integration(harness, workspace)
    assert integration is not None
    async with harness.db.transaction() as session:
        row = await session.get(Integration, integration.id)
        assert row is not None
        await expire_integration(session=session, integration=row, reason="invalid_grant")

    bot = build_bot(
        make_settings(tmp_path / "n", telegram_token=TOKEN, telegram_api_url=harness.api.url)
    )
    try:
        await Notifier(bot=bot, db=harness.db, pace=Pace(chat_interval=0.0)).deliver_due()
    finally:
        await bot.session.close()
    alert = await marie.wait_for_reply()
    assert "has expired" in alert.text
    assert alert.labels == ["Reconnect"]
    await marie.press("Reconnect", message=alert)
    assert "Reconnecting Beancount" in (await marie.wait_for_reply()).text
    back = await marie.wait_for_reply()
    assert "Reconnected to Beancount" in back.text
    assert "working" in back.text
    integration = await _integration(harness, workspace)
    assert integration is not None
    assert integration.state == IntegrationState.ACTIVE


async def test_each_conversation_can_be_cancelled_halfway(
    harness: Harness, ledger: Path, acc: Accounting
) -> None:
    workspace, code = await harness.workspace("Boulangerie")
    marie = await harness.member("Marie", code)

    await marie.say("/integration")
    await marie.press("Beancount", message=await marie.wait_for_reply())
    await marie.wait_for_edit()
    await marie.wait_for_reply()
    await marie.say("/cancel")
    assert "Cancelled" in (await marie.wait_for_reply()).text
    await marie.say(str(ledger))  # no longer taken for a ledger
    assert "Linked" not in (await marie.wait_for_reply()).text
    assert await _integration(harness, workspace) is None

    await marie.say("/integration")
    await marie.press("Pennylane", message=await marie.wait_for_reply())
    await marie.wait_for_edit()
    assert "company token" in (await marie.wait_for_reply()).text
    await marie.say("/cancel")
    assert "Cancelled" in (await marie.wait_for_reply()).text

    assert workspace.id is not None
    await connect(
        acc, workspace_id=workspace.id, actor=None, provider_name="beancount", secret=str(ledger)
    )
    await marie.say("/integration")
    status = await marie.wait_for_reply()
    await marie.press("Disconnect", message=status)
    confirm = await marie.wait_for_reply()
    await marie.press("Cancel", message=confirm)
    assert "Cancelled" in (await marie.wait_for_edit()).text
    await marie.press("Change software", message=status)
    choose = await marie.wait_for_reply()
    assert "Which software do you move to?" in choose.text
    await marie.press("Cancel", message=choose)
    assert "Cancelled" in (await marie.wait_for_edit()).text
    integration = await _integration(harness, workspace)
    assert integration is not None
    assert (integration.provider, integration.state) == ("beancount", IntegrationState.ACTIVE)


async def test_a_member_is_refused_and_forged_presses_do_nothing(
    harness: Harness, ledger: Path, acc: Accounting, tmp_path: Path
) -> None:
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
    bakery_link = await _integration(harness, bakery)
    assert bakery_link is not None
    assert bakery_link.id is not None

    await paul.say("/integration")
    assert "Only the workspace's owners and admins" in (await paul.wait_for_reply()).text

    # Marie's own status message, and a press Paul's client forges with its button data.
    await marie.say("/integration")
    status = await marie.wait_for_reply()
    await paul.say("/inbox")
    on = await paul.wait_for_reply()
    harness.forge_press(paul, IntegrationAction(do="refresh", id=bakery_link.id).pack(), on)
    assert (await toast(paul)).startswith("Only the workspace's owners")

    # Zoe, owner of another workspace, forges presses naming the bakery's link.
    await zoe.say("/integration")
    hers = await zoe.wait_for_reply()
    for data in (
        IntegrationAction(do="off", id=bakery_link.id, arg="drop").pack(),
        IntegrationAction(do="reconnect", id=bakery_link.id).pack(),
        SoftwarePick(name="xero", change=bakery_link.id).pack(),
    ):
        harness.forge_press(zoe, data, hers)
        assert await toast(zoe) == "This action has expired."
    link = await _integration(harness, bakery)
    assert link is not None
    assert link.state == IntegrationState.ACTIVE
    assert "Disconnect" in status.labels


@pytest.fixture
def pennylane_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pennylane's API address points at a loopback port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("COURIER_PENNYLANE_API_URL", f"http://127.0.0.1:{port}/api/external/v2")


async def test_the_pennylane_token_is_deleted_at_once_and_never_kept(
    pennylane_closed: None, harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    workspace, code = await harness.workspace("Boulangerie")
    marie = await harness.member("Marie", code)
    await marie.say("/integration")
    await marie.press("Pennylane", message=await marie.wait_for_reply())
    await marie.wait_for_edit()
    await marie.wait_for_reply()
    token = "pl-company-token-7f3a9c"
    secret = await marie.say(token)
    await marie.wait_for_deletion(secret)
    assert "deleted your message with the token" in (await marie.wait_for_reply()).text
    told = await marie.wait_for_reply()
    assert "pennylane" in told.text.lower()  # refused: no link, whatever the reason
    assert await _integration(harness, workspace) is None
    assert all(token not in said.text for said in marie.messages)
    assert token not in caplog.text
    async with harness.db.read() as session:  # nor in the conversation's stored data
        stored = (await session.exec(select(Conversation))).all()
    assert all(token not in str(row.data) for row in stored)


async def test_changing_software_shows_the_rule_transfer_before_applying_it(
    harness: Harness, ledger: Path, tmp_path: Path
) -> None:
    workspace, code = await harness.workspace("Boulangerie")
    marie = await harness.member("Marie", code)
    await _link_from_the_chat(marie, ledger)
    status = await marie.wait_for_reply()
    assert workspace.id is not None
    async with harness.db.transaction() as session:
        for supplier, account in (
            ("EDF Entreprises", "Expenses:Energy"),
            ("Orange", "Expenses:Telecom"),
        ):
            await set_rule(
                session=session,
                workspace_id=workspace.id,
                party_name=supplier,
                account_code=account,
            )
    # The new books have no telecom account.
    other = ledger.parent / "new.beancount"
    other.write_text(LEDGER.replace("2026-01-01 open Expenses:Telecom           EUR\n", ""))

    await marie.press("Change software", message=status)
    choose = await marie.wait_for_reply()
    await marie.press("Beancount", message=choose)
    await marie.wait_for_edit()
    await marie.wait_for_reply()
    await marie.say("new.beancount")  # typed, rather than pressed
    await marie.wait_for_reply()  # checking
    assert "Linked to Beancount." in (await marie.wait_for_reply()).text
    preview = await marie.wait_for_reply()
    assert "1 of 2 map to the new software" in preview.text
    assert "• Orange: account Telecom (Expenses:Telecom)" in preview.text
    assert preview.labels == ["Transfer the rules", "Leave the rules as they are"]
    async with harness.db.read() as session:  # only shown so far: not transferred yet
        rules = (await session.exec(select(Rule))).all()
    assert all(r.flagged != "transfer_unmapped" for r in rules)

    await marie.press("Transfer the rules", message=preview)
    done = await marie.wait_for_edit()
    assert "Rules transferred: 1 of 2 mapped." in done.text
    async with harness.db.read() as session:
        rules = (await session.exec(select(Rule))).all()
    assert {r.party_name: r.flagged for r in rules} == {
        "EDF Entreprises": None,
        "Orange": "transfer_unmapped",
    }
    integration = await _integration(harness, workspace)
    assert integration is not None
    assert integration.company_id == str(other)


async def test_the_oauth_callback_brings_the_owner_back_to_a_confirmation(
    harness: Harness, ledger: Path, acc: Accounting, tmp_path: Path
) -> None:
    workspace, code = await harness.workspace("Boulangerie")
    marie = await harness.member("Marie", code)
    garage, other = await harness.workspace("Garage")
    zoe = await harness.member("Zoe", other)
    assert workspace.id is not None
    await connect(
        acc, workspace_id=workspace.id, actor=None, provider_name="beancount", secret=str(ledger)
    )
    integration = await _integration(harness, workspace)
    assert integration is not None

    # As courier/oauth_callback.py redirects: https://t.me/<bot>?start=integration_<id>
    await marie.say(f"/start integration_{integration.id}")
    back = await marie.wait_for_reply()
    assert back.text.startswith("Linked to Beancount.")
    assert "working" in back.text
    assert "Disconnect" in back.labels

    await zoe.say(f"/start integration_{integration.id}")
    assert (await zoe.wait_for_reply()).text == "This action has expired."
    await zoe.say("/start integration_nonsense")
    assert (await zoe.wait_for_reply()).text == "This action has expired."
    assert garage.id is not None
