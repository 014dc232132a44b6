"""Files sent to the bot: what Courier cannot read is refused at once, saying what it
reads (issue #14, finding 17); what it took in and then could not read is failed with its
reason, and the person who sent it is told why and what to do (finding 3); a bill the
books refuse is told to the owners with the software's reason and a Retry button, and
/inbox says so (finding 4)."""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import AsyncIterator, Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import select

from bot.app import build_bot
from bot.i18n import Texts
from bot.notifier import Notifier
from bot.notify_pacing import Pace
from bot.outcomes import why
from core.extraction.sandbox import shutdown_sandbox
from core.models import Document, DocumentSource, DocumentState, Notification, Role
from core.services.authorisations import connect
from core.services.documents import IncomingDocument, ingest_document
from core.services.outcome_notices import REFUSED, UNREADABLE
from core.services.publishing import on_document_ready
from core.services.reading import read_waiting_documents
from core.services.rules import set_rule
from core.sniff import accepted_names
from tests.conftest import make_settings
from tests.integration.accounting.conftest import LEDGER
from tests.integration.bot.conftest import TOKEN, Harness
from tests.unit.extraction.bad_inputs import pixel_bomb_png

EN = Texts("en")
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _docx() -> bytes:
    """What Word saves: a zip holding word/document.xml."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return out.getvalue()


@pytest.fixture(autouse=True)
def _fresh_sandbox() -> Iterator[None]:
    yield
    shutdown_sandbox()


@pytest.fixture
async def notifier(harness: Harness, tmp_path: Path) -> AsyncIterator[None]:
    """The notifier, delivering the outbox as `courier run` does beside the bot."""
    bot = build_bot(
        make_settings(tmp_path / "n", telegram_token=TOKEN, telegram_api_url=harness.api.url)
    )
    stop = asyncio.Event()
    delivering = asyncio.create_task(
        Notifier(bot=bot, db=harness.db, pace=Pace(chat_interval=0.0), idle_seconds=0.1).run(stop)
    )
    try:
        yield
    finally:
        stop.set()
        await delivering
        await bot.session.close()


async def _documents(harness: Harness) -> list[Document]:
    async with harness.db.read() as session:
        return list((await session.exec(select(Document))).all())


async def test_files_courier_does_not_read_are_refused_saying_what_it_reads(
    harness: Harness,
) -> None:
    _, code = await harness.workspace("Boulangerie")
    marie = await harness.member("Marie", code)
    for name, content in (("notes.txt", b"Farine: 42 EUR\n"), ("devis.docx", _docx())):
        await marie.upload(content, filename=name)
        refused = await marie.wait_for_reply()
        assert refused.text == EN("outcomes.file_refused", filename=name, formats=accepted_names())
    assert "PDF" in accepted_names()
    assert await _documents(harness) == []  # nothing taken in that would never be read


async def test_a_file_that_cannot_be_read_is_failed_and_its_sender_told_why(
    harness: Harness, notifier: None
) -> None:
    _, code = await harness.workspace("Boulangerie")
    marie = await harness.member("Marie", code)
    await marie.upload(pixel_bomb_png(), filename="scan.png")
    assert "scan.png" in (await marie.wait_for_reply()).text

    # The scheduler's reading tick gives up on it.
    assert await read_waiting_documents(db=harness.db, store=harness.store) == 0
    [document] = await _documents(harness)
    assert (document.state, document.state_reason) == (
        DocumentState.FAILED,
        "decompression_bomb",
    )
    told = await marie.wait_for_reply()
    assert told.text == EN(
        "outcomes.unreadable",
        filename="scan.png",
        why=EN("outcomes.why.decompression_bomb"),
        todo=EN("outcomes.todo.decompression_bomb"),
    )
    async with harness.db.read() as session:
        [notice] = (
            await session.exec(select(Notification).where(Notification.kind == UNREADABLE))
        ).all()
    assert notice.recipient_member_id == document.owner_member_id  # Marie, who sent it

    # /inbox says what happened, not "in the inbox".
    await marie.say("/inbox")
    listed = await marie.wait_for_reply()
    assert EN("outcomes.state_unreadable", why=why(EN, "decompression_bomb")) in listed.text
    assert EN("inbox.state_inbox") not in listed.text


async def test_a_bill_the_books_refuse_is_told_to_the_owners_with_its_reason_and_retry(
    harness: Harness, notifier: None, tmp_path: Path
) -> None:
    bakery, code = await harness.workspace("Boulangerie")
    marie = await harness.member("Marie", code)
    paul = await harness.member("Paul", await harness.invite(bakery, Role.MEMBER))
    assert bakery.id is not None
    ledger = tmp_path / "books" / "main.beancount"
    ledger.parent.mkdir()
    ledger.write_text(LEDGER, encoding="utf-8")
    acc = harness.accounting()
    await connect(
        acc, workspace_id=bakery.id, actor=None, provider_name="beancount", secret=str(ledger)
    )
    async with harness.db.transaction() as session:
        await set_rule(
            session=session,
            workspace_id=bakery.id,
            party_name="Moulin Bio",
            account_code="Expenses:Supplies",
            auto_publish=True,
            check_lists=True,
        )
        # Paul's invoice is dated before the ledger opened its accounts.
        added = await ingest_document(
            session=session,
            store=harness.store,
            incoming=IncomingDocument(
                workspace_id=bakery.id,
                source=DocumentSource.TELEGRAM,
                content=PDF,
                filename="moulin-2025-12.pdf",
                supplier_name="Moulin Bio",
                issue_date=date(2025, 12, 3),
                total_amount=Decimal("60.00"),
                currency="EUR",
            ),
        )
    assert added.document.id is not None
    ident = added.document.id
    # Auto-publish, as after an upload or a reading: nobody is in the chat to see it.
    outcome = await on_document_ready(acc, document_id=ident)
    assert outcome is not None
    assert outcome.state == "failed"
    assert "inactive account" in (outcome.detail or "").lower()

    told = await marie.wait_for_reply()  # the owner, not Paul
    assert told.text == EN(
        "outcomes.refused",
        filename="moulin-2025-12.pdf",
        supplier="Moulin Bio",
        detail=outcome.detail,
    )
    assert told.labels == [EN("outcomes.retry")]
    async with harness.db.read() as session:
        [notice] = (
            await session.exec(select(Notification).where(Notification.kind == REFUSED))
        ).all()
    assert notice.recipient_member_id is None  # the owners and admins
    assert paul.messages[-1].text != told.text

    # /inbox says "refused by your books", with Beancount's reason, never "unreadable".
    await marie.say("/inbox")
    listed = await marie.wait_for_reply()
    assert EN("outcomes.state_refused", detail=outcome.detail) in listed.text
    assert EN("inbox.state_failed") not in listed.text

    # Fixed in the ledger, then Retry: the bill is written, and the report says so.
    ledger.write_text(LEDGER.replace("2026-01-01 open", "2025-01-01 open"), encoding="utf-8")
    await marie.press(EN("outcomes.retry"), message=told)
    assert (await marie.wait_for_reply()).text == EN("flows.publish.retrying", count=1)
    assert (await marie.wait_for_reply()).text == EN("outcomes.report_written", count=1)
    [document] = await _documents(harness)
    assert document.state == DocumentState.PUBLISHED
