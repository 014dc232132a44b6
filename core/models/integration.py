"""Links to accounting software, their lists, and the rules that survive them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.models.base import SEALED, UTCDateTime, utcnow


class IntegrationState(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    EXPIRING = "expiring"
    EXPIRED = "expired"
    DISCONNECTED = "disconnected"


class ListKind(StrEnum):
    ACCOUNTS = "accounts"
    SUPPLIERS = "suppliers"
    CUSTOMERS = "customers"
    TAX_RATES = "tax_rates"


class Integration(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", ondelete="CASCADE", index=True)
    provider: str = Field(max_length=20)
    state: IntegrationState = Field(default=IntegrationState.PENDING, sa_type=String(14))
    #: The company at the provider (Xero tenant, QuickBooks realm, ledger path...).
    company_id: str | None = Field(default=None, max_length=200)
    company_name: str | None = Field(default=None, max_length=200)
    tokens_sealed: str | None = Field(
        default=None, sa_type=Text, repr=False, sa_column_kwargs=SEALED
    )
    access_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    refresh_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    authorized_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: Why the last call to the software failed (a key, never a secret), or None.
    last_error: str | None = Field(default=None, max_length=300)
    state_changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ListEntry(SQLModel, table=True):
    """One item of an integration's list: an account, a contact or a tax rate."""

    __table_args__ = (UniqueConstraint("integration_id", "kind", "code"),)

    id: int | None = Field(default=None, primary_key=True)
    integration_id: int = Field(foreign_key="integration.id", ondelete="CASCADE", index=True)
    kind: ListKind = Field(sa_type=String(12))
    code: str = Field(max_length=120)
    name: str = Field(max_length=200)
    extra: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


class ListLoad(SQLModel, table=True):
    """When each list was last loaded, and how many entries it had."""

    __table_args__ = (UniqueConstraint("integration_id", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    integration_id: int = Field(foreign_key="integration.id", ondelete="CASCADE", index=True)
    kind: ListKind = Field(sa_type=String(12))
    count: int = 0
    loaded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PartyKind(StrEnum):
    SUPPLIER = "supplier"
    CUSTOMER = "customer"


class Rule(SQLModel, table=True):
    """A supplier or customer rule. It belongs to the workspace, so it outlives integrations."""

    __table_args__ = (UniqueConstraint("workspace_id", "party_kind", "party_key"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", ondelete="CASCADE", index=True)
    party_kind: PartyKind = Field(default=PartyKind.SUPPLIER, sa_type=String(10))
    party_name: str = Field(max_length=160)
    #: Folded name, so "EDF" and "edf " are one rule.
    party_key: str = Field(max_length=160)
    supplier_id: int | None = Field(default=None, foreign_key="supplier.id")
    account_code: str | None = Field(default=None, max_length=120)
    tax_rate_code: str | None = Field(default=None, max_length=120)
    #: The party's code in the software's suppliers (or customers) list, when matched.
    contact_code: str | None = Field(default=None, max_length=120)
    #: The tax code a person chose for a VAT rate of this supplier's bills, by the rate
    #: in percent as text (`{"8.5": "TAX085"}`): asked once, when the software had no code
    #: of that rate (core/services/publish_questions.py).
    tax_codes: dict[str, str] | None = Field(default=None, sa_type=JSON)
    auto_publish: bool = False
    #: Why the rule cannot be applied right now (e.g. its account was deleted), or None.
    flagged: str | None = Field(default=None, max_length=60)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PublicationState(StrEnum):
    #: Claimed by a publisher (until `claimed_until`), or about to be.
    PENDING = "pending"
    PUBLISHED = "published"
    #: Rate-limited or the software unavailable: tried again at `next_try_at`.
    WAITING = "waiting"
    #: Held: the integration expired, or the rule cannot be applied. Released, never dropped.
    BLOCKED = "blocked"
    #: The software refused the bill (validation, duplicate); a person must act.
    FAILED = "failed"


class Publication(SQLModel, table=True):
    """One document published (or on its way) to one integration: the bill is made once."""

    __table_args__ = (
        UniqueConstraint("integration_id", "document_id"),
        UniqueConstraint("integration_id", "idempotency_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", ondelete="CASCADE", index=True)
    integration_id: int = Field(foreign_key="integration.id", ondelete="CASCADE", index=True)
    document_id: int = Field(foreign_key="document.id", ondelete="CASCADE", index=True)
    idempotency_key: str = Field(max_length=80)
    state: PublicationState = Field(
        default=PublicationState.PENDING, sa_type=String(10), index=True
    )
    #: A key: integration_expired, rule_flagged, rate_limited, unavailable, rejected...
    reason: str | None = Field(default=None, max_length=60)
    #: The software's own words on a refusal (never a secret).
    detail: str | None = Field(default=None, max_length=500)
    external_id: str | None = Field(default=None, max_length=200)
    location: str | None = Field(default=None, max_length=500)
    attempts: int = 0
    next_try_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    claimed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AuthorizationPurpose(StrEnum):
    CONNECT = "connect"
    RECONNECT = "reconnect"
    CHANGE = "change"
    #: A supplier connection signed in by the owner's consent (core/suppliers/oauth.py).
    SUPPLIER = "supplier"


class AuthorizationRequest(SQLModel, table=True):
    """An OAuth2 authorisation under way: its `state`, single-use, expiring, tied to the
    workspace and the member who started it. Only the state's hash is stored."""

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", ondelete="CASCADE", index=True)
    member_id: int | None = Field(default=None, foreign_key="member.id", ondelete="CASCADE")
    provider: str = Field(max_length=20)
    purpose: AuthorizationPurpose = Field(sa_type=String(10))
    #: The integration a reconnect renews, or the one a change replaces.
    integration_id: int | None = Field(
        default=None, foreign_key="integration.id", ondelete="CASCADE"
    )
    #: The supplier connection a `supplier` consent signs in (its `provider` is the
    #: supplier's catalog key).
    connection_id: int | None = Field(default=None, foreign_key="connection.id", ondelete="CASCADE")
    state_hash: str = Field(max_length=64, unique=True)
    code_verifier_sealed: str | None = Field(
        default=None, sa_type=Text, repr=False, sa_column_kwargs=SEALED
    )
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
