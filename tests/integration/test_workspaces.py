"""A business gets a workspace, an inbox address and an invite code; people join with it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from core.db import Database
from core.errors import (
    InviteExpired,
    InviteUnknown,
    InviteUsed,
    SlugInvalid,
    SlugTaken,
    WorkspaceNotFound,
)
from core.models import Role, WorkspaceCreate
from core.models.base import utcnow
from core.services.members import create_invite, join_workspace, list_members
from core.services.workspaces import create_workspace, get_workspace, inbox_address, list_workspaces

HOUR = timedelta(hours=1)


async def test_a_new_workspace_has_a_slug_an_address_and_an_owner_invite(db: Database) -> None:
    async with db.transaction() as session:
        workspace, invite = await create_workspace(
            session=session, data=WorkspaceCreate(name="Café de l'Été"), invite_ttl=HOUR
        )
    assert workspace.slug == "cafe-de-l-ete"
    assert inbox_address(workspace, "in.example.com") == "cafe-de-l-ete@in.example.com"
    assert invite.role == Role.OWNER
    assert len(invite.code) >= 12


async def test_a_taken_slug_is_refused_and_nothing_is_half_written(db: Database) -> None:
    async with db.transaction() as session:
        await create_workspace(session=session, data=WorkspaceCreate(name="Acme"), invite_ttl=HOUR)
    with pytest.raises(SlugTaken):
        async with db.transaction() as session:
            await create_workspace(
                session=session, data=WorkspaceCreate(name="ACME"), invite_ttl=HOUR
            )
    async with db.transaction() as session:
        assert [w.slug for w in await list_workspaces(session=session)] == ["acme"]


@pytest.mark.parametrize("slug", ["postmaster", "abuse"])
async def test_reserved_mail_names_are_never_an_inbox(db: Database, slug: str) -> None:
    with pytest.raises(SlugTaken):
        async with db.transaction() as session:
            await create_workspace(
                session=session, data=WorkspaceCreate(name="x", slug=slug), invite_ttl=HOUR
            )


@pytest.mark.parametrize("slug", ["a+b", "Has Space", "-dash", "x" * 41, "a--b", ""])
async def test_a_slug_that_cannot_be_an_address_is_refused(db: Database, slug: str) -> None:
    with pytest.raises(SlugInvalid):
        async with db.transaction() as session:
            await create_workspace(
                session=session,
                data=WorkspaceCreate(name="Shop", slug=slug or "!"),
                invite_ttl=HOUR,
            )


async def test_an_unknown_workspace_is_a_clear_error(db: Database) -> None:
    async with db.transaction() as session:
        with pytest.raises(WorkspaceNotFound) as caught:
            await get_workspace(session=session, slug="nope")
    assert caught.value.params == {"slug": "nope"}


async def test_an_invite_joins_once_and_then_is_spent(db: Database) -> None:
    async with db.transaction() as session:
        workspace, _ = await create_workspace(
            session=session, data=WorkspaceCreate(name="Acme"), invite_ttl=HOUR
        )
        invite = await create_invite(
            session=session, workspace=workspace, role=Role.ADMIN, ttl=HOUR
        )
    async with db.transaction() as session:
        bob = await join_workspace(
            session=session, code=invite.code, telegram_user_id=7, display_name="Bob"
        )
    assert bob.role == Role.ADMIN
    # Bob using his code again is harmless; Carol using Bob's spent code is refused.
    async with db.transaction() as session:
        again = await join_workspace(
            session=session, code=invite.code, telegram_user_id=7, display_name="Bob"
        )
    assert again.id == bob.id
    with pytest.raises(InviteUsed):
        async with db.transaction() as session:
            await join_workspace(
                session=session, code=invite.code, telegram_user_id=8, display_name="Carol"
            )
    async with db.transaction() as session:
        assert workspace.id is not None
        assert [
            m.display_name for m in await list_members(session=session, workspace_id=workspace.id)
        ] == ["Bob"]


async def test_an_expired_or_unknown_invite_is_refused(db: Database) -> None:
    async with db.transaction() as session:
        _workspace, invite = await create_workspace(
            session=session, data=WorkspaceCreate(name="Acme"), invite_ttl=HOUR
        )
    with pytest.raises(InviteExpired):
        async with db.transaction() as session:
            await join_workspace(
                session=session,
                code=invite.code,
                telegram_user_id=9,
                display_name="Late",
                now=utcnow() + 2 * HOUR,
            )
    with pytest.raises(InviteUnknown):
        async with db.transaction() as session:
            await join_workspace(
                session=session, code="not-a-code", telegram_user_id=9, display_name="X"
            )


async def test_one_person_can_belong_to_many_workspaces(db: Database) -> None:
    async with db.transaction() as session:
        _, first = await create_workspace(
            session=session, data=WorkspaceCreate(name="Client A"), invite_ttl=HOUR
        )
        _, second = await create_workspace(
            session=session, data=WorkspaceCreate(name="Client B"), invite_ttl=HOUR
        )
        a = await join_workspace(
            session=session, code=first.code, telegram_user_id=42, display_name="Firm"
        )
        b = await join_workspace(
            session=session, code=second.code, telegram_user_id=42, display_name="Firm"
        )
    assert a.workspace_id != b.workspace_id


async def test_a_copy_of_the_database_holds_no_invite_code(db: Database) -> None:
    """Whoever reads the database (a backup, a copied file) finds no code to join with:
    only its hash, as the OAuth state is kept."""
    async with db.transaction() as session:
        workspace, owner = await create_workspace(
            session=session, data=WorkspaceCreate(name="Acme"), invite_ttl=HOUR
        )
        member = await create_invite(session=session, workspace=workspace, ttl=HOUR)
    async with db.engine.connect() as connection:
        rows = (await connection.execute(text("SELECT * FROM invite"))).all()
    stored = " ".join(str(value) for row in rows for value in row)
    assert len(rows) == 2
    for code in (owner.code, member.code):
        assert code not in stored
    async with db.transaction() as session:
        joined = await join_workspace(
            session=session, code=f" {member.code} ", telegram_user_id=9, display_name="Dan"
        )
    assert joined.role == Role.MEMBER
