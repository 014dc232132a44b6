"""The flood limits, when switched on: about one message a second in a chat and thirty a
second overall, refused with 429 and `retry_after` as Telegram does."""

from __future__ import annotations

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramRetryAfter

from courier.sandbox.botapi import BotApi
from courier.sandbox.chat import TelegramUser
from courier.sandbox.limits import RateLimiter, RateLimits
from courier.sandbox.world import BotWorld
from tests.integration.sandbox.conftest import TOKEN, client


async def test_a_burst_in_one_chat_gets_retry_after(api: BotApi, bot: Bot, world: BotWorld) -> None:
    api.enforce_limits(RateLimits())
    marie = TelegramUser.create(world)
    for n in range(3):  # a short burst is tolerated
        await bot.send_message(marie.id, f"message {n}")
    with pytest.raises(TelegramRetryAfter) as refused:
        await bot.send_message(marie.id, "one too many")
    assert refused.value.retry_after == 1
    assert "Too Many Requests: retry after 1" in refused.value.message
    assert api.stats.too_many_requests == 1
    assert len(marie.messages) == 3
    # Another chat is not held back by this one.
    await bot.send_message(TelegramUser.create(world).id, "hello")


async def test_thirty_a_second_overall() -> None:
    # A stopped clock: thirty sends take no time at all, as far as the buckets know.
    api = BotApi(limits=RateLimits(), clock=lambda: 100.0)
    world = api.add_bot(TOKEN, username="courier_test_bot")
    await api.start()
    bot = client(api)
    users = [TelegramUser.create(world) for _ in range(31)]
    for user in users[:30]:
        await bot.send_message(user.id, "news")
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(users[30].id, "news")
    api.enforce_limits(None)
    await bot.send_message(users[30].id, "news")
    assert all(len(user.messages) == 1 for user in users)
    await bot.session.close()
    await api.close()


def test_buckets_refill_with_time() -> None:
    now = [0.0]
    limiter = RateLimiter(RateLimits(per_chat_burst=1), clock=lambda: now[0])
    assert limiter.admit(1) is None
    assert limiter.admit(1) == 1
    now[0] += 0.5
    assert limiter.admit(1) == 1  # half a token: still a whole second to say
    now[0] += 0.5
    assert limiter.admit(1) is None
