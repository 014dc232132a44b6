"""Runs against the real Demo Supplier over loopback: each fault a portal throws ends in
its own state, and one supplier misbehaving never stops another supplier's runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlmodel import col, select

from core.db import Database
from core.models import (
    Connection,
    ConnectionCreate,
    ConnectionRun,
    ConnectionState,
    Document,
    RunOutcome,
    Supplier,
)
from core.models.base import utcnow
from core.permissions import OPERATOR
from core.services.connections import create_connection
from core.services.fetch import ConnectionRunner, FetchPolicy, run_claimed
from core.services.fetch_claims import request_fetch
from core.storage import LocalDocumentStore
from core.suppliers.http import HttpLimits
from core.suppliers.recipes import RecipeConnector, builtin_recipe
from core.vault import Vault
from courier.demo_supplier import (
    DemoAccount,
    DemoConfig,
    RunningDemo,
    sample_invoices,
    start_demo_supplier,
)
from tests.integration.conftest import World

S = ConnectionState
ACCOUNT = DemoAccount("compta@boulangerie.example", "croissant-42", invoices=sample_invoices(3))
FAST = HttpLimits(connect_timeout=2.0, read_timeout=2.0, retries=1, backoff=0.01, max_wait=2.0)


@dataclass
class Sites:
    healthy: RunningDemo  # the first supplier's portal
    faulty: RunningDemo  # the other supplier's portal, where faults are injected


@pytest.fixture
async def sites() -> AsyncIterator[Sites]:
    config = DemoConfig(accounts=(ACCOUNT,))
    healthy = await start_demo_supplier(config)
    faulty = await start_demo_supplier(config)
    yield Sites(healthy, faulty)
    await healthy.close()
    await faulty.close()


def _runner(
    db: Database, vault: Vault, store: LocalDocumentStore, sites: Sites
) -> ConnectionRunner:
    recipe = builtin_recipe("demo_supplier")

    def connector_for(supplier: Supplier) -> RecipeConnector:
        site = sites.healthy if supplier.key == "edf-entreprises" else sites.faulty
        return RecipeConnector(recipe, base_url=site.url, limits=FAST)

    return ConnectionRunner(
        db=db, store=store, vault=vault, connector_for=connector_for, policy=FetchPolicy()
    )


async def _connections(db: Database, vault: Vault, world: World) -> list[int]:
    ids = []
    async with db.transaction() as session:
        for supplier in (world.supplier, world.other_supplier):
            assert supplier.id is not None
            assert world.workspace.id is not None
            assert world.owner.id is not None
            connection = await create_connection(
                session=session,
                vault=vault,
                data=ConnectionCreate(
                    workspace_id=world.workspace.id,
                    supplier_id=supplier.id,
                    owner_member_id=world.owner.id,
                    login=ACCOUNT.login,
                    password=SecretStr(ACCOUNT.password),
                ),
                by=OPERATOR,
            )
            assert connection.id is not None
            ids.append(connection.id)
    return ids


FAULTS: list[tuple[str, dict[str, Any], ConnectionState, RunOutcome, str | None]] = [
    ("a timeout", {"stall_seconds": 10.0}, S.TEMP_ERROR, RunOutcome.ERROR, "supplier_unavailable"),
    ("500s", {"server_errors": 50}, S.TEMP_ERROR, RunOutcome.ERROR, "supplier_unavailable"),
    (
        "a 429 with Retry-After",
        {"rate_limits": 50, "retry_after": 900},
        S.TEMP_ERROR,
        RunOutcome.ERROR,
        "supplier_unavailable",
    ),
    ("malformed HTML", {"malformed_html": True}, S.BROKEN, RunOutcome.ERROR, "layout_changed"),
    (
        "a changed login page",
        {"changed_login_page": True},
        S.BROKEN,
        RunOutcome.ERROR,
        "layout_changed",
    ),
    ("HTML served as PDF", {"html_instead_of_pdf": True}, S.ACTIVE, RunOutcome.PARTIAL, None),
]


@pytest.mark.parametrize(
    ("fault", "injected", "state", "outcome", "error"), FAULTS, ids=[f[0] for f in FAULTS]
)
async def test_each_portal_fault_ends_in_its_state_and_the_other_supplier_is_fetched(
    db: Database,
    vault: Vault,
    store: LocalDocumentStore,
    world: World,
    sites: Sites,
    fault: str,
    injected: dict[str, Any],
    state: ConnectionState,
    outcome: RunOutcome,
    error: str | None,
) -> None:
    healthy, faulty = await _connections(db, vault, world)
    sites.faulty.inject(**injected)

    results = await run_claimed(_runner(db, vault, store, sites), [healthy, faulty], concurrency=2)

    good, bad_run = results
    assert (good.state, good.outcome, good.new) == (S.ACTIVE, RunOutcome.SUCCESS, 3)
    assert (bad_run.state, bad_run.outcome, bad_run.error) == (state, outcome, error)
    async with db.read() as session:
        bad = await session.get(Connection, faulty)
        # The two runs settle in whichever order they finish: ordered by connection.
        runs = (
            await session.exec(select(ConnectionRun).order_by(col(ConnectionRun.connection_id)))
        ).all()
        documents = (await session.exec(select(Document))).all()
    assert bad is not None
    assert (bad.state, bad.claimed_by, bad.last_success_at) == (state, None, None)
    assert {d.connection_id for d in documents} == {healthy}  # nothing half-made
    assert [(r.connection_id, r.outcome) for r in runs] == [
        (healthy, RunOutcome.SUCCESS),
        (faulty, outcome),
    ]
    if fault == "a 429 with Retry-After":
        assert bad.next_try_at is not None
        assert bad.next_try_at - utcnow() > timedelta(seconds=890)  # the site's wish, kept
    if state == S.BROKEN:
        assert bad.next_fetch_at is None  # waits for a fix; the operator was alerted


async def test_approve_in_your_app_end_to_end_on_the_demo(
    db: Database, vault: Vault, store: LocalDocumentStore, world: World
) -> None:
    phone_owner = DemoAccount(
        "app@boulangerie.example", "chausson-3", two_factor="app", invoices=sample_invoices(2)
    )
    demo = await start_demo_supplier(DemoConfig(accounts=(phone_owner,)))
    try:
        recipe = builtin_recipe("demo_supplier")
        runner = ConnectionRunner(
            db=db,
            store=store,
            vault=vault,
            connector_for=lambda s: RecipeConnector(recipe, base_url=demo.url, limits=FAST),
            policy=FetchPolicy(approval_poll=0.05),
        )
        assert world.workspace.id is not None
        assert world.supplier.id is not None
        assert world.owner.id is not None
        async with db.transaction() as session:
            connection = await create_connection(
                session=session,
                vault=vault,
                data=ConnectionCreate(
                    workspace_id=world.workspace.id,
                    supplier_id=world.supplier.id,
                    owner_member_id=world.owner.id,
                    login=phone_owner.login,
                    password=SecretStr(phone_owner.password),
                ),
                by=OPERATOR,
            )
            request_fetch(connection, interactive_for=timedelta(minutes=15))  # "Sync now"
        assert connection.id is not None
        run = asyncio.create_task(runner.run(connection.id))
        async with httpx.AsyncClient(base_url=demo.url) as phone:
            for _ in range(200):  # the owner taps once the app shows the request
                tap = await phone.post("/app/approvals", data={"login": phone_owner.login})
                if tap.status_code == 200:
                    break
                await asyncio.sleep(0.02)
        assert tap.json() == {"decided": 1}

        result = await run

        assert (result.state, result.outcome, result.new) == (S.ACTIVE, RunOutcome.SUCCESS, 2)
        # A week later, in the background: the saved session (and the trusted browser)
        # let the run in without the phone.
        again = await runner.run(connection.id)
        assert (again.state, again.error) == (S.ACTIVE, None)
        assert sum(r.startswith("POST /login") for r in demo.state.requests) == 1
    finally:
        await demo.close()
