"""A DigitalOcean account connected with a read-only token: its invoices arrive over HTTP."""

from __future__ import annotations

from pydantic import SecretStr
from sqlmodel import select

from core.db import Database
from core.models import ConnectionCreate, ConnectionState, Document, RunOutcome, Supplier
from core.permissions import OPERATOR
from core.services.connections import create_connection
from core.services.fetch import ConnectionRunner
from core.storage import LocalDocumentStore
from core.suppliers.api.digitalocean import DigitalOceanConnector
from core.vault import Vault
from tests.integration.conftest import World
from tests.standins import Fault, Switches, running
from tests.standins.digitalocean import SEEDED, TOKEN, create_app


async def _connect(
    db: Database, vault: Vault, world: World, token: str, *, login: str = "billing@dupont.fr"
) -> int:
    """A DigitalOcean account of the bakery's; the supplier is added on first use."""
    assert world.workspace.id
    assert world.owner.id
    async with db.transaction() as session:
        supplier = (
            await session.exec(select(Supplier).where(Supplier.key == "digitalocean"))
        ).first() or Supplier(
            key="digitalocean",
            name="DigitalOcean",
            portal_url="https://cloud.digitalocean.com",
            connector_kind="api",
            connector_available=True,
            domains=["digitalocean.com"],
        )
        session.add(supplier)
        await session.flush()
        assert supplier.id is not None
        connection = await create_connection(
            session=session,
            vault=vault,
            data=ConnectionCreate(
                workspace_id=world.workspace.id,
                supplier_id=supplier.id,
                owner_member_id=world.owner.id,
                login=login,
                password=SecretStr(token),
            ),
            by=OPERATOR,
        )
    assert connection.id is not None
    return connection.id


async def test_every_invoice_of_the_account_arrives_once(
    db: Database, vault: Vault, store: LocalDocumentStore, world: World
) -> None:
    connection_id = await _connect(db, vault, world, TOKEN)
    async with running(create_app()) as origin:
        runner = ConnectionRunner(
            db=db,
            store=store,
            vault=vault,
            connector_for=lambda s: DigitalOceanConnector(base_url=origin, per_page=2),
        )
        result = await runner.run(connection_id)
        again = await runner.run(connection_id)
    assert (result.outcome, result.state, result.new) == (
        RunOutcome.SUCCESS,
        ConnectionState.ACTIVE,
        len(SEEDED),
    )
    assert again.new == 0
    async with db.read() as session:
        documents = (await session.exec(select(Document))).all()
    assert {d.external_ref for d in documents} == {i.invoice_uuid for i in SEEDED}
    for document in documents:
        assert (await store.get(document.sha256)).startswith(b"%PDF-")


async def test_a_revoked_token_ends_in_auth_failed_and_a_rate_limit_in_back_off(
    db: Database, vault: Vault, store: LocalDocumentStore, world: World
) -> None:
    connection_id = await _connect(db, vault, world, "dop_v1_revoked")
    switches = Switches()
    async with running(create_app(switches=switches)) as origin:
        runner = ConnectionRunner(
            db=db,
            store=store,
            vault=vault,
            connector_for=lambda s: DigitalOceanConnector(base_url=origin),
        )
        refused = await runner.run(connection_id)
    assert (refused.state, refused.error) == (ConnectionState.AUTH_FAILED, "login_refused")
    other_id = await _connect(db, vault, world, TOKEN, login="ops@dupont.fr")
    switches.fault = Fault.RATE_LIMITED
    async with running(create_app(switches=switches)) as origin:
        runner = ConnectionRunner(
            db=db,
            store=store,
            vault=vault,
            connector_for=lambda s: DigitalOceanConnector(base_url=origin),
        )
        limited = await runner.run(other_id)
    assert limited.state == ConnectionState.TEMP_ERROR
    assert limited.retry_after is not None
    assert limited.retry_after > 0
