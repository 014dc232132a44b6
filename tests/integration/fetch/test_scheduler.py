"""Schedulers share the due connections: each is fetched exactly once, whoever claims it."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlmodel import select

from core.db import Database, create_database
from core.models import (
    Connection,
    ConnectionCreate,
    ConnectionRun,
    Document,
    DocumentSource,
    RunOutcome,
)
from core.permissions import OPERATOR
from core.services.connections import create_connection
from core.services.documents import IncomingDocument, ingest_document
from core.services.fetch import ConnectionRunner, FetchPolicy
from core.storage import LocalDocumentStore
from core.suppliers.connector import Credentials, SignInStep
from core.vault import Vault
from scheduler.app import build_scheduler
from scheduler.jobs import Jobs
from tests.integration.conftest import World
from tests.integration.fetch.conftest import ScriptedConnector, Site
from tests.unit.extraction.corpus import BAKERY, visible_lines
from tests.unit.extraction.pdf_builders import build_pdf


async def _many(db: Database, vault: Vault, world: World, count: int) -> None:
    assert world.workspace.id
    assert world.supplier.id
    assert world.owner.id
    async with db.transaction() as session:
        for i in range(count):
            await create_connection(
                session=session,
                vault=vault,
                data=ConnectionCreate(
                    workspace_id=world.workspace.id,
                    supplier_id=world.supplier.id,
                    owner_member_id=world.owner.id,
                    login=f"site-{i}@dupont.fr",
                    password=SecretStr("pw"),
                ),
                by=OPERATOR,
            )


def _another_process(db: Database, request: pytest.FixtureRequest) -> Database:
    """The same database through an engine and connections of its own, as another
    scheduler's process would have."""
    connect_args: dict[str, object] = {}
    if db.backend == "postgresql":
        connect_args = {"server_settings": {"search_path": request.getfixturevalue("pg_schema")}}
    return create_database(db.engine.url, connect_args=connect_args)


def _jobs(
    db: Database,
    vault: Vault,
    store: LocalDocumentStore,
    site: Site,
    name: str,
    *,
    connector: type[ScriptedConnector] = ScriptedConnector,
    lease: timedelta = timedelta(minutes=2),
) -> Jobs:
    runner = ConnectionRunner(
        db=db,
        store=store,
        vault=vault,
        policy=FetchPolicy(),
        connector_for=lambda supplier: connector(site),
    )
    return Jobs(db=db, runner=runner, concurrency=10, name=name, lease=lease)


async def test_two_schedulers_fetch_each_due_connection_exactly_once(
    db: Database,
    vault: Vault,
    store: LocalDocumentStore,
    world: World,
    site: Site,
    request: pytest.FixtureRequest,
) -> None:
    await _many(db, vault, world, 60)
    other = _another_process(db, request)
    try:
        first, second = _jobs(db, vault, store, site, "a"), _jobs(other, vault, store, site, "b")
        while sum(await asyncio.gather(first.fetch_due(), second.fetch_due())):
            await asyncio.sleep(0.01)  # ticks come while earlier runs are still going
            if first.running + second.running >= 20:
                await asyncio.gather(first.drain(), second.drain())
        await asyncio.gather(first.drain(), second.drain())
    finally:
        await other.dispose()
    async with db.read() as session:
        runs = Counter(r.connection_id for r in (await session.exec(select(ConnectionRun))).all())
        documents = (await session.exec(select(Document))).all()
    assert len(runs) == 60
    assert set(runs.values()) == {1}
    assert len(documents) == 3  # the same three invoices, deduplicated across accounts


class SlowSite(ScriptedConnector):
    """A supplier whose login takes several leases' time (a slow portal, a code awaited)."""

    async def login(self, credentials: Credentials) -> SignInStep:
        await asyncio.sleep(1.5)
        return await super().login(credentials)


async def test_a_run_longer_than_its_lease_is_kept_alive_and_never_taken_over(
    db: Database,
    vault: Vault,
    store: LocalDocumentStore,
    world: World,
    site: Site,
    request: pytest.FixtureRequest,
) -> None:
    await _many(db, vault, world, 1)
    other = _another_process(db, request)
    lease = timedelta(seconds=0.3)
    first = _jobs(db, vault, store, site, "a", connector=SlowSite, lease=lease)
    second = _jobs(other, vault, store, site, "b", connector=SlowSite, lease=lease)
    try:
        assert await first.fetch_due() == 1
        # Five leases go by while the run logs in; the other scheduler asks all along.
        for _ in range(15):
            await asyncio.sleep(0.1)
            assert await second.fetch_due() == 0
        await first.drain()
    finally:
        await other.dispose()
    async with db.read() as session:
        runs = (await session.exec(select(ConnectionRun))).all()
        connection = (await session.exec(select(Connection))).one()
    assert [(run.outcome, run.finished_at is not None) for run in runs] == [
        (RunOutcome.SUCCESS, True)
    ]
    assert connection.claimed_by is None  # released at the end, not left to run out
    assert site.calls.count("login") == 1


async def test_the_apscheduler_tick_runs_the_fetch_job(
    db: Database, vault: Vault, store: LocalDocumentStore, world: World, site: Site, tmp_path: Path
) -> None:
    await _many(db, vault, world, 2)
    jobs = _jobs(db, vault, store, site, "tick")
    scheduler = build_scheduler(jobs)
    scheduler.start()
    try:
        for _ in range(100):
            async with db.read() as session:
                if (
                    len((await session.exec(select(ConnectionRun))).all()) == 2
                    and jobs.running == 0
                ):
                    break
            await asyncio.sleep(0.05)
    finally:
        scheduler.shutdown(wait=False)
        await jobs.drain()
    async with db.read() as session:
        assert len((await session.exec(select(ConnectionRun))).all()) == 2


async def test_the_reading_job_reads_what_arrived(
    db: Database, vault: Vault, store: LocalDocumentStore, world: World, site: Site
) -> None:
    assert world.workspace.id is not None
    async with db.transaction() as session:
        await ingest_document(
            session=session,
            store=store,
            incoming=IncomingDocument(
                workspace_id=world.workspace.id,
                source=DocumentSource.UPLOAD,
                content=build_pdf(visible_lines(BAKERY)),
                filename="facture.pdf",
            ),
        )
    jobs = Jobs(db=db, runner=_jobs(db, vault, store, site, "r").runner, store=store)
    assert await jobs.read_documents() == 1
    assert await jobs.read_documents() == 0
    async with db.read() as session:
        [document] = (await session.exec(select(Document))).all()
    assert document.fields["invoice_number"]["value"] == BAKERY.number
    assert document.total_amount is not None
