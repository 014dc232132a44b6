"""A community connection's runs, as the owner lives them: the code asked in the chat,
the invoices filed with woob's totals, the session kept sealed; a weekly run that would
need a code tells the owner instead of making the site send one; a site that changed is
broken for the operator, and the chat then offers the mail route."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from pydantic import SecretStr
from sqlmodel import select

from core.db import Database
from core.models import (
    Challenge,
    ChallengeState,
    Connection,
    ConnectionCreate,
    ConnectionState,
    Document,
    RunOutcome,
)
from core.permissions import OPERATOR
from core.services.challenges import submit_code
from core.services.connections import create_connection
from core.services.fetch import ConnectionRunner, FetchPolicy
from core.services.fetch_claims import request_fetch
from core.storage import LocalDocumentStore
from core.suppliers.woob.setup import WoobSetup
from core.vault import Vault
from courier.connectors import NUMBER_DATE_TOTAL
from courier.demo_supplier import DemoAccount, RunningDemo
from tests.integration.conftest import World
from tests.integration.woob.conftest import PLAIN, SMS, demo_connector

S = ConnectionState
QUICK = FetchPolicy(
    challenge_ttl=timedelta(seconds=60), code_poll=0.05, approval_poll=0.05, jitter=timedelta(0)
)


@pytest.fixture
def runner(
    db: Database, vault: Vault, store: LocalDocumentStore, woob: WoobSetup, demo: RunningDemo
) -> ConnectionRunner:
    # The world's supplier is EDF Entreprises, a community entry: its woob module here is
    # the tests' own, against the Demo Supplier.
    return ConnectionRunner(
        db=db,
        store=store,
        vault=vault,
        policy=QUICK,
        connector_for=lambda supplier: demo_connector(woob, demo),
        gives=lambda key: NUMBER_DATE_TOTAL,
    )


async def _connect(db: Database, vault: Vault, world: World, account: DemoAccount) -> Connection:
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
                login=account.login,
                password=SecretStr(account.password),
            ),
            by=OPERATOR,
        )


async def _sync_now(db: Database, connection: Connection) -> None:
    async with db.transaction() as session:
        row = await session.get(Connection, connection.id)
        assert row is not None
        request_fetch(row, interactive_for=timedelta(minutes=15))


async def _open_challenge(db: Database) -> Challenge:
    for _ in range(600):
        async with db.read() as session:
            challenge = (await session.exec(select(Challenge))).first()
        if challenge is not None and challenge.state == ChallengeState.OPEN:
            return challenge
        await asyncio.sleep(0.05)
    raise AssertionError("the run never asked for a code")


async def test_the_code_is_asked_in_the_chat_and_the_invoices_are_filed(
    db: Database,
    vault: Vault,
    world: World,
    runner: ConnectionRunner,
    demo: RunningDemo,
) -> None:
    connection = await _connect(db, vault, world, SMS)
    assert connection.id is not None
    await _sync_now(db, connection)
    run = asyncio.create_task(runner.run(connection.id))
    challenge = await _open_challenge(db)
    assert challenge.masked_destination == "••••12"
    async with db.transaction() as session:
        assert challenge.id is not None
        code = demo.last_code(SMS.login)
        await submit_code(
            session=session, vault=vault, challenge_id=challenge.id, code=code, via="chat"
        )
    result = await run
    assert (result.outcome, result.state, result.new) == (RunOutcome.SUCCESS, S.ACTIVE, 3)
    async with db.read() as session:
        documents = (await session.exec(select(Document))).all()
        row = await session.get(Connection, connection.id)
    assert row is not None
    by_ref = {d.external_ref: d for d in documents}
    assert set(by_ref) == {i.reference for i in SMS.invoices}
    for invoice in SMS.invoices:
        document = by_ref[invoice.reference]
        assert (document.total_amount, document.currency) == (invoice.amount, "EUR")
        # woob's own figures, given by the connector, ahead of any reading of the PDF.
        assert document.fields["total_incl_tax"]["source"] == "connector"
    # The browser's session is sealed at rest, and holds no password.
    assert row.session_sealed is not None
    assert "browser_state" not in row.session_sealed
    session_state = vault.open_json(row.session_sealed)
    assert "browser_state" in session_state
    assert SMS.password not in json.dumps(session_state)


async def test_a_weekly_run_that_needs_a_code_asks_the_owner_and_sends_none(
    db: Database, vault: Vault, world: World, runner: ConnectionRunner, demo: RunningDemo
) -> None:
    connection = await _connect(db, vault, world, SMS)
    assert connection.id is not None
    result = await runner.run(connection.id)  # scheduled: nobody is at the chat
    assert (result.state, result.error) == (S.NEEDS_USER, "code_needed")
    assert demo.state.sent_codes == []


async def test_a_site_that_changed_breaks_the_connection(
    db: Database, vault: Vault, world: World, runner: ConnectionRunner, demo: RunningDemo
) -> None:
    connection = await _connect(db, vault, world, PLAIN)
    assert connection.id is not None
    demo.inject(malformed_html=True)
    await _sync_now(db, connection)
    result = await runner.run(connection.id)
    assert (result.state, result.error) == (S.BROKEN, "layout_changed")
