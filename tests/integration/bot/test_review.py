"""Review in the chat: the bakery's invoice arrives without its currency, Marie is told,
confirms the supplier with one press and types the currency (after a wrong try), and the
invoice goes to the ledger by itself; /cancel and "Later" stop a review and say what was
kept; an invoice from a supplier whose rule auto-publishes is published with nobody
asking; a press forged from another workspace does nothing."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlmodel import col, select

from bot.app import build_bot
from bot.flow_callbacks import ReviewAction
from bot.notifier import Notifier
from bot.notify_pacing import Pace
from core.accounting.registry import ProviderRegistry
from core.config import Settings
from core.extraction.sandbox import shutdown_sandbox
from core.models import Document, DocumentState, FlowState, Notification
from core.services.accounting import Accounting
from core.services.authorisations import connect
from core.services.reading import read_waiting_documents
from core.services.rules import set_rule
from courier.sandbox.chat import TelegramUser
from scheduler.accounting_jobs import AccountingJobs
from tests.conftest import make_settings
from tests.integration.accounting.conftest import LEDGER
from tests.integration.bot.conftest import TOKEN, Harness
from tests.integration.bot.test_integration import toast
from tests.unit.extraction.corpus import BAKERY, visible_lines
from tests.unit.extraction.pdf_builders import build_pdf

SUPPLIER = BAKERY.seller_name
NEXT_MONTH = dataclasses.replace(BAKERY, number="FA-2026-0043")


@pytest.fixture(autouse=True)
def _fresh_sandbox() -> Iterator[None]:
    yield
    shutdown_sandbox()


@pytest.fixture
async def books(harness: Harness, tmp_path: Path) -> AsyncIterator[tuple[Accounting, Path]]:
    """The accounting services over the bot's database, and the bakery's ledger."""
    ledger = tmp_path / "books" / "main.beancount"
    ledger.parent.mkdir()
    ledger.write_text(LEDGER, encoding="utf-8")
    providers = ProviderRegistry(Settings(_env_file=None, data_dir=tmp_path / "acc"))
    yield (
        Accounting(
            db=harness.db,
            vault=harness.vault,
            store=harness.store,
            providers=providers,
            callback_url="http://127.0.0.1:8780/oauth/callback",
        ),
        ledger,
    )
    await providers.aclose()


async def _bakery_with_books(
    harness: Harness, acc: Accounting, ledger: Path
) -> tuple[int, TelegramUser]:
    workspace, code = await harness.workspace("Boulangerie")
    marie = await harness.member("Marie", code)
    assert workspace.id is not None
    await connect(
        acc, workspace_id=workspace.id, actor=None, provider_name="beancount", secret=str(ledger)
    )
    async with harness.db.transaction() as session:
        await set_rule(
            session=session,
            workspace_id=workspace.id,
            party_name=SUPPLIER,
            account_code="Expenses:Supplies",
            auto_publish=True,
            check_lists=True,
        )
    return workspace.id, marie


async def _upload_and_read(
    harness: Harness, acc: Accounting, marie: TelegramUser, pdf: bytes
) -> Document:
    await marie.upload(pdf, filename="facture.pdf")
    assert "facture.pdf" in (await marie.wait_for_reply()).text
    # The scheduler's reading tick, with the hook the scheduler wires after it.
    read = await read_waiting_documents(
        db=harness.db, store=harness.store, on_filed=AccountingJobs(acc).document_ready
    )
    assert read == 1
    async with harness.db.read() as session:
        documents = (await session.exec(select(Document).order_by(col(Document.id)))).all()
    return documents[-1]


async def _notify(harness: Harness, tmp_path: Path) -> None:
    bot = build_bot(
        make_settings(tmp_path / "n", telegram_token=TOKEN, telegram_api_url=harness.api.url)
    )
    try:
        await Notifier(bot=bot, db=harness.db, pace=Pace(chat_interval=0.0)).deliver_due()
    finally:
        await bot.session.close()


async def _told_outcome(harness: Harness, document_id: int) -> None:
    """Wait for the publish that runs once the last answer committed to be told."""
    for _ in range(200):
        async with harness.db.read() as session:
            told = (
                await session.exec(
                    select(Notification).where(Notification.kind == "document_reviewed")
                )
            ).all()
        if any(n.payload.get("document_id") == document_id for n in told):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the outcome of publishing the reviewed document was never told")


async def _held_without_currency(
    harness: Harness, acc: Accounting, ledger: Path
) -> tuple[Document, TelegramUser]:
    _, marie = await _bakery_with_books(harness, acc, ledger)
    without_currency = [line.replace(" EUR", "") for line in visible_lines(BAKERY)]
    document = await _upload_and_read(harness, acc, marie, build_pdf(without_currency))
    assert (document.state, document.state_reason) == (
        DocumentState.NEEDS_REVIEW,
        "missing_currency",
    )
    return document, marie


async def test_a_review_answered_by_one_press_and_one_typed_value_then_published(
    harness: Harness, books: tuple[Accounting, Path], tmp_path: Path
) -> None:
    acc, ledger = books
    document, marie = await _held_without_currency(harness, acc, ledger)
    assert document.id is not None

    await marie.say("/inbox")
    listed = await marie.wait_for_reply()
    assert "Review 1" in listed.labels

    await _notify(harness, tmp_path)
    notice = await marie.wait_for_reply()
    assert notice.text == "I need you for facture.pdf: I do not know the currency"
    await marie.press("Review", message=notice)
    asked = await marie.wait_for_reply()
    assert SUPPLIER in asked.text
    assert "Why I ask: I do not know the currency." in asked.text
    assert "Who is the supplier?" in asked.text
    assert asked.labels == [f"{SUPPLIER} ✓", "Later", "Not an invoice: archive it"]

    await marie.press(f"{SUPPLIER} ✓", message=asked)
    currency = await marie.wait_for_reply()
    assert "In which currency?" in currency.text
    assert currency.labels == ["EUR", "USD", "GBP", "CHF", "Later"]

    # She types instead of pressing: a wrong try is told at the same question.
    await marie.say("euros")
    again = await marie.wait_for_reply()
    assert "That is not a currency code" in again.text
    assert "In which currency?" in again.text
    await marie.say("eur")
    assert "facture.pdf is complete" in (await marie.wait_for_reply()).text

    await _told_outcome(harness, document.id)
    await _notify(harness, tmp_path)
    assert (await marie.wait_for_reply()).text == "facture.pdf is published to your books."

    async with harness.db.read() as session:
        done = await session.get(Document, document.id)
    assert done is not None
    assert (done.state, done.currency) == (DocumentState.PUBLISHED, "EUR")
    assert done.fields["currency"]["source"] == "user"
    assert done.fields["supplier_name"]["source"] == "user"
    assert ledger.read_text(encoding="utf-8").count("courier_key:") == 1

    # The question's buttons are stale now.
    await marie.press("EUR", message=currency)
    assert await toast(marie) == "This action has expired."


async def test_cancel_stops_a_review_opened_from_the_inbox_and_says_what_was_kept(
    harness: Harness, books: tuple[Accounting, Path]
) -> None:
    acc, ledger = books
    document, marie = await _held_without_currency(harness, acc, ledger)

    await marie.say("/inbox")
    listed = await marie.wait_for_reply()
    await marie.press("Review 1", message=listed)
    asked = await marie.wait_for_reply()
    await marie.press(f"{SUPPLIER} ✓", message=asked)
    currency = await marie.wait_for_reply()
    assert "In which currency?" in currency.text

    # /cancel stops the review (it used to answer "nothing to cancel"), and says that the
    # supplier she gave is kept, rather than "nothing was changed".
    await marie.say("/cancel")
    stopped = (await marie.wait_for_reply()).text
    assert "Your answers so far are saved (answers: 1)" in stopped
    assert "Nothing was changed" not in stopped
    # The review's buttons no longer act.
    await marie.press("EUR", message=currency)
    assert await toast(marie) == "This action has expired."

    async with harness.db.read() as session:
        after = await session.get(Document, document.id)
        flows = (await session.exec(select(FlowState))).all()
    assert after is not None
    assert (after.state, after.currency) == (DocumentState.NEEDS_REVIEW, None)
    assert after.fields["supplier_name"]["source"] == "user"
    assert flows == []

    # Reopened, it goes on from what is left; "Later" says what is kept, truthfully.
    await marie.say("/inbox")
    listed = await marie.wait_for_reply()
    await marie.press("Review 1", message=listed)
    currency = await marie.wait_for_reply()
    assert "In which currency?" in currency.text
    await marie.press("Later", message=currency)
    later = (await marie.wait_for_reply()).text
    assert "Nothing was changed." in later
    assert "waits in /inbox" in later


async def test_a_supplier_with_an_auto_publish_rule_is_published_without_anyone_asking(
    harness: Harness, books: tuple[Accounting, Path]
) -> None:
    acc, ledger = books
    _, marie = await _bakery_with_books(harness, acc, ledger)
    # The first invoice makes the supplier known (by its VAT number, from then on).
    first = await _upload_and_read(harness, acc, marie, build_pdf(visible_lines(BAKERY)))
    assert first.state == DocumentState.INBOX
    assert "courier_key:" not in ledger.read_text(encoding="utf-8")

    document = await _upload_and_read(harness, acc, marie, build_pdf(visible_lines(NEXT_MONTH)))
    assert document.fields["_supplier"]["matched_by"] == "vat"
    assert document.state == DocumentState.PUBLISHED
    text = ledger.read_text(encoding="utf-8")
    assert text.startswith(LEDGER)
    assert text.count("courier_key:") == 1
    assert "Expenses:Supplies" in text.removeprefix(LEDGER)
    async with harness.db.read() as session:
        asked = (
            await session.exec(
                select(Notification).where(Notification.kind == "document_needs_review")
            )
        ).all()
    assert asked == []


async def test_a_review_press_forged_from_another_workspace_does_nothing(
    harness: Harness, books: tuple[Accounting, Path]
) -> None:
    acc, ledger = books
    _, marie = await _bakery_with_books(harness, acc, ledger)
    without_total = [line for line in visible_lines(BAKERY) if "TTC" not in line]
    document = await _upload_and_read(harness, acc, marie, build_pdf(without_total))
    assert document.state == DocumentState.NEEDS_REVIEW
    assert document.id is not None
    _, code = await harness.workspace("Garage")
    zoe = await harness.member("Zoe", code)
    await zoe.say("/help")
    on = await zoe.wait_for_reply()
    # A Review press naming Marie's document: core finds no such document in Zoe's
    # workspace, and the review stops before its first question.
    harness.forge_press(zoe, ReviewAction(id=document.id, c=-2).pack(), on)
    assert (await zoe.wait_for_reply()).text == "This no longer exists."
    # Presses of the old review's answers are no start at all.
    for data in (
        ReviewAction(id=document.id, f="supplier_name", c=0).pack(),
        ReviewAction(id=document.id, f="supplier_name", c=-1).pack(),
    ):
        harness.forge_press(zoe, data, on)
        assert await toast(zoe) == "This action has expired."
    async with harness.db.read() as session:
        after = await session.get(Document, document.id)
        flows = (await session.exec(select(FlowState))).all()
    assert after is not None
    assert (after.state, after.fields) == (document.state, document.fields)
    assert flows == []
