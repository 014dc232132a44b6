"""Workspaces: one purchase inbox per business, reachable at `<slug>@<mail domain>`."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from slugify import slugify
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.errors import SlugInvalid, SlugTaken, WorkspaceNotFound
from core.models import Role, Workspace, WorkspaceCreate, WorkspacePublic
from core.models.base import utcnow
from core.services.members import NewInvite, create_invite

# A slug is the local part of an address: no "+", which separates the tag in slug+tag@.
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
# Addresses that mail systems reserve, and that must never become someone's inbox.
RESERVED_SLUGS = frozenset(
    {
        "postmaster",
        "abuse",
        "hostmaster",
        "webmaster",
        "mailer-daemon",
        "noreply",
        "no-reply",
        "root",
        "admin",
        "courier",
        "support",
        "security",
    }
)


def make_slug(name: str) -> str:
    return slugify(name, max_length=40, word_boundary=True)


def check_slug(slug: str) -> str:
    if not _SLUG.match(slug) or "--" in slug:
        raise SlugInvalid(slug=slug)
    if slug in RESERVED_SLUGS:
        raise SlugTaken(slug=slug)
    return slug


def inbox_address(workspace: Workspace, mail_domain: str) -> str:
    return f"{workspace.slug}@{mail_domain}"


def to_public(workspace: Workspace, mail_domain: str) -> WorkspacePublic:
    assert workspace.id is not None
    return WorkspacePublic(
        id=workspace.id,
        slug=workspace.slug,
        name=workspace.name,
        locale=workspace.locale,
        timezone=workspace.timezone,
        inbox_address=inbox_address(workspace, mail_domain),
    )


async def create_workspace(
    *,
    session: AsyncSession,
    data: WorkspaceCreate,
    invite_ttl: timedelta,
    now: datetime | None = None,
) -> tuple[Workspace, NewInvite]:
    """Create the workspace and the owner's invite code, in the caller's transaction."""
    slug = check_slug(data.slug if data.slug else make_slug(data.name))
    if await session.scalar(select(Workspace.id).where(Workspace.slug == slug)) is not None:
        raise SlugTaken(slug=slug)
    workspace = Workspace(
        name=data.name.strip(), slug=slug, locale=data.locale, timezone=data.timezone
    )
    session.add(workspace)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as err:  # another process took the slug since the check
        raise SlugTaken(slug=slug) from err
    invite = await create_invite(
        session=session, workspace=workspace, role=Role.OWNER, ttl=invite_ttl, now=now or utcnow()
    )
    return workspace, invite


async def get_workspace(*, session: AsyncSession, slug: str) -> Workspace:
    workspace = (await session.exec(select(Workspace).where(Workspace.slug == slug))).first()
    if workspace is None:
        raise WorkspaceNotFound(slug=slug)
    return workspace


async def workspace_by_id(*, session: AsyncSession, workspace_id: int) -> Workspace:
    workspace = await session.get(Workspace, workspace_id)
    if workspace is None:
        raise WorkspaceNotFound(workspace_id=workspace_id)
    return workspace


async def list_workspaces(*, session: AsyncSession) -> list[Workspace]:
    return list((await session.exec(select(Workspace).order_by(col(Workspace.slug)))).all())
