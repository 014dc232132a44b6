"""Chat conversations kept in the database: the step a person is at, and their active
workspace. Several bot processes share these rows, and a restart keeps them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger
from sqlmodel import Field, SQLModel

from core.models.base import UTCDateTime, utcnow


class Conversation(SQLModel, table=True):
    """One conversation's step and data, by an opaque key (chat, user, destiny)."""

    key: str = Field(primary_key=True, max_length=200)
    state: str | None = Field(default=None, max_length=120)
    #: Never a secret in clear: a conversation seals what it must keep (a password).
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ChatUser(SQLModel, table=True):
    """A person as the chat knows them: which of their workspaces they act in."""

    telegram_user_id: int = Field(sa_type=BigInteger, primary_key=True)
    active_workspace_id: int | None = Field(
        default=None, foreign_key="workspace.id", ondelete="SET NULL"
    )
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
