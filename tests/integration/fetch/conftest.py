"""A scripted connector: each test says what the supplier's site does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from core.db import Database
from core.models import ChallengeChannel, Connection
from core.models.base import utcnow
from core.services.fetch import Clock, ConnectionRunner, FetchPolicy
from core.storage import LocalDocumentStore
from core.suppliers.connector import (
    ApprovalDenied,
    ApprovalRequest,
    CodeRejected,
    CodeRequest,
    ConnectorError,
    Credentials,
    Download,
    InvoiceRef,
    LoggedIn,
    SignInStep,
    SupplierUnavailable,
)
from core.vault import Vault
from tests.integration.conftest import World, connect


def pdf(reference: str) -> bytes:
    return f"%PDF-1.4 invoice {reference}\n%%EOF\n".encode()


@dataclass
class Site:
    """What the supplier's site will do, and what Courier asked of it."""

    invoices: list[InvoiceRef] = field(default_factory=list)
    code: str | None = None  # a code is asked after the password
    channel: ChallengeChannel = ChallengeChannel.SMS
    login_error: ConnectorError | None = None
    code_error: ConnectorError | None = None
    list_error: ConnectorError | None = None
    html_for: set[str] = field(default_factory=set)
    down_at: str | None = None  # the site goes down when this invoice is asked for
    sessions_valid: bool = True
    approval: bool = False  # the login waits for the owner's phone
    approve_after: int | None = None  # polls before the owner taps approve; None: never
    deny: bool = False
    same_bytes: bool = False  # every download is the same file
    tells_listed: bool = True  # False: a connector that cannot count the site's list
    calls: list[str] = field(default_factory=list)
    since_asked: list[date | None] = field(default_factory=list)


class ScriptedConnector:
    def __init__(self, site: Site) -> None:
        self.site = site

    @property
    def listed(self) -> int | None:
        # The site's whole list, whatever `since` let through.
        return len(self.site.invoices) if self.site.tells_listed else None

    async def restore(self, state: dict[str, Any]) -> bool:
        self.site.calls.append("restore")
        return self.site.sessions_valid and state.get("cookie") == "ok"

    async def login(self, credentials: Credentials) -> SignInStep:
        self.site.calls.append("login")
        if self.site.login_error:
            raise self.site.login_error
        if self.site.approval:
            return ApprovalRequest(masked_destination="••••12", prompt="Approve in the app")
        if self.site.code:
            return CodeRequest(channel=self.site.channel, masked_destination="SMS to ••••12")
        return LoggedIn()

    async def poll_approval(self) -> SignInStep | None:
        polls = sum(c == "poll" for c in self.site.calls)
        self.site.calls.append("poll")
        if self.site.deny:
            raise ApprovalDenied("refused on the phone")
        if self.site.approve_after is not None and polls >= self.site.approve_after:
            return LoggedIn()
        return None

    async def submit_code(self, code: str) -> SignInStep:
        self.site.calls.append(f"code:{code}")
        if self.site.code_error:
            raise self.site.code_error
        if code != self.site.code:
            raise CodeRejected()
        return LoggedIn()

    async def invoices(self, since: date | None) -> AsyncIterator[InvoiceRef]:
        self.site.since_asked.append(since)
        for invoice in self.site.invoices:
            if self.site.list_error:  # raised lazily, as a paging iterator would
                raise self.site.list_error
            if since is None or invoice.issued_on >= since:
                yield invoice

    async def download(self, invoice: InvoiceRef) -> Download:
        self.site.calls.append(f"download {invoice.reference}")
        if invoice.reference == self.site.down_at:
            raise SupplierUnavailable("HTTP 503")
        if invoice.reference in self.site.html_for:
            return Download(b"<html>Session expired</html>", f"{invoice.reference}.pdf")
        content = pdf("same" if self.site.same_bytes else invoice.reference)
        return Download(content, f"{invoice.reference}.pdf")

    async def save(self) -> dict[str, Any]:
        return {"cookie": "ok"}

    async def close(self) -> None:
        self.site.calls.append("close")


def invoice(reference: str, issued: date, amount: str = "118.80") -> InvoiceRef:
    return InvoiceRef(reference=reference, issued_on=issued, amount=Decimal(amount), currency="EUR")


@pytest.fixture
def site() -> Site:
    today = date.today()
    return Site(
        invoices=[
            invoice("FA-3", today - timedelta(days=2)),
            invoice("FA-2", today - timedelta(days=32)),
            invoice("FA-1", today - timedelta(days=62)),
        ]
    )


#: A code is answered by the test at once, but on a loaded machine "at once" can take
#: seconds: the challenge outlives any such wait. A test of expiry sets its own.
QUICK = FetchPolicy(
    challenge_ttl=timedelta(seconds=60), code_poll=0.05, approval_poll=0.05, jitter=timedelta(0)
)


@pytest.fixture
def runner(db: Database, vault: Vault, store: LocalDocumentStore, site: Site) -> ConnectionRunner:
    return make_runner(db, vault, store, site)


def make_runner(
    db: Database,
    vault: Vault,
    store: LocalDocumentStore,
    site: Site,
    policy: FetchPolicy = QUICK,
    clock: Clock = utcnow,
) -> ConnectionRunner:
    return ConnectionRunner(
        db=db,
        store=store,
        vault=vault,
        policy=policy,
        connector_for=lambda supplier: ScriptedConnector(site),
        clock=clock,
    )


@dataclass
class Calendar:
    """The day the runs believe it is: a story of weeks and months runs in seconds."""

    now: datetime = field(default_factory=utcnow)

    def __call__(self) -> datetime:
        return self.now

    @property
    def today(self) -> date:
        return self.now.date()

    def days_ago(self, days: int) -> date:
        return self.today - timedelta(days=days)

    def turn(self, days: int) -> None:
        self.now += timedelta(days=days)


@pytest.fixture
async def connection(db: Database, vault: Vault, world: World) -> Connection:
    return await connect(db, vault, world)
