"""Schedulers as real processes on one PostgreSQL database: they share the due connections
without fetching one twice, and the claims of one that dies are taken over, nothing lost.

Each test gets a database of its own (CREATE DATABASE on the `test` server, dropped at
the end), a Demo Supplier process whose accounts each have one invoice of their own, and
`courier scheduler` processes, their per-supplier politeness limits opened up through
COURIER_SUPPLIER_RATE: the test is about claims, not politeness. PostgreSQL missing is a
visible skip, and a failure in CI.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import IO

import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import col, func, select

from core.config import Settings
from core.db import Database, create_database
from core.models import (
    Connection,
    ConnectionCreate,
    ConnectionRun,
    Document,
    RunOutcome,
    Supplier,
    WorkspaceCreate,
)
from core.permissions import OPERATOR
from core.services.connections import create_connection
from core.services.members import join_workspace
from core.services.secrets import unlock_vault
from core.services.workspaces import create_workspace
from core.vault import generate_key
from tests.conftest import PG_URL
from tests.e2e.demo_accounts import PASSWORD, login
from tests.e2e.forkserver import run_courier

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.postgres


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _drop_database(name: str) -> None:
    # FORCE: a SIGKILLed scheduler's sessions may not have been closed by the server yet.
    admin = create_async_engine(make_url(PG_URL), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


@pytest.fixture(scope="session")
def drops() -> Iterator[list[threading.Thread]]:
    """DROP DATABASE waits for a checkpoint, which takes half a minute on a busy server: the
    drops run beside the next tests, and the session ends only when they are done."""
    pending: list[threading.Thread] = []
    yield pending
    for thread in pending:
        thread.join(timeout=120)


@pytest.fixture
async def database_url(drops: list[threading.Thread]) -> AsyncIterator[str]:
    """A fresh, empty database on the test server, dropped at the end whatever happened."""
    # CREATE/DROP DATABASE cannot run inside a transaction: autocommit.
    admin = create_async_engine(make_url(PG_URL), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await asyncio.wait_for(connection.execute(text("SELECT 1")), timeout=5)
    except (OSError, DBAPIError, TimeoutError) as err:
        await admin.dispose()
        reason = f"no PostgreSQL at {PG_URL}: {err}"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the PostgreSQL tests: {reason}")
        pytest.skip(reason)
    name = f"courier_sched_{uuid.uuid4().hex[:10]}"
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.dispose()
        dropping = threading.Thread(target=asyncio.run, args=(_drop_database(name),))
        dropping.start()
        drops.append(dropping)


class Processes:
    """The processes a test starts, each logging to a file; all stopped at the end."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home, self.env = home, env
        self.started: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = []

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.home / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", *args],
            cwd=self.home,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.started.append((process, log))
        return process

    def log(self, name: str) -> str:
        return (self.home / f"{name}.log").read_text(errors="replace")

    def stop(self, process: subprocess.Popen[bytes], timeout: float = 30) -> int:
        """SIGTERM, as a supervisor stops it: it should drain its runs and exit 0."""
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        return process.wait(timeout=timeout)

    def close(self) -> None:
        for process, log in self.started:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
            log.close()


@pytest.fixture
def processes(tmp_path: Path, database_url: str) -> Iterator[Processes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURIER_")}
    env |= {
        "COURIER_DATABASE_URL": database_url,
        # Shared by every process: the same document store and the same vault key.
        "COURIER_DATA_DIR": str(tmp_path / "var"),
        "COURIER_SECRET_KEY": generate_key().decode(),
        "COURIER_DEMO_SUPPLIER_PORT": str(_free_port()),
        "COURIER_SCHEDULER_TICK_SECONDS": "1",
        # The local demo can take far more than a real supplier's polite 2 requests a second.
        "COURIER_SUPPLIER_RATE": "10000",
        "COURIER_SUPPLIER_CONCURRENCY": "256",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
        "PYTHONUNBUFFERED": "1",
    }
    group = Processes(tmp_path, env)
    try:
        yield group
    finally:
        group.close()


def _settings(env: dict[str, str]) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=Path(env["COURIER_DATA_DIR"]),
        database_url=env["COURIER_DATABASE_URL"],
        secret_key=SecretStr(env["COURIER_SECRET_KEY"]),
    )


def _migrate(env: dict[str, str], home: Path) -> None:
    done = run_courier("db", "upgrade", cwd=home, env=env, timeout=120)
    assert done.returncode == 0, done.stderr


async def _serve_demo(procs: Processes, count: int, latency_ms: int = 0) -> None:
    port = procs.env["COURIER_DEMO_SUPPLIER_PORT"]
    args = ["serve", "--port", port, "--count", str(count), "--latency-ms", str(latency_ms)]
    demo = procs.start("demo", "tests.e2e.demo_accounts", *args)
    deadline = time.monotonic() + 120
    while "ready" not in procs.log("demo"):
        assert demo.poll() is None, procs.log("demo")
        assert time.monotonic() < deadline, "the Demo Supplier did not start"
        await asyncio.sleep(0.1)


def _start_scheduler(procs: Processes, name: str) -> subprocess.Popen[bytes]:
    return procs.start(name, "courier", "scheduler")


async def _connect_shops(db: Database, settings: Settings, count: int) -> None:
    """One workspace, its owner, and `count` demo-supplier connections, all due now.

    The vault is unlocked here first, as `courier` would: it writes the key's canary, so
    the schedulers starting together find it and none of them races to write it.
    """
    async with db.transaction() as session:
        vault = await unlock_vault(session=session, settings=settings)
        workspace, invite = await create_workspace(
            session=session,
            data=WorkspaceCreate(name="Galeries Dupont", slug="dupont"),
            invite_ttl=timedelta(hours=1),
        )
        owner = await join_workspace(
            session=session, code=invite.code, telegram_user_id=1001, display_name="Marie"
        )
        supplier = (
            await session.exec(select(Supplier).where(Supplier.key == "demo-supplier"))
        ).one()
        assert workspace.id
        assert owner.id
        assert supplier.id
        for i in range(count):
            await create_connection(
                session=session,
                vault=vault,
                data=ConnectionCreate(
                    workspace_id=workspace.id,
                    supplier_id=supplier.id,
                    owner_member_id=owner.id,
                    login=login(i),
                    password=SecretStr(PASSWORD),
                ),
                by=OPERATOR,
            )


async def _runs(db: Database) -> list[ConnectionRun]:
    async with db.read() as session:
        return list((await session.exec(select(ConnectionRun))).all())


async def _wait_for(
    what: str, check: Callable[[], Awaitable[bool]], seconds: float, procs: Processes
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.25)
    logs = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in procs.home.glob("*.log"))
    raise AssertionError(f"timed out waiting for {what}\n{logs}")


async def _documents(db: Database) -> list[Document]:
    async with db.read() as session:
        return list((await session.exec(select(Document))).all())


@pytest.fixture
async def database(processes: Processes, tmp_path: Path) -> AsyncIterator[Database]:
    """The fresh database, migrated by `courier db upgrade` as an operator would."""
    _migrate(processes.env, tmp_path)
    database = create_database(make_url(processes.env["COURIER_DATABASE_URL"]))
    try:
        yield database
    finally:
        await database.dispose()


async def test_two_schedulers_fetch_500_due_connections_each_exactly_once(
    processes: Processes, database: Database
) -> None:
    await _serve_demo(processes, count=500)
    await _connect_shops(database, _settings(processes.env), 500)

    # Two schedulers start at once and race for the same 500 due connections.
    first = _start_scheduler(processes, "scheduler-a")
    second = _start_scheduler(processes, "scheduler-b")

    async def all_fetched() -> bool:
        async with database.read() as session:
            finished = await session.scalar(
                select(func.count())
                .select_from(ConnectionRun)
                .where(col(ConnectionRun.finished_at).is_not(None))
            )
        return finished == 500

    await _wait_for("500 finished runs", all_fetched, 90, processes)
    assert processes.stop(first) == 0, processes.log("scheduler-a")
    assert processes.stop(second) == 0, processes.log("scheduler-b")

    runs = await _runs(database)
    per_connection = Counter(run.connection_id for run in runs)
    assert len(per_connection) == 500
    assert set(per_connection.values()) == {1}, "a connection was fetched twice"
    assert {run.outcome for run in runs} == {RunOutcome.SUCCESS}
    documents = await _documents(database)
    assert len(documents) == 500
    assert len({document.external_ref for document in documents}) == 500


async def test_a_killed_schedulers_claims_are_taken_over_after_the_lease(
    processes: Processes, database: Database
) -> None:
    count = 30
    # Each request to the Demo Supplier takes 1.5 s, so a run takes some 6 s: long
    # enough to kill a scheduler while its runs are under way.
    await _serve_demo(processes, count=count, latency_ms=1500)
    await _connect_shops(database, _settings(processes.env), count)

    # Scheduler A claims as many connections as it has slots (20) and starts their runs…
    doomed = _start_scheduler(processes, "scheduler-a")

    async def runs_under_way() -> bool:
        return len(await _runs(database)) >= 20

    await _wait_for("scheduler A's runs", runs_under_way, 30, processes)
    # …and dies without a word: no drain, no claim released.
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=10)
    async with database.read() as session:
        held = set(
            (
                await session.exec(
                    select(Connection.id).where(col(Connection.claimed_by).is_not(None))
                )
            ).all()
        )
    assert held, "scheduler A finished its runs before it was killed; make them slower"

    # Scheduler B fetches the connections nobody holds, and leaves A's claims alone while
    # their lease lasts.
    survivor = _start_scheduler(processes, "scheduler-b")

    async def the_free_ones_fetched() -> bool:
        done = {r.connection_id for r in await _runs(database) if r.outcome == RunOutcome.SUCCESS}
        return len(done) >= count - len(held)

    await _wait_for("the unclaimed connections", the_free_ones_fetched, 60, processes)
    await asyncio.sleep(2)  # two more ticks: B must still not touch A's claims
    taken_early = {r.connection_id for r in await _runs(database) if r.finished_at} & held
    assert not taken_early, "a live lease was taken over"

    # The lease runs out: A is dead, so nothing renews it. Rather than wait its two
    # minutes, the test moves the expiry into the past, which is what waiting would do.
    async with database.transaction() as session:
        await session.exec(
            text(  # type: ignore[call-overload]
                "UPDATE connection SET claim_expires_at = now() - interval '1 second' "
                "WHERE claimed_by IS NOT NULL AND claimed_by NOT LIKE :survivor"
            ).bindparams(survivor=f"%:{survivor.pid}")
        )

    async def every_connection_fetched() -> bool:
        done = {r.connection_id for r in await _runs(database) if r.outcome == RunOutcome.SUCCESS}
        return len(done) == count

    await _wait_for("A's connections taken over", every_connection_fetched, 60, processes)
    assert processes.stop(survivor) == 0, processes.log("scheduler-b")

    runs = await _runs(database)
    successes = Counter(r.connection_id for r in runs if r.outcome == RunOutcome.SUCCESS)
    assert len(successes) == count
    assert set(successes.values()) == {1}, "a connection was fetched twice"
    # The only other runs are A's, cut short by the kill: closed as abandoned at takeover.
    abandoned = [r for r in runs if r.outcome != RunOutcome.SUCCESS]
    assert {r.connection_id for r in abandoned} == held
    for run in abandoned:
        assert (run.outcome, run.error_code) == (RunOutcome.ERROR, "abandoned")
        assert run.finished_at is not None
    async with database.read() as session:
        still_claimed = (
            await session.exec(select(Connection).where(col(Connection.claimed_by).is_not(None)))
        ).all()
    assert not still_claimed
    documents = await _documents(database)
    assert len(documents) == count, "an invoice was lost or delivered twice"
    assert len({document.external_ref for document in documents}) == count
