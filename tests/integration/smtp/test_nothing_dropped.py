"""Nothing a sender sends is dropped without a trace (issue #13, part 7).

What the parser does not read (past its part and depth limits) is noted on the inbound
message; hostile XML (XXE, billion laughs) is kept as a document with the reason it will
never be parsed. Each mail is sent over SMTP to the running gateway.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from core.extraction.sandbox import shutdown_sandbox
from core.models import DocumentState, InboundState
from core.services.reading import read_waiting_documents
from mail.pipeline import SKIPPED
from tests.integration.smtp.conftest import PDF, Gateway

LIMITS_NOTE = "more than 500 parts or 60 levels, rest skipped"
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2">&lol4;</Invoice>
"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE Invoice [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2">&secret;</Invoice>
"""


@pytest.fixture(autouse=True)
def _fresh_sandbox() -> Iterator[None]:
    yield
    shutdown_sandbox()


def _headers(to: str, content_type: str) -> bytes:
    return (
        f"From: factures@artisan-local.example\r\nTo: {to}\r\nSubject: Facture\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: {content_type}\r\n\r\n"
    ).encode()


def _pdf_part() -> bytes:
    return (
        b'Content-Type: application/pdf\r\nContent-Disposition: attachment; filename="f.pdf"\r\n'
        b"\r\n" + PDF
    )


def many_parts(to: str, count: int) -> bytes:
    """`count` parts, the invoice last: where a mailer that pads a mail would put it."""
    parts = [b"Content-Type: text/plain\r\n\r\nfiller\r\n"] * (count - 1) + [_pdf_part()]
    body = b"".join(b"--b\r\n" + part + b"\r\n" for part in parts) + b"--b--\r\n"
    return _headers(to, 'multipart/mixed; boundary="b"') + body


def deep_nesting(to: str, levels: int) -> bytes:
    """`levels` multiparts one inside the other, the invoice at the bottom."""
    body = _pdf_part()
    for level in range(levels):
        boundary = f"n{level}".encode()
        body = (
            b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n'
            b"--" + boundary + b"\r\n" + body + b"\r\n--" + boundary + b"--\r\n"
        )
    top = _headers(to, 'multipart/mixed; boundary="top"')
    return top + b"--top\r\n" + body + b"\r\n--top--\r\n"


def xml_mail(to: str, name: str, xml: bytes) -> bytes:
    return _headers(to, 'multipart/mixed; boundary="b"') + (
        b"--b\r\nContent-Type: text/plain\r\n\r\nVoici la facture.\r\n"
        b'--b\r\nContent-Type: application/xml\r\nContent-Disposition: attachment; filename="'
        + name.encode()
        + b'"\r\n\r\n'
        + xml
        + b"\r\n--b--\r\n"
    )


@pytest.mark.parametrize(
    "build",
    [lambda to: many_parts(to, 1000), lambda to: deep_nesting(to, 500)],
    ids=["parts", "depth"],
)
async def test_what_the_parser_skips_is_noted_on_the_message(
    gateway: Gateway, build: Callable[[str], bytes]
) -> None:
    replies = await gateway.send(build(gateway.address))
    assert replies == {}  # every recipient got a 250
    await gateway.worker.drain()
    [message] = await gateway.inbound()
    assert message.state == InboundState.NO_DOCUMENT
    assert message.state_reason == SKIPPED
    assert LIMITS_NOTE in message.outcome["skipped"]


@pytest.mark.parametrize(("name", "xml"), [("laughs.xml", BILLION_LAUGHS), ("xxe.xml", XXE)])
async def test_hostile_xml_stays_in_the_inbox_with_its_reason(
    gateway: Gateway, name: str, xml: bytes
) -> None:
    await gateway.send(xml_mail(gateway.address, name, xml))
    await gateway.worker.drain()
    [message] = await gateway.inbound()
    assert message.state == InboundState.DELIVERED
    [document] = await gateway.documents()
    assert document.filename == name
    assert document.state == DocumentState.INBOX
    assert document.fields["_read"] == {"error": "xml_dtd_forbidden"}
    # The reader never parses it: the reason is already there.
    assert await read_waiting_documents(db=gateway.db, store=gateway.store) == 0
    [after] = await gateway.documents()
    assert after.fields == document.fields
