"""One client tries to hold the gateway, or fill it, and the gateway stays open to others."""

from __future__ import annotations

import asyncio
import logging
import smtplib
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.smtp.conftest import DOMAIN, Gateway, invoice_mail

#: Generous: the limits under test are about a second, the deadline only catches a hang.
DEADLINE = 15.0


async def test_one_address_cannot_take_every_session(gateway_factory: Callable[..., Any]) -> None:
    gateway: Gateway = await gateway_factory(smtp_max_sessions=10, smtp_max_sessions_per_ip=2)

    def _hog_then_another_address() -> tuple[list[int], int, int]:
        held = [gateway.client(), gateway.client()]
        try:
            codes = [client.noop()[0] for client in held]
            with pytest.raises(smtplib.SMTPConnectError) as third:
                gateway.client()
            # Another address still gets in while the first holds its two sessions.
            with smtplib.SMTP(
                "127.0.0.1", gateway.server.port, timeout=10, source_address=("127.0.0.2", 0)
            ) as other:
                other_code = other.noop()[0]
            return codes, third.value.smtp_code, other_code
        finally:
            for client in held:
                client.close()

    assert await asyncio.to_thread(_hog_then_another_address) == ([250, 250], 421, 250)


async def test_a_session_kept_alive_with_noop_is_closed_at_its_lifetime(
    gateway_factory: Callable[..., Any],
) -> None:
    gateway: Gateway = await gateway_factory(smtp_session_seconds=1.0)

    def _noop_forever() -> tuple[int, float]:
        started = time.monotonic()
        with gateway.client() as client:
            while time.monotonic() - started < DEADLINE:
                try:
                    code, _ = client.noop()
                except smtplib.SMTPServerDisconnected:
                    return 0, time.monotonic() - started
                if code != 250:
                    return code, time.monotonic() - started
                time.sleep(0.2)  # the attacker's pace, well inside the idle timeout
        return 250, DEADLINE

    code, held_for = await asyncio.to_thread(_noop_forever)
    assert code in (421, 0)
    assert held_for < DEADLINE


async def test_a_message_trickled_byte_by_byte_is_cut_at_the_data_deadline(
    gateway_factory: Callable[..., Any],
) -> None:
    gateway: Gateway = await gateway_factory(smtp_data_seconds=1.0)

    def _trickle() -> tuple[int, bytes]:
        started = time.monotonic()
        with gateway.client() as client:
            client.ehlo()
            client.mail("a@edf.fr")
            client.rcpt(gateway.address)
            code, _ = client.docmd("DATA")
            assert code == 354
            sock = client.sock
            assert sock is not None
            try:
                while time.monotonic() - started < DEADLINE:
                    sock.sendall(b"x")  # each byte restarts no idle timer of ours
                    sock.settimeout(0.3)
                    try:
                        reply = sock.recv(200)
                    except TimeoutError:
                        continue
                    return int(reply[:3]), reply
            except (ConnectionResetError, BrokenPipeError):
                return 0, b""
        return 250, b"still open"

    code, reply = await asyncio.to_thread(_trickle)
    assert (code, reply[:9]) == (421, b"421 4.4.2")
    assert await gateway.inbound() == []


async def test_a_workspace_over_its_quota_is_told_to_retry_and_others_still_receive(
    gateway_factory: Callable[..., Any],
) -> None:
    gateway: Gateway = await gateway_factory(mail_quota_bytes=30_000)
    other: Gateway = await gateway_factory()  # another workspace on its own gateway
    pdfs = [b"%PDF-1.4\n" + bytes([65 + n]) * 10_000 for n in range(3)]
    assert await gateway.send(invoice_mail(to=gateway.address, pdf=pdfs[0])) == {}
    assert await gateway.send(invoice_mail(to=gateway.address, pdf=pdfs[1])) == {}
    # The third would pass 30 KB: refused at DATA, temporarily.
    with pytest.raises(smtplib.SMTPDataError) as full:
        await gateway.send(invoice_mail(to=gateway.address, pdf=pdfs[2]))
    assert (full.value.smtp_code, full.value.smtp_error[:5]) == (452, b"4.2.2")
    # The flooded workspace costs the others nothing: same gateway, another workspace.
    to_other = f"{other.workspace.slug}@{DOMAIN}"
    assert await gateway.send(invoice_mail(to=to_other, pdf=pdfs[2]), to=[to_other]) == {}
    rows = await gateway.inbound()
    assert [r.workspace_id for r in rows].count(gateway.workspace.id) == 2


async def test_a_workspace_already_full_is_refused_at_rcpt(
    gateway_factory: Callable[..., Any],
) -> None:
    gateway: Gateway = await gateway_factory(mail_quota_bytes=2_000)

    def sized(n: int) -> bytes:
        head = b"Subject: filler\r\n\r\n"
        return head + b"y" * (n - len(head) - 2) + b"\r\n"

    assert await gateway.send(sized(1_200)) == {}
    assert await gateway.send(sized(800)) == {}  # exactly full: 2,000 of 2,000 bytes
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        await gateway.send(sized(100))
    assert refused.value.recipients[gateway.address][0] == 452
    assert [r.size for r in await gateway.inbound()] == [1_200, 800]


async def test_ehlo_offers_no_auth_when_none_is_configured(gateway: Gateway) -> None:
    def _ehlo_then_auth() -> tuple[bool, int]:
        with gateway.client() as client:
            client.ehlo()
            offered = client.has_extn("auth")
            code, _ = client.docmd("AUTH", "PLAIN AGFkbWluAGFkbWlu")
            return offered, code

    offered, code = await asyncio.to_thread(_ehlo_then_auth)
    assert not offered
    assert code >= 500


async def test_control_characters_sent_by_a_client_are_escaped_in_the_log(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    forged = b"\x1b[2K\rFORGED 2026-01-01 INFO courier: all good\x07"

    def _send_garbage() -> int:
        with gateway.client() as client:
            client.ehlo()
            client.send(forged + b"\r\n")
            code, _ = client.getreply()
            return code

    with caplog.at_level(logging.WARNING, logger="mail.log"):
        assert await asyncio.to_thread(_send_garbage) == 500
    quoted = [r.getMessage() for r in caplog.records if "FORGED" in r.getMessage()]
    assert quoted, "the gateway logs the unknown command"
    for line in quoted:
        assert not any(control in line for control in ("\x1b", "\r", "\x07"))
        assert "\\x1b[2K\\x0dFORGED" in line
