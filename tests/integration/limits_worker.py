"""One process of tests/integration/test_shared_limits.py: it calls one Xero tenant of the
limits stand-in as fast as its limiter lets it, and prints what came back.

`python -m tests.integration.limits_worker ORIGIN TENANT CALLS STORE DB_URL SCHEMA`, where
STORE is "postgres" (the store every process shares) or "memory" (each its own). It says
"ready" once its imports and its engine are done, then waits for "go" on its input, so
both processes start together.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import replace

from sqlalchemy.engine import make_url

from core.accounting.errors import RateLimited
from core.accounting.providers.oauth import ApiClient
from core.accounting.providers.xero import LIMITS
from core.db import create_database
from core.limits import LimitStore, MemoryLimits
from core.limits_postgres import PostgresLimits

#: Xero's limits a hundred times faster: 60 calls in 0.6 s, 5 at once (as the stand-in).
TIME_SCALE = 100


async def main(
    origin: str, tenant: str, calls: int, store_kind: str, url: str, schema: str
) -> None:
    db = create_database(make_url(url), connect_args={"server_settings": {"search_path": schema}})
    store: LimitStore = PostgresLimits(db.engine) if store_kind == "postgres" else MemoryLimits()
    # Every 429 is reported, never waited out: the stand-in's count is the verdict.
    limits = replace(LIMITS.scaled(TIME_SCALE), attempts=1)
    api = ApiClient(provider="xero", limits=limits, store=store)
    await db.ping()
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)

    async def call() -> str:
        try:
            await api.send("GET", f"{origin}/tenants/{tenant}/call", key=tenant)
        except RateLimited:
            return "rate_limited"
        return "ok"

    began = time.monotonic()
    try:
        outcomes = await asyncio.gather(*(call() for _ in range(calls)))
    finally:
        await api.aclose()
        await db.dispose()
    report = {o: outcomes.count(o) for o in ("ok", "rate_limited")}
    print(json.dumps({**report, "seconds": round(time.monotonic() - began, 2)}), flush=True)


if __name__ == "__main__":
    origin, tenant, calls, store_kind, url, schema = sys.argv[1:7]
    asyncio.run(main(origin, tenant, int(calls), store_kind, url, schema))
