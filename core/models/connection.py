"""Merchant connections, their runs and their 2FA challenges."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import SecretStr
from sqlalchemy import String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.models.base import SEALED, UTCDateTime, utcnow


class ConnectionState(StrEnum):
    NEW = "new"
    SYNCING = "syncing"
    ACTIVE = "active"
    AWAITING_CODE = "awaiting_code"
    AWAITING_APPROVAL = "awaiting_approval"
    NEEDS_USER = "needs_user"
    AUTH_FAILED = "auth_failed"
    ACTION_REQUIRED = "action_required"
    TEMP_ERROR = "temp_error"
    BROKEN = "broken"
    DISABLED = "disabled"


class ConnectionBase(SQLModel):
    workspace_id: int = Field(foreign_key="workspace.id", ondelete="CASCADE", index=True)
    supplier_id: int = Field(foreign_key="supplier.id", index=True)
    owner_member_id: int = Field(foreign_key="member.id")
    #: None means the full history.
    fetch_from: date | None = None


class ConnectionCreate(ConnectionBase):
    login: str = Field(min_length=1, max_length=200)
    password: SecretStr


class Connection(ConnectionBase, table=True):
    # One supplier account is connected once per workspace, as Home Assistant's unique_id.
    __table_args__ = (UniqueConstraint("workspace_id", "supplier_id", "account_key"),)

    id: int | None = Field(default=None, primary_key=True)
    #: The login as the user typed it: an identifier shown in lists, not a secret.
    login: str = Field(max_length=200)
    account_key: str = Field(max_length=200)
    credentials_sealed: str = Field(sa_type=Text, repr=False, sa_column_kwargs=SEALED)
    session_sealed: str | None = Field(
        default=None, sa_type=Text, repr=False, sa_column_kwargs=SEALED
    )
    state: ConnectionState = Field(default=ConnectionState.NEW, sa_type=String(20), index=True)
    state_changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=60)
    last_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_success_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    next_fetch_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    next_try_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    failure_count: int = 0
    #: Until then a run counts as interactive: someone asked for it and can answer a code.
    interactive_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    claimed_by: str | None = Field(default=None, max_length=80)
    claim_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ConnectionPublic(ConnectionBase):
    id: int
    login: str
    state: ConnectionState
    last_error: str | None
    last_success_at: datetime | None
    next_fetch_at: datetime | None


class RunOutcome(StrEnum):
    RUNNING = "running"
    #: Logged in and listed; what was new (maybe nothing, as most weeks) was brought.
    SUCCESS = "success"
    PARTIAL = "partial"
    #: Logged in, brought nothing, and that is alarming: the site lists no invoice at all,
    #: or none new came for longer than the supplier's rhythm allows.
    EMPTY = "empty"
    ERROR = "error"


class ConnectionRun(SQLModel, table=True):
    """One fetch, recorded apart from the connection's health."""

    id: int | None = Field(default=None, primary_key=True)
    connection_id: int = Field(foreign_key="connection.id", ondelete="CASCADE", index=True)
    interactive: bool = False
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    outcome: RunOutcome = Field(default=RunOutcome.RUNNING, sa_type=String(12))
    #: Invoices in the run's look-back window (known ones included).
    documents_found: int = 0
    documents_new: int = 0
    #: Invoices the site's list showed, whatever their date: 0 says the list is empty.
    #: None: the connector cannot tell, or the run did not get that far.
    documents_listed: int | None = None
    error_code: str | None = Field(default=None, max_length=60)


class ChallengeChannel(StrEnum):
    PAGE = "page"
    EMAIL = "email"
    SMS = "sms"
    TOTP = "totp"
    APP = "app"
    EMAIL_LINK = "email_link"


class ChallengeState(StrEnum):
    OPEN = "open"
    ANSWERED = "answered"
    ACCEPTED = "accepted"
    EXPIRED = "expired"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Challenge(SQLModel, table=True):
    """A pending 2FA request; the answer may come from the chat or from mail."""

    id: int | None = Field(default=None, primary_key=True)
    connection_id: int = Field(foreign_key="connection.id", ondelete="CASCADE", index=True)
    channel: ChallengeChannel = Field(sa_type=String(12))
    masked_destination: str | None = Field(default=None, max_length=80)
    prompt: str | None = Field(default=None, max_length=300)
    state: ChallengeState = Field(default=ChallengeState.OPEN, sa_type=String(12), index=True)
    attempts: int = 0
    max_attempts: int = 3
    expires_at: datetime = Field(sa_type=UTCDateTime)
    #: The submitted code, until the waiting fetch consumes it; cleared right after.
    code_sealed: str | None = Field(default=None, sa_type=Text, repr=False, sa_column_kwargs=SEALED)
    answered_via: str | None = Field(default=None, max_length=12)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
