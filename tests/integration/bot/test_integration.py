"""`/integration` in the chat: an owner links the bakery's Beancount ledger, reloads the
lists, is told when the link expires and reconnects from the alert, and disconnects keeping
the rules; a ledger that fails its check is asked for again; only the software this
installation set up is offered; every conversation can be cancelled halfway; a plain
member is refused; a press forged across workspaces does nothing.

The conversation is core's flow (core/flows/integration.py); these stories check that
the chat renders it and routes to it."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import select

from bot.app import build_bot
from bot.flow_callbacks import IntegrationAction
from bot.i18n import Texts
from bot.notifier import Notifier
from bot.notify_pacing import Pace
from core.accounting.registry import ProviderRegistry
from core.config import Settings
from core.models import (
    FlowState,
    Integration,
    IntegrationState,
    Locale,
    Role,
    Rule,
    Workspace,
)
from core.services.accounting import Accounting
from core.services.authorisations import connect
from core.services.integrations import expire_integration
from core.services.rules import set_rule
from courier.sandbox.chat import BotMessage, TelegramUser
from tests.conftest import make_settings
from tests.integration.accounting.conftest import LEDGER
from tests.integration.bot.conftest import TOKEN, Harness

EN = Texts("en")
MENU = ["Reconnect", "Refresh all data", "Reload one list", "Change software", "Disconnect"]
#: A ledger Beancount refuses: it books to an account it never opened.
BROKEN = LEDGER + (
    '\n2026-02-01 * "Moulin Bio" "Seigle"\n'
    "  Expenses:Nowhere  10 EUR\n"
    "  Assets:Bank:Checking  -10 EUR\n"
)


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


async def verdict(person: TelegramUser) -> BotMessage:
    """The bot's answer past its "Checking…"/"Reloading…" while the software is asked."""
    while True:
        reply = await person.wait_for_reply()
        if not reply.text.endswith("…"):
            return reply


async def _ask_for_a_ledger(marie: TelegramUser) -> BotMessage:
    await marie.say("/integration")
    offer = await marie.wait_for_reply()
    assert EN("flows.integration.software") in offer.text
    await marie.press("Beancount", message=offer)
    await marie.wait_for_edit()  # the choice's buttons go: it was answered
    ask = await marie.wait_for_reply()
    assert EN("flows.integration.ledger") in ask.text
    return ask


async def _link_from_the_chat(marie: TelegramUser, ledger: Path) -> BotMessage:
    """The ledger picked from the list of the workspace's folder; the status that follows."""
    ask = await _ask_for_a_ledger(marie)
    await marie.press(ledger.name, message=ask)
    checking = await marie.wait_for_reply()
    assert checking.text == EN("flows.integration.checking", software="Beancount")
    return await marie.wait_for_reply()


async def test_an_owner_links_the_ledger_reloads_it_and_disconnects_keeping_the_rules(
    harness: Harness, ledger: Path, tmp_path: Path
) -> None:
    workspace, code = await harness.workspace("Boulangerie")
    marie = await harness.member("Marie", code)

    linked = await _link_from_the_chat(marie, ledger)
    assert linked.text.startswith(EN("flows.integration.linked", software="Beancount"))
    assert "working" in linked.text
    assert "Accounts: 6" in linked.text
    assert linked.labels == MENU
    integration = await _integration(harness, workspace)
    assert integration is not None
    assert integration.state == IntegrationState.ACTIVE

    # The ledger gains an account: a refresh finds it, and says so when done.
    with ledger.open("a", encoding="utf-8") as handle:
        handle.write("\n2026-02-01 open Expenses:Rent EUR\n")
    await marie.press("Refresh all data", message=linked)
    assert (await marie.wait_for_reply()).text == EN(
        "flows.integration.refreshing", software="Beancount"
    )
    refreshed = await marie.wait_for_reply()
    assert refreshed.text.startswith(EN("flows.integration.refreshed"))
    assert "Accounts: 7" in refreshed.text

    await marie.press("Reload one list", message=refreshed)
    which = await marie.wait_for_reply()
    assert which.labels == ["Accounts", "Suppliers", "Tax rates", "Cancel"]
    await marie.press("Tax rates", message=which)
    one = await verdict(marie)
    assert one.text.startswith(EN("flows.integration.reloaded.tax_rates", count=1))

    assert workspace.id is not None
    async with harness.db.transaction() as session:
        await set_rule(
            session=session,
            workspace_id=workspace.id,
            party_name="EDF Entreprises",
            account_code="Expenses:Energy",
        )
    await marie.press("Disconnect", message=one)
    confirm = await marie.wait_for_reply()
    assert confirm.text == EN("flows.integration.disconnect", software="Beancount")
    await marie.press("Disconnect, keep the rules", message=confirm)
    assert (await marie.wait_for_reply()).text == EN(
        "flows.integration.disconnecting", software="Beancount"
    )
    assert (await marie.wait_for_reply()).text == EN(
        "flows.integration.disconnected_kept", software="Beancount"
    )
    integration = await _integration(harness, workspace)
    assert integration is not None
    assert integration.state == IntegrationState.DISCONNECTED
    async with harness.db.read() as session:
        rules = (await session.exec(select(Rule))).all()
    assert [r.party_name for r in rules] == ["EDF Entreprises"]

    # An earlier menu's button (its message lost it when pressed; a client that kept it)
    # is stale now: it says so and does nothing.
    stale = linked.button("Refresh all data").callback_data
    assert stale is not None
    harness.forge_press(marie, stale, linked)
    assert await toast(marie) == "This action has expired."
    await marie.say("/integration")
    assert EN("flows.integration.software") in (await marie.wait_for_reply()).text


async def test_a_corrected_ledger_sent_after_a_refused_one_is_linked(
    harness: Harness, ledger: Path
) -> None:
    """Finding 7: a wrong ledger ended /integration, and the corrected one sent next got
    "I did not understand". Now the ledger step shows the error and waits."""
    workspace, code = await harness.workspace("Boulangerie")
    marie = await harness.member("Marie", code)
    (ledger.parent / "broken.beancount").write_text(BROKEN, encoding="utf-8")

    await _ask_for_a_ledger(marie)
    await marie.say("broken")
    refused = await verdict(marie)
    assert refused.text.startswith("⚠️ The ledger broken.beancount cannot be used")
    assert EN("flows.integration.ledger") in refused.text  # asked again, with its buttons
    assert refused.labels == ["broken.beancount", "main.beancount", "New ledger", "Cancel"]
    assert await _integration(harness, workspace) is None

    # A file sent that will not load either: refused the same way, and not kept.
    await marie.upload(BROKEN.encode(), filename="dupont.beancount")
    assert "cannot be used" in (await verdict(marie)).text
    assert not (ledger.parent / "dupont.beancount").exists()

    # A path, as the finding typed it: no command, the step says why it takes names only.
    await marie.say("/home/marie/compta/main.beancount")
    path = await verdict(marie)
    assert path.text.startswith("⚠️ “/home/marie/compta/main.beancount” is not a ledger name")
    assert EN("flows.integration.ledger") in path.text

    await marie.say("main")  # the corrected name, sent next
    linked = await verdict(marie)
    assert linked.text.startswith(EN("flows.integration.linked", software="Beancount"))
    assert EN("common.unknown") not in [m.text for m in marie.messages]
    integration = await _integration(harness, workspace)
    assert integration is not None
    assert integration.state == IntegrationState.ACTIVE


async def test_only_the_software_set_up_here_is_offered_in_plain_words(
    harness: Harness,
) -> None:
    """Finding 16: Xero was offered unconfigured, then answered "La configuration n'est pas
    valide (COURIER_XERO_CLIENT_ID)". Now the offer comes from the providers' metadata."""
    _, code = await harness.workspace("Boulangerie", locale=Locale.FR)
    marie = await harness.member("Marie", code, language_code="fr")
    await marie.say("/integration")
    offer = await marie.wait_for_reply()
    assert offer.labels == ["Beancount", "Pennylane", "Annuler"]
    french = Texts("fr")
    assert french("flows.integration.unavailable", names="Xero, QuickBooks Online") in offer.text
    assert "COURIER_" not in offer.text


@pytest.mark.parametrize(
    "harness_settings", [{"xero_client_id": "courier-app", "xero_client_secret": "s3cret"}]
)
async def test_xero_set_up_by_the_operator_is_offered_with_its_address(
    harness: Harness,
) -> None:
    _, code = await harness.workspace("Boulangerie")
    marie = await harness.member("Marie", code)
    await marie.say("/integration")
    offer = await marie.wait_for_reply()
    assert offer.labels == ["Beancount", "Xero", "Pennylane", "Cancel"]
    await marie.press("Xero", message=offer)
    sent = await verdict(marie)
    assert sent.text.startswith("Open this address to let Courier use Xero")
    assert "client_id=courier-app" in sent.text
    assert "s3cret" not in sent.text


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
    assert (await marie.wait_for_reply()).text == EN(
        "flows.integration.checking", software="Beancount"
    )
    back = await marie.wait_for_reply()
    assert back.text.startswith(EN("flows.integration.reconnected", software="Beancount"))
    assert "working" in back.text
    assert back.labels == MENU
    integration = await _integration(harness, workspace)
    assert integration is not None
    assert integration.state == IntegrationState.ACTIVE


async def test_each_conversation_can_be_cancelled_halfway(
    harness: Harness, ledger: Path, acc: Accounting
) -> None:
    workspace, code = await harness.workspace("Boulangerie")
    marie = await harness.member("Marie", code)

    await _ask_for_a_ledger(marie)
    await marie.say("/cancel")
    assert "Cancelled" in (await marie.wait_for_reply()).text
    await marie.say(ledger.name)  # no longer taken for a ledger
    assert (
        EN("flows.integration.linked", software="Beancount")
        not in (await marie.wait_for_reply()).text
    )
    assert await _integration(harness, workspace) is None

    await marie.say("/integration")
    await marie.press("Pennylane", message=await marie.wait_for_reply())
    await marie.wait_for_edit()
    ask = await marie.wait_for_reply()
    assert ask.text == EN("flows.integration.token", software="Pennylane")
    await marie.press("Cancel", message=ask)
    assert (await marie.wait_for_reply()).text == EN("flows.integration.abort.cancelled")

    assert workspace.id is not None
    await connect(
        acc, workspace_id=workspace.id, actor=None, provider_name="beancount", secret=str(ledger)
    )
    await marie.say("/integration")
    status = await marie.wait_for_reply()
    await marie.press("Disconnect", message=status)
    confirm = await marie.wait_for_reply()
    await marie.press("Cancel", message=confirm)
    assert (await marie.wait_for_reply()).text == EN("flows.integration.abort.cancelled")
    await marie.say("/integration")
    status = await marie.wait_for_reply()
    await marie.press("Change software", message=status)
    choose = await marie.wait_for_reply()
    assert EN("flows.integration.change", software="Beancount") in choose.text
    await marie.say("/cancel")
    assert "Cancelled" in (await marie.wait_for_reply()).text
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
    refused = EN("permissions.manage_integration")

    await paul.say("/integration")
    assert (await paul.wait_for_reply()).text == refused

    # Marie's own menu, and presses Paul's client forges: an alert's Reconnect, and her
    # menu's own Disconnect (its data carries her step's nonce).
    await marie.say("/integration")
    status = await marie.wait_for_reply()
    await paul.say("/inbox")
    on = await paul.wait_for_reply()
    harness.forge_press(paul, IntegrationAction(do="reconnect", id=bakery_link.id).pack(), on)
    assert (await paul.wait_for_reply()).text == refused
    disconnect = status.button("Disconnect").callback_data
    assert disconnect is not None
    harness.forge_press(paul, disconnect, on)
    assert await toast(paul) == "This action has expired."

    # Zoe, owner of another workspace, forges presses naming the bakery's link.
    await zoe.say("/integration")
    hers = await zoe.wait_for_reply()
    harness.forge_press(zoe, IntegrationAction(do="reconnect", id=bakery_link.id).pack(), hers)
    assert (await zoe.wait_for_reply()).text == EN("flows.integration.abort.gone")
    harness.forge_press(zoe, disconnect, hers)
    assert await toast(zoe) == "This action has expired."
    # The old status message's verbs no longer exist: they expire.
    harness.forge_press(zoe, f"ia:off:{bakery_link.id}:drop", hers)
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
    told = await verdict(marie)
    assert "Pennylane" in told.text  # refused: no link, whatever the reason
    assert told.text.endswith(EN("flows.integration.token", software="Pennylane"))  # again
    assert await _integration(harness, workspace) is None
    assert all(token not in said.text for said in marie.messages)
    assert token not in caplog.text
    async with harness.db.read() as session:  # nor in the conversation's stored data
        stored = (await session.exec(select(FlowState))).all()
    assert stored
    assert all(token not in f"{row.data}{row.shown}" for row in stored)


async def test_changing_software_shows_the_rule_transfer_before_applying_it(
    harness: Harness, ledger: Path, tmp_path: Path
) -> None:
    workspace, code = await harness.workspace("Boulangerie")
    marie = await harness.member("Marie", code)
    status = await _link_from_the_chat(marie, ledger)
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
    await marie.wait_for_reply()  # which ledger?
    await marie.say("new.beancount")  # typed, rather than pressed
    preview = await verdict(marie)
    assert preview.text.startswith(EN("flows.integration.linked", software="Beancount"))
    assert "1 of 2 map to the new software" in preview.text
    assert "• Orange: Telecom (Expenses:Telecom)" in preview.text
    assert preview.labels == ["Transfer the rules", "Leave the rules as they are"]
    async with harness.db.read() as session:  # only shown so far: not transferred yet
        rules = (await session.exec(select(Rule))).all()
    assert all(r.flagged != "transfer_unmapped" for r in rules)

    await marie.press("Transfer the rules", message=preview)
    done = await marie.wait_for_reply()
    assert done.text.startswith("Rules transferred: 1 of 2 mapped.")
    assert done.labels == MENU
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
    assert back.text.startswith(EN("flows.integration.linked", software="Beancount"))
    assert "working" in back.text
    assert back.labels == MENU

    gone = EN("flows.integration.abort.gone")
    await zoe.say(f"/start integration_{integration.id}")
    assert (await zoe.wait_for_reply()).text == gone
    await zoe.say("/start integration_nonsense")
    assert (await zoe.wait_for_reply()).text == gone
    assert garage.id is not None
