"""IMAP mailboxes that Courier watches for invoices and codes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import SecretStr
from sqlalchemy import BigInteger, String, Text
from sqlmodel import Field, SQLModel

from core.models.base import SEALED, UTCDateTime, utcnow


class MailboxAuth(StrEnum):
    PASSWORD = "password"
    OAUTH2 = "oauth2"


class AfterProcessing(StrEnum):
    MARK_SEEN = "mark_seen"
    MOVE = "move"
    FLAG = "flag"


class MailboxState(StrEnum):
    ACTIVE = "active"
    ERROR = "error"
    PAUSED = "paused"


class MailboxBase(SQLModel):
    workspace_id: int = Field(foreign_key="workspace.id", ondelete="CASCADE", index=True)
    host: str = Field(min_length=1, max_length=200)
    port: int = Field(default=993, ge=1, le=65535)
    username: str = Field(min_length=1, max_length=200)
    auth: MailboxAuth = Field(default=MailboxAuth.PASSWORD, sa_type=String(10))
    folder: str = Field(default="INBOX", max_length=200)
    after: AfterProcessing = Field(default=AfterProcessing.MARK_SEEN, sa_type=String(10))
    move_to: str | None = Field(default=None, max_length=200)


class MailboxCreate(MailboxBase):
    secret: SecretStr


class Mailbox(MailboxBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    secret_sealed: str = Field(sa_type=Text, repr=False, sa_column_kwargs=SEALED)
    state: MailboxState = Field(default=MailboxState.ACTIVE, sa_type=String(8))
    last_error: str | None = Field(default=None, max_length=60)
    uidvalidity: int | None = Field(default=None, sa_type=BigInteger)
    last_uid: int = Field(default=0, sa_type=BigInteger)
    last_polled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: Back-off after errors: a bad password is not retried in a tight loop.
    next_poll_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    failure_count: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
