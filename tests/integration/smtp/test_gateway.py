"""A supplier's mail server talks to the gateway: the right codes, and a 250 that holds."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from core.models import DocumentSource, InboundState
from tests.certificates import self_signed
from tests.integration.smtp.conftest import DOMAIN, PDF, Gateway, invoice_mail
from tests.waiting import until


async def test_a_forwarded_invoice_is_durable_at_250_and_lands_in_the_inbox(
    gateway: Gateway,
) -> None:
    refused = await gateway.send(invoice_mail(to=gateway.address))
    assert refused == {}
    # Durable before anything reads it: the row and the raw file exist at the 250.
    [message] = await gateway.inbound()
    assert message.state == InboundState.RECEIVED
    assert message.sha256 is not None
    assert await gateway.store.exists(message.sha256)
    assert await gateway.worker.drain() == 1
    [document] = await gateway.documents()
    assert (document.source, document.filename, document.supplier_name) == (
        DocumentSource.EMAIL,
        "facture.pdf",
        "EDF",
    )
    [message] = await gateway.inbound()
    assert message.state == InboundState.DELIVERED


async def test_an_unknown_recipient_is_refused_at_rcpt(gateway: Gateway) -> None:
    with pytest.raises(smtplib.SMTPRecipientsRefused) as caught:
        await gateway.send(invoice_mail(to="nobody@x"), to=[f"nobody@{DOMAIN}"])
    assert caught.value.recipients[f"nobody@{DOMAIN}"][0] == 550
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        await gateway.send(invoice_mail(to="x"), to=[f"{gateway.workspace.slug}@other.example"])
    assert await gateway.inbound() == []


async def test_one_message_for_two_workspaces_reaches_each(
    gateway_factory: Callable[..., Any],
) -> None:
    first: Gateway = await gateway_factory()
    second: Gateway = await gateway_factory()
    refused = await first.send(
        invoice_mail(to=first.address),
        to=[first.address, f"{first.workspace.slug}+edf@{DOMAIN}", second.address],
    )
    assert refused == {}
    rows = await first.inbound()
    assert len(rows) == 2  # slug@ and slug+edf@ of one workspace are one delivery
    assert {r.workspace_id for r in rows} == {first.workspace.id, second.workspace.id}
    await first.worker.drain()
    assert {d.workspace_id for d in await first.documents()} == {
        first.workspace.id,
        second.workspace.id,
    }


async def test_a_tagged_address_keeps_its_tag(gateway: Gateway) -> None:
    tagged = f"{gateway.workspace.slug}+Orange-Pro@{DOMAIN}"
    await gateway.send(invoice_mail(to=tagged), to=[tagged])
    [message] = await gateway.inbound()
    assert message.tag == "orange-pro"


async def test_the_null_sender_and_postmaster_are_accepted(gateway: Gateway) -> None:
    assert await gateway.send(invoice_mail(to=gateway.address), sender="") == {}
    assert (
        await gateway.send(b"Subject: bounce\r\n\r\nhello\r\n", to=[f"postmaster@{DOMAIN}"]) == {}
    )
    rows = await gateway.inbound()
    assert [r.mail_from for r in rows] == ["", "a@edf.fr"]
    assert rows[1].workspace_id is None
    await gateway.worker.drain()
    assert [r.state for r in await gateway.inbound()] == [
        InboundState.DELIVERED,
        InboundState.NO_DOCUMENT,
    ]


async def test_a_message_over_the_size_limit_gets_552(gateway_factory: Callable[..., Any]) -> None:
    gateway: Gateway = await gateway_factory(mail_max_bytes=50_000)
    big = invoice_mail(to=gateway.address, pdf=b"%PDF-1.4\n" + b"x" * 80_000)
    # A client that declares SIZE is refused at MAIL FROM…
    with pytest.raises(smtplib.SMTPSenderRefused) as declared:
        await gateway.send(big)
    assert declared.value.smtp_code == 552

    # …and one that does not, after DATA.
    def _undeclared() -> tuple[int, bytes]:
        with gateway.client() as client:
            client.ehlo()
            client.mail("a@edf.fr")
            client.rcpt(gateway.address)
            return client.data(big)

    code, _ = await asyncio.to_thread(_undeclared)
    assert code == 552
    assert await gateway.inbound() == []


async def test_when_storage_fails_the_sender_is_told_to_retry_and_nothing_is_half_kept(
    gateway: Gateway,
) -> None:
    original = gateway.store.root
    gateway.store.root = gateway.settings.data_dir.parent / "blocked"
    gateway.store.root.write_text("a file where the store's folder should be")
    with pytest.raises(smtplib.SMTPDataError) as caught:
        await gateway.send(invoice_mail(to=gateway.address))
    assert caught.value.smtp_code == 451
    assert await gateway.inbound() == []
    gateway.store.root = original  # the disk is back: the sender's retry succeeds
    assert await gateway.send(invoice_mail(to=gateway.address)) == {}
    assert len(await gateway.inbound()) == 1


async def test_senders_at_once_share_the_sync_that_makes_their_mail_durable(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[int] = []
    store_many = gateway.store.put_many

    async def slow_first(items: Any, **options: Any) -> Any:
        batches.append(len(items))
        if len(batches) == 1:
            await asyncio.sleep(0.5)  # a slow disk: the other senders' mail queues meanwhile
        return await store_many(items, **options)

    monkeypatch.setattr(gateway.store, "put_many", slow_first)
    mails = [invoice_mail(to=gateway.address, pdf=PDF + str(i).encode()) for i in range(8)]

    def send(mail: bytes) -> object:
        with gateway.client() as client:
            return client.sendmail("a@edf.fr", [gateway.address], mail)

    # The senders' own threads: the loop's default ones are the gateway's, for its disk.
    with ThreadPoolExecutor(len(mails)) as senders:
        loop = asyncio.get_running_loop()
        answers = await asyncio.gather(*(loop.run_in_executor(senders, send, m) for m in mails))
    assert answers == [{}] * 8
    assert sum(batches) == 8
    assert len(batches) < 8  # what waited together was synced together
    stored = {message.sha256 for message in await gateway.inbound()}
    assert len(stored) == 8
    for sha256 in stored:
        assert sha256 is not None
        assert await gateway.store.get(sha256)


async def test_when_the_database_fails_the_answer_is_451(gateway: Gateway) -> None:
    await gateway.db.engine.dispose()
    real_transaction = gateway.db.transaction

    def broken() -> Any:
        raise OSError("database went away")

    gateway.db.transaction = broken  # type: ignore[method-assign]
    try:
        with pytest.raises(smtplib.SMTPDataError) as caught:
            await gateway.send(invoice_mail(to=gateway.address))
        assert caught.value.smtp_code == 451
    finally:
        gateway.db.transaction = real_transaction  # type: ignore[method-assign]
    assert await gateway.inbound() == []


async def test_long_lines_8bit_and_smtputf8_are_accepted(gateway: Gateway) -> None:
    long_line = b"<p>" + b"x" * 5000 + b"</p>"
    raw = (
        b"From: Fournisseur <f@edf.fr>\r\nTo: "
        + gateway.address.encode()
        + b"\r\nSubject: =?utf-8?q?F=C3=A9vrier?=\r\nContent-Type: text/html; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n" + long_line + "\r\nÉté\r\n".encode()
    )
    assert await gateway.send(raw, mail_options=["BODY=8BITMIME", "SMTPUTF8"]) == {}
    [message] = await gateway.inbound()
    assert message.sha256 is not None
    assert long_line in await gateway.store.get(message.sha256)


async def test_past_the_session_cap_a_sender_is_told_to_come_back(
    gateway_factory: Callable[..., Any],
) -> None:
    gateway: Gateway = await gateway_factory(smtp_max_sessions=1)

    def _two_at_once() -> tuple[int, int]:
        with gateway.client() as first:
            code_first, _ = first.noop()
            with pytest.raises(smtplib.SMTPConnectError) as caught:
                gateway.client()
            return code_first, caught.value.smtp_code

    assert await asyncio.to_thread(_two_at_once) == (250, 421)
    # The gateway frees the slot once it has seen both disconnections.
    await until(lambda: gateway.server.sessions.active == 0, "the sessions to end")
    assert await gateway.send(invoice_mail(to=gateway.address)) == {}  # and then it can


async def test_starttls_and_auth_when_configured(
    gateway_factory: Callable[..., Any], tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path, ("localhost",))
    gateway: Gateway = await gateway_factory(
        smtp_tls_cert=cert,
        smtp_tls_key=key,
        smtp_auth_user="scanner",
        smtp_auth_password=SecretStr("s3cret-pass"),
    )
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE

    def _session(password: str) -> int:
        with gateway.client() as client:
            client.ehlo()
            assert client.has_extn("starttls")
            client.starttls(context=insecure)
            client.ehlo()
            try:
                client.login("scanner", password)
            except smtplib.SMTPAuthenticationError as err:
                return err.smtp_code
            client.sendmail("scanner@office", [gateway.address], invoice_mail(to=gateway.address))
            return 250

    assert await asyncio.to_thread(_session, "wrong") == 535
    assert await asyncio.to_thread(_session, "s3cret-pass") == 250
    assert len(await gateway.inbound()) == 1
