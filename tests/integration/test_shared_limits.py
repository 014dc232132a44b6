"""Xero counts its limits per company, whichever process calls: 60 calls a minute and 5
at once per tenant. Two real processes call one tenant of a stand-in that counts as
Xero does and answers 429 past either limit; counting in PostgreSQL, they never meet
one. Each counting alone in its memory, they do: the test can fail."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from limits import parse
from limits.aio.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter
from sqlalchemy.engine import make_url

from core.db import create_database
from core.limits_postgres import PostgresLimits
from tests.conftest import PG_URL
from tests.integration.limits_worker import TIME_SCALE
from tests.standins import running
from tests.standins.accounting_limits import SlidingWindow
from tests.standins.xero_state import CONCURRENT_LIMIT, MINUTE_LIMIT

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]
#: Each process's calls: three minutes' worth between the two, so the window must turn.
CALLS = 70
LATENCY = 0.02  # a call takes this long at the stand-in, so calls are really in flight


class Counted:
    """Per tenant: a sliding minute (scaled) and the calls in flight, as Xero keeps them."""

    def __init__(self) -> None:
        self.minute: dict[str, SlidingWindow] = {}
        self.in_flight: dict[str, int] = {}
        self.served = 0
        self.refused: dict[str, int] = {"minute": 0, "concurrent": 0}


def stand_in(counted: Counted) -> web.Application:
    async def call(request: web.Request) -> web.Response:
        tenant = request.match_info["tenant"]
        minute = counted.minute.setdefault(tenant, SlidingWindow(MINUTE_LIMIT, 60 / TIME_SCALE))
        loop = asyncio.get_running_loop()
        if counted.in_flight.get(tenant, 0) >= CONCURRENT_LIMIT:
            counted.refused["concurrent"] += 1
            return web.Response(status=429, headers={"Retry-After": "0.01"})
        if (wait := minute.admit(loop.time())) is not None:
            counted.refused["minute"] += 1
            return web.Response(status=429, headers={"Retry-After": f"{wait:.3f}"})
        counted.in_flight[tenant] = counted.in_flight.get(tenant, 0) + 1
        try:
            await asyncio.sleep(LATENCY)
        finally:
            counted.in_flight[tenant] -= 1
        counted.served += 1
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/tenants/{tenant}/call", call)
    return app


@pytest.fixture
async def origin_and_counts() -> AsyncIterator[tuple[str, Counted]]:
    counted = Counted()
    async with running(stand_in(counted)) as origin:
        yield origin, counted


@pytest.fixture
async def pg_store(pg_schema: str) -> AsyncIterator[PostgresLimits]:
    """The store in the test schema, emptied afterwards."""
    db = create_database(
        make_url(PG_URL), connect_args={"server_settings": {"search_path": pg_schema}}
    )
    store = PostgresLimits(db.engine)
    try:
        yield store
    finally:
        await store.reset()
        await db.dispose()


async def two_processes(origin: str, store: str, schema: str) -> list[dict[str, int]]:
    """Start two workers, let them import, then let them go at once; their reports."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = ["-m", "tests.integration.limits_worker", origin, "acme", str(CALLS), store]
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            PG_URL,
            schema,
            cwd=ROOT,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            line = await asyncio.wait_for(worker.stdout.readline(), timeout=60)
            assert line.strip() == b"ready"
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write(b"go\n")
            await worker.stdin.drain()
        outputs = [await asyncio.wait_for(w.communicate(), timeout=60) for w in workers]
    finally:
        for worker in workers:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()
    assert [w.returncode for w in workers] == [0, 0]
    return [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]


async def test_two_processes_counting_in_postgres_keep_xeros_per_company_limits(
    origin_and_counts: tuple[str, Counted], pg_schema: str, pg_store: PostgresLimits
) -> None:
    origin, counted = origin_and_counts
    reports = await two_processes(origin, "postgres", pg_schema)
    assert counted.refused == {"minute": 0, "concurrent": 0}
    assert [(r["ok"], r["rate_limited"]) for r in reports] == [(CALLS, 0)] * 2
    print("seconds per process:", [r["seconds"] for r in reports])
    assert counted.served == 2 * CALLS


async def test_two_processes_each_counting_alone_exceed_them(
    origin_and_counts: tuple[str, Counted], pg_schema: str
) -> None:
    origin, counted = origin_and_counts
    reports = await two_processes(origin, "memory", pg_schema)
    assert sum(counted.refused.values()) > 0
    assert sum(r["rate_limited"] for r in reports) == sum(counted.refused.values())


async def test_the_postgres_store_serves_limits_own_strategies(pg_store: PostgresLimits) -> None:
    """`limits` has no SQL storage: Courier's is written to its interface, so the
    library's moving and fixed windows run on it unchanged."""
    three_a_minute = parse("3/minute")
    assert await pg_store.check()
    for strategy in (MovingWindowRateLimiter(pg_store), FixedWindowRateLimiter(pg_store)):
        key = type(strategy).__name__
        hits = [await strategy.hit(three_a_minute, key) for _ in range(4)]
        assert hits == [True, True, True, False]
        assert await strategy.hit(three_a_minute, f"{key}-other")  # another key
        assert not await strategy.test(three_a_minute, key)
        stats = await strategy.get_window_stats(three_a_minute, key)
        assert stats.remaining == 0
        assert stats.reset_time > time.time()
        await strategy.clear(three_a_minute, key)
        assert await strategy.hit(three_a_minute, key)
    assert await pg_store.reset() == 4  # per strategy: the other key's, and one after clear
