"""APScheduler 3.11 (AsyncIOScheduler) in Courier's loop, with the jobs on their ticks.

The database holds the truth (`next_fetch_at`, `next_try_at`): a tick only asks what is
due. So several schedulers on several hosts can run side by side, and a restart loses
nothing but the tick in progress.
"""

from __future__ import annotations

from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from scheduler.accounting_jobs import AccountingJobs
from scheduler.digest_jobs import DigestJobs
from scheduler.jobs import Jobs

FETCH_TICK_SECONDS = 15
CHALLENGE_TICK_SECONDS = 30
READING_TICK_SECONDS = 10


def build_scheduler(
    jobs: Jobs,
    *,
    fetch_tick_seconds: int = FETCH_TICK_SECONDS,
    accounting: AccountingJobs | None = None,
    digests: DigestJobs | None = None,
) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone="UTC")
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
