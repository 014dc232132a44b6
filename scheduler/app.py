"""APScheduler 3.11 (AsyncIOScheduler) in Courier's loop, with the jobs on their ticks.

The database holds the truth (`next_fetch_at`, `next_try_at`): a tick only asks what is
due. So several schedulers on several hosts can run side by side, and a restart loses
nothing but the tick in progress.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from scheduler.accounting_jobs import AccountingJobs
from scheduler.digest_jobs import DigestJobs
from scheduler.jobs import Jobs

FETCH_TICK_SECONDS = 15
CHALLENGE_TICK_SECONDS = 30
READING_TICK_SECONDS = 10


#: How long a stop lets the ticks in flight finish before it cancels them.
STOP_GRACE_SECONDS = 20.0


class Scheduler(AsyncIOScheduler):  # type: ignore[misc]
    """APScheduler that knows its ticks in flight, so that a stop lets them finish (or
    cancels them and waits for them to unwind) before the database they write to is
    closed. `shutdown(wait=False)` alone cancels a tick mid-transaction and returns at
    once; the runtime then closed the database under it, and the process hung in
    `asyncio.run` waiting for that task."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._in_flight: set[asyncio.Task[Any]] = set()

    def add_job(self, func: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        @functools.wraps(func)
        async def tracked(*a: Any, **kw: Any) -> Any:
            task = asyncio.current_task()
            assert task is not None
            self._in_flight.add(task)
            try:
                return await func(*a, **kw)
            finally:
                self._in_flight.discard(task)

        return super().add_job(tracked, *args, **kwargs)

    async def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """No new tick; the ticks in flight finish within `grace`, else are cancelled and
        waited for; then the scheduler shuts down."""
        self.pause()
        if self._in_flight:
            _, late = await asyncio.wait(set(self._in_flight), timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        self.shutdown(wait=False)
        await asyncio.sleep(0)  # AsyncIOScheduler shuts down in the loop's next turn


def build_scheduler(
    jobs: Jobs,
    *,
    fetch_tick_seconds: int = FETCH_TICK_SECONDS,
    accounting: AccountingJobs | None = None,
    digests: DigestJobs | None = None,
) -> Scheduler:
    scheduler = Scheduler(timezone="UTC")
    # coalesce + one instance: a late tick runs once, never piles up.
    options = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 60}
    scheduler.add_job(
        jobs.fetch_due,
        "interval",
        seconds=fetch_tick_seconds,
        id="fetch_due",
        next_run_time=datetime.now(UTC),  # the first tick at start, not in 15 s
        **options,
    )
    scheduler.add_job(
        jobs.expire_challenges,
        "interval",
        seconds=CHALLENGE_TICK_SECONDS,
        id="expire_challenges",
        **options,
    )
    scheduler.add_job(
        jobs.read_documents,
        "interval",
        seconds=READING_TICK_SECONDS,
        id="read_documents",
        **options,
    )
    if accounting is not None:
        accounting.register(scheduler, options)
        jobs.on_read = accounting.document_ready
    if digests is not None:
        digests.register(scheduler, options)
    return scheduler
