"""A Mollie organization connected with its access token: whole runs through the fetch
runner, against the Invoices API stand-in over HTTP."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from core.db import Database
from core.models import Connection, ConnectionState, RunOutcome
from core.storage import LocalDocumentStore
from core.suppliers.api.mollie import MollieConnector
from core.vault import Vault
from tests.integration.conftest import World
from tests.integration.fetch.test_official_api_runs import _connect, _documents, _runner
from tests.standins import Fault, Switches, running
from tests.standins import mollie as mollie_standin


async def test_a_mollie_organization_delivers_its_invoices_with_their_totals(
    db: Database, vault: Vault, store: LocalDocumentStore, world: World
) -> None:
    connection_id = await _connect(
        db,
        vault,
        world,
        key="mollie",
        name="Mollie",
        login=mollie_standin.ORGANIZATION,
        secret=mollie_standin.TOKEN,
    )
    async with running(mollie_standin.create_app()) as origin:
        runner = _runner(db, vault, store, lambda: MollieConnector(base_url=origin, limit=2))
        result = await runner.run(connection_id)
        again = await runner.run(connection_id)
    assert (result.outcome, result.state, result.new) == (
        RunOutcome.SUCCESS,
        ConnectionState.ACTIVE,
        len(mollie_standin.SEEDED),
    )
    assert again.new == 0
    documents = {d.external_ref: d for d in await _documents(db)}
    assert set(documents) == {i.id for i in mollie_standin.SEEDED}
    newest = documents["inv_K4vd2a7Hn3"]
    assert (newest.issue_date, newest.total_amount, newest.currency) == (
        date(2026, 12, 1),
        Decimal("54.45"),
        "EUR",
    )
    assert (await store.get(newest.sha256)) == mollie_standin.pdf_of(mollie_standin.SEEDED[0])
    assert newest.fields["invoice_number"] == {
        "value": "2026.142857",
        "source": "connector",
        "confidence": 1.0,
    }
    assert Decimal(newest.fields["total_incl_tax"]["value"]) == Decimal("54.45")


async def test_an_expired_token_then_a_throttled_api(
    db: Database, vault: Vault, store: LocalDocumentStore, world: World
) -> None:
    expired = await _connect(
        db,
        vault,
        world,
        key="mollie",
        name="Mollie",
        login=mollie_standin.ORGANIZATION,
        secret=mollie_standin.EXPIRED_TOKEN,
    )
    wrong = await _connect(
        db, vault, world, key="mollie", name="Mollie", login="compta", secret="access_wrong"
    )
    switches = Switches()
    async with running(mollie_standin.create_app(switches=switches)) as origin:
        runner = _runner(db, vault, store, lambda: MollieConnector(base_url=origin))
        refused = await runner.run(expired)
        rejected = await runner.run(wrong)
        good = await _connect(
            db,
            vault,
            world,
            key="mollie",
            name="Mollie",
            login="Boulangerie Martin",
            secret=mollie_standin.TOKEN,
        )
        switches.fault, switches.retry_after = Fault.RATE_LIMITED, 2 * 3600
        limited = await runner.run(good)
    assert (refused.state, refused.error) == (ConnectionState.AUTH_FAILED, "credentials_expired")
    assert rejected.state is ConnectionState.AUTH_FAILED
    assert rejected.error != "credentials_expired"
    assert (limited.state, limited.retry_after) == (ConnectionState.TEMP_ERROR, 2 * 3600)
    async with db.read() as session:
        connection = await session.get(Connection, expired)
    assert connection is not None
    assert connection.next_fetch_at is None  # no retry until the user gives a new token
    assert mollie_standin.EXPIRED_TOKEN not in connection.credentials_sealed
    assert mollie_standin.EXPIRED_TOKEN not in (connection.last_error or "")
