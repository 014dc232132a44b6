"""The contract every accounting software meets, and the values that cross it.

A provider is stateless between calls: the services hand it the stored `Grant` and
`Company` and store whatever new `Grant` it returns (tokens rotate). Failures are the
typed ones of `core.accounting.errors`; a provider never returns an error value.

Values holding secrets (tokens, PKCE verifiers, file bytes) keep them out of `repr`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from core.models.integration import ListKind

__all__ = [
    "AccountingProvider",
    "AuthKind",
    "AuthorizationStart",
    "Authorized",
    "Bill",
    "BillFile",
    "Company",
    "Grant",
    "ListItem",
    "ListKind",
    "ProviderInfo",
    "Published",
    "VatLine",
    "idempotency_key",
]


class AuthKind(StrEnum):
    #: Authorization-code grant: a URL to open, then a callback with `code` and `state`.
    OAUTH2 = "oauth2"
    #: A token the user pastes (Pennylane's company token).
    TOKEN = "token"
    #: A local file (a Beancount ledger path).
    LOCAL_FILE = "local_file"


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """What an installation knows of a software without building it: what people see,
    how they sign in, and what the operator must set up first. The chat offers the
    software from this (core/accounting/registry.py), never from names of its own."""

    name: str
    display_name: str
    auth_kind: AuthKind
    list_kinds: frozenset[ListKind]
    #: Settings the operator must fill before anyone can link it (an OAuth app's id and
    #: secret, registered with the software): without them it is not offered.
    requires: tuple[str, ...] = ()
    #: Settings that, once all filled, make its sign-in OAuth2 instead of `auth_kind`
    #: (Pennylane: a partner app signs people in; without one, a company token).
    oauth_with: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Grant:
    """What the software gave us to act for the company. Empty for a local ledger."""

    access_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    access_expires_at: datetime | None = None
    refresh_expires_at: datetime | None = None
    #: Provider-specific, e.g. QuickBooks' 5-year cap or Xero's connection id. May hold secrets.
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def to_json(self) -> dict[str, Any]:
        """The form that is sealed in the database (never stored in clear)."""
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "access_expires_at": _iso(self.access_expires_at),
            "refresh_expires_at": _iso(self.refresh_expires_at),
            "extra": dict(self.extra),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Grant:
        return cls(
            access_token=data.get("access_token"),
            refresh_token=data.get("refresh_token"),
            access_expires_at=_parse_iso(data.get("access_expires_at")),
            refresh_expires_at=_parse_iso(data.get("refresh_expires_at")),
            extra=dict(data.get("extra") or {}),
        )


@dataclass(frozen=True, slots=True)
class Company:
    """The books at the software: a Xero tenant, a QuickBooks realm, a Pennylane company,
    a ledger's absolute path. Reconnecting must reach the same `id`."""

    id: str
    name: str


@dataclass(frozen=True, slots=True)
class AuthorizationStart:
    """Where to send the person, and what to keep until the callback comes back."""

    url: str
    state: str = field(repr=False)
    #: PKCE verifier, kept (sealed) with the state until the callback.
    code_verifier: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Authorized:
    """An authorisation completed: the grant and the company it is for."""

    grant: Grant
    company: Company


@dataclass(frozen=True, slots=True)
class ListItem:
    """One entry of a list: an account, a contact or a tax rate, keyed by the software's code."""

    code: str
    name: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class VatLine:
    """One VAT rate of a bill: `rate` in percent (20 for 20 %), amounts in the bill's currency.
    `tax_rate_code` is the software's own code for that rate (publishing maps it from the
    loaded tax list), never the rule's one code laid over every rate."""

    rate: Decimal
    base: Decimal
    tax: Decimal
    tax_rate_code: str | None = None


@dataclass(frozen=True, slots=True)
class BillFile:
    content: bytes = field(repr=False)
    filename: str
    content_type: str


@dataclass(frozen=True, slots=True)
class Bill:
    """A purchase bill to publish, built from a ready document and its supplier's rule.

    Amounts are always positive; `credit_note` says the supplier owes the money back, and
    each provider posts it as its own kind of credit note (never as a negative bill)."""

    document_id: int
    #: Stable for this document and integration: the software dedupes retries with it.
    idempotency_key: str
    supplier_name: str
    #: The contact's code in the software's suppliers list, when it is known.
    supplier_code: str | None
    number: str | None
    issue_date: date
    due_date: date | None
    currency: str
    total_excl: Decimal
    total_tax: Decimal
    total_incl: Decimal
    vat_lines: tuple[VatLine, ...]
    #: From the supplier's rule: the expense account and the tax rate, as the software codes them.
    account_code: str
    tax_rate_code: str | None
    file: BillFile
    description: str = ""
    credit_note: bool = False
    #: The bill the software already holds when only its file failed to follow: the
    #: provider sends the file alone.
    existing_id: str | None = None


@dataclass(frozen=True, slots=True)
class Published:
    """A bill the software now holds."""

    external_id: str
    #: Where a person can see it (a web URL, or `path:line` for a ledger), when known.
    location: str | None = None


def idempotency_key(*, document_sha256: str, document_id: int, company_id: str) -> str:
    """Same document, same company: same key, whichever process retries and however often."""
    raw = f"{document_sha256}:{document_id}:{company_id}".encode()
    return "courier-" + hashlib.sha256(raw).hexdigest()[:40]


@runtime_checkable
class AccountingProvider(Protocol):
    """An accounting software. Every method may raise the failures of core.accounting.errors."""

    @property
    def name(self) -> str:
        """The registry key, also stored in Integration.provider: "beancount", "xero"..."""
        ...

    @property
    def display_name(self) -> str: ...

    @property
    def auth_kind(self) -> AuthKind: ...

    @property
    def list_kinds(self) -> frozenset[ListKind]:
        """The lists this software has (a ledger has no customers list, say)."""
        ...

    def warning_starts_at(self, grant: Grant) -> datetime | None:
        """When this grant enters the window where the owners are warned it will expire
        (`active` → `expiring`): Xero after 45 of its 60 unused days, QuickBooks near the
        refresh token's expiry or the 5-year cap, Pennylane near the token's date. None
        for a grant that does not expire."""
        ...

    def refresh_due_at(self, grant: Grant) -> datetime | None:
        """When the scheduler should refresh, well inside the lifetimes; None: never."""
        ...

    async def start_authorization(self, *, state: str, redirect_uri: str) -> AuthorizationStart:
        """OAuth2 only: the authorization-code URL carrying `state` (and a PKCE challenge)."""
        ...

    async def connect_with_secret(self, *, secret: str) -> Authorized:
        """TOKEN and LOCAL_FILE: check the token or ledger path and say which company it is."""
        ...

    async def complete_authorization(
        self, *, params: Mapping[str, str], redirect_uri: str, code_verifier: str | None
    ) -> Authorized:
        """OAuth2 only: exchange the callback's `code` (with `realmId`... as the software
        sends them). The service has already checked `state`."""
        ...

    async def refresh(self, *, grant: Grant) -> Grant:
        """A new grant; the caller stores it before anything else, since tokens rotate."""
        ...

    async def load_list(self, *, grant: Grant, company: Company, kind: ListKind) -> list[ListItem]:
        """The whole list as the software has it now, every page."""
        ...

    async def publish_bill(self, *, grant: Grant, company: Company, bill: Bill) -> Published:
        """Create the purchase bill with its file attached. Publishing the same
        `idempotency_key` twice must not make a second bill."""
        ...

    async def disconnect(self, *, grant: Grant, company: Company) -> None:
        """Revoke the grant where the software allows it; otherwise nothing to do."""
        ...


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_iso(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None
