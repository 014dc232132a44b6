"""Publishing throughput to Xero under its limits: ``python -m bench.publish_xero``.

Publishes 1,000 bills (each one `PUT Invoices` and one `PUT .../Attachments`: 2,000 calls)
to the Xero stand-in under Xero's real limits (60 calls a minute, 5,000 a day, 5 at once
per tenant) made 100 times faster by the stand-in's time scale, so a "minute" lasts 0.6 s.

The ideal time is what the minute limit allows at best: the first 60 calls at once, then
60 per window, so (calls - 60) / 60 windows. `publish_efficiency` is ideal / actual.

Side by side, in the same run, the same provider without its client-side limiter (it only
reacts to 429s, waiting out each Retry-After): the baseline. Both runs must leave no 429
unretried: every bill is in the stand-in once, with its file.

The last lines are machine-readable::

    publish_efficiency=<limited, median of runs> target>=0.9
    baseline_efficiency=<reactive only, median of runs>
    rate_limited_429s=<limited> baseline_429s=<reactive> unretried=0
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from dataclasses import dataclass, replace

from core.accounting.provider import Authorized, Bill
from core.accounting.providers.oauth import ApiLimits, OAuthEndpoints
from core.accounting.providers.xero import LIMITS, XeroProvider
from tests.integration.accounting_http import CALLBACK, consent, make_bill
from tests.standins import running
from tests.standins.accounting_limits import Knobs
from tests.standins.xero import (
    ACCESS_SECONDS,
    CLIENT_ID,
    CLIENT_SECRET,
    MINUTE_LIMIT,
    STANDIN,
    create_app,
)

TIME_SCALE = 100.0
CALLS_PER_BILL = 2
#: A round trip to Xero takes a few hundred milliseconds; scaled like everything else.
LATENCY = 0.3 / TIME_SCALE
TARGET = 0.9


@dataclass(frozen=True, slots=True)
class Outcome:
    seconds: float
    ideal: float
    rate_limited: int
    retried: int
    published: int
    attached: int

    @property
    def efficiency(self) -> float:
        return self.ideal / self.seconds


async def publish_all(documents: int, limits: ApiLimits) -> Outcome:
    # Not judged by the OpenAPI documents: its CPU, in this process, would be charged to
    # the limiter being measured; tests/integration/accounting_http/test_xero.py judges.
    app = create_app(time_scale=TIME_SCALE, knobs=Knobs(latency=LATENCY), judged=False)
    standin = app[STANDIN]
    async with running(app) as origin:
        provider = XeroProvider(
            endpoints=OAuthEndpoints(
                authorize_url=f"{origin}/identity/connect/authorize",
                token_url=f"{origin}/connect/token",
                revoke_url=f"{origin}/connect/revocation",
                client_id=CLIENT_ID,
                client_secret=CLIENT_SECRET,
            ),
            api_url=origin,
            limits=limits,
        )
        try:
            start = await provider.start_authorization(state="bench", redirect_uri=CALLBACK)
            params = await consent(start.url)
            authorized: Authorized = await provider.complete_authorization(
                params=params, redirect_uri=CALLBACK, code_verifier=None
            )
            bills = [
                make_bill(f"B-{n:05d}", document_id=n + 1, account="445") for n in range(documents)
            ]
            current = [authorized.grant]

            async def keep_fresh() -> None:
                # What the scheduler does: refresh well inside the access token's life.
                while True:
                    await asyncio.sleep(ACCESS_SECONDS / TIME_SCALE / 3)
                    current[0] = await provider.refresh(grant=current[0])

            # As the publishing worker does: a few documents at a time, each taking the
            # newest grant when its turn comes.
            workers = asyncio.Semaphore(2 * LIMITS.concurrent)

            async def publish(bill: Bill) -> None:
                async with workers:
                    await provider.publish_bill(
                        grant=current[0], company=authorized.company, bill=bill
                    )

            refresher = asyncio.create_task(keep_fresh())
            began = time.perf_counter()
            try:
                await asyncio.gather(*(publish(bill) for bill in bills))
            finally:
                refresher.cancel()
            seconds = time.perf_counter() - began
        finally:
            await provider.aclose()
    calls = documents * CALLS_PER_BILL
    window = 60.0 / TIME_SCALE
    ideal = max(0, calls - MINUTE_LIMIT) / MINUTE_LIMIT * window
    return Outcome(
        seconds=seconds,
        ideal=ideal,
        rate_limited=provider.api.rate_limited,
        retried=provider.api.retried,
        published=len(standin.bills),
        attached=sum(1 for bill in standin.bills.values() if bill.attachments),
    )


def check(outcome: Outcome, documents: int) -> None:
    if outcome.published != documents or outcome.attached != documents:
        raise SystemExit(
            f"lost work: {outcome.published} bills, {outcome.attached} with their file"
        )
    if outcome.rate_limited != outcome.retried:
        raise SystemExit(f"{outcome.rate_limited - outcome.retried} 429s left unretried")


async def main(documents: int, runs: int) -> None:
    limited = LIMITS.scaled(TIME_SCALE)
    # Reacting to 429s only: no windows of its own, the same concurrency, patient retries.
    reactive = replace(limited, windows=(), attempts=1000, max_wait=3600.0)
    ours: list[Outcome] = []
    theirs: list[Outcome] = []
    for run in range(1, runs + 1):
        for name, limits, outcomes in (("limited", limited, ours), ("reactive", reactive, theirs)):
            outcome = await publish_all(documents, limits)
            check(outcome, documents)
            outcomes.append(outcome)
            print(
                f"run {run} {name:8}: {documents} bills in {outcome.seconds:6.2f} s "
                f"(ideal {outcome.ideal:.2f} s) efficiency={outcome.efficiency:.3f} "
                f"429s={outcome.rate_limited} retried={outcome.retried}"
            )
    mine = statistics.median(o.efficiency for o in ours)
    base = statistics.median(o.efficiency for o in theirs)
    print(f"publish_efficiency={mine:.3f} target>={TARGET}")
    print(f"baseline_efficiency={base:.3f}")
    print(
        f"rate_limited_429s={statistics.median(o.rate_limited for o in ours):.0f} "
        f"baseline_429s={statistics.median(o.rate_limited for o in theirs):.0f} unretried=0"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=1)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.documents, arguments.runs))
