"""Fixtures for the service tests: a vault, a document store and a small world to act on."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from obstore.store import S3Store
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
from core.storage_s3 import S3DocumentStore, S3Location
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


# --- A bucket for the S3 document store (issue #19) -------------------------------------
#: Credentials the tests hand the store, distinctive so a test can look for them anywhere.
S3_KEY_ID = "AKIACOURIERTESTKEY01"
S3_SECRET = "courier-test-secret-7Hq9vZ2mX4"


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[str]:
    """moto's S3 in server mode on loopback, one per test process: its endpoint URL. The
    store talks real HTTP to it, signed requests and all, as it would to AWS or MinIO."""
    from moto.server import ThreadedMotoServer

    # Werkzeug logs each request at INFO; the store's own logging is what tests read.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_location(moto_s3: str) -> S3Location:
    """A new empty bucket, and where the store finds it."""
    bucket = f"courier-{uuid.uuid4().hex[:16]}"
    httpx.put(f"{moto_s3}/{bucket}").raise_for_status()
    return S3Location(
        bucket=bucket,
        endpoint_url=moto_s3,
        prefix="documents",
        access_key_id=SecretStr(S3_KEY_ID),
        secret_access_key=SecretStr(S3_SECRET),
        timeout_seconds=5.0,
        max_retries=1,
    )


@pytest.fixture
def s3_store(s3_location: S3Location) -> S3DocumentStore:
    return S3DocumentStore(s3_location)


def bucket_keys(location: S3Location) -> set[str]:
    """Every key in the store's bucket, read over S3's own listing."""
    listing = httpx.get(f"{location.endpoint_url}/{location.bucket}?list-type=2")
    listing.raise_for_status()
    return set(re.findall(r"<Key>([^<]+)</Key>", listing.text))


def other_host(location: S3Location) -> S3Store:
    """A client of the same bucket that is not the store: what another host sees of it."""
    return S3Store(
        location.bucket,
        prefix=location.prefix or None,
        config={
            "endpoint": location.endpoint_url or "",
            "region": location.region,
            "access_key_id": S3_KEY_ID,
            "secret_access_key": S3_SECRET,
        },
        client_options={"allow_http": True},
    )
