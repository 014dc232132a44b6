"""A scheduler stopping while a tick runs: the tick ends before the database is closed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from scheduler.app import Scheduler


async def test_a_stop_lets_the_tick_in_flight_finish() -> None:
    started, finished = asyncio.Event(), asyncio.Event()

    async def tick() -> None:
        started.set()
        await asyncio.sleep(0.3)  # a transaction under way
        finished.set()

    scheduler = Scheduler(timezone="UTC")
    scheduler.add_job(tick, "interval", seconds=60, next_run_time=_now())
    scheduler.start()
    await asyncio.wait_for(started.wait(), 20)
    await scheduler.stop()
    assert finished.is_set()
    assert not scheduler.running


async def test_a_tick_that_outlives_the_grace_is_cancelled_and_waited_for() -> None:
    started, unwound = asyncio.Event(), asyncio.Event()

    async def stuck() -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        finally:
            await asyncio.sleep(0.1)  # its rollback, still awaited by the stop
            unwound.set()

    scheduler = Scheduler(timezone="UTC")
    scheduler.add_job(stuck, "interval", seconds=60, next_run_time=_now())
    scheduler.start()
    await asyncio.wait_for(started.wait(), 20)
    await scheduler.stop(grace=0.2)
    assert unwound.is_set()


def _now() -> datetime:
    return datetime.now(UTC)
