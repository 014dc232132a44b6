"""A running gateway on a loopback port, with its worker, on each database backend."""

from __future__ import annotations

import asyncio
import base64
import smtplib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlmodel import col, select

from core.config import Settings
from core.db import Database
from core.models import (
    Document,
    InboundMessage,
    Notification,
    Supplier,
    Workspace,
    WorkspaceCreate,
)
from core.services.workspaces import create_workspace
from core.storage import LocalDocumentStore
from core.vault import Vault
from mail.links import LinkFetcher
from mail.smtp import GatewayHandler, GatewayServer, start_gateway
from mail.worker import MailWorker
from tests.conftest import make_settings

DOMAIN = "in.example.com"
PDF = b"%PDF-1.7\n1 0 obj<</Type/Catalog>>endobj\ntrailer<<>>\n%%EOF\n"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "mail"


def fixture_bytes(name: str) -> bytes:
    """A corpus message as an MTA would relay it: CRLF line ends (see the field notes)."""
    data = (FIXTURES / name).read_bytes()
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def dkim_key() -> tuple[bytes, str]:
    """A signing key made for the test run: its PEM, and the TXT record publishing it."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"


def invoice_mail(
    *, to: str, sender: str = "factures@edf.fr", pdf: bytes = PDF, name: str = "facture.pdf"
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = "Votre facture"
    message["Message-ID"] = f"<{abs(hash((to, pdf)))}@edf.fr>"
    message.set_content("Veuillez trouver votre facture ci-jointe.")
    message.add_attachment(pdf, maintype="application", subtype="pdf", filename=name)
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))


@dataclass
class Gateway:
    settings: Settings
    db: Database
    store: LocalDocumentStore
    worker: MailWorker
    server: GatewayServer
    workspace: Workspace

    @property
    def address(self) -> str:
        return f"{self.workspace.slug}@{DOMAIN}"

    def client(self) -> smtplib.SMTP:
        return smtplib.SMTP("127.0.0.1", self.server.port, timeout=10)

    async def send(
        self, raw: bytes, *, to: list[str] | None = None, sender: str = "a@edf.fr", **options: Any
    ) -> dict[str, tuple[int, bytes]]:
        """Send with a real SMTP client over TCP, in a thread as smtplib blocks."""

        def _send() -> dict[str, tuple[int, bytes]]:
            with self.client() as client:
                return client.sendmail(sender, to or [self.address], raw, **options)

        return await asyncio.to_thread(_send)

    async def rows(self, model: type[Any]) -> list[Any]:
        async with self.db.read() as session:
            return list((await session.exec(select(model).order_by(col(model.id)))).all())

    async def documents(self) -> list[Document]:
        return await self.rows(Document)

    async def inbound(self) -> list[InboundMessage]:
        return await self.rows(InboundMessage)

    async def notices(self) -> list[Notification]:
        return await self.rows(Notification)


@pytest.fixture
async def gateway_factory(
    db: Database, tmp_path: Path, vault: Vault
) -> AsyncIterator[Callable[..., Any]]:
    servers: list[GatewayServer] = []

    async def _start(*, links: LinkFetcher | None = None, **overrides: Any) -> Gateway:
        settings = make_settings(tmp_path / "var", mail_domain=DOMAIN, smtp_port=0, **overrides)
        store = LocalDocumentStore(settings.documents_dir)
        async with db.transaction() as session:
            workspace, _ = await create_workspace(
                session=session,
                data=WorkspaceCreate(name=f"Acme {len(servers)}"),
                invite_ttl=timedelta(hours=1),
            )
            if not await session.scalar(select(Supplier.id).where(Supplier.key == "edf")):
                session.add(
                    Supplier(key="edf", name="EDF", portal_url="https://edf.fr", domains=["edf.fr"])
                )
        worker = MailWorker(db=db, store=store, vault=vault, links=links)
        handler = GatewayHandler(
            db=db,
            store=store,
            mail_domain=DOMAIN,
            on_accepted=worker.wake,
            quota_bytes=settings.mail_quota_bytes,
        )
        server = await start_gateway(settings, handler)
        servers.append(server)
        return Gateway(settings, db, store, worker, server, workspace)

    yield _start
    for server in servers:
        await server.close()


@pytest.fixture
async def gateway(gateway_factory: Callable[..., Any]) -> Gateway:
    result: Gateway = await gateway_factory()
    return result
