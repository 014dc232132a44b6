"""A bot told to stop lets the updates in their handlers finish, replies included, before
it lets its session and database close: Telegram already has those updates as delivered,
and would never send them again.

Against the Bot API stand-in on loopback, served as `courier bot` serves it, by polling
and by webhook; the bot's own dispatcher has the counter outermost, as the last story
checks."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message, TelegramObject

from bot.app import build_dispatcher, run_polling, run_webhook
from bot.in_flight import UpdatesInFlight, drain_updates, updates_in_flight
from core.db import Database
from courier.sandbox.chat import TelegramUser
from tests.conftest import make_settings
from tests.integration.bot.conftest import TOKEN, free_port, plain_deps, stand_in, webhook_settings


def slow_bot(release: asyncio.Event, started: asyncio.Event) -> Dispatcher:
    """A handler that commits, then waits, then replies: an update mid-way at the stop."""
    router = Router()

    @router.message(F.text)
    async def answer(message: Message) -> None:
        started.set()
        await release.wait()
        await message.answer(f"done: {message.text}")

    dp = Dispatcher()
    dp.update.outer_middleware(UpdatesInFlight())
    dp.include_router(router)
    return dp


@pytest.mark.parametrize("transport", ["polling", "webhook"])
async def test_an_update_in_its_handler_at_the_stop_still_gets_its_reply(
    transport: str, tmp_path: Path
) -> None:
    async with stand_in("stopping_bot") as (api, world):
        person = TelegramUser.create(world)
        bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.url)))
        release, started, stop = asyncio.Event(), asyncio.Event(), asyncio.Event()
        dp = slow_bot(release, started)
        serving: asyncio.Task[object]
        if transport == "polling":
            serving = asyncio.create_task(run_polling(bot, dp, stop))
        else:
            settings = webhook_settings(tmp_path, api.url, free_port(), telegram_token=TOKEN)
            serving = asyncio.create_task(run_webhook(bot, dp, settings, stop))
        try:
            await person.say("invoice 42")
            await asyncio.wait_for(started.wait(), 10)

            stop.set()  # SIGTERM while the update is in its handler
            await asyncio.sleep(0.3)
            assert not serving.done(), "the bot stopped with an update in its handler"

            release.set()
            await asyncio.wait_for(serving, 10)
            assert [m.text for m in person.messages] == ["done: invoice 42"]
        finally:
            release.set()
            await asyncio.gather(serving, return_exceptions=True)
            await bot.session.close()


async def test_an_update_that_outlasts_the_grace_is_named_and_the_bot_stops_anyway(
    caplog: pytest.LogCaptureFixture,
) -> None:
    counter = UpdatesInFlight()
    dp = Dispatcher()
    dp.update.outer_middleware(counter)
    stuck = asyncio.Event()

    async def handler(event: object, data: dict[str, object]) -> None:
        await stuck.wait()

    task = asyncio.create_task(counter(handler, TelegramObject(), {}))
    await asyncio.sleep(0)
    with caplog.at_level(logging.WARNING, logger="bot.in_flight"):
        left = await drain_updates(dp, grace=0.05)
    assert left == 1
    assert "1 update(s) still in their handlers" in caplog.text
    stuck.set()
    await task
    assert counter.count == 0
    assert await drain_updates(dp, grace=0.05) == 0


async def test_a_dispatcher_without_the_counter_stops_at_once() -> None:
    assert await drain_updates(Dispatcher(), grace=5) == 0


async def test_the_bots_dispatcher_counts_an_update_from_its_first_step(
    db: Database, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path / "var", telegram_token=TOKEN)
    async with plain_deps(db, settings, tmp_path) as deps:
        dp = build_dispatcher(deps)
    counter = updates_in_flight(dp)
    assert counter is not None
    # Outermost of ours (aiogram's error and user-context wrappers come first, and pass
    # straight on): an update waiting for its isolation lock or its turn counts.
    ours = [m for m in dp.update.outer_middleware if type(m).__module__.startswith("bot.")]
    assert ours[0] is counter
