"""Magic filters (`F.text`, `F.document | F.photo`) checked on the event loop.

aiogram 3.31 runs any filter that is not a coroutine through `asyncio.to_thread`
(`CallableObject.call`), and `F` expressions are not: each was a trip to a worker thread
and back through the loop's self-pipe, nearly two an update in the bot's benchmark, for
what is an attribute read. Wrapped here, they are awaited like any `Filter`.
tests/unit/bot/test_filters.py checks that no filter or handler of the bot's routers is
left to run in a thread.
"""

from __future__ import annotations

from typing import Any

from aiogram.filters import Filter
from aiogram.types import TelegramObject
from magic_filter import MagicFilter


class Matches(Filter):
    """What `magic` resolves to on the event, as aiogram would take it: falsy fails, a
    dict adds to the handler's arguments, anything else passes."""

    def __init__(self, magic: MagicFilter) -> None:
        self.magic = magic

    async def __call__(self, event: TelegramObject) -> Any:
        return self.magic.resolve(event)
