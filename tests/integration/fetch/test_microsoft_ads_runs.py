"""A Microsoft Advertising customer connected with a developer token and an OAuth grant:
whole runs through the fetch runner, against the Customer Billing stand-in over HTTP.

The grant is a refresh token that Entra replaces at each use: the run keeps the newest in
the connection's sealed session, so the next run still signs in once the one typed has
expired.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from core.db import Database
from core.models import Connection, ConnectionState, RunOutcome
from core.storage import LocalDocumentStore
from core.suppliers.api.microsoft_ads import MicrosoftAdsConnector
from core.vault import Vault
from tests.integration.conftest import World
from tests.integration.fetch.test_official_api_runs import _connect, _documents, _runner
from tests.standins import Fault, Switches, running
from tests.standins import microsoft_ads as ads

TODAY = date(2026, 12, 6)
LOGIN = f"{ads.CLIENT_ID}/{ads.CUSTOMER_ID}/{ads.ACCOUNT_ID}"


async def test_a_customer_delivers_its_invoices_and_its_grant_outlives_the_one_typed(
    db: Database, vault: Vault, store: LocalDocumentStore, world: World
) -> None:
    connection_id = await _connect(
        db,
        vault,
        world,
        key="microsoft-advertising",
        name="Microsoft Advertising",
        login=LOGIN,
        secret=f"{ads.DEVELOPER_TOKEN}:{ads.REFRESH_TOKEN}",
    )
    app = ads.create_app()
    async with running(app) as origin:
        runner = _runner(
            db,
            vault,
            store,
            lambda: MicrosoftAdsConnector(base_url=origin, login_url=origin, today=TODAY),
        )
        first = await runner.run(connection_id)
        # Ninety days on, the refresh token that was typed has expired.
        app[ads.STATE].refresh_tokens.discard(ads.REFRESH_TOKEN)
        second = await runner.run(connection_id)
    kept = [d for d in ads.SEEDED if d.account_id == ads.ACCOUNT_ID]
    assert (first.outcome, first.state, first.new) == (
        RunOutcome.SUCCESS,
        ConnectionState.ACTIVE,
        len(kept),
    )
    assert (second.state, second.new) == (ConnectionState.ACTIVE, 0)
    documents = {d.external_ref: d for d in await _documents(db)}
    newest = documents["9001004"]
    assert (newest.issue_date, newest.total_amount, newest.currency) == (
        date(2026, 12, 1),
        Decimal("245.10"),
        "EUR",
    )
    assert newest.fields["invoice_number"]["value"] == "G014000104"
    assert newest.fields["invoice_number"]["source"] == "connector"
    async with db.read() as session:
        connection = await session.get(Connection, connection_id)
    assert connection is not None
    assert connection.session_sealed is not None
    # The grant is sealed like the credentials: no refresh token readable in the row.
    for token in app[ads.STATE].refresh_tokens:
        assert token not in connection.session_sealed
        assert token not in repr(connection)


async def test_an_expired_grant_then_a_rate_limit(
    db: Database, vault: Vault, store: LocalDocumentStore, world: World
) -> None:
    expired = await _connect(
        db,
        vault,
        world,
        key="microsoft-advertising",
        name="Microsoft Advertising",
        login=LOGIN,
        secret=f"{ads.DEVELOPER_TOKEN}:{ads.EXPIRED_REFRESH_TOKEN}",
    )
    switches = Switches()
    async with running(ads.create_app(switches=switches)) as origin:
        runner = _runner(
            db,
            vault,
            store,
            lambda: MicrosoftAdsConnector(base_url=origin, login_url=origin, today=TODAY),
        )
        refused = await runner.run(expired)
        good = await _connect(
            db,
            vault,
            world,
            key="microsoft-advertising",
            name="Microsoft Advertising",
            login=f"{ads.CLIENT_ID}/{ads.CUSTOMER_ID}/{ads.ACCOUNT_ID},{ads.SECOND_ACCOUNT_ID}",
            secret=f"{ads.DEVELOPER_TOKEN}:{ads.REFRESH_TOKEN}",
        )
        switches.fault, switches.retry_after = Fault.RATE_LIMITED, 2 * 3600
        limited = await runner.run(good)
    assert (refused.state, refused.error) == (ConnectionState.AUTH_FAILED, "credentials_expired")
    assert (limited.state, limited.retry_after) == (ConnectionState.TEMP_ERROR, 2 * 3600)
