"""The one worker loop: it works while there is work, sleeps until woken, stops when told,
and a failing round neither ends it nor spins it."""

from __future__ import annotations

import asyncio
import logging

import pytest

from core.jobs.loop import EventBell, work_until


async def test_it_goes_on_while_work_waits_then_sleeps_until_woken() -> None:
    stop, wake = asyncio.Event(), asyncio.Event()
    rounds: list[float] = []
    waiting = [3]  # three full batches, then nothing

    async def step() -> bool:
        rounds.append(asyncio.get_running_loop().time())
        waiting[0] -= 1
        return waiting[0] > 0

    loop = asyncio.create_task(
        work_until(stop, step, name="test", idle_seconds=30, bell=EventBell(wake))
    )
    await asyncio.sleep(0.1)
    assert len(rounds) == 3  # back to back, then asleep: the idle poll is 30 s away
    wake.set()  # a commit elsewhere
    await asyncio.sleep(0.1)
    assert len(rounds) == 4
    stop.set()
    await asyncio.wait_for(loop, 1)


async def test_a_commit_during_a_round_wakes_the_sleep_that_follows() -> None:
    stop, wake = asyncio.Event(), asyncio.Event()
    rounds = 0

    async def step() -> bool:
        nonlocal rounds
        rounds += 1
        if rounds == 1:
            wake.set()  # the gateway commits while the worker is busy
        return False

    loop = asyncio.create_task(
        work_until(stop, step, name="test", idle_seconds=30, bell=EventBell(wake))
    )
    await asyncio.sleep(0.1)
    assert rounds == 2
    stop.set()
    await asyncio.wait_for(loop, 1)


async def test_a_failing_round_is_logged_and_tried_again_after_the_pause(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = asyncio.Event()
    rounds = 0

    async def step() -> bool:
        nonlocal rounds
        rounds += 1
        raise RuntimeError("the database went away")

    with caplog.at_level(logging.ERROR):
        loop = asyncio.create_task(work_until(stop, step, name="the notifier", idle_seconds=0.1))
        await asyncio.sleep(0.35)
        stop.set()
        await asyncio.wait_for(loop, 1)
    assert 3 <= rounds <= 5  # every pause, not a spin
    assert "the notifier: a round failed" in caplog.text


async def test_stop_ends_a_sleep_at_once() -> None:
    stop = asyncio.Event()

    async def step() -> bool:
        return False

    loop = asyncio.create_task(work_until(stop, step, name="test", idle_seconds=60))
    await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(loop, 0.5)
