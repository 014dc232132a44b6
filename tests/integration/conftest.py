"""Fixtures for the service tests: a vault, a document store and a small world to act on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from core.db import Database
from core.models import (
    Connection,
    ConnectionCreate,
    Member,
    Role,
    Supplier,
    Workspace,
    WorkspaceCreate,
)
from core.permissions import OPERATOR
from core.services.connections import create_connection
from core.services.members import create_invite, join_workspace
from core.services.workspaces import create_workspace
from core.storage import LocalDocumentStore
from core.vault import Vault, generate_key


@pytest.fixture
def vault() -> Vault:
    return Vault([generate_key()])


@pytest.fixture
def store(tmp_path: Path) -> LocalDocumentStore:
    return LocalDocumentStore(tmp_path / "documents")


@dataclass(frozen=True, slots=True)
class World:
    workspace: Workspace
    owner: Member
    supplier: Supplier
    other_supplier: Supplier


@pytest.fixture
async def world(db: Database) -> World:
    """A bakery with its owner joined, and two suppliers in the catalog."""
    async with db.transaction() as session:
        workspace, invite = await create_workspace(
            session=session,
            data=WorkspaceCreate(name="Boulangerie Dupont"),
            invite_ttl=timedelta(hours=1),
        )
        owner = await join_workspace(
            session=session, code=invite.code, telegram_user_id=1001, display_name="Marie"
        )
        assert owner.role == Role.OWNER
        edf = Supplier(
            key="edf-entreprises",
            name="EDF Entreprises",
            portal="pro",
            portal_url="https://entreprises.edf.fr",
            domains=["edf.fr"],
        )
        orange = Supplier(
            key="orange-pro",
            name="Orange Pro",
            portal="pro",
            portal_url="https://espaceclientpro.orange-business.com",
        )
        session.add_all([edf, orange])
        await session.flush()
    return World(workspace, owner, edf, orange)


async def connect(
    db: Database, vault: Vault, world: World, *, login: str = "compta@dupont.fr"
) -> Connection:
    """The bakery's account at its first supplier, connected by its owner."""
    assert world.workspace.id
    assert world.supplier.id
    assert world.owner.id
    async with db.transaction() as session:
        return await create_connection(
            session=session,
            vault=vault,
            data=ConnectionCreate(
                workspace_id=world.workspace.id,
                supplier_id=world.supplier.id,
                owner_member_id=world.owner.id,
                login=login,
                password=SecretStr("pw"),
            ),
            by=OPERATOR,
        )


async def join(db: Database, world: World, *, role: Role, telegram_user_id: int) -> Member:
    """Another person joins the bakery's workspace with `role`, by an invite."""
    async with db.transaction() as session:
        invite = await create_invite(
            session=session, workspace=world.workspace, role=role, ttl=timedelta(hours=1)
        )
        return await join_workspace(
            session=session,
            code=invite.code,
            telegram_user_id=telegram_user_id,
            display_name=f"Person {telegram_user_id}",
        )
