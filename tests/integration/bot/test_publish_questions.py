"""A publish that the books cannot take, set right in the chat through the Telegram
stand-in: EDF's invoice at 5.5 % meets a ledger with a VAT account at 20 % only. Marie is
told, presses Review and gets one question with the ledger's tax accounts as buttons; she
opens the 5.5 % account in the ledger and presses "I added it"; the ledger is read again,
the invoice is posted under the new account, and she is told. The question's buttons
are stale afterwards."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import select

from bot.app import build_bot
from bot.notifier import Notifier
from bot.notify_pacing import Pace
from core.models import Document, DocumentSource, DocumentState, Notification
from core.services.accounting import Accounting
from core.services.authorisations import connect
from core.services.documents import IncomingDocument, ingest_document
from core.services.publishing import publish_document
from core.services.rules import set_rule
from tests.conftest import make_settings
from tests.integration.accounting.conftest import LEDGER
from tests.integration.bot.conftest import TOKEN, Harness
from tests.integration.bot.test_integration import toast
from tests.standins import make_pdf

#: The account a bookkeeper opens for the 5.5 % rate.
REDUCED = """
2026-01-01 open Assets:VAT:Deductible55    EUR
  tax_rate: "5.5"
"""


@pytest.fixture
def books(harness: Harness, tmp_path: Path) -> tuple[Accounting, Path]:
    ledger = tmp_path / "books" / "main.beancount"
    ledger.parent.mkdir()
    ledger.write_text(LEDGER, encoding="utf-8")
    return harness.accounting(), ledger


async def _notify(harness: Harness, tmp_path: Path) -> None:
    bot = build_bot(
        make_settings(tmp_path / "n", telegram_token=TOKEN, telegram_api_url=harness.api.url)
    )
    try:
        await Notifier(bot=bot, db=harness.db, pace=Pace(chat_interval=0.0)).deliver_due()
    finally:
        await bot.session.close()


async def _told(harness: Harness, document_id: int) -> None:
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
    raise AssertionError("the outcome of the answer was never told")


async def test_a_rate_the_ledger_lacks_is_asked_added_and_published(
    harness: Harness, books: tuple[Accounting, Path], tmp_path: Path
) -> None:
    acc, ledger = books
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
            party_name="EDF Entreprises",
            account_code="Expenses:Energy",
            tax_rate_code="Assets:VAT:Deductible",
            check_lists=True,
        )
        filed = await ingest_document(
            session=session,
            store=acc.store,
            incoming=IncomingDocument(
                workspace_id=workspace.id,
                source=DocumentSource.UPLOAD,
                content=make_pdf("EDF Entreprises", "F-2026-0412"),
                filename="edf-0412.pdf",
                supplier_name="EDF Entreprises",
                issue_date=date(2026, 11, 3),
                total_amount=Decimal("105.50"),
                currency="EUR",
            ),
        )
        filed.document.fields = {
            "invoice_number": {"value": "F-2026-0412", "source": "test", "confidence": 1.0},
            "vat_lines": {
                "value": [{"rate": "5.5", "base": "100.00", "amount": "5.50"}],
                "source": "test",
                "confidence": 1.0,
            },
        }
        session.add(filed.document)
    document_id = filed.document.id
    assert document_id is not None
    held = await publish_document(acc, workspace_id=workspace.id, document_id=document_id)
    assert (held.state, held.reason) == ("needs_review", "vat_rate_unmapped")

    await _notify(harness, tmp_path)
    notice = await marie.wait_for_reply()
    assert "edf-0412.pdf" in notice.text
    await marie.press("Review", message=notice)
    asked = await marie.wait_for_reply()
    assert "has no tax code for its 5.5 % VAT" in asked.text
    assert "EDF Entreprises" in asked.text
    assert asked.labels == [
        "Assets:VAT:Deductible (20 %)",
        "I added it in the software",
        "Later",
    ]

    spent = asked.button("Assets:VAT:Deductible (20 %)").callback_data
    assert spent is not None
    with ledger.open("a", encoding="utf-8") as books_file:
        books_file.write(REDUCED)
    await marie.press("I added it in the software", message=asked)
    reply = await marie.wait_for_reply()
    assert "publish edf-0412.pdf" in reply.text

    await _told(harness, document_id)
    await _notify(harness, tmp_path)
    assert (await marie.wait_for_reply()).text == "edf-0412.pdf is published to your books."
    async with harness.db.read() as session:
        done = await session.get(Document, document_id)
    assert done is not None
    assert done.state == DocumentState.PUBLISHED
    written = ledger.read_text(encoding="utf-8")
    assert "Assets:VAT:Deductible55" in written.split(REDUCED)[-1]  # the bill uses it

    # The answered question lost its buttons; a press of one kept by a client is stale.
    harness.forge_press(marie, spent, asked)
    assert await toast(marie) == "This action has expired."
    assert written == ledger.read_text(encoding="utf-8")
