"""The updates in their handlers, so that a bot told to stop lets them finish first.

aiogram hands each update to a task of its own, by polling and by webhook alike. Told to
stop, it stops fetching, but it neither waits for those tasks nor cancels them. Telegram
counts an update as delivered once the next getUpdates asks past it, so an update still
in its handler when the process closes its HTTP session and its database was lost: its
transaction was rolled back, or its reply was never sent. Under load, a stop lost a few
replies this way (`bench.bot_throughput`).

`UpdatesInFlight` counts them, and it is the outermost of the update middlewares, so an
update waiting for its turn counts too. When serving stops, `drain` waits until none is
left, or until the grace time runs out, which fits in Docker's ten seconds between
SIGTERM and SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Dispatcher
from aiogram.types import TelegramObject

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]

#: How long a stopping bot waits for the updates in their handlers.
GRACE_SECONDS = 8.0


class UpdatesInFlight(BaseMiddleware):
    def __init__(self) -> None:
        self._count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def count(self) -> int:
        return self._count

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        self._count += 1
        self._idle.clear()
        try:
            return await handler(event, data)
        finally:
            self._count -= 1
            if not self._count:
                self._idle.set()

    async def drain(self, grace: float = GRACE_SECONDS) -> int:
        """Wait until no update is in its handler, `grace` seconds at most; returns how
        many still are."""
        # One turn of the loop: a task made for the last updates fetched reaches this
        # middleware at its first step, and is counted.
        await asyncio.sleep(0)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), grace)
        if self._count:
            log.warning("stopping with %d update(s) still in their handlers", self._count)
        return self._count


def updates_in_flight(dp: Dispatcher) -> UpdatesInFlight | None:
    """The dispatcher's counter, where `build_dispatcher` put it."""
    return next((m for m in dp.update.outer_middleware if isinstance(m, UpdatesInFlight)), None)


async def drain_updates(dp: Dispatcher, grace: float = GRACE_SECONDS) -> int:
    """Let the dispatcher's updates in flight finish; how many did not, in `grace`."""
    counter = updates_in_flight(dp)
    return await counter.drain(grace) if counter is not None else 0
