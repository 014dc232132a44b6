"""parse_message never raises: on random bytes, nor on real mail shapes mutated at random."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mail.otp import find_code
from mail.parse import (
    ParsedMessage,
    document_attachments,
    forwarding_confirmation,
    parse_message,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "mail"
SAMPLES = tuple(path.read_bytes() for path in sorted(FIXTURES.glob("*.eml")))

_FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check(raw: bytes) -> None:
    msg = parse_message(raw)
    assert isinstance(msg, ParsedMessage)
    assert all(attachment.filename for attachment in msg.attachments)
    assert msg.date is None or msg.date.tzinfo is not None
    document_attachments(msg)
    forwarding_confirmation(msg)
    find_code(msg.subject, msg.text)


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(min_value=1, max_value=8))):
        position = draw(st.integers(min_value=0, max_value=len(data)))
        action = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "splice"]))
        if action == "flip" and position < len(data):
            data[position] = draw(st.integers(min_value=0, max_value=255))
        elif action == "insert":
            data[position:position] = draw(
                st.sampled_from([b"\r\n", b"--", b"=?utf-8?b?", b"\x00", b"\r\n\r\n", b";", b'"'])
            )
        elif action == "delete":
            del data[position : position + draw(st.integers(min_value=1, max_value=64))]
        elif action == "truncate":
            del data[position:]
        elif action == "splice":
            other = draw(st.sampled_from(SAMPLES))
            start = draw(st.integers(min_value=0, max_value=len(other)))
            data[position:position] = other[start : start + 200]
    return bytes(data)


@_FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes_never_raise(raw: bytes) -> None:
    _check(raw)


@_FUZZ
@given(_mutated())
def test_mutated_fixtures_never_raise(raw: bytes) -> None:
    _check(raw)


@_FUZZ
@given(
    st.lists(
        st.sampled_from(
            [
                b"Content-Type: multipart/mixed; boundary=x\r\n",
                b"Content-Type: message/rfc822\r\n",
                b"Content-Transfer-Encoding: base64\r\n",
                b"Content-Disposition: attachment; filename*=utf-8''%C3%A9\r\n",
                b"Subject: =?utf-8?q?=C3?=\r\n",
                b"Message-ID: <[[[>\r\n",
                b"\r\n",
                b"--x\r\n",
                b"--x--\r\n",
                b"JVBERi0xLjQK\r\n",
                b"<html><img src=cid:a>\r\n",
            ]
        ),
        max_size=40,
    )
)
def test_header_and_boundary_soup_never_raises(lines: list[bytes]) -> None:
    _check(b"".join(lines))
