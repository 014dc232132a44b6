"""Mail is read with each header parsed once, and reads exactly as with the stdlib's
own policy: on every real message, and on a message read a second time."""

from __future__ import annotations

from email import policy

import pytest

from mail.parse import mime, parse_message
from mail.parse.policy import MAIL_POLICY
from tests.corpora import real_mail


def test_every_real_message_reads_as_with_the_stdlibs_policy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for path in real_mail():
        raw = path.read_bytes()
        first, again = parse_message(raw), parse_message(raw)  # the second from kept headers
        with monkeypatch.context() as patch:
            patch.setattr(mime, "MAIL_POLICY", policy.default)
            plain = parse_message(raw)
        assert first == plain, path.name
        assert again == plain, path.name


def test_a_header_is_read_as_its_own_kind_whatever_was_read_before() -> None:
    make = MAIL_POLICY.header_factory
    assert str(make("Subject", "factures@edf.fr")) == "factures@edf.fr"
    sender = make("From", "factures@edf.fr")
    assert sender.name == "From"
    assert [a.addr_spec for a in sender.addresses] == ["factures@edf.fr"]
    assert make("From", "factures@edf.fr") is sender  # and kept, once parsed
