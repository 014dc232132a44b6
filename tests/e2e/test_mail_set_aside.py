"""A mail's logo is set aside, the chat offers to keep it, and "Keep it" files it (issue #16).

The mail goes through the real worker; the notice reaches Marie through the Bot API
stand-in; Eve, in another workspace, forges the button and is refused.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from email.message import EmailMessage

import pytest
from aiogram import Bot
from sqlmodel import col, select

from bot.notifier import Notifier
from bot.notify_pacing import Pace
from core.models import Document, InboundChannel, InboundMessage, Workspace, set_aside_images
from core.storage import digest
from mail.worker import MailWorker
from tests.integration.bot.conftest import TOKEN, Harness, harness, harness_settings
from tests.integration.sandbox.conftest import client

__all__ = ["harness", "harness_settings"]

PDF = b"%PDF-1.7\n1 0 obj<</Type/Catalog>>endobj\ntrailer<<>>\n%%EOF\n"
LOGO = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + (120).to_bytes(4, "big") * 2 + b"\x08" * 40


@pytest.fixture
async def notifier(harness: Harness) -> AsyncIterator[Notifier]:
    bot: Bot = client(harness.api, TOKEN)
    yield Notifier(bot=bot, db=harness.db, pace=Pace())
    await bot.session.close()


def invoice_with_logo(to: str = "acme@in.example.com") -> bytes:
    """An invoice whose HTML shows its logo by cid: the logo is decoration, the PDF is not."""
    message = EmailMessage()
    message["From"] = "factures@plombier.example"
    message["To"] = to
    message["Subject"] = "Facture 42"
    message.set_content("Votre facture.")
    message.add_alternative('<p>Votre facture.</p><img src="cid:logo@plombier">', subtype="html")
    html = message.get_body(("html",))
    assert isinstance(html, EmailMessage)
    html.add_related(LOGO, "image", "png", cid="<logo@plombier>", filename="logo.png")
    message.add_attachment(PDF, "application", "pdf", filename="facture-42.pdf")
    return message.as_bytes()


async def receive(harness: Harness, workspace: Workspace, raw: bytes) -> int:
    """The mail as the gateway leaves it (stored, recorded), then read by the worker."""
    await harness.store.put(raw, sha256=digest(raw))
    async with harness.db.transaction() as session:
        row = InboundMessage(
            workspace_id=workspace.id,
            channel=InboundChannel.SMTP,
            recipient="acme@in.example.com",
            sha256=digest(raw),
            size=len(raw),
        )
        session.add(row)
        await session.flush()
        assert row.id is not None
        ident = row.id
    await MailWorker(db=harness.db, store=harness.store, vault=harness.vault).drain()
    return ident


async def filenames(harness: Harness) -> list[str]:
    async with harness.db.read() as session:
        found = await session.exec(select(Document).order_by(col(Document.id)))
        return [d.filename for d in found.all()]


async def test_the_logo_is_set_aside_offered_and_kept_and_a_forged_press_is_refused(
    harness: Harness, notifier: Notifier, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    acme, code = await harness.workspace("Acme")
    _bistro, other = await harness.workspace("Bistro")
    marie = await harness.member("Marie", code)
    eve = await harness.member("Eve", other)

    inbound_id = await receive(harness, acme, invoice_with_logo())
    assert await filenames(harness) == ["facture-42.pdf"]  # the logo is not filed
    async with harness.db.read() as session:
        row = await session.get(InboundMessage, inbound_id)
        assert row is not None
        [aside] = set_aside_images(row)
    assert (aside.filename, aside.size, aside.reason) == ("logo.png", len(LOGO), "shown_in_html")

    assert await notifier.deliver_due() == 1
    notice = await marie.wait_for_reply()
    assert notice.text.splitlines() == [
        "By email (“Facture 42”): 1 new in the inbox.",
        "1 image set aside as a logo: logo.png. Keep it?",
    ]
    assert notice.labels == ["Keep it"]

    # Eve replays the button's data from her own chat: refused, logged, nothing filed.
    await eve.say("/help")
    help_message = await eve.wait_for_reply()
    harness.forge_press(eve, f"ia:keep:{inbound_id}", help_message)
    assert (await eve.wait_for_answer()).text == "This action has expired."
    assert "refused a button press: inbound" in caplog.text
    assert await filenames(harness) == ["facture-42.pdf"]

    await marie.press("Keep it", message=notice)
    assert (await marie.wait_for_reply()).text == "Kept: 1 image of that email is now in the inbox."
    assert await filenames(harness) == ["facture-42.pdf", "logo.png"]
    async with harness.db.read() as session:
        logo = (await session.exec(select(Document).where(Document.filename == "logo.png"))).one()
    assert await harness.store.get(logo.sha256) == LOGO

    # A second press files nothing twice.
    await marie.press("Keep it", message=notice)
    await marie.wait_for_reply()
    assert await filenames(harness) == ["facture-42.pdf", "logo.png"]


async def test_keep_on_a_mail_that_set_nothing_aside_says_so(harness: Harness) -> None:
    acme, code = await harness.workspace("Acme")
    marie = await harness.member("Marie", code)
    message = EmailMessage()
    message["From"] = "factures@plombier.example"
    message["Subject"] = "Facture 43"
    message.set_content("Votre facture.")
    message.add_attachment(PDF, "application", "pdf", filename="facture-43.pdf")
    inbound_id = await receive(harness, acme, message.as_bytes())
    await marie.say("/help")
    help_message = await marie.wait_for_reply()
    harness.forge_press(marie, f"ia:keep:{inbound_id}", help_message)
    assert (await marie.wait_for_answer()).text == "That email has no image set aside any more."
    assert await filenames(harness) == ["facture-43.pdf"]
