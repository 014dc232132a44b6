"""The scheduler tests' Demo Supplier, with many accounts.

`python -m tests.e2e.demo_accounts serve --port P --count N [--latency-ms L]` prints
`ready <url>` once it listens and serves until SIGTERM: every connection has an account
of its own and every account one invoice no other account has, so no deduplication can
hide a double fetch.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from datetime import date
from decimal import Decimal

from courier.demo_supplier import DemoAccount, DemoConfig, DemoInvoice, Faults, start_demo_supplier

PASSWORD = "demo"


def login(index: int) -> str:
    return f"shop-{index:04d}@example.com"


def reference(index: int) -> str:
    return f"FA-2026-{index:05d}"


def many_accounts(count: int, *, latency_ms: int = 0) -> DemoConfig:
    """`count` accounts without 2FA; each invoice's reference (and so its PDF) is unique."""
    accounts = tuple(
        DemoAccount(
            login(i),
            PASSWORD,
            company=f"Boutique {i}",
            invoices=(DemoInvoice(reference(i), date(2026, 10, 1), Decimal("42.00") + Decimal(i)),),
        )
        for i in range(count)
    )
    return DemoConfig(accounts=accounts, faults=Faults(latency_ms=latency_ms))


async def _serve(port: int, count: int, latency_ms: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    demo = await start_demo_supplier(many_accounts(count, latency_ms=latency_ms), port=port)
    print(f"ready {demo.url}", flush=True)
    try:
        await stop.wait()
    finally:
        await demo.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the Demo Supplier's accounts")
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--count", type=int, required=True)
    serve.add_argument("--latency-ms", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(_serve(args.port, args.count, args.latency_ms))


if __name__ == "__main__":
    main()
