"""The outbox: core speaks to people by writing rows that bot/ delivers."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, String
from sqlmodel import Field, SQLModel

from core.models.base import UTCDateTime, utcnow


class NotificationState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    #: The chat cannot be reached for good (it blocked the bot): not retried.
    UNDELIVERABLE = "undeliverable"


class Notification(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int | None = Field(
        default=None, foreign_key="workspace.id", ondelete="CASCADE", index=True
    )
    recipient_member_id: int | None = Field(
        default=None, foreign_key="member.id", ondelete="CASCADE"
    )
    kind: str = Field(max_length=40)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    #: One row per key: "integration 3 expired at T" alerts once, not once per document.
    dedupe_key: str | None = Field(default=None, max_length=200, unique=True)
    state: NotificationState = Field(
        default=NotificationState.PENDING, sa_type=String(14), index=True
    )
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
