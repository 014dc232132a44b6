"""AWS, Meta and Qonto accounts connected with their keys: whole runs through the fetch runner.

Each story goes through the stand-in over HTTP: the invoices (or receipts) arrive once
with the amount, date and currency the API gave; an expired or revoked key leaves the
connection waiting for new credentials, with the reason recorded; a throttled API puts
the connection in back-off no sooner than the API asked.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal

from pydantic import SecretStr
from sqlmodel import select

from core.db import Database
from core.models import (
    Connection,
    ConnectionCreate,
    ConnectionState,
    Document,
    RunOutcome,
    Supplier,
)
from core.permissions import OPERATOR
from core.services.connections import create_connection
from core.services.fetch import ConnectionRunner
from core.storage import LocalDocumentStore
from core.suppliers.api.aws import AwsConnector
from core.suppliers.api.meta import MetaAdsConnector
from core.suppliers.api.qonto import QontoConnector
from core.suppliers.connector import SupplierConnector
from core.vault import Vault
from courier.connectors import build_registry
from tests.integration.conftest import World
from tests.standins import Fault, Switches, running
from tests.standins import aws as aws_standin
from tests.standins import meta as meta_standin
from tests.standins import qonto as qonto_standin

TODAY = date(2026, 12, 6)


async def _connect(
    db: Database, vault: Vault, world: World, *, key: str, name: str, login: str, secret: str
) -> int:
    assert world.workspace.id
    assert world.owner.id
    async with db.transaction() as session:
        supplier = (await session.exec(select(Supplier).where(Supplier.key == key))).first()
        if supplier is None:
            supplier = Supplier(
                key=key,
                name=name,
                portal_url=f"https://{key}.example",
                connector_kind="api",
                connector_available=True,
                domains=[f"{key}.example"],
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
                password=SecretStr(secret),
            ),
            by=OPERATOR,
        )
    assert connection.id is not None
    return connection.id


def _runner(
    db: Database, vault: Vault, store: LocalDocumentStore, make: Callable[[], SupplierConnector]
) -> ConnectionRunner:
    # What each connector gives, as the shipped registry declares it (courier/connectors.py).
    return ConnectionRunner(
        db=db,
        store=store,
        vault=vault,
        connector_for=lambda s: make(),
        gives=build_registry().gives,
    )


async def _documents(db: Database) -> list[Document]:
    async with db.read() as session:
        return list((await session.exec(select(Document))).all())


async def test_an_aws_account_delivers_its_invoices_with_their_totals(
    db: Database, vault: Vault, store: LocalDocumentStore, world: World
) -> None:
    connection_id = await _connect(
        db, vault, world, key="aws", name="AWS", login=aws_standin.KEY_ID, secret=aws_standin.SECRET
    )
    async with running(aws_standin.create_app()) as origin:
        runner = _runner(
            db,
            vault,
            store,
            lambda: AwsConnector(invoicing_url=origin, sts_url=origin, today=TODAY),
        )
        result = await runner.run(connection_id)
        again = await runner.run(connection_id)
    invoices = [i for i in aws_standin.SEEDED if i.invoice_type != "PAYMENT_RECEIPT"]
    assert (result.outcome, result.state, result.new) == (
        RunOutcome.SUCCESS,
        ConnectionState.ACTIVE,
        len(invoices),
    )
    assert again.new == 0
    documents = {d.external_ref: d for d in await _documents(db)}
    assert set(documents) == {i.invoice_id for i in invoices}
    newest = documents["EUINFR26-1200001"]
    assert (newest.issue_date, newest.total_amount, newest.currency) == (
        date(2026, 12, 2),
        Decimal("41.20"),
        "EUR",
    )
    assert (await store.get(newest.sha256)).startswith(b"%PDF-")
    # The account's own records, kept as fields for the reading to merge.
    assert newest.fields["invoice_number"] == {
        "value": "EUINFR26-1200001",
        "source": "connector",
        "confidence": 1.0,
    }
    assert newest.fields["total_incl_tax"]["value"] == "41.20"


async def test_an_expired_aws_key_waits_for_new_credentials(
    db: Database, vault: Vault, store: LocalDocumentStore, world: World
) -> None:
    connection_id = await _connect(
        db,
        vault,
        world,
        key="aws",
        name="AWS",
        login=aws_standin.EXPIRED_KEY_ID,
        secret=aws_standin.EXPIRED_SECRET,
    )
    async with running(aws_standin.create_app()) as origin:
        runner = _runner(
            db, vault, store, lambda: AwsConnector(invoicing_url=origin, sts_url=origin)
        )
        result = await runner.run(connection_id)
    assert (result.state, result.error) == (ConnectionState.AUTH_FAILED, "credentials_expired")
    async with db.read() as session:
        connection = await session.get(Connection, connection_id)
    assert connection is not None
    assert connection.next_fetch_at is None  # no retry until the user gives a new key
    assert await _documents(db) == []
    # The key is sealed at rest like every connection's credentials, and named nowhere.
    assert aws_standin.EXPIRED_SECRET not in connection.credentials_sealed
    assert aws_standin.EXPIRED_SECRET not in repr(connection)
    assert aws_standin.EXPIRED_SECRET not in (connection.last_error or "")


async def test_a_throttled_aws_api_is_tried_again_later(
    db: Database, vault: Vault, store: LocalDocumentStore, world: World
) -> None:
    connection_id = await _connect(
        db, vault, world, key="aws", name="AWS", login=aws_standin.KEY_ID, secret=aws_standin.SECRET
    )
    switches = Switches(fault=Fault.RATE_LIMITED)
    async with running(aws_standin.create_app(switches=switches)) as origin:
        runner = _runner(
            db, vault, store, lambda: AwsConnector(invoicing_url=origin, sts_url=origin)
        )
        result = await runner.run(connection_id)
    assert (result.outcome, result.state) == (RunOutcome.ERROR, ConnectionState.TEMP_ERROR)
    async with db.read() as session:
        connection = await session.get(Connection, connection_id)
    assert connection is not None
    assert connection.next_try_at is not None


async def test_qonto_receipts_arrive_linked_to_their_payments(
    db: Database, vault: Vault, store: LocalDocumentStore, world: World
) -> None:
    connection_id = await _connect(
        db,
        vault,
        world,
        key="qonto",
        name="Qonto",
        login=qonto_standin.SLUG,
        secret=qonto_standin.SECRET,
    )
    async with running(qonto_standin.create_app()) as origin:
        runner = _runner(db, vault, store, lambda: QontoConnector(base_url=origin, per_page=2))
        result = await runner.run(connection_id)
        again = await runner.run(connection_id)
    assert (result.outcome, result.state, result.new) == (
        RunOutcome.SUCCESS,
        ConnectionState.ACTIVE,
        6,
    )
    assert again.new == 0
    documents = {d.external_ref: d for d in await _documents(db)}
    metro = documents["b7e1a2c3-0001-4000-9000-0000000000a1"]
    assert (metro.issue_date, metro.total_amount, metro.currency) == (
        date(2026, 11, 28),
        Decimal("89.90"),
        "EUR",
    )
    photo = documents[qonto_standin.PHOTO]
    assert photo.content_type == "image/jpeg"


async def test_a_revoked_qonto_key_and_a_rate_limit(
    db: Database, vault: Vault, store: LocalDocumentStore, world: World
) -> None:
    revoked = await _connect(
        db, vault, world, key="qonto", name="Qonto", login=qonto_standin.SLUG, secret="qsk_old"
    )
    switches = Switches()
    async with running(qonto_standin.create_app(switches=switches)) as origin:
        runner = _runner(db, vault, store, lambda: QontoConnector(base_url=origin))
        refused = await runner.run(revoked)
        limited_id = await _connect(
            db,
            vault,
            world,
            key="qonto",
            name="Qonto",
            login="boulangerie-dupont-annexe",
            secret=qonto_standin.SECRET,
        )
        switches.fault, switches.retry_after = Fault.RATE_LIMITED, 3 * 3600
        limited = await runner.run(limited_id)
    assert (refused.state, refused.error) == (ConnectionState.AUTH_FAILED, "login_refused")
    assert limited.state == ConnectionState.TEMP_ERROR
    assert limited.retry_after == 3 * 3600
    async with db.read() as session:
        connection = await session.get(Connection, limited_id)
    assert connection is not None
    assert connection.next_try_at is not None
    assert connection.last_attempt_at is not None
    # Retry-After (three hours) outweighs the first back-off step (five minutes).
    assert connection.next_try_at - connection.last_attempt_at >= timedelta(hours=3)


async def test_a_meta_business_expired_token_then_a_rate_limit(
    db: Database, vault: Vault, store: LocalDocumentStore, world: World
) -> None:
    expired = await _connect(
        db,
        vault,
        world,
        key="meta-ads",
        name="Meta Ads",
        login="2029384756102938",
        secret=meta_standin.EXPIRED_TOKEN,
    )
    switches = Switches()
    async with running(meta_standin.create_app(switches=switches)) as origin:
        runner = _runner(db, vault, store, lambda: MetaAdsConnector(base_url=origin, today=TODAY))
        refused = await runner.run(expired)
        good = await _connect(
            db,
            vault,
            world,
            key="meta-ads",
            name="Meta Ads",
            login=meta_standin.BUSINESS_ID,
            secret=meta_standin.TOKEN,
        )
        switches.fault, switches.retry_after = Fault.RATE_LIMITED, 2 * 3600
        limited = await runner.run(good)
        switches.fault = None
        fetched = await runner.run(good)
    assert (refused.state, refused.error) == (ConnectionState.AUTH_FAILED, "credentials_expired")
    assert (limited.state, limited.retry_after) == (ConnectionState.TEMP_ERROR, 2 * 3600)
    async with db.read() as session:
        connection = await session.get(Connection, good)
    assert connection is not None
    assert fetched.state == ConnectionState.ACTIVE
    assert fetched.new == len([i for i in meta_standin.SEEDED if i.kind != "PRO_FORMA"])
