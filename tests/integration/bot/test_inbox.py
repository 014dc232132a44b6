"""Files sent to the bot land in the purchase inbox; `/inbox` lists the newest invoices
first, five a page with their supplier, amount and state, one button per document, and
filters; a document opened comes with what it is and Archive."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlmodel import select

from bot.i18n import Texts
from core.formats import format_date
from core.models import Document, DocumentSource, DocumentState, Workspace
from core.services.documents import IncomingDocument, ingest_document, move_document
from tests.integration.bot.conftest import Harness, press
from tests.integration.sandbox.conftest import png

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


EN = Texts("en")


async def _documents(harness: Harness) -> list[Document]:
    async with harness.db.read() as session:
        return list((await session.exec(select(Document))).all())


async def test_a_photo_is_in_the_inbox_before_the_bot_says_so(harness: Harness) -> None:
    _, code = await harness.workspace("Acme")
    marie = await harness.member("Marie", code)
    await marie.send_photo(png())
    saved = await marie.wait_for_reply()
    assert "Added to the inbox" in saved.text
    assert "Workspace: Acme" in saved.text
    [document] = await _documents(harness)  # committed before the answer
    assert document.source == DocumentSource.TELEGRAM
    assert document.content_type == "image/jpeg" or document.content_type.startswith("image/")
    assert await harness.store.exists(document.sha256)


async def test_the_same_file_twice_is_one_document(harness: Harness) -> None:
    _, code = await harness.workspace("Acme")
    marie = await harness.member("Marie", code)
    await marie.upload(PDF, filename="facture-42.pdf")
    assert "facture-42.pdf" in (await marie.wait_for_reply()).text
    await marie.upload(PDF, filename="copy.pdf")
    assert "already in the inbox (facture-42.pdf)" in (await marie.wait_for_reply()).text
    assert len(await _documents(harness)) == 1


async def test_a_file_that_is_no_document_is_refused_with_the_way_out(harness: Harness) -> None:
    _, code = await harness.workspace("Acme")
    marie = await harness.member("Marie", code)
    await marie.upload(b"MZ\x90\x00 not an invoice", filename="setup.exe")
    assert "PDF, XML, JPEG" in (await marie.wait_for_reply()).text  # what Courier reads
    assert await _documents(harness) == []


async def test_a_stranger_s_file_is_not_taken(harness: Harness) -> None:
    stranger = harness.user("Paul")
    await stranger.upload(PDF, filename="f.pdf")
    assert "invite code" in (await stranger.wait_for_reply()).text
    assert await _documents(harness) == []


async def test_inbox_lists_opens_and_archives_once(harness: Harness) -> None:
    _, code = await harness.workspace("Acme")
    marie = await harness.member("Marie", code)
    await marie.upload(PDF, filename="facture-42.pdf")
    await marie.wait_for_reply()
    await marie.say("/inbox")
    listing = await marie.wait_for_reply()
    assert "1. facture-42.pdf · — ·" in listing.text
    assert listing.text.endswith("· waiting to be read")
    assert listing.labels == ["Open 1", "To review", "Failed", "This month"]
    await press(marie, "Open 1", message=listing)
    sent = await marie.wait_for_reply()
    assert sent.document is not None
    assert sent.document.data == PDF
    assert "facture-42.pdf" in sent.text
    assert sent.labels == ["Archive"]
    assert await press(marie, "Archive", message=sent) == ""
    assert "archived" in (await marie.wait_for_reply()).text
    assert await press(marie, "Archive", message=sent) == "This action has expired."
    [document] = await _documents(harness)
    assert document.state == DocumentState.ARCHIVED
    # An archived document leaves the list.
    await marie.say("/inbox")
    assert "The inbox is empty" in (await marie.wait_for_reply()).text


async def _eight_invoices(harness: Harness, workspace: Workspace) -> list[Document]:
    """Eight invoices fetched at once, as a portal lists them: the newest first (so the
    first row written is the newest invoice). Two wait for review, one was refused by
    the books, one could not be read."""
    assert workspace.id is not None
    today = datetime.now(ZoneInfo("Europe/Paris")).date()
    issued = [today - timedelta(days=40 * index) for index in range(8)]
    now = datetime.now(UTC)
    async with harness.db.transaction() as session:
        documents = []
        for index, day in enumerate(issued):
            result = await ingest_document(
                session=session,
                store=harness.store,
                incoming=IncomingDocument(
                    workspace_id=workspace.id,
                    source=DocumentSource.CONNECTOR,
                    content=PDF + f"% invoice {index}\n".encode(),
                    filename=f"invoice-{index}.pdf",
                    supplier_name=f"Supplier {index}",
                    issue_date=day,
                    total_amount=Decimal(f"{100 + index}.50"),
                    currency="EUR",
                ),
                now=now,
            )
            document = result.document
            document.fields = {"_read": {"at": now.isoformat()}}
            if index in (1, 6):
                move_document(document, DocumentState.NEEDS_REVIEW, reason="totals_mismatch")
            if index == 2:
                move_document(document, DocumentState.FAILED, reason="publication_rejected")
            if index == 3:
                document.fields = {"_read": {"error": "unsupported_type"}}
            session.add(document)
            documents.append(document)
    return documents


async def test_inbox_pages_the_newest_invoices_first_with_supplier_and_amount(
    harness: Harness,
) -> None:
    workspace, code = await harness.workspace("Acme")
    marie = await harness.member("Marie", code)
    documents = await _eight_invoices(harness, workspace)

    await marie.say("/inbox")
    listing = await marie.wait_for_reply()
    lines = listing.text.splitlines()
    assert lines[1] == "Documents 1–5 of 8, newest first:"
    first = documents[0]
    # Amounts and dates as the person reads them (English here: "€100.50", "Mar 2, 2026").
    assert lines[2] == f"1. Supplier 0 · €100.50 · {_day(first)} · ready"
    assert lines[3].startswith("2. Supplier 1 · €101.50 ·")
    assert lines[3].endswith("· to review: totals do not add up")
    # Refused by the books, and unreadable, with why (here the reason Courier recorded).
    assert lines[4].endswith("· refused by your books: rejected")
    assert lines[5].endswith("· unreadable: " + EN("outcomes.why.unsupported_type"))
    assert lines[6].startswith("5. Supplier 4 ·")
    # One button per document at most, then the pages and the filters.
    assert listing.labels == [
        "Open 1",
        "Review 2",
        "Open 3",
        "Open 4",
        "Open 5",
        "Next ▶",
        "To review",
        "Failed",
        "This month",
    ]

    await press(marie, "Next ▶", message=listing)
    second = await marie.wait_for_edit()
    assert second.message_id == listing.message_id
    assert second.text.splitlines()[1] == "Documents 6–8 of 8, newest first:"
    assert second.text.splitlines()[2].startswith("6. Supplier 5 ·")
    assert second.labels[:4] == ["Open 6", "Review 7", "Open 8", "◀ Previous"]

    await press(marie, "To review", message=second)
    review = await marie.wait_for_edit()
    assert review.text.splitlines()[1] == "To review, 1–2 of 2, newest first:"
    assert review.labels == ["Review 1", "Review 2", "All", "Failed", "This month"]

    await press(marie, "Failed", message=review)
    failed = await marie.wait_for_edit()
    assert failed.text.splitlines()[1:] == [
        "Failed, 1–2 of 2, newest first:",
        f"1. Supplier 2 · €102.50 · {_day(documents[2])} · refused by your books: rejected",
        f"2. Supplier 3 · €103.50 · {_day(documents[3])} · unreadable: "
        + EN("outcomes.why.unsupported_type"),
    ]

    await press(marie, "This month", message=failed)
    month = await marie.wait_for_edit()
    assert "1. Supplier 0 ·" in month.text
    assert "Supplier 1 ·" not in month.text  # invoiced 40 days ago


def _day(document: Document) -> str:
    assert document.issue_date is not None
    return format_date(document.issue_date, locale="en")
