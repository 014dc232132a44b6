"""Waiting for an event in a test: poll for the state itself, with a deadline sized for a
loaded two-core machine, never a bare sleep that guesses how long the event takes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

#: Long enough for a CI machine busy with other work; a passing test never waits it out.
DEADLINE = 20.0


async def eventually(
    check: Callable[[], Awaitable[T | None]], what: str, within: float = DEADLINE
) -> T:
    """Wait for a state another process or task reaches (a run, a row); checks often."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def until(condition: Callable[[], object], what: str, within: float = DEADLINE) -> None:
    """Wait, yielding to the loop, for an in-process condition to hold."""

    async def check() -> bool:
        return bool(condition())

    await eventually(check, what, within)
