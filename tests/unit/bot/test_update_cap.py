"""A crowd pressing at once is served in turns, never more at once than the cap.

Each update holds a database connection for its transaction: a thousand at once would
drain the pool. The cap makes the rest wait their turn, in order, and every one is served.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiogram.types import TelegramObject

from bot.update_cap import UpdateCap


async def test_a_thousand_updates_at_once_are_served_at_most_cap_at_a_time() -> None:
    cap = UpdateCap(16)
    running = 0
    peak = 0
    served: list[int] = []

    async def handler(event: TelegramObject, data: dict[str, Any]) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.001)  # the update's transaction
        running -= 1
        served.append(data["n"])
        return int(data["n"])

    results = await asyncio.gather(*(cap(handler, TelegramObject(), {"n": n}) for n in range(1000)))
    assert results == list(range(1000))
    assert sorted(served) == list(range(1000))
    assert peak == 16


async def test_a_failing_update_gives_its_turn_back() -> None:
    cap = UpdateCap(1)

    async def broken(event: TelegramObject, data: dict[str, Any]) -> None:
        raise RuntimeError("a handler failed")

    async def fine(event: TelegramObject, data: dict[str, Any]) -> str:
        return "served"

    with pytest.raises(RuntimeError):
        await cap(broken, TelegramObject(), {})
    assert await asyncio.wait_for(cap(fine, TelegramObject(), {}), 5) == "served"


def test_a_cap_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="1 or more"):
        UpdateCap(0)
