"""The HTTP protocol itself, as other clients than aiogram speak it: JSON bodies,
urlencoded forms, query strings, and Telegram's answers to a bad token or method."""

from __future__ import annotations

import json

import aiohttp
import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramServerError, TelegramUnauthorizedError

from courier.sandbox.botapi import BotApi
from courier.sandbox.chat import TelegramUser
from courier.sandbox.world import BotWorld
from tests.integration.sandbox.conftest import TOKEN, client

MARKUP = {"inline_keyboard": [[{"text": "Reconnect", "callback_data": "r:3"}]]}


async def test_json_form_and_query_string_all_work(api: BotApi, world: BotWorld) -> None:
    marie = TelegramUser.create(world)
    base = f"{api.url}/bot{TOKEN}"
    async with aiohttp.ClientSession() as http:
        as_json = {"chat_id": marie.id, "text": "json", "reply_markup": MARKUP}
        async with http.post(f"{base}/sendMessage", json=as_json) as response:
            body = await response.json()
        assert body["ok"] is True
        assert body["result"]["reply_markup"] == MARKUP
        form = {"chat_id": str(marie.id), "text": "form", "reply_markup": json.dumps(MARKUP)}
        async with http.post(f"{base}/sendMessage", data=form) as response:
            assert (await response.json())["ok"] is True
        async with http.get(
            f"{base}/sendmessage", params={"chat_id": marie.id, "text": "get"}
        ) as response:
            assert (await response.json())["result"]["text"] == "get"
        async with http.post(
            f"{base}/sendMessage", data={"chat_id": marie.id, "text": "x", "reply_markup": "{"}
        ) as response:
            assert response.status == 400
            assert await response.json() == {
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: can't parse reply keyboard markup JSON object",
            }
        async with http.post(f"{base}/sendMessage", json={"text": "no chat"}) as response:
            assert (await response.json())["description"] == "Bad Request: chat_id is empty"
        async with http.post(f"{base}/noSuchMethod") as response:
            assert (response.status, (await response.json())["description"]) == (404, "Not Found")
        async with http.get(f"{api.url}/file/bot{TOKEN}/documents/nothing.pdf") as response:
            assert response.status == 404
    assert [m.text for m in marie.messages] == ["json", "form", "get"]
    assert marie.messages[0].button("Reconnect").callback_data == "r:3"


async def test_a_wrong_token_is_unauthorized(api: BotApi, world: BotWorld) -> None:
    stranger = client(api, token="1:not-a-registered-token")
    try:
        with pytest.raises(TelegramUnauthorizedError, match="Unauthorized"):
            await stranger.get_me()
    finally:
        await stranger.session.close()


async def test_get_me_and_an_outage(api: BotApi, bot: Bot, world: BotWorld) -> None:
    me = await bot.get_me()
    assert (me.username, me.is_bot) == ("courier_test_bot", True)
    api.outage = True
    with pytest.raises(TelegramServerError, match="Bad Gateway"):
        await bot.get_me()
    api.outage = False
    assert (await bot.get_me()).id == me.id
