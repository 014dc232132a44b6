"""An Azure billing account connected with a service principal: whole runs through the
fetch runner, against the Entra and Billing API stand-in over HTTP."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from core.db import Database
from core.models import Connection, ConnectionState, RunOutcome
from core.storage import LocalDocumentStore
from core.suppliers.api.azure import AzureConnector
from core.vault import Vault
from tests.integration.conftest import World
from tests.integration.fetch.test_official_api_runs import _connect, _documents, _runner
from tests.standins import Fault, Switches, running
from tests.standins import azure as azure_standin

TODAY = date(2026, 12, 6)
LOGIN = f"{azure_standin.TENANT_ID}/{azure_standin.CLIENT_ID}/{azure_standin.ACCOUNT}"


async def _no_wait(seconds: float) -> None:
    """The download's polls, without their ten seconds."""


async def test_an_azure_account_delivers_its_invoices_with_their_totals(
    db: Database, vault: Vault, store: LocalDocumentStore, world: World
) -> None:
    connection_id = await _connect(
        db,
        vault,
        world,
        key="azure",
        name="Microsoft Azure",
        login=LOGIN,
        secret=azure_standin.SECRET,
    )
    async with running(azure_standin.create_app()) as origin:
        runner = _runner(
            db,
            vault,
            store,
            lambda: AzureConnector(base_url=origin, login_url=origin, today=TODAY, sleep=_no_wait),
        )
        result = await runner.run(connection_id)
        again = await runner.run(connection_id)
    invoices = [i for i in azure_standin.SEEDED if i.kind != "VoidNote"]
    assert (result.outcome, result.state, result.new) == (
        RunOutcome.SUCCESS,
        ConnectionState.ACTIVE,
        len(invoices),
    )
    assert again.new == 0
    documents = {d.external_ref: d for d in await _documents(db)}
    assert set(documents) == {i.name for i in invoices}
    newest = documents["G045678901"]
    assert (newest.issue_date, newest.total_amount, newest.currency) == (
        date(2026, 12, 3),
        Decimal("412.80"),
        "EUR",
    )
    assert (await store.get(newest.sha256)) == azure_standin.pdf_of(azure_standin.SEEDED[0])
    assert newest.fields["invoice_number"] == {
        "value": "G045678901",
        "source": "connector",
        "confidence": 1.0,
    }
    # A JSON number: "412.8", the same amount as the PDF's 412.80.
    assert Decimal(newest.fields["total_incl_tax"]["value"]) == Decimal("412.80")


async def test_an_expired_client_secret_then_a_throttled_api(
    db: Database, vault: Vault, store: LocalDocumentStore, world: World
) -> None:
    expired = await _connect(
        db,
        vault,
        world,
        key="azure",
        name="Microsoft Azure",
        login=LOGIN,
        secret=azure_standin.EXPIRED_SECRET,
    )
    switches = Switches()
    async with running(azure_standin.create_app(switches=switches)) as origin:
        runner = _runner(
            db,
            vault,
            store,
            lambda: AzureConnector(base_url=origin, login_url=origin, today=TODAY, sleep=_no_wait),
        )
        refused = await runner.run(expired)
        good = await _connect(
            db,
            vault,
            world,
            key="azure",
            name="Microsoft Azure",
            # The same account, its tenant named by its domain: a connection of its own.
            login=f"{azure_standin.TENANT_DOMAIN}/{azure_standin.CLIENT_ID}/{azure_standin.ACCOUNT}",
            secret=azure_standin.SECRET,
        )
        switches.fault, switches.retry_after = Fault.RATE_LIMITED, 2 * 3600
        limited = await runner.run(good)
    assert (refused.state, refused.error) == (ConnectionState.AUTH_FAILED, "credentials_expired")
    assert (limited.state, limited.retry_after) == (ConnectionState.TEMP_ERROR, 2 * 3600)
    async with db.read() as session:
        connection = await session.get(Connection, expired)
    assert connection is not None
    assert connection.next_fetch_at is None  # no retry until the user gives a new secret
    assert azure_standin.EXPIRED_SECRET not in connection.credentials_sealed
    assert azure_standin.EXPIRED_SECRET not in (connection.last_error or "")
