"""Fixtures for the accounting services: the services' dependencies, a hand-written ledger,
and a small scripted provider for the logic above any software (expiry, rotation, 429)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from core.accounting.errors import IntegrationExpired
from core.accounting.provider import (
    AuthKind,
    AuthorizationStart,
    Authorized,
    Bill,
    Company,
    Grant,
    ListItem,
    ListKind,
    Published,
)
from core.accounting.registry import ProviderRegistry
from core.config import Settings
from core.db import Database
from core.models import DocumentSource
from core.models.base import utcnow
from core.services.accounting import Accounting
from core.services.documents import IncomingDocument, ingest_document
from core.storage import LocalDocumentStore
from core.vault import Vault, generate_key
from tests.integration.conftest import World

LEDGER = """\
; Boulangerie Dupont, kept by hand since 2026.
option "title" "Boulangerie Dupont"
option "operating_currency" "EUR"

2026-01-01 open Assets:Bank:Checking       EUR
2026-01-01 open Liabilities:AccountsPayable EUR
2026-01-01 open Expenses:Energy            EUR
2026-01-01 open Expenses:Telecom           EUR
2026-01-01 open Expenses:Supplies          EUR
2026-01-01 open Assets:VAT:Deductible      EUR
  tax_rate: "20"

2026-01-15 * "Moulin Bio" "Farine T65"   ; paid at the market
  Expenses:Supplies      42.50 EUR
  Assets:Bank:Checking  -42.50 EUR
"""


def bean_check(path: Path) -> None:
    """Beancount's own verdict on the ledger, in its own process."""
    done = subprocess.run(
        [sys.executable, "-m", "beancount.scripts.check", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


class VaultDown(Exception):
    """The process dies while storing a secret."""


class FlakyVault(Vault):
    """A real vault that can be told to fail the next seal, as a crash would."""

    __slots__ = ("fail_seal",)

    def __init__(self, keys: list[bytes]) -> None:
        super().__init__(keys)
        self.fail_seal = False

    def seal_json(self, value: dict[str, Any]) -> str:
        if self.fail_seal:
            self.fail_seal = False
            raise VaultDown
        return super().seal_json(value)


@pytest.fixture
def vault() -> FlakyVault:
    return FlakyVault([generate_key()])


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    path = tmp_path / "books" / "main.beancount"
    path.parent.mkdir()
    path.write_text(LEDGER, encoding="utf-8")
    return path


@pytest.fixture
def acc_settings(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "var")


@pytest.fixture
async def acc(
    db: Database, vault: Vault, store: LocalDocumentStore, acc_settings: Settings
) -> AsyncIterator[Accounting]:
    providers = ProviderRegistry(acc_settings)
    yield Accounting(
        db=db,
        vault=vault,
        store=store,
        providers=providers,
        callback_url="http://127.0.0.1:8780/oauth/callback",
    )
    await providers.aclose()


async def add_document(
    acc: Accounting,
    world: World,
    *,
    name: str = "edf-2026-11.pdf",
    supplier: str | None = "EDF Entreprises",
    amount: str | None = "120.00",
    day: date | None = date(2026, 11, 3),
    fields: Mapping[str, object] | None = None,
) -> int:
    """A document in the bakery's inbox, as a hand upload gives it."""
    assert world.workspace.id is not None
    async with acc.db.transaction() as session:
        result = await ingest_document(
            session=session,
            store=acc.store,
            incoming=IncomingDocument(
                workspace_id=world.workspace.id,
                source=DocumentSource.UPLOAD,
                content=b"%PDF-1.4\n% " + name.encode() + b"\n%%EOF\n",
                filename=name,
                supplier_name=supplier,
                issue_date=day,
                total_amount=Decimal(amount) if amount is not None else None,
                currency="EUR",
            ),
        )
        if fields:
            result.document.fields = {
                k: {"value": v, "source": "test", "confidence": 1.0} for k, v in fields.items()
            }
            session.add(result.document)
        assert result.document.id is not None
        return result.document.id


@dataclass
class FakeSoftware:
    """A scripted OAuth2 software for the service logic above providers. Its behaviour is
    what the tests set: which company the next authorisation reaches, failures to raise
    on the next calls, and the bills it holds (deduplicated by idempotency key)."""

    company: Company = field(default_factory=lambda: Company("tenant-1", "Dupont SARL"))
    fail_next: list[Exception] = field(default_factory=list)
    fail_refresh: list[Exception] = field(default_factory=list)
    bills: dict[str, Bill] = field(default_factory=dict)
    published_order: list[int] = field(default_factory=list)
    refresh_tokens_seen: list[str] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    issued: int = 0
    lists: dict[ListKind, list[ListItem]] = field(
        default_factory=lambda: {
            ListKind.ACCOUNTS: [ListItem("606100", "Energy"), ListItem("626000", "Telecom")],
            ListKind.SUPPLIERS: [ListItem("C-EDF", "EDF Entreprises")],
            ListKind.CUSTOMERS: [],
            ListKind.TAX_RATES: [ListItem("FR_200", "TVA 20 %")],
        }
    )


class FakeProvider:
    name = "fake"
    display_name = "Fake Books"
    auth_kind = AuthKind.OAUTH2
    list_kinds = frozenset(ListKind)

    def __init__(self, software: FakeSoftware) -> None:
        self.software = software

    def _grant(self) -> Grant:
        self.software.issued += 1
        now = utcnow()
        return Grant(
            access_token=f"access-{self.software.issued}",
            refresh_token=f"refresh-{self.software.issued}",
            access_expires_at=now + timedelta(minutes=30),
            refresh_expires_at=now + timedelta(days=60),
        )

    def warning_starts_at(self, grant: Grant) -> datetime | None:
        ends = grant.refresh_expires_at
        return ends - timedelta(days=15) if ends else None

    def refresh_due_at(self, grant: Grant) -> datetime | None:
        ends = grant.access_expires_at
        return ends - timedelta(minutes=10) if ends else None

    async def start_authorization(self, *, state: str, redirect_uri: str) -> AuthorizationStart:
        url = f"https://fake.example/authorize?state={state}&redirect_uri={redirect_uri}"
        return AuthorizationStart(url=url, state=state, code_verifier="verifier-secret")

    async def connect_with_secret(self, *, secret: str) -> Authorized:
        raise NotImplementedError

    async def complete_authorization(
        self, *, params: Mapping[str, str], redirect_uri: str, code_verifier: str | None
    ) -> Authorized:
        assert params["code"] == "good-code"
        assert code_verifier == "verifier-secret"
        return Authorized(grant=self._grant(), company=self.software.company)

    async def refresh(self, *, grant: Grant) -> Grant:
        assert grant.refresh_token is not None
        self.software.refresh_tokens_seen.append(grant.refresh_token)
        if self.software.fail_refresh:
            raise self.software.fail_refresh.pop(0)
        return self._grant()

    def _maybe_fail(self) -> None:
        if self.software.fail_next:
            raise self.software.fail_next.pop(0)

    async def load_list(self, *, grant: Grant, company: Company, kind: ListKind) -> list[ListItem]:
        self._maybe_fail()
        return list(self.software.lists[kind])

    async def publish_bill(self, *, grant: Grant, company: Company, bill: Bill) -> Published:
        self._maybe_fail()
        if bill.idempotency_key not in self.software.bills:
            self.software.bills[bill.idempotency_key] = replace(bill)
            self.software.published_order.append(bill.document_id)
        return Published(external_id=f"bill-{bill.idempotency_key[-6:]}")

    async def disconnect(self, *, grant: Grant, company: Company) -> None:
        self.software.revoked.append(grant.refresh_token or "")


@pytest.fixture
def software() -> FakeSoftware:
    return FakeSoftware()


@pytest.fixture
def fake(acc: Accounting, software: FakeSoftware) -> FakeProvider:
    provider = FakeProvider(software)
    acc.providers.register("fake", provider)
    return provider


def state_of(url: str) -> str:
    return parse_qs(urlparse(url).query)["state"][0]


def expired() -> IntegrationExpired:
    return IntegrationExpired(provider="fake", reason="invalid_grant")


def text_of(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def bytes_of(path: Path) -> bytes:
    return path.read_bytes()


def write(path: Path, text: str, *, append: bool = False) -> None:
    with path.open("a" if append else "w", encoding="utf-8") as out:
        out.write(text)


def files_in(folder: Path, pattern: str = "*") -> list[Path]:
    return sorted(folder.glob(pattern)) if folder.is_dir() else []
