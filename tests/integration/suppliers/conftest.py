"""The demo supplier on a loopback port, an SMTP sink for its code mails, and connectors.

Timeouts and back-off are cut short so the fault tests stay fast; the behaviour they
check is the same as with the production limits.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from core.suppliers.http import HttpLimits
from core.suppliers.pool import HttpPool
from core.suppliers.recipes import Recipe, RecipeConnector, builtin_recipe
from courier.demo_supplier import (
    DemoAccount,
    DemoConfig,
    RunningDemo,
    SmtpTarget,
    sample_invoices,
    start_demo_supplier,
)

PLAIN = DemoAccount("compta@boulangerie.example", "croissant-42", invoices=sample_invoices(12))
SMS = DemoAccount(
    "sms@boulangerie.example", "pain-au-chocolat", two_factor="page", invoices=sample_invoices(3)
)
MAIL = DemoAccount(
    "mail@boulangerie.example",
    "baguette-7",
    two_factor="email",
    email="codes@in.example.com",
    invoices=sample_invoices(3),
)
APP = DemoAccount(
    "app@boulangerie.example", "chausson-3", two_factor="app", invoices=sample_invoices(3)
)
EMPTY = DemoAccount("nouveau@boulangerie.example", "brioche-1")
FAST = HttpLimits(connect_timeout=2.0, read_timeout=2.0, retries=2, backoff=0.01, max_wait=2.0)


@dataclass
class SmtpSink:
    port: int
    inbox: asyncio.Queue[EmailMessage] = field(default_factory=asyncio.Queue)

    async def next_message(self) -> EmailMessage:
        async with asyncio.timeout(5):
            return await self.inbox.get()


class _SinkHandler:
    def __init__(self, inbox: asyncio.Queue[EmailMessage]) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.inbox.put_nowait(message)
        return "250 Message accepted"


@pytest.fixture
async def smtp_sink() -> AsyncIterator[SmtpSink]:
    inbox: asyncio.Queue[EmailMessage] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(_SinkHandler(inbox), hostname="sink.test", decode_data=False),
        host="127.0.0.1",
        port=0,
    )
    yield SmtpSink(port=server.sockets[0].getsockname()[1], inbox=inbox)
    server.close()
    await server.wait_closed()


@pytest.fixture
def demo_config(smtp_sink: SmtpSink) -> DemoConfig:
    return DemoConfig(
        accounts=(PLAIN, SMS, MAIL, APP, EMPTY), smtp=SmtpTarget(port=smtp_sink.port), page_size=5
    )


@pytest.fixture
async def demo(demo_config: DemoConfig) -> AsyncIterator[RunningDemo]:
    running = await start_demo_supplier(demo_config)
    yield running
    await running.close()


@pytest.fixture
async def pool() -> AsyncIterator[HttpPool]:
    """The process's connections to the suppliers, as the scheduler shares them."""
    shared = HttpPool()
    yield shared
    await shared.aclose()


@pytest.fixture(scope="session")
def recipe() -> Recipe:
    return builtin_recipe("demo_supplier")


@pytest.fixture
async def connect(
    demo: RunningDemo, recipe: Recipe
) -> AsyncIterator[Callable[..., RecipeConnector]]:
    """Make connectors to the demo; each is closed after the test."""
    made: list[RecipeConnector] = []

    def make(*, using: Recipe | None = None, **options: Any) -> RecipeConnector:
        options.setdefault("limits", FAST)
        connector = RecipeConnector(using or recipe, base_url=demo.url, **options)
        made.append(connector)
        return connector

    yield make
    for connector in made:
        await connector.close()
