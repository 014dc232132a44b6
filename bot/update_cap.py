"""A cap on the updates handled at once, so a crowd waits its turn instead of failing.

Each update holds a database connection for its transaction. A thousand members pressing
at once (a bot's updates arrive as tasks, by polling and by webhook alike) would ask for
a thousand connections from a pool of twenty, and the ones that wait past the pool's
timeout fail. Above the cap, updates wait here, in memory and in order, before any of
them opens a transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class UpdateCap(BaseMiddleware):
    """At most `limit` updates in their handlers at once; the others wait for a turn."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("the cap on updates handled at once must be 1 or more")
        self.limit = limit
        self._turns = asyncio.Semaphore(limit)

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        async with self._turns:
            return await handler(event, data)
