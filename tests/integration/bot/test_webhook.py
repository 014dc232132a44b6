"""Webhook mode: Telegram (the stand-in) posts updates to the bot's aiohttp server, which
refuses any request without the secret token."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from bot.app import WEBHOOK_PATH, build_bot, build_dispatcher, run_webhook
from core.db import Database
from courier.sandbox.chat import TelegramUser
from tests.integration.bot.conftest import (
    TOKEN,
    free_port,
    plain_deps,
    stand_in,
    webhook_settings,
)


async def test_updates_arrive_by_webhook_and_a_request_without_the_secret_is_refused(
    db: Database, tmp_path: Path
) -> None:
    async with stand_in("courier_hook_bot") as (api, world):
        port = free_port()
        settings = webhook_settings(tmp_path, api.url, port, telegram_token=TOKEN)
        async with plain_deps(db, settings, tmp_path) as deps:
            bot = build_bot(settings)
            stop = asyncio.Event()
            serving = asyncio.create_task(run_webhook(bot, build_dispatcher(deps), settings, stop))
            try:
                stranger = TelegramUser.create(world, first_name="Paul")
                await stranger.say("hello")
                assert "invite code" in (await stranger.wait_for_reply()).text
                assert world.webhook is not None
                update = {
                    "update_id": 999,
                    "message": {
                        "message_id": 1,
                        "date": 0,
                        "chat": {"id": 1, "type": "private"},
                        "text": "/help",
                    },
                }
                async with aiohttp.ClientSession() as client:
                    url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
                    async with client.post(url, json=update) as refused:
                        assert refused.status == 401
                    wrong = {"X-Telegram-Bot-Api-Secret-Token": "not-it"}
                    async with client.post(url, json=update, headers=wrong) as refused:
                        assert refused.status == 401
            finally:
                stop.set()
                await serving
                await bot.session.close()
