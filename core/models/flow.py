"""Conversations in progress, kept in the database with the step a person is at.

A flow's row changes in the transaction of the step that moved it, so the step's effects
and the flow's new state commit together: a restart, or another bot process, takes the
conversation up where it was, and a failed step leaves it at its last good step.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger
from sqlmodel import Field, SQLModel

from core.models.base import UTCDateTime, utcnow


class FlowState(SQLModel, table=True):
    #: The interface's key for the conversation (its chat and person), opaque to core.
    key: str = Field(primary_key=True, max_length=200)
    flow: str = Field(max_length=40)
    step: str = Field(max_length=40)
    #: Changes at every step: a button of an earlier step carries an older one and is
    #: refused as expired, not replayed.
    nonce: str = Field(max_length=16)
    #: What the flow remembers between steps: JSON, a secret only ever sealed.
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    #: The step last shown, to show it again with an error when the next one fails.
    shown: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    workspace_id: int | None = Field(
        default=None, foreign_key="workspace.id", ondelete="CASCADE", index=True
    )
    telegram_user_id: int | None = Field(default=None, sa_type=BigInteger)
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
