"""Long base64 bodies are set aside while the stdlib parses a message, and put back: the
tree is the one `email.message_from_bytes` builds, on real mail and on the edge cases."""

from __future__ import annotations

import base64
import email
from email import policy
from email.message import Message
from email.policy import Policy
from typing import Any

import pytest

from mail.parse.bodies import parse_bytes
from tests.corpora import real_mail

POLICIES = [policy.default, policy.compat32]
BLOB = base64.encodebytes(bytes(range(256)) * 40)  # 136 lines of 76


def _shape(msg: Message) -> list[tuple[object, ...]]:
    """Everything the parser decided, part by part, before anything is decoded."""
    return [
        (
            part.get_content_type(),
            part.items(),
            getattr(part, "_payload", None) if not part.is_multipart() else None,
            part.preamble,
            part.epilogue,
            [type(defect).__name__ for defect in part.defects],
        )
        for part in msg.walk()
    ]


def _same_as_stdlib(raw: bytes, mail_policy: Policy) -> Message:
    ours = parse_bytes(raw, mail_policy)
    stdlib = email.message_from_bytes(raw, policy=mail_policy)
    assert _shape(ours) == _shape(stdlib)
    assert ours.as_bytes(policy=policy.compat32) == stdlib.as_bytes(policy=policy.compat32)
    return ours


@pytest.mark.parametrize("mail_policy", POLICIES, ids=["default", "compat32"])
def test_every_real_message_parses_to_the_stdlibs_tree(mail_policy: Policy) -> None:
    paths = real_mail()
    for path in paths:
        _same_as_stdlib(path.read_bytes(), mail_policy)


def _multipart(body: bytes, eol: bytes = b"\r\n", *, preamble: bytes = b"") -> bytes:
    lines = [
        b"From: factures@edf.fr",
        b"Subject: Facture",
        b"MIME-Version: 1.0",
        b'Content-Type: multipart/mixed; boundary="b1"',
        b"",
        preamble + b"--b1",
        b"Content-Type: text/plain",
        b"",
        b"ci-joint",
        b"--b1",
        b'Content-Type: application/pdf; name="f.pdf"',
        b"Content-Transfer-Encoding: base64",
        b"",
        body.rstrip(b"\n").replace(b"\n", eol),
        b"--b1--",
        b"",
    ]
    return eol.join(lines)


@pytest.mark.parametrize("eol", [b"\r\n", b"\n"], ids=["crlf", "lf"])
def test_a_pdf_right_before_its_boundary_decodes_to_the_same_bytes(
    eol: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    read: list[int] = []
    stdlib = email.message_from_bytes

    def _parse(raw: bytes, **kwargs: Any) -> Message:
        read.append(len(raw))
        return stdlib(raw, **kwargs)

    monkeypatch.setattr("mail.parse.bodies.email.message_from_bytes", _parse)
    raw = _multipart(BLOB, eol)
    msg = _same_as_stdlib(raw, policy.default)
    assert read[0] < 400 < len(BLOB)  # the stdlib read the structure, not the 136 lines
    pdf = next(part for part in msg.walk() if part.get_content_type() == "application/pdf")
    assert pdf.get_payload(decode=True) == bytes(range(256)) * 40


def test_base64_text_in_a_preamble_comes_back_there() -> None:
    _same_as_stdlib(_multipart(BLOB, preamble=BLOB.replace(b"\n", b"\r\n")), policy.default)


def test_lines_that_only_look_like_base64_in_a_header_or_a_plain_body_stay_as_written() -> None:
    # A header line without a colon ends the headers; a plain body of long words is a body.
    words = (b"A" * 70 + b"\r\n") * 40
    raw = b"From: a@b.fr\r\n" + words + b"\r\n" + words
    _same_as_stdlib(raw, policy.default)
    _same_as_stdlib(b"From: a@b.fr\r\n\r\n" + words, policy.compat32)


def test_text_that_looks_like_a_token_stays_as_written() -> None:
    raw = _multipart(BLOB) + b"courier-body-0000000000000000-0\r\n"
    _same_as_stdlib(raw, policy.default)


def test_eight_bit_text_beside_a_base64_body_keeps_its_bytes() -> None:
    raw = _multipart(BLOB).replace(b"ci-joint", "ci-joint, réglé".encode("latin-1"))
    msg = _same_as_stdlib(raw, policy.compat32)
    text = next(part for part in msg.walk() if part.get_content_type() == "text/plain")
    assert text.get_payload(decode=True) == "ci-joint, réglé".encode("latin-1")
