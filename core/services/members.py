"""Members and invite codes. A code joins one person, once, before it expires.

Only a code's sha256 is stored: the code is given once, when it is made (`NewInvite`), so
a copy of the database joins no one.
"""

from __future__ import annotations

import hashlib
import secrets
import string
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.errors import (
    AnswerInvalid,
    InviteExpired,
    InviteUnknown,
    InviteUsed,
    MemberNotInWorkspace,
)
from core.models import Invite, Member, Role, Workspace
from core.models.base import utcnow

#: Letters and digits only: an invite code fits a Telegram deep link (start=…, at most 64
#: of [A-Za-z0-9_-]), and never begins with "-", which a command line takes for an option
#: (`courier workspace join -Xy…` failed once in 64 codes with url-safe base64).
_CODE_ALPHABET = string.ascii_letters + string.digits


def new_invite_code() -> str:
    """12 characters, 71 bits: unguessable while it lives."""
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(12))


def hash_invite_code(code: str) -> str:
    return hashlib.sha256(code.strip().encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class NewInvite:
    """An invite just made, with its code: the only time the code is known."""

    code: str = field(repr=False)
    role: Role
    expires_at: datetime
    workspace_id: int


async def create_invite(
    *,
    session: AsyncSession,
    workspace: Workspace,
    role: Role = Role.MEMBER,
    ttl: timedelta,
    now: datetime | None = None,
) -> NewInvite:
    assert workspace.id is not None
    now = now or utcnow()
    code = new_invite_code()
    invite = Invite(
        workspace_id=workspace.id,
        code_hash=hash_invite_code(code),
        role=role,
        expires_at=now + ttl,
    )
    session.add(invite)
    await session.flush()
    return NewInvite(
        code=code, role=Role(invite.role), expires_at=invite.expires_at, workspace_id=workspace.id
    )


async def join_workspace(
    *,
    session: AsyncSession,
    code: str,
    telegram_user_id: int,
    display_name: str,
    language_code: str | None = None,
    now: datetime | None = None,
) -> Member:
    """Spend an invite code. Someone already in the workspace keeps their role and the code."""
    now = now or utcnow()
    invite = (
        await session.exec(
            select(Invite).where(Invite.code_hash == hash_invite_code(code)).with_for_update()
        )
    ).first()
    if invite is None:
        raise InviteUnknown()
    existing = await find_member(
        session=session, workspace_id=invite.workspace_id, telegram_user_id=telegram_user_id
    )
    if existing is not None:
        return existing
    if invite.used_at is not None:
        raise InviteUsed()
    if invite.expires_at <= now:
        raise InviteExpired(expired_at=invite.expires_at.isoformat(timespec="minutes"))
    member = Member(
        workspace_id=invite.workspace_id,
        telegram_user_id=telegram_user_id,
        display_name=display_name[:120],
        role=invite.role,
        language_code=language_code,
    )
    session.add(member)
    await session.flush()
    invite.used_at = now
    invite.used_by_member_id = member.id
    session.add(invite)
    await session.flush()
    return member


async def find_member(
    *, session: AsyncSession, workspace_id: int, telegram_user_id: int
) -> Member | None:
    query = select(Member).where(
        Member.workspace_id == workspace_id, Member.telegram_user_id == telegram_user_id
    )
    return (await session.exec(query)).first()


async def get_member(*, session: AsyncSession, workspace_id: int, member_id: int) -> Member:
    member = await session.get(Member, member_id)
    if member is None or member.workspace_id != workspace_id:
        raise MemberNotInWorkspace(member_id=member_id)
    return member


async def list_members(*, session: AsyncSession, workspace_id: int) -> list[Member]:
    query = select(Member).where(Member.workspace_id == workspace_id).order_by(col(Member.id))
    return list((await session.exec(query)).all())


async def set_mail_address(*, session: AsyncSession, member: Member, address: str | None) -> None:
    """The address `member` forwards invoices from; None forgets it.

    What arrives from it, authenticated as its own domain, is trusted as the member's word.
    """
    normalised = normalise_address(address) if address else None
    if normalised == "":
        raise AnswerInvalid(field="mail_address", reason="not_an_address")
    member.mail_address = normalised
    session.add(member)
    await session.flush()


async def member_by_address(
    *, session: AsyncSession, workspace_id: int, address: str
) -> Member | None:
    wanted = normalise_address(address)
    if not wanted:
        return None
    query = (
        select(Member)
        .where(Member.workspace_id == workspace_id, Member.mail_address == wanted)
        .order_by(col(Member.id))
    )
    return (await session.exec(query)).first()


def normalise_address(address: str) -> str:
    """Lower case, no angle brackets: "<Marie@Acme.fr>" and "marie@acme.fr" are one."""
    text = address.strip().strip("<>").strip().lower()
    return text if text.count("@") == 1 and len(text) <= 320 else ""
