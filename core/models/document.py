"""Documents of the purchase inbox."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Numeric, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.models.base import UTCDateTime, utcnow


class DocumentSource(StrEnum):
    CONNECTOR = "connector"
    EMAIL = "email"
    IMAP = "imap"
    TELEGRAM = "telegram"
    UPLOAD = "upload"
    #: Downloaded from a billing host's link in a mail (mail/links/); `source_url` says where.
    LINK = "link"


#: The key of `Document.fields` that says the reader has been through the document (when,
#: or why it could not). Here, not in the reading service, so that what only checks it
#: (publishing, the bot) does not load the reader and its PDF and image libraries.
READ_MARKER = "_read"


class DocumentState(StrEnum):
    INBOX = "inbox"
    NEEDS_REVIEW = "needs_review"
    PUBLISHED = "published"
    BLOCKED = "blocked"
    FAILED = "failed"
    ARCHIVED = "archived"


class DocumentBase(SQLModel):
    workspace_id: int = Field(foreign_key="workspace.id", ondelete="CASCADE", index=True)
    source: DocumentSource = Field(sa_type=String(12))
    filename: str = Field(max_length=200)
    content_type: str = Field(max_length=100)
    supplier_id: int | None = Field(default=None, foreign_key="supplier.id")
    supplier_name: str | None = Field(default=None, max_length=160)
    external_ref: str | None = Field(default=None, max_length=200)
    issue_date: date | None = None
    total_amount: Decimal | None = Field(default=None, sa_type=Numeric(14, 2))
    currency: str | None = Field(default=None, max_length=3)


class Document(DocumentBase, table=True):
    # Dedupe keys: the same bytes twice, or the same supplier reference twice, is one document.
    __table_args__ = (
        UniqueConstraint("workspace_id", "sha256"),
        UniqueConstraint("workspace_id", "supplier_id", "external_ref"),
    )

    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(max_length=64)
    size: int
    connection_id: int | None = Field(
        default=None, foreign_key="connection.id", ondelete="SET NULL"
    )
    owner_member_id: int | None = Field(default=None, foreign_key="member.id", ondelete="SET NULL")
    state: DocumentState = Field(default=DocumentState.INBOX, sa_type=String(16), index=True)
    state_reason: str | None = Field(default=None, max_length=60)
    #: Each read field: {"name": {"value": ..., "source": ..., "confidence": ...}}.
    fields: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    #: The link a LINK document was downloaded from, kept to show and to fetch again.
    source_url: str | None = Field(default=None, max_length=2048)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class DocumentPublic(DocumentBase):
    id: int
    sha256: str
    state: DocumentState
    received_at: datetime
