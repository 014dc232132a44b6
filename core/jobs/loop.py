"""The one worker loop: work while there is work, then sleep until woken, stopped or due.

The outbox's notifier, the mail worker and the IMAP poller each run `work_until` over a
step of their own. A step does one round (claims a batch, sends it, settles it) and says
whether more is waiting: then the next round starts at once, after the loop's other
callbacks have run. Otherwise the loop sleeps until `stop`, a wake-up, or `idle_seconds`,
the fallback poll for retries falling due and for work another process queued where no
wake-up reaches (SQLite's other processes). A step that fails is logged and tried again
after the idle pause: one bad round never ends the loop, nor spins it.

The scheduler's fetches and the accounting jobs are APScheduler's ticks instead: their
work falls due by the clock, and APScheduler is their loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from core.jobs.wakeups import Wakeups, Watch

log = logging.getLogger(__name__)


class Bell(Protocol):
    """What wakes a sleeping loop. Armed before each round, so that a commit made while
    the round runs wakes the sleep that follows at once."""

    async def arm(self) -> None: ...

    async def ring_within(self, seconds: float) -> None: ...


class EventBell:
    """An event this process sets (the SMTP gateway's commit wakes the mail worker)."""

    def __init__(self, event: asyncio.Event) -> None:
        self._event = event

    async def arm(self) -> None:
        self._event.clear()

    async def ring_within(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout=seconds)


class ChannelBell:
    """A wake-up channel: commits in this process, and on PostgreSQL in any other."""

    def __init__(self, wakeups: Wakeups, channel: str) -> None:
        self._wakeups = wakeups
        self._channel = channel
        self._watch: Watch | None = None

    async def arm(self) -> None:
        self._watch = await self._wakeups.watch(self._channel)

    async def ring_within(self, seconds: float) -> None:
        if self._watch is None:
            await asyncio.sleep(seconds)
            return
        await self._wakeups.wait(self._watch, seconds=seconds)


class Timer:
    """No bell: the loop wakes on its clock only (the IMAP poller's tick)."""

    async def arm(self) -> None:
        return None

    async def ring_within(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def work_until(
    stop: asyncio.Event,
    step: Callable[[], Awaitable[bool]],
    *,
    name: str,
    idle_seconds: float,
    bell: Bell | None = None,
) -> None:
    """Run `step` until `stop`. `step` returns True when more is waiting."""
    bell = bell or Timer()
    while not stop.is_set():
        await bell.arm()
        try:
            more = await step()
        except Exception:
            log.exception("%s: a round failed; trying again shortly", name)
            more = False
        if more:
            await asyncio.sleep(0)  # the loop's other callbacks first (the gateway's 250s)
            continue
        sleeping = asyncio.ensure_future(bell.ring_within(idle_seconds))
        stopping = asyncio.ensure_future(stop.wait())
        _, pending = await asyncio.wait({sleeping, stopping}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
