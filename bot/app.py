"""Building the bot and its dispatcher, and running them by long polling or a webhook.

The order of the routers is part of the design (aiogram #954: a handler without a state
filter matches in every state):
1. `/cancel` and `/help`, in any state;
2. `/start` and `/workspace`, which strangers may use too;
3. replies to a 2FA prompt, in any state: a code is never taken for a login;
   then the input of the flow (core/flows) waiting in the chat, if any;
4. for members only: the conversations, one router per subject;
5. a bare code, outside any conversation;
6. the fallback, outside any conversation, and stale buttons last.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiogram import Bot, Dispatcher, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import PRODUCTION, TelegramAPIServer
from aiogram.fsm.storage.base import BaseStorage
from aiogram.fsm.storage.memory import SimpleEventIsolation
from aiogram.types import BotCommand
from aiogram.utils.callback_answer import CallbackAnswerMiddleware
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

from bot import flows
from bot.chat_marks import ClearBlockedMark
from bot.context import Deps
from bot.i18n import Texts, languages
from bot.in_flight import UpdatesInFlight, drain_updates
from bot.middlewares import (
    FloodLimit,
    KeptResponseTypes,
    SendAgain,
    StateInTheUnit,
    UnitOfWork,
)
from bot.routers import (
    codes,
    common,
    connect,
    connections,
    digest,
    fallback,
    inbox,
    integration,
    mail,
    publish,
    review,
    rules,
    start,
)
from bot.routers.gate import members_only
from bot.storage import DatabaseStorage
from bot.update_cap import UpdateCap
from bot.uploads import FetchUploads
from core.config import Settings
from core.errors import ConfigInvalid

log = logging.getLogger(__name__)
WEBHOOK_PATH = "/telegram/webhook"
COMMANDS = (
    "connect",
    "connections",
    "inbox",
    "mail",
    "integration",
    "rules",
    "publish",
    "digest",
    "workspace",
    "help",
    "cancel",
)


def api_server(settings: Settings) -> TelegramAPIServer:
    """Telegram's own servers, or a self-hosted Bot API server (or the local stand-in)."""
    if settings.telegram_api_url:
        return TelegramAPIServer.from_base(settings.telegram_api_url)
    return PRODUCTION


def build_bot(settings: Settings, *, session: BaseSession | None = None) -> Bot:
    if settings.telegram_token is None:
        raise ConfigInvalid(setting="COURIER_TELEGRAM_TOKEN", reason="not set")
    session = session or AiohttpSession(api=api_server(settings))
    session.middleware(KeptResponseTypes())
    session.middleware(SendAgain())
    return Bot(
        settings.telegram_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(link_preview_is_disabled=True),
    )


def build_routers() -> list[Router]:
    """Fresh routers in their order (see the module's docstring)."""
    members = Router(name="members")
    members_only(members)
    members.include_routers(
        integration.build_ledger_upload(),  # a ledger sent when asked for, not the inbox's
        connect.build(),
        connections.build(),
        inbox.build(),
        mail.build(),
        codes.build_bare(),
    )
    members.include_routers(
        integration.build(), rules.build(), review.build(), publish.build()
    )  # link, rules, review, publish
    members.include_router(digest.build())
    return [
        common.build(),
        integration.build_deep_link(),  # `/start integration_<id>`, before invite codes
        start.build(),
        codes.build_reply(),
        flows.build(),
        members,
        start.build_stranger(),
        fallback.build(),
    ]


def build_dispatcher(deps: Deps, *, storage: BaseStorage | None = None) -> Dispatcher:
    dp = Dispatcher(
        storage=storage or DatabaseStorage(deps.db),
        events_isolation=SimpleEventIsolation(),
        disable_fsm=True,  # registered below, as StateInTheUnit
        deps=deps,
    )
    # Outermost: an update counts as in flight from its task's first step, so a bot told
    # to stop lets it finish, waiting for its turn included (bot/in_flight.py).
    dp.update.outer_middleware(UpdatesInFlight())
    dp.update.outer_middleware(
        StateInTheUnit(storage=dp.storage, events_isolation=dp.fsm.events_isolation)
    )
    # After aiogram's user context and the FSM with its isolation lock: inside the lock,
    # a turn among the updates handled at once; the flood limit; then a file sent is
    # fetched (outside any transaction); then the update's one transaction around the
    # handler, in which the FSM's state is read.
    dp.update.outer_middleware(UpdateCap(deps.settings.bot_max_updates))
    dp.update.outer_middleware(FloodLimit())
    dp.message.outer_middleware(FetchUploads())
    unit = UnitOfWork()
    dp.message.outer_middleware(unit)
    dp.callback_query.outer_middleware(unit)
    dp.message.outer_middleware(ClearBlockedMark())  # inside the unit: its session, its actor
    dp.callback_query.outer_middleware(ClearBlockedMark())
    dp.callback_query.middleware(CallbackAnswerMiddleware())
    dp.include_routers(*build_routers())
    return dp


async def publish_commands(bot: Bot) -> None:
    """The command menu, in each language the bot speaks."""
    for language in languages():
        texts = Texts(language)
        commands = [BotCommand(command=c, description=texts(f"commands.{c}")) for c in COMMANDS]
        await bot.set_my_commands(commands, language_code=language)
    english = Texts("en")
    await bot.set_my_commands(
        [BotCommand(command=c, description=english(f"commands.{c}")) for c in COMMANDS]
    )


async def run_polling(bot: Bot, dp: Dispatcher, stop: asyncio.Event) -> None:
    """Long polling until `stop`; updates are handled as tasks, each under its user's lock."""
    await bot.delete_webhook(drop_pending_updates=False)
    polling = asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, close_bot_session=False), name="bot-polling"
    )
    waiting = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({polling, waiting}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not polling.done():
            with contextlib.suppress(RuntimeError):  # not started yet
                await dp.stop_polling()
        waiting.cancel()
        await polling
        # Telegram has them as delivered: they finish before the session and database close.
        await drain_updates(dp)


async def run_webhook(bot: Bot, dp: Dispatcher, settings: Settings, stop: asyncio.Event) -> int:
    """An aiohttp server Telegram posts to; every request must carry the secret token.
    Returns the port it listened on (useful with port 0)."""
    secret = settings.telegram_webhook_secret
    if settings.telegram_webhook_url is None or secret is None:
        raise ConfigInvalid(
            setting="COURIER_TELEGRAM_WEBHOOK_SECRET", reason="a webhook needs a URL and a secret"
        )
    app = web.Application()

    async def drain(_: web.Application) -> None:
        await drain_updates(dp)

    # The first shutdown hook: the listener has stopped taking requests, and the updates
    # taken finish before the hook aiogram adds next closes the bot's session.
    app.on_shutdown.append(drain)
    SimpleRequestHandler(dispatcher=dp, bot=bot, secret_token=secret.get_secret_value()).register(
        app, path=WEBHOOK_PATH
    )
    setup_application(app, dp, bot=bot)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, settings.telegram_webhook_host, settings.telegram_webhook_port)
    await site.start()
    await bot.set_webhook(
        settings.telegram_webhook_url.rstrip("/") + WEBHOOK_PATH,
        secret_token=secret.get_secret_value(),
        allowed_updates=dp.resolve_used_update_types(),
    )
    try:
        await stop.wait()
    finally:
        await runner.cleanup()  # its shutdown hooks drain the updates first (above)
    return 0
