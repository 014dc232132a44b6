"""Updates reach a real aiogram bot through the stand-in: long polling, a dispatcher
answering a user's story, button presses, and a webhook with its secret token."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.exceptions import TelegramBadRequest, TelegramConflictError
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, Message, WebhookInfo
from aiogram.utils.keyboard import InlineKeyboardBuilder
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from courier.sandbox.botapi import BotApi
from courier.sandbox.chat import TelegramUser
from courier.sandbox.world import BotWorld
from tests.integration.sandbox.conftest import png
from tests.waiting import eventually, until


class Fetch(CallbackData, prefix="f"):
    connection: int


def story_router() -> Router:
    router = Router()

    @router.message(Command("start"))
    async def start(message: Message, command: CommandObject) -> None:
        builder = InlineKeyboardBuilder()
        builder.button(text="Sync now", callback_data=Fetch(connection=7))
        await message.answer(f"Welcome, code {command.args}", reply_markup=builder.as_markup())

    @router.callback_query(Fetch.filter())
    async def fetch(query: CallbackQuery, callback_data: Fetch) -> None:
        await query.answer("Fetching…")
        assert isinstance(query.message, Message)
        await query.message.edit_text(f"Connection {callback_data.connection}: fetching")

    @router.message(F.document)
    async def document(message: Message, bot: Bot) -> None:
        assert message.document is not None
        file = await bot.get_file(message.document.file_id)
        assert file.file_path is not None
        data = await bot.download_file(file.file_path)
        assert data is not None
        await message.reply(f"{message.document.file_name}: {len(data.read())} bytes")

    @router.message(F.photo)
    async def photo(message: Message) -> None:
        assert message.photo is not None
        await message.answer(f"photo {message.photo[-1].width}x{message.photo[-1].height}")

    @router.message(F.text)
    async def echo(message: Message) -> None:
        replied = message.reply_to_message
        await message.answer(
            f"{message.text} (in reply to {replied.message_id})" if replied else str(message.text)
        )

    return router


@contextlib.asynccontextmanager
async def polling(bot: Bot) -> AsyncIterator[Dispatcher]:
    dispatcher = Dispatcher()
    dispatcher.include_router(story_router())
    task = asyncio.create_task(
        dispatcher.start_polling(
            bot, handle_signals=False, close_bot_session=False, polling_timeout=10
        )
    )
    try:
        yield dispatcher
    finally:
        await dispatcher.stop_polling()
        await task


async def test_long_polling_returns_as_soon_as_a_user_writes(bot: Bot, world: BotWorld) -> None:
    marie = TelegramUser.create(world, first_name="Marie", language_code="fr")
    poll = asyncio.create_task(bot.get_updates(timeout=30))
    await asyncio.sleep(0)  # the poll is waiting, not yet answered
    await marie.say("/start ABC123")
    updates = await asyncio.wait_for(poll, timeout=20)
    assert len(updates) == 1
    message = updates[0].message
    assert message is not None
    assert message.text == "/start ABC123"
    assert message.from_user is not None
    assert message.from_user.language_code == "fr"
    assert message.entities is not None
    assert message.entities[0].type == "bot_command"
    # Not confirmed yet: asked again, it comes again; confirmed by the next offset, it goes.
    assert [u.update_id for u in await bot.get_updates()] == [updates[0].update_id]
    assert await bot.get_updates(offset=updates[0].update_id + 1) == []


async def test_a_second_poller_ends_the_first_with_a_conflict(bot: Bot, world: BotWorld) -> None:
    polls = world.poll_generation
    first = asyncio.create_task(bot.get_updates(timeout=30))
    await until(lambda: world.poll_generation > polls, "the first poll to wait")
    second = asyncio.create_task(bot.get_updates(timeout=1))
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates request"):
        await asyncio.wait_for(first, timeout=20)
    assert await second == []


async def test_allowed_updates_keep_out_what_the_bot_did_not_ask_for(
    bot: Bot, world: BotWorld
) -> None:
    marie = TelegramUser.create(world)
    await bot.get_updates(allowed_updates=["callback_query"])
    await marie.say("ignored")
    assert await bot.get_updates() == []
    await bot.get_updates(allowed_updates=[])
    await marie.say("seen")
    assert [u.message.text for u in await bot.get_updates() if u.message] == ["seen"]


async def test_a_dispatcher_runs_the_users_story(bot: Bot, world: BotWorld) -> None:
    marie = TelegramUser.create(world, first_name="Marie")
    async with polling(bot):
        await marie.say("/start ABC123")
        welcome = await marie.wait_for_reply()
        assert welcome.text == "Welcome, code ABC123"
        assert welcome.button("Sync now").callback_data == "f:7"

        await marie.press("Sync now")
        assert (await marie.wait_for_answer()).text == "Fetching…"
        assert (await marie.wait_for_edit()).text == "Connection 7: fetching"

        uploaded = await marie.upload(b"%PDF-1.7 facture", filename="facture.pdf")
        receipt = await marie.wait_for_reply()
        assert receipt.text == "facture.pdf: 16 bytes"
        assert receipt.reply_to_message_id == uploaded

        await marie.send_photo(png(800, 600))
        assert (await marie.wait_for_reply()).text == "photo 800x600"

        await marie.reply(welcome, "123456")
        assert (await marie.wait_for_reply()).text == f"123456 (in reply to {welcome.message_id})"


async def test_a_callback_query_is_answered_once(bot: Bot, world: BotWorld) -> None:
    marie = TelegramUser.create(world)
    await bot.send_message(
        marie.id,
        "pick",
        reply_markup=InlineKeyboardBuilder().button(text="A", callback_data="a").as_markup(),
    )
    query_id = await marie.press("A")
    assert await bot.answer_callback_query(query_id, text="done")
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query_id)
    with pytest.raises(LookupError, match="no message shows a button 'B'"):
        await marie.press("B")


async def test_updates_reach_a_webhook_with_its_secret_token(
    api: BotApi, bot: Bot, world: BotWorld
) -> None:
    dispatcher = Dispatcher()
    dispatcher.include_router(story_router())
    app = web.Application()
    SimpleRequestHandler(dispatcher, bot, secret_token="s3cr3t-token").register(app, path="/hook")
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    marie = TelegramUser.create(world)
    try:
        await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="wrong-token")
        await marie.say("first")

        # aiogram refuses the wrong secret: the update stays queued, the error is shown.
        async def refused() -> WebhookInfo | None:
            info = await bot.get_webhook_info()
            return info if info.last_error_message else None

        info = await eventually(refused, "the webhook's refusal")
        assert info.pending_update_count == 1
        assert info.last_error_message == "Wrong response from the webhook: 401"
        with pytest.raises(TelegramConflictError, match="webhook is active"):
            await bot.get_updates()

        await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="s3cr3t-token")
        assert (await marie.wait_for_reply()).text == "first"
        await marie.say("/start XYZ")
        assert (await marie.wait_for_reply()).text == "Welcome, code XYZ"
        assert await bot.delete_webhook()
        assert (await bot.get_webhook_info()).url == ""
    finally:
        await bot.delete_webhook()
        await runner.cleanup()
