"""A mail saved from Outlook and attached to another (.msg): the invoices it carries reach
the inbox, as an assistant forwarding "the supplier's mail" to the bookkeeper expects."""

from __future__ import annotations

from email.message import EmailMessage

from core.models import DocumentSource, InboundState
from tests.integration.smtp.conftest import Gateway
from tests.outlook_files import outlook_message

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


def _forwarded_as_msg(to: str, msg: bytes, filename: str) -> bytes:
    message = EmailMessage()
    message["From"] = "assistante@boulangerie.example"
    message["To"] = to
    message["Subject"] = "TR: Votre facture EDF"
    message.set_content("Voir le mail joint.")
    message.add_attachment(msg, "application", "vnd.ms-outlook", filename=filename)
    return message.as_bytes()


async def test_the_invoices_inside_an_attached_outlook_mail_reach_the_inbox(
    gateway: Gateway,
) -> None:
    saved = outlook_message(
        [("Facture EDF 2026-11.pdf", PDF + b"% edf")],
        inner=("Avoir EDF 2026-10.pdf", PDF + b"% avoir"),
    )
    raw = _forwarded_as_msg(gateway.address, saved, "Votre facture EDF.msg")
    assert await gateway.send(raw) == {}
    await gateway.worker.drain()

    documents = await gateway.documents()
    assert sorted(d.filename for d in documents) == [
        "Avoir EDF 2026-10.pdf",
        "Facture EDF 2026-11.pdf",
    ]
    assert all(d.source == DocumentSource.EMAIL for d in documents)
    [message] = await gateway.inbound()
    assert message.state == InboundState.DELIVERED


async def test_an_outlook_mail_with_no_file_is_kept_with_its_reason(gateway: Gateway) -> None:
    raw = _forwarded_as_msg(gateway.address, outlook_message([]), "Re réunion.msg")
    assert await gateway.send(raw) == {}
    await gateway.worker.drain()

    assert await gateway.documents() == []
    [message] = await gateway.inbound()
    assert message.state == InboundState.NO_DOCUMENT
