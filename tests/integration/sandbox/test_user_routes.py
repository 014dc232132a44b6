"""Simulated users driven over HTTP, for a bot that runs in another process."""

from __future__ import annotations

import aiohttp
import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramForbiddenError
from aiogram.types import BufferedInputFile
from aiogram.utils.keyboard import InlineKeyboardBuilder

from courier.sandbox.botapi import BotApi
from courier.sandbox.world import BotWorld
from tests.integration.sandbox.conftest import TOKEN, png


async def test_a_user_over_http_talks_reads_presses_and_sends_files(
    api: BotApi, bot: Bot, world: BotWorld
) -> None:
    base = f"{api.url}/sandbox/bot{TOKEN}/users"
    async with aiohttp.ClientSession() as http:
        async with http.post(base, json={"first_name": "Marie", "language_code": "fr"}) as made:
            marie = (await made.json())["id"]
        async with http.post(f"{base}/{marie}/say", json={"text": "/start ABC"}) as said:
            assert (await said.json())["message_id"] == 1
        [update] = await bot.get_updates()
        assert update.message is not None
        assert update.message.text == "/start ABC"

        keyboard = InlineKeyboardBuilder().button(text="Sync now", callback_data="ca:fetch:1")
        await bot.send_message(marie, "Welcome", reply_markup=keyboard.as_markup())
        async with http.get(f"{base}/{marie}/events", params={"after": 0, "wait": 5}) as seen:
            body = await seen.json()
        [event] = body["events"]
        assert event["kind"] == "sent"
        assert event["message"]["text"] == "Welcome"
        assert event["message"]["buttons"][0][0]["callback_data"] == "ca:fetch:1"

        async with http.post(f"{base}/{marie}/press", json={"label": "Sync now"}) as pressed:
            query_id = (await pressed.json())["callback_query_id"]
        async with http.post(f"{base}/{marie}/press", json={"label": "Nope"}) as missing:
            assert missing.status == 400
        await bot.answer_callback_query(query_id, text="Fetching")
        async with http.get(f"{base}/{marie}/events", params={"after": body["next"]}) as seen:
            [answered] = (await seen.json())["events"]
        assert (answered["kind"], answered["text"]) == ("answered", "Fetching")

        form = aiohttp.FormData()
        form.add_field("file", png(), filename="ticket.png", content_type="image/png")
        form.add_field("photo", "true")
        async with http.post(f"{base}/{marie}/upload", data=form) as uploaded:
            assert uploaded.status == 200
        updates = await bot.get_updates(offset=update.update_id + 1)
        photos = [u.message.photo for u in updates if u.message and u.message.photo]
        assert photos[0][-1].width == 64

        async with http.post(f"{base}/{marie}/block") as blocked:
            assert (await blocked.json()) == {"blocked": True}
        with pytest.raises(TelegramForbiddenError, match="blocked"):
            await bot.send_document(marie, BufferedInputFile(b"%PDF", filename="x.pdf"))
        async with http.post(f"{base}/999/say", json={"text": "hi"}) as unknown:
            assert unknown.status == 404
