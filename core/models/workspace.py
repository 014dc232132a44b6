"""Workspaces (one purchase inbox per business), their members and invite codes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.models.base import UTCDateTime, utcnow


class Locale(StrEnum):
    FR = "fr"
    EN = "en"


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"  # what each may do: core/permissions.py


class WorkspaceBase(SQLModel):
    name: str = Field(min_length=1, max_length=120)
    locale: Locale = Field(default=Locale.FR, sa_type=String(5))
    timezone: str = Field(default="Europe/Paris", max_length=64)


class WorkspaceCreate(WorkspaceBase):
    slug: str | None = None


class Workspace(WorkspaceBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=40, unique=True, index=True)
    #: A background run may wait for a 2FA code that arrives by email (relayed by mail/).
    relay_codes_from_mail: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class WorkspacePublic(WorkspaceBase):
    id: int
    slug: str
    inbox_address: str


class Member(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("workspace_id", "telegram_user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", ondelete="CASCADE", index=True)
    telegram_user_id: int = Field(sa_type=BigInteger, index=True)
    display_name: str = Field(max_length=120)
    role: Role = Field(default=Role.MEMBER, sa_type=String(12))
    language_code: str | None = Field(default=None, max_length=12)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    #: When Telegram said this person blocked the bot (403); cleared when they write again.
    chat_blocked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: The weekly digest (owners and admins get it; on unless they turn it off).
    weekly_digest: bool = Field(default=True, sa_column_kwargs={"server_default": "1"})
    #: The member's own mail address: what they forward from it, authenticated, they vouch for.
    mail_address: str | None = Field(default=None, max_length=320, index=True)


class Invite(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", ondelete="CASCADE", index=True)
    #: sha256 of the code, as the OAuth state is kept: the code itself is shown once.
    code_hash: str = Field(max_length=64, unique=True, index=True)
    role: Role = Field(default=Role.MEMBER, sa_type=String(12))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    used_by_member_id: int | None = Field(default=None, foreign_key="member.id")
