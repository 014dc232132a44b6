"""The one limiter (core/limits.py) in one process: buckets that wait or refuse, and a
company's call limits over the memory store. Across processes on PostgreSQL:
tests/integration/test_shared_limits.py."""

from __future__ import annotations

import asyncio
import time

import pytest

from core.limits import Buckets, CallLimiter, MemoryLimits, token_bucket


async def test_a_bucket_lets_its_burst_through_then_keeps_the_rate() -> None:
    bucket = token_bucket(rate=50, burst=2)
    began = time.monotonic()
    stamps = []
    for _ in range(4):
        await bucket.acquire()
        stamps.append(time.monotonic() - began)
    assert stamps[1] < 0.01  # the burst
    assert stamps[3] >= 0.035  # then one every 20 ms


def test_a_bucket_needs_a_rate_and_a_burst() -> None:
    with pytest.raises(ValueError, match="rate"):
        token_bucket(rate=0)
    with pytest.raises(ValueError, match="burst"):
        token_bucket(rate=1, burst=0)


async def test_buckets_per_key_refuse_when_empty_and_fill_again() -> None:
    buckets = Buckets(rate=20, burst=3)  # one token back every 50 ms
    assert [await buckets.try_take(7) for _ in range(4)] == [True, True, True, False]
    assert await buckets.try_take(8)  # another person has their own bucket
    await asyncio.sleep(0.06)
    assert await buckets.try_take(7)
    assert not await buckets.try_take(7)


async def test_buckets_forget_the_keys_that_went_quiet() -> None:
    buckets = Buckets(rate=100, burst=1, keep=2)
    await buckets.take("a")
    await buckets.take("b")
    await asyncio.sleep(0.02)  # both full again
    await buckets.take("c")
    assert not await buckets.try_take("c")  # the new one is counted
    assert await buckets.try_take("a")  # the forgotten one starts afresh


async def test_a_full_window_waits_for_the_oldest_answer_plus_the_period() -> None:
    """A call holds its place from when it leaves until a period after its answer: the
    server counted it somewhere in between, however slow the way there was."""
    limiter = CallLimiter("xero:t", windows=((1, 0.05),), concurrent=5, store=MemoryLimits())
    started: list[float] = []
    answered: list[float] = []

    async def call(slow: float) -> None:
        async with limiter.slot():
            started.append(time.monotonic())
            await asyncio.sleep(slow)
        answered.append(time.monotonic())

    await asyncio.gather(call(0.08), call(0))
    # Not at the first call's departure plus the period (0.05), but at its answer plus
    # the period (0.13).
    assert started[1] - answered[0] >= 0.05
    assert started[1] - started[0] >= 0.13
    assert await limiter.counted() == (1,)


async def test_concurrency_is_capped() -> None:
    limiter = CallLimiter("xero:t", windows=(), concurrent=2, store=MemoryLimits())
    inside, most = 0, 0
    release = asyncio.Event()

    async def call() -> None:
        nonlocal inside, most
        async with limiter.slot():
            inside += 1
            most = max(most, inside)
            await release.wait()
            inside -= 1

    tasks = [asyncio.create_task(call()) for _ in range(5)]
    for _ in range(10):
        await asyncio.sleep(0)
    assert inside == most == 2
    release.set()
    await asyncio.gather(*tasks)
    assert most == 2


async def test_two_limiters_counting_in_one_store_share_the_company_limit() -> None:
    """What two processes do on PostgreSQL, here in one store in memory: neither has the
    whole window to itself."""
    store = MemoryLimits()
    first, second = (
        CallLimiter("xero:t", windows=((4, 0.2),), concurrent=5, store=store) for _ in range(2)
    )
    began = time.monotonic()
    for limiter in (first, second, first, second):
        async with limiter.slot():
            pass
    assert await first.counted() == await second.counted() == (4,)
    async with first.slot():
        pass
    assert time.monotonic() - began >= 0.2  # the fifth waited for the window


async def test_a_place_in_flight_is_given_back_when_the_call_fails() -> None:
    store = MemoryLimits()
    limiter = CallLimiter("xero:t", windows=(), concurrent=1, store=store)
    with pytest.raises(RuntimeError):
        async with limiter.slot():
            raise RuntimeError("the call failed")
    async with asyncio.timeout(1):
        async with limiter.slot():
            pass


async def test_a_hold_keeps_every_caller_of_the_company_waiting() -> None:
    limiter = CallLimiter("xero:t", windows=(), concurrent=5, store=MemoryLimits())
    limiter.hold(0.05)
    began = time.monotonic()
    async with limiter.slot():
        pass
    assert time.monotonic() - began >= 0.05
