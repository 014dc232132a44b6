"""Fetch throughput: N merchant connections on the Demo Supplier, run by the scheduler's Jobs.

Each connection is its own merchant (workspace, owner, account) with 3 new invoices, no
2FA: a run logs in (GET /login, POST /login and the redirect it follows), lists the
invoices and downloads 3 PDFs. The Demo Supplier adds `--latency-ms` to every request and
runs in its own process, and so does each scheduler, so a scheduler's peak RSS is
Courier's alone and two schedulers are two processes, as deployed.

- `fetch_efficiency=` ideal / actual, where ideal = requests made (the demo's request log)
  x latency / configured concurrency, and actual = first claim to last run settled, with
  the Jobs ticking `fetch_due` back to back (a tick as soon as a run settles);
- `peak_rss_mb=` the single scheduler's `ru_maxrss`;
- `scaleout_speedup=` one scheduler's time / two schedulers' time on PostgreSQL, each
  scheduler with `--concurrency` slots; every connection must be fetched exactly once;
- `gc_ms_per_run=` the cyclic garbage collector's share of the scheduler's CPU, timed by
  its own callbacks; `--heap default` runs the schedulers without `courier`'s settings
  (courier/heap.py), for a side-by-side run;
- `host_busy=` the machine's cores busy (/proc/stat) from "go" to the last report, with
  one scheduler and with two: a machine already busy with one cannot run two side by side.

The concurrency is the product's default (`Settings().fetch_concurrency`: runs at once per
scheduler), and the throttle is built as `courier scheduler` builds it (requests in flight
overall = twice the runs). A run makes one request at a time, so the requests in flight
are at most the runs: that is the "configured global concurrency" of the ideal. The one
knob changed is the per-supplier limit (2 at once, 2/s): here one Demo Supplier stands
for the 2,000 merchants' suppliers, and that politeness limit would measure itself.

The Demo Supplier runs in its own process (its CPU time is printed as `demo_cpu_s`), so
the schedulers' measure is Courier's alone; on a 2-core machine it still shares the cores.

With `--runs N` the three phases run N times, alternated, and the figures are medians (the
peak RSS is the highest); the machines here are small and noisy, and one run of the same
code gave a `scaleout_speedup` of 1.32 and the next 1.86.

    python -m bench.fetch_connections [--connections 2000] [--latency-ms 20] [--concurrency N]
                                      [--runs N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlmodel import func, select

from core.config import Settings
from core.db import Database, create_database
from core.db.migrate import upgrade
from core.models import (
    Connection,
    ConnectionCreate,
    ConnectionRun,
    ConnectionState,
    Document,
    RunOutcome,
    Supplier,
    WorkspaceCreate,
)
from core.permissions import OPERATOR
from core.services.connections import create_connection
from core.services.fetch import ConnectionRunner, FetchPolicy, RunResult
from core.services.members import join_workspace
from core.services.workspaces import create_workspace
from core.storage import LocalDocumentStore
from core.suppliers.http import Throttle
from core.suppliers.pool import HttpPool
from core.vault import Vault, generate_key
from courier.connectors import build_registry
from courier.heap import settle_heap
from scheduler.jobs import Jobs

PG_URL = os.environ.get("COURIER_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
INVOICES = 3
MODULE = "bench.fetch_connections"


def _login(i: int) -> str:
    return f"m{i}@bench.example.com"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


# -- the Demo Supplier's process ---------------------------------------------------------


async def serve_demo(connections: int, latency_ms: int) -> None:
    """Serve N accounts; on stdin, "count" prints the request log summed by route and
    empties it, so each phase counts its own requests."""
    # Imported here: the scheduler processes never load the demo, so their RSS is Courier's.
    from courier.demo_supplier import (
        DemoAccount,
        DemoConfig,
        DemoInvoice,
        Faults,
        start_demo_supplier,
    )

    accounts = tuple(
        DemoAccount(
            _login(i),
            f"pw-{i}",
            company=f"Merchant {i}",
            invoices=tuple(
                DemoInvoice(f"B{i:05d}-{k}", date(2026, 11 - k, 15), Decimal(f"{100 + k}.80"))
                for k in range(INVOICES)
            ),
        )
        for i in range(connections)
    )
    demo = await start_demo_supplier(
        DemoConfig(accounts=accounts, faults=Faults(latency_ms=latency_ms)), port=0
    )
    print(demo.url, flush=True)
    loop = asyncio.get_running_loop()
    cpu = time.process_time()
    try:
        while line := (await loop.run_in_executor(None, sys.stdin.readline)).strip():
            if line == "count":
                # Routes, not paths: "GET /invoices/B00001-0.pdf" → "GET /invoices/*.pdf".
                routes = Counter(
                    "GET /invoices/*.pdf" if r.endswith(".pdf") else r for r in demo.state.requests
                )
                demo.state.requests.clear()
                spent, cpu = time.process_time() - cpu, time.process_time()
                print(json.dumps({"routes": dict(routes), "cpu_s": spent}), flush=True)
    finally:
        await demo.close()


# -- a scheduler's process -----------------------------------------------------------------


class TimedRunner(ConnectionRunner):
    """The production runner, noting when each run settles and waking the tick loop."""

    settled: asyncio.Event
    last_settled: float
    outcomes: Counter[str]

    async def run(self, connection_id: int) -> RunResult:
        result = await super().run(connection_id)
        self.last_settled = time.monotonic()
        self.outcomes[str(result.outcome)] += 1
        self.settled.set()
        return result


class CollectorClock:
    """The CPU time the cyclic garbage collector takes, from its own start and stop
    callbacks: exact on a noisy machine, where the process's whole CPU time is not."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._began = 0.0
        gc.callbacks.append(self._tick)

    def reset(self) -> None:
        self.seconds = 0.0

    def _tick(self, phase: str, _info: dict[str, Any]) -> None:
        # The thread that allocates collects: its own CPU clock leaves the others out.
        if phase == "start":
            self._began = time.thread_time()
        else:
            self.seconds += time.thread_time() - self._began


def _database(url: URL, schema: str | None) -> Database:
    args: dict[str, Any] = {"server_settings": {"search_path": schema}} if schema else {}
    return create_database(url, connect_args=args)


async def run_scheduler(
    url: str,
    schema: str | None,
    store: str,
    key: str,
    demo_url: str,
    concurrency: int,
    name: str,
    *,
    settled: bool,
) -> None:
    """Wait for "go" on stdin, tick until nothing is due or running, print what happened."""
    db = _database(make_url(url), schema)
    statements = 0

    @event.listens_for(db.engine.sync_engine, "before_cursor_execute")
    def _count(*_: Any) -> None:
        nonlocal statements
        statements += 1

    await db.ping()
    # One throttle per process, as courier/roles.py builds it; per supplier, see the top.
    throttle = Throttle(
        overall=concurrency * 2, per_supplier=concurrency * 2, rate=1e6, burst=concurrency * 2
    )
    # One pool of connections per process, as courier/runtime.py opens it.
    pool = HttpPool(per_host=concurrency)
    # The shipped registry, every connector in it, as `courier scheduler` builds it.
    registry = build_registry(demo_url=demo_url, throttle=throttle, pool=pool)
    runner = TimedRunner(
        db=db,
        store=LocalDocumentStore(Path(store)),
        vault=Vault([key.encode()]),
        connector_for=registry.connector_for,
        policy=FetchPolicy(),
    )
    runner.settled, runner.last_settled, runner.outcomes = asyncio.Event(), 0.0, Counter()
    jobs = Jobs(db=db, runner=runner, concurrency=concurrency, name=name)
    if settled:  # as `courier scheduler` does once built (courier/heap.py)
        settle_heap()
    collector = CollectorClock()
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    statements = 0
    collector.reset()
    cpu = time.process_time()
    first_claim: float | None = None
    ticks = 0
    while True:
        runner.settled.clear()
        started = time.monotonic()
        claimed = await jobs.fetch_due()
        ticks += 1
        if claimed and first_claim is None:
            first_claim = started
        if not claimed and not jobs.running:
            break  # nothing due that another scheduler has not claimed, nothing in flight
        if not claimed or not jobs.running < concurrency:
            # Back to back: the next tick comes as soon as a slot frees up.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(runner.settled.wait(), timeout=0.5)
    await jobs.drain()
    await pool.aclose()
    runs = sum(runner.outcomes.values())
    report = {
        "first_claim": first_claim,
        "last_settled": runner.last_settled,
        "runs": runs,
        "outcomes": dict(runner.outcomes),
        "ticks": ticks,
        "statements": statements,
        "cpu_s": time.process_time() - cpu,
        "gc_s": collector.seconds,
        "rss_mb": _rss_mb(),
    }
    await db.dispose()
    print(json.dumps(report), flush=True)


# -- the coordinator ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Phase:
    label: str
    seconds: float
    requests: Counter[str]
    workers: list[dict[str, Any]]
    demo_cpu_s: float  # the Demo Supplier's, in its own process (population included)
    host_busy: float | None  # the whole machine's cores busy, "go" to the last report


def _host_ticks() -> tuple[int, int] | None:
    """(busy, total) clock ticks of every core since boot, from /proc/stat; None off Linux."""
    try:
        fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + fields[4]  # idle and iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


async def _child(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        MODULE,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )


async def _line(process: asyncio.subprocess.Process) -> str:
    assert process.stdout
    line = (await process.stdout.readline()).decode().strip()
    if not line:
        raise RuntimeError(f"child {process.pid} ended early (exit {await process.wait()})")
    return line


def _send(process: asyncio.subprocess.Process, line: str) -> None:
    assert process.stdin
    process.stdin.write(line.encode() + b"\n")


async def populate(db: Database, vault: Vault, connections: int) -> None:
    """One merchant per connection: its workspace, its owner and its Demo Supplier account."""
    async with db.transaction() as session:
        supplier = Supplier(
            key="demo-supplier", name="Demo Supplier", portal_url="http://127.0.0.1:8765"
        )
        session.add(supplier)
        await session.flush()
        assert supplier.id is not None
        for i in range(connections):
            workspace, invite = await create_workspace(
                session=session,
                data=WorkspaceCreate(name=f"Merchant {i}"),
                invite_ttl=timedelta(hours=1),
            )
            owner = await join_workspace(
                session=session, code=invite.code, telegram_user_id=10_000 + i, display_name="M"
            )
            assert workspace.id is not None
            assert owner.id is not None
            await create_connection(
                session=session,
                vault=vault,
                data=ConnectionCreate(
                    workspace_id=workspace.id,
                    supplier_id=supplier.id,
                    owner_member_id=owner.id,
                    login=_login(i),
                    password=SecretStr(f"pw-{i}"),
                ),
                by=OPERATOR,
            )


async def check_exactly_once(db: Database, connections: int) -> None:
    async with db.read() as session:
        runs = Counter(r for r in (await session.exec(select(ConnectionRun.connection_id))).all())
        outcomes = Counter((await session.exec(select(ConnectionRun.outcome))).all())
        states = Counter((await session.exec(select(Connection.state))).all())
        documents = await session.scalar(select(func.count()).select_from(Document))
    assert len(runs) == connections, f"{len(runs)} of {connections} connections were fetched"
    assert set(runs.values()) == {1}, f"fetched more than once: {runs.most_common(3)}"
    assert outcomes == {RunOutcome.SUCCESS: connections}, f"run outcomes: {outcomes}"
    assert states == {ConnectionState.ACTIVE: connections}, f"connection states: {states}"
    assert documents == INVOICES * connections, f"{documents} documents"


@contextlib.asynccontextmanager
async def database(backend: str, workdir: Path) -> AsyncIterator[tuple[str, str | None, Database]]:
    """A migrated, empty database: a SQLite file, or a private PostgreSQL schema dropped after."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / f'courier-{uuid.uuid4().hex[:6]}.db'}"
        db = create_database(make_url(url))
        await upgrade(db.engine)
        try:
            yield url, None, db
        finally:
            await db.dispose()
        return
    schema = f"bench_fetch_{uuid.uuid4().hex[:10]}"
    admin = create_database(make_url(PG_URL))
    async with admin.engine.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    db = _database(make_url(PG_URL), schema)
    try:
        await upgrade(db.engine)
        yield PG_URL, schema, db
    finally:
        await db.dispose()
        async with admin.engine.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


async def phase(
    label: str,
    backend: str,
    schedulers: int,
    *,
    args: argparse.Namespace,
    demo: asyncio.subprocess.Process,
    demo_url: str,
    workdir: Path,
) -> Phase:
    key = generate_key()
    async with database(backend, workdir) as (url, schema, db):
        await populate(db, Vault([key]), args.connections)
        store = workdir / f"documents-{label}"
        workers = []
        for n in range(schedulers):
            worker = await _child(
                "--role=scheduler",
                f"--db-url={url}",
                f"--schema={schema or ''}",
                f"--store={store}",
                f"--key={key.decode()}",
                f"--demo-url={demo_url}",
                f"--concurrency={args.concurrency}",
                f"--name={label}-{n}",
                f"--profile={args.profile}",
                f"--heap={args.heap}",
            )
            workers.append(worker)
        for worker in workers:
            assert await _line(worker) == "ready"
        before = _host_ticks()
        for worker in workers:  # all at once, so the schedulers start side by side
            _send(worker, "go")
        reports = [json.loads(await _line(worker)) for worker in workers]
        after = _host_ticks()
        for worker in workers:
            await worker.wait()
        _send(demo, "count")
        served = json.loads(await _line(demo))
        requests = Counter[str](served["routes"])
        await check_exactly_once(db, args.connections)
        shutil.rmtree(store, ignore_errors=True)
    first = min(r["first_claim"] for r in reports)
    last = max(r["last_settled"] for r in reports)
    busy = None
    if before and after and after[1] > before[1]:
        busy = (after[0] - before[0]) / (after[1] - before[1])
    return Phase(label, last - first, requests, reports, served["cpu_s"], busy)


def _describe(p: Phase, args: argparse.Namespace, slots: int) -> float:
    total = sum(p.requests.values())
    ideal = float(total * args.latency_ms / 1000 / slots)
    cpu = sum(w["cpu_s"] for w in p.workers)
    statements = sum(w["statements"] for w in p.workers)
    collector = sum(w["gc_s"] for w in p.workers)
    ticks = sum(w["ticks"] for w in p.workers)
    n = args.connections
    print(
        f"[{p.label}] wall_s={p.seconds:.2f} ideal_s={ideal:.2f} efficiency={ideal / p.seconds:.2f}"
        f" runs/s={n / p.seconds:.0f} requests={total} ({total / n:.2f}/run)"
        f" sql={statements / n:.1f}/run ticks={ticks} scheduler_cpu_s={cpu:.1f}"
        f" ({cpu / p.seconds:.0%} of wall) gc_ms_per_run={collector * 1000 / n:.2f}"
        f" demo_cpu_s={p.demo_cpu_s:.1f}"
        f" rss_mb={max(w['rss_mb'] for w in p.workers):.0f}"
        f" host_busy={'n/a' if p.host_busy is None else f'{p.host_busy:.0%}'}"
    )
    return ideal / p.seconds


async def main(args: argparse.Namespace) -> None:
    demo = await _child(
        "--role=demo", f"--connections={args.connections}", f"--latency-ms={args.latency_ms}"
    )
    demo_url = await _line(demo)
    n, c = args.connections, args.concurrency
    print(f"connections={n} latency_ms={args.latency_ms} concurrency={c} per scheduler")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)

            async def measure(label: str, backend: str, schedulers: int) -> Phase:
                return await phase(
                    label,
                    backend,
                    schedulers,
                    args=args,
                    demo=demo,
                    demo_url=demo_url,
                    workdir=workdir,
                )

            if args.only:  # profiling one phase: `--only postgresql --profile DIR`
                only = await measure(f"{args.only} x1", args.only, 1)
                _describe(only, args, c)
                return
            rounds: list[tuple[Phase, Phase, Phase]] = []
            for _ in range(args.runs):  # the phases alternate, so a noisy minute hits all
                rounds.append(
                    (
                        await measure("sqlite x1", "sqlite", 1),
                        await measure("postgresql x1", "postgresql", 1),
                        await measure("postgresql x2", "postgresql", 2),
                    )
                )
    finally:
        assert demo.stdin
        demo.stdin.close()
        await demo.wait()
    print(f"requests per run by route: {dict(sorted(rounds[0][1].requests.items()))} / {n}")
    efficiency: dict[str, list[float]] = {"sqlite": [], "postgresql": []}
    cpu: dict[str, list[float]] = {"sqlite": [], "postgresql": []}
    collector: list[float] = []
    rss: dict[str, list[float]] = {"sqlite": [], "postgresql": []}
    speedups: list[float] = []
    busy: dict[int, list[float]] = {1: [], 2: []}  # the host's cores busy, by schedulers
    for sqlite_1, pg_1, pg_2 in rounds:
        for backend, one in (("sqlite", sqlite_1), ("postgresql", pg_1)):
            efficiency[backend].append(_describe(one, args, c))
            cpu[backend].append(one.workers[0]["cpu_s"] * 1000 / n)
            if backend == "postgresql":
                collector.append(one.workers[0]["gc_s"] * 1000 / n)
            rss[backend].append(one.workers[0]["rss_mb"])
        _describe(pg_2, args, 2 * c)
        speedups.append(pg_1.seconds / pg_2.seconds)
        for schedulers, p in ((1, pg_1), (2, pg_2)):
            if p.host_busy is not None:
                busy[schedulers].append(p.host_busy)
    median = statistics.median
    backend = max(efficiency, key=lambda b: median(efficiency[b]))
    runs = f"median of {args.runs}" if args.runs > 1 else "one run"
    print(
        f"fetch_efficiency={median(efficiency[backend]):.2f} target>=0.8"
        f" ({backend}, one scheduler, {runs})"
    )
    print(f"peak_rss_mb={max(rss[backend]):.0f} target<=300 ({backend}, one scheduler)")
    requests = sum(rounds[0][1].requests.values()) / n
    print(
        f"fetch_cpu_ms_per_run={median(cpu['postgresql']):.1f} target<=8"
        f" (postgresql, one scheduler, {runs}; sqlite {median(cpu['sqlite']):.1f};"
        f" {requests:.0f} requests a run; the collector {median(collector):.2f} of it,"
        f" heap {args.heap})"
    )
    print(
        f"scaleout_speedup={median(speedups):.2f} (postgresql, 1 -> 2 schedulers, {runs},"
        f" each connection fetched exactly once in every run)"
    )
    if busy[1] and busy[2]:
        # Two schedulers can only be twice as fast on cores that one left idle.
        print(
            f"host_busy={median(busy[1]):.0%} -> {median(busy[2]):.0%}"
            f" of {os.cpu_count()} cores (postgresql, 1 -> 2 schedulers; every process"
            " on the machine: schedulers, PostgreSQL, the Demo Supplier)"
        )


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=Settings().fetch_concurrency)
    parser.add_argument(
        "--runs", type=int, default=1, help="rounds of the three phases; figures are medians"
    )
    # The child processes: the Demo Supplier, and a scheduler.
    parser.add_argument("--role", choices=["bench", "demo", "scheduler"], default="bench")
    parser.add_argument("--db-url", default="")
    parser.add_argument("--schema", default="")
    parser.add_argument("--store", default="")
    parser.add_argument("--key", default="")
    parser.add_argument("--demo-url", default="")
    parser.add_argument("--name", default="bench")
    parser.add_argument(
        "--profile", default="", help="pyinstrument-profile the schedulers into this dir"
    )
    parser.add_argument("--only", choices=["sqlite", "postgresql"], help="one phase only")
    parser.add_argument(
        "--heap",
        choices=["settled", "default"],
        default="settled",
        help="the schedulers' collector as `courier` sets it, or CPython's defaults",
    )
    args = parser.parse_args()
    if args.role == "demo":
        asyncio.run(serve_demo(args.connections, args.latency_ms))
    elif args.role == "scheduler":
        work = run_scheduler(
            args.db_url,
            args.schema or None,
            args.store,
            args.key,
            args.demo_url,
            args.concurrency,
            args.name,
            settled=args.heap == "settled",
        )
        if not args.profile:
            asyncio.run(work)
            return
        # A sampling profiler (in the `test` extra): it shows where the CPU goes
        # in async code, where cProfile's cumulative times mix the tasks together.
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005, async_mode="disabled")
        with profiler:
            asyncio.run(work)
        out = Path(args.profile) / f"{args.name.replace(' ', '_')}.txt"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(profiler.output_text(show_all=False, timeline=False))
        if profiler.last_session is not None:
            profiler.last_session.save(str(out.with_suffix(".pyisession")))
    else:
        asyncio.run(main(args))


if __name__ == "__main__":
    cli()
