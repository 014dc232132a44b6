"""Files sent to the bot land in the purchase inbox; `/inbox` lists, opens and archives."""

from __future__ import annotations

from sqlmodel import select

from core.models import Document, DocumentSource, DocumentState
from tests.integration.bot.conftest import Harness, press
from tests.integration.sandbox.conftest import png

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


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
    assert "1. facture-42.pdf – chat, supplier unknown" in listing.text
    assert listing.labels == ["Open 1", "Archive 1"]
    await press(marie, "Open 1", message=listing)
    sent = await marie.wait_for_reply()
    assert sent.document is not None
    assert sent.document.data == PDF
    assert await press(marie, "Archive 1", message=listing) == ""
    assert "archived" in (await marie.wait_for_reply()).text
    assert await press(marie, "Archive 1", message=listing) == "This action has expired."
    [document] = await _documents(harness)
    assert document.state == DocumentState.ARCHIVED
