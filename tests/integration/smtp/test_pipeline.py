"""Real-world mail shapes replayed through the gateway: what the user finds in the inbox."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from core.backoff import INBOUND
from core.models import (
    Challenge,
    ChallengeChannel,
    ChallengeState,
    Connection,
    ConnectionCreate,
    ConnectionState,
    DocumentSource,
    InboundState,
    Supplier,
)
from core.permissions import OPERATOR
from core.services.challenges import cancel_open_challenges, open_challenge, take_code
from core.services.connections import create_connection
from core.services.inbound import EARLY_CODE_RETRY
from core.services.members import create_invite, join_workspace
from core.vault import Vault
from tests.integration.smtp.conftest import Gateway, fixture_bytes, invoice_mail


@pytest.mark.parametrize(
    ("fixture", "filenames"),
    [
        ("forwarded_twice.eml", ["Facture_Orange_2024-10.pdf"]),
        ("outlook_tnef.eml", ["Facture_février.pdf", "Relevé.pdf"]),
        ("zip_two_pdfs.eml", ["Facture_001.pdf", "Facture_002.pdf"]),
        ("apple_inline_pdf.eml", ["Facture 2024-118.pdf"]),
        ("octet_stream_pdf.eml", ["scan_0042.pdf"]),
        ("logo_pixel.eml", ["FA-2024-0091.pdf"]),
        ("encodings.eml", ["Facture_février.pdf", "Reçu_novembre.pdf", "Avoir_été_2024.pdf"]),
        ("broken_mime.eml", ["facture.pdf"]),
    ],
)
async def test_every_invoice_file_in_the_mail_becomes_a_document(
    gateway: Gateway, fixture: str, filenames: list[str]
) -> None:
    assert await gateway.send(fixture_bytes(fixture)) == {}
    await gateway.worker.drain()
    documents = await gateway.documents()
    assert sorted(d.filename for d in documents) == sorted(filenames)
    assert all(
        d.source == DocumentSource.EMAIL and d.content_type == "application/pdf" for d in documents
    )
    [message] = await gateway.inbound()
    assert message.state == InboundState.DELIVERED
    [notice] = await gateway.notices()
    assert notice.kind == "documents_received"
    assert len(notice.payload["document_ids"]) == len(filenames)


async def test_an_invoice_that_is_only_a_link_keeps_the_message_and_its_link(
    gateway: Gateway,
) -> None:
    await gateway.send(fixture_bytes("html_only_link.eml"))
    await gateway.worker.drain()
    [document] = await gateway.documents()
    assert document.filename.endswith(".eml")
    assert document.fields["links"]["value"] == [
        "https://espace-client.telecom-exemple.fr/factures/download?id=8842&token=k3Y9"
    ]
    assert await gateway.store.get(document.sha256) == fixture_bytes("html_only_link.eml")


async def test_a_mail_with_nothing_usable_is_kept_and_reported_once(gateway: Gateway) -> None:
    await gateway.send(fixture_bytes("zip_bomb.eml"))
    await gateway.worker.drain()
    assert await gateway.documents() == []
    [message] = await gateway.inbound()
    assert message.state == InboundState.NO_DOCUMENT
    assert message.sha256 is not None
    assert await gateway.store.exists(message.sha256)
    [notice] = await gateway.notices()
    assert notice.kind == "mail_without_document"


async def test_the_same_invoice_forwarded_twice_is_one_document_and_a_note(
    gateway: Gateway,
) -> None:
    mail = invoice_mail(to=gateway.address)
    await gateway.send(mail)
    await gateway.send(mail)
    await gateway.worker.drain()
    assert len(await gateway.documents()) == 1
    assert [n.kind for n in await gateway.notices()] == ["documents_received", "already_in_inbox"]


@pytest.mark.parametrize("fixture", ["gmail_forwarding.eml", "gmail_forwarding_fr.eml"])
async def test_a_gmail_forwarding_confirmation_is_passed_on_not_filed(
    gateway: Gateway, fixture: str
) -> None:
    await gateway.send(fixture_bytes(fixture))
    await gateway.worker.drain()
    assert await gateway.documents() == []
    [notice] = await gateway.notices()
    assert notice.kind == "forwarding_confirmation"
    assert notice.payload["provider"] == "gmail"
    assert notice.payload["code"] in {"613709052", "482113907"}
    [message] = await gateway.inbound()
    assert message.state == InboundState.CONFIRMATION


async def _waiting_challenge(
    gateway: Gateway, vault: Vault, *, domain: str, login: str = "a@b.fr"
) -> Challenge:
    async with gateway.db.transaction() as session:
        supplier = Supplier(
            key=f"portal-{login}",
            name="Portail",
            portal_url="https://portail-fournisseur.fr",
            domains=[domain],
        )
        session.add(supplier)
        await session.flush()
        invite = await create_invite(
            session=session, workspace=gateway.workspace, ttl=timedelta(hours=1)
        )
        owner = await join_workspace(
            session=session,
            code=invite.code,
            telegram_user_id=hash(login) % 10**9,
            display_name="Owner",
        )
        assert gateway.workspace.id
        assert supplier.id
        assert owner.id
        connection = await create_connection(
            session=session,
            vault=vault,
            data=ConnectionCreate(
                workspace_id=gateway.workspace.id,
                supplier_id=supplier.id,
                owner_member_id=owner.id,
                login=login,
                password=SecretStr("pw"),
            ),
            by=OPERATOR,
        )
        return await open_challenge(
            session=session, connection=connection, channel=ChallengeChannel.EMAIL
        )


async def test_a_code_mail_answers_the_waiting_challenge_and_is_not_kept(
    gateway: Gateway, vault: Vault
) -> None:
    challenge = await _waiting_challenge(gateway, vault, domain="portail-fournisseur.fr")
    await gateway.send(fixture_bytes("otp_html_only.eml"))
    await gateway.worker.drain()
    async with gateway.db.read() as session:
        answered = await session.get(Challenge, challenge.id)
    assert answered is not None
    assert (answered.state, answered.answered_via) == (ChallengeState.ANSWERED, "mail")
    assert take_code(vault=vault, challenge=answered) is not None
    [message] = await gateway.inbound()
    assert (message.state, message.sha256) == (InboundState.CODE_RELAYED, None)
    assert [p for p in gateway.store.root.rglob("*") if p.is_file()] == []  # nothing kept
    assert await gateway.documents() == []
    assert [n.kind for n in await gateway.notices()] == ["code_relayed"]


async def test_a_code_mailed_before_the_site_answered_waits_for_its_challenge(
    gateway: Gateway, vault: Vault
) -> None:
    """Suppliers often mail the code, then answer the login: Courier gets the code before
    it knows a code was sent. It keeps the mail a moment, and relays it once the login's
    challenge opens, instead of filing it as a mail without a document."""
    early = await _waiting_challenge(gateway, vault, domain="portail-fournisseur.fr")
    async with gateway.db.transaction() as session:
        await cancel_open_challenges(session=session, connection_id=early.connection_id)
        connection = await session.get(Connection, early.connection_id)
        assert connection is not None
        connection.state = ConnectionState.SYNCING  # logging in: the site has not answered
    await gateway.send(fixture_bytes("otp_html_only.eml"))
    await gateway.worker.drain()
    [waiting] = await gateway.inbound()
    assert (waiting.state, waiting.state_reason) == (
        InboundState.RECEIVED,
        "code_before_challenge",
    )
    assert waiting.attempts == 0  # not a failure

    async with gateway.db.transaction() as session:
        connection = await session.get(Connection, early.connection_id)
        assert connection is not None
        challenge = await open_challenge(
            session=session, connection=connection, channel=ChallengeChannel.EMAIL
        )
    await asyncio.sleep(EARLY_CODE_RETRY.total_seconds() + 0.2)
    await gateway.worker.drain()
    async with gateway.db.read() as session:
        answered = await session.get(Challenge, challenge.id)
    assert answered is not None
    assert (answered.state, answered.answered_via) == (ChallengeState.ANSWERED, "mail")
    [message] = await gateway.inbound()
    assert message.state == InboundState.CODE_RELAYED


async def test_a_code_read_while_its_challenge_opens_waits_and_is_relayed(
    gateway: Gateway, vault: Vault
) -> None:
    """On PostgreSQL the fetch may open its challenge between the worker's two reads: the
    worker then sees no open challenge, yet a connection already awaiting its code. The
    code waits for its next look instead of being filed as a mail without a document."""
    early = await _waiting_challenge(gateway, vault, domain="portail-fournisseur.fr")
    async with gateway.db.transaction() as session:
        await cancel_open_challenges(session=session, connection_id=early.connection_id)
        connection = await session.get(Connection, early.connection_id)
        assert connection is not None
        connection.state = ConnectionState.AWAITING_CODE  # what the second read saw
    await gateway.send(fixture_bytes("otp_html_only.eml"))
    await gateway.worker.drain()
    [waiting] = await gateway.inbound()
    assert (waiting.state, waiting.state_reason) == (
        InboundState.RECEIVED,
        "code_before_challenge",
    )

    async with gateway.db.transaction() as session:
        connection = await session.get(Connection, early.connection_id)
        assert connection is not None
        challenge = await open_challenge(
            session=session, connection=connection, channel=ChallengeChannel.EMAIL
        )
    await asyncio.sleep(EARLY_CODE_RETRY.total_seconds() + 0.2)
    await gateway.worker.drain()
    async with gateway.db.read() as session:
        answered = await session.get(Challenge, challenge.id)
    assert answered is not None
    assert (answered.state, answered.answered_via) == (ChallengeState.ANSWERED, "mail")


async def test_with_two_challenges_waiting_the_user_is_asked(
    gateway: Gateway, vault: Vault
) -> None:
    await _waiting_challenge(gateway, vault, domain="portail-fournisseur.fr", login="one@b.fr")
    await _waiting_challenge(gateway, vault, domain="portail-fournisseur.fr", login="two@b.fr")
    await gateway.send(fixture_bytes("otp_html_only.eml"))
    await gateway.worker.drain()
    [notice] = await gateway.notices()
    assert notice.kind == "code_ambiguous"
    assert len(notice.payload["challenge_ids"]) == 2
    assert vault.open(notice.payload["code_sealed"]).isdigit()


async def test_a_code_from_a_stranger_domain_answers_nothing(
    gateway: Gateway, vault: Vault
) -> None:
    challenge = await _waiting_challenge(gateway, vault, domain="another-supplier.fr")
    await gateway.send(fixture_bytes("otp_html_only.eml"))
    await gateway.worker.drain()
    async with gateway.db.read() as session:
        still = await session.get(Challenge, challenge.id)
    assert still is not None
    assert still.state == ChallengeState.OPEN


async def test_a_message_that_cannot_be_read_is_retried_then_left_failed(gateway: Gateway) -> None:
    await gateway.send(invoice_mail(to=gateway.address))
    [message] = await gateway.inbound()
    assert message.sha256 is not None
    await gateway.store.delete(message.sha256)  # the raw file vanished: processing fails
    tries = INBOUND.max_attempts
    assert tries is not None
    for _ in range(tries):
        async with gateway.db.transaction() as session:
            row: Any = await session.get(type(message), message.id)
            row.next_attempt_at = None  # skip the back-off wait
        await gateway.worker.run_once()
    [message] = await gateway.inbound()
    assert (message.state, message.attempts) == (InboundState.FAILED, tries)
    assert message.state_reason == "NotFound"
    # The queue is not blocked: the next mail goes through.
    await gateway.send(invoice_mail(to=gateway.address, name="other.pdf", pdf=b"%PDF-1.4 other"))
    await gateway.worker.drain()
    assert [d.filename for d in await gateway.documents()] == ["other.pdf"]


async def test_a_step_that_fails_undoes_only_its_message(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mail import pipeline

    original = pipeline.Attachments.process

    async def fail_on_broken(
        self: pipeline.Attachments, job: pipeline.Job, ctx: pipeline.Context
    ) -> Any:
        if job.parsed.subject == "broken":
            raise RuntimeError("a bug in a step")
        return await original(self, job, ctx)

    monkeypatch.setattr(pipeline.Attachments, "process", fail_on_broken)
    broken = invoice_mail(to=gateway.address, name="a.pdf", pdf=b"%PDF-1.4 a").replace(
        b"Subject: Votre facture", b"Subject: broken"
    )
    await gateway.send(broken)
    await gateway.send(invoice_mail(to=gateway.address, name="b.pdf", pdf=b"%PDF-1.4 b"))
    await gateway.worker.run_once()  # both in one batch
    assert [d.filename for d in await gateway.documents()] == ["b.pdf"]
    first, second = await gateway.inbound()
    assert (first.state, first.state_reason, first.attempts) == (
        InboundState.RECEIVED,
        "RuntimeError",
        1,
    )
    assert first.next_attempt_at is not None
    assert second.state == InboundState.DELIVERED
