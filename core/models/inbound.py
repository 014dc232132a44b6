"""Inbound mail: every message accepted by the gateway or taken from a mailbox.

The raw message is stored before its row is committed, and the row is committed before
the SMTP 250 or the IMAP flag: what was accepted is never lost, and is processed after.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.models.base import UTCDateTime, utcnow


class InboundChannel(StrEnum):
    SMTP = "smtp"
    IMAP = "imap"


class InboundState(StrEnum):
    RECEIVED = "received"
    #: Its documents are in the inbox (or were already there).
    DELIVERED = "delivered"
    #: A 2FA code, relayed to the waiting fetch; the message itself is not kept.
    CODE_RELAYED = "code_relayed"
    #: A mail provider's "confirm forwarding" message, passed on to the user.
    CONFIRMATION = "confirmation"
    #: Nothing in it could become a document; kept and reported once.
    NO_DOCUMENT = "no_document"
    #: Processing failed too often; kept, and retryable from the chat.
    FAILED = "failed"


class InboundMessage(SQLModel, table=True):
    __tablename__ = "inbound_message"
    # An IMAP message is taken once per mailbox and UIDVALIDITY, whatever the crashes.
    __table_args__ = (UniqueConstraint("mailbox_id", "uidvalidity", "uid"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int | None = Field(
        default=None, foreign_key="workspace.id", ondelete="CASCADE", index=True
    )
    channel: InboundChannel = Field(sa_type=String(6))
    recipient: str = Field(max_length=320)
    #: The part after "+" in slug+tag@domain, if any.
    tag: str | None = Field(default=None, max_length=64)
    mail_from: str = Field(default="", max_length=320)
    peer: str | None = Field(default=None, max_length=64)
    helo: str | None = Field(default=None, max_length=255)
    message_id: str | None = Field(default=None, max_length=998, index=True)
    sha256: str | None = Field(default=None, max_length=64)
    size: int = 0
    mailbox_id: int | None = Field(default=None, foreign_key="mailbox.id", ondelete="SET NULL")
    uidvalidity: int | None = Field(default=None, sa_type=BigInteger)
    uid: int | None = Field(default=None, sa_type=BigInteger)
    state: InboundState = Field(default=InboundState.RECEIVED, sa_type=String(14), index=True)
    state_reason: str | None = Field(default=None, max_length=60)
    attempts: int = 0
    #: A worker's lease: until then no other worker takes the message.
    claimed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: What processing found: documents, links, sender authentication, for the record.
    outcome: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    processed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


@dataclass(frozen=True, slots=True)
class SetAsideImage:
    """An image of an inbound message kept out of the inbox as decoration, and why.

    Stored in `InboundMessage.outcome["set_aside"]`; the image itself stays in the raw
    message, from which "keep them" files it. `reason` is "shown_in_html" (a cid: logo),
    "tracking_pixel" or "unnamed".
    """

    filename: str
    size: int
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"filename": self.filename, "size": self.size, "reason": self.reason}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SetAsideImage:
        return cls(
            str(data.get("filename", "")), int(data.get("size", 0)), str(data.get("reason", ""))
        )


def set_aside_images(message: InboundMessage) -> tuple[SetAsideImage, ...]:
    """The images a message's processing set aside as decoration, as recorded."""
    recorded = (message.outcome or {}).get("set_aside") or ()
    return tuple(SetAsideImage.from_json(item) for item in recorded if isinstance(item, Mapping))
