"""Bot throughput: U members send N updates in all (commands, a search and a button
press each), through the Bot API stand-in by long polling; Courier's bot against a bare
aiogram echo bot on the same stand-in, in the same run.

Each member plays `/connect`, `edf` (supplier buttons come back), presses "Cancel",
then `/inbox` and `/help`, waiting for each answer as a person would; all members at
once. Courier's bot does its real work: the member and workspace resolved, one
transaction per update, FSM state in the database (SQLite), event isolation, flood
limit, callback answers. The echo bot answers each message with its text and a button,
and each press with an answer and an edit.

- `bot_ratio=` Courier's updates per second / the echo bot's (target >= 0.5), median.

    python -m bench.bot_throughput [--members 1000] [--runs 1] [--postgres [URL]]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import CallbackQuery, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.app import build_bot, build_dispatcher, run_polling
from bot.serve import build_deps
from core.config import Settings
from core.db import create_database
from core.db.migrate import upgrade
from core.models import Locale, Member, Role, Workspace
from courier.roles import build_runner
from courier.runtime import open_runtime
from courier.sandbox.botapi import BotApi
from courier.sandbox.chat import TelegramUser
from courier.sandbox.world import BotWorld

COURIER_TOKEN = "3000000003:BENCH-courier-bot"
ECHO_TOKEN = "3000000004:BENCH-echo-bot"
FIRST_USER = 800_000_000
PRESS = object()
SCRIPT: tuple[object, ...] = ("/connect", "edf", PRESS, "/inbox", "/help")


async def play(user: TelegramUser) -> None:
    """The member's script, each step waiting for the bot's next message or edit."""
    chat = user.chat

    def answers() -> int:
        return sum(1 for event in chat.events if event.kind in ("sent", "edited"))

    for step in SCRIPT:
        before = answers()
        if step is PRESS:
            await user.press("Cancel")
        else:
            assert isinstance(step, str)
            await user.say(step)
        while answers() <= before:
            changed = chat.changed()
            if answers() > before:
                break
            await asyncio.wait_for(changed.wait(), timeout=60)


async def drive(world: BotWorld, members: int) -> float:
    users = [TelegramUser.create(world, user_id=FIRST_USER + n) for n in range(members)]
    started = time.perf_counter()
    await asyncio.gather(*(play(user) for user in users))
    return time.perf_counter() - started


def echo_dispatcher() -> Dispatcher:
    router = Router()

    @router.message(F.text)
    async def echo(message: Message) -> None:
        builder = InlineKeyboardBuilder()
        builder.button(text="Cancel", callback_data="x")
        await message.answer(message.text or "", reply_markup=builder.as_markup())

    @router.callback_query()
    async def pressed(query: CallbackQuery) -> None:
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.edit_text("Cancelled")

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    return dispatcher


async def polled(bot: Bot, dispatcher: Dispatcher, body: Callable[[], Awaitable[float]]) -> float:
    stop = asyncio.Event()
    polling = asyncio.create_task(run_polling(bot, dispatcher, stop))
    try:
        return await body()
    finally:
        stop.set()
        await polling


async def echo_run(api: BotApi, members: int) -> float:
    world = api.add_bot(ECHO_TOKEN, username="echo_bot")
    bot = Bot(ECHO_TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.url)))
    try:
        return await polled(bot, echo_dispatcher(), lambda: drive(world, members))
    finally:
        await bot.session.close()


@contextlib.asynccontextmanager
async def scratch_postgres(server: str | None) -> AsyncIterator[str | None]:
    """A database of its own on the PostgreSQL server, migrated, dropped at the end."""
    if server is None:
        yield None
        return
    name = f"courier_bench_{uuid.uuid4().hex[:8]}"
    admin = create_database(make_url(server))
    async with admin.engine.connect() as connection:
        await (await connection.execution_options(isolation_level="AUTOCOMMIT")).execute(
            text(f'CREATE DATABASE "{name}"')
        )
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    db = create_database(make_url(url))
    await upgrade(db.engine)
    await db.dispose()
    try:
        yield url
    finally:
        async with admin.engine.connect() as connection:
            await (await connection.execution_options(isolation_level="AUTOCOMMIT")).execute(
                text(f'DROP DATABASE "{name}" WITH (FORCE)')
            )
        await admin.dispose()


async def courier_run(
    api: BotApi, members: int, folder: Path, database_url: str | None = None
) -> float:
    world = api.add_bot(COURIER_TOKEN, username="courier_bench_bot")
    settings = Settings(
        _env_file=None,
        data_dir=folder,
        database_url=database_url,
        telegram_token=SecretStr(COURIER_TOKEN),
        telegram_api_url=api.url,
    )
    async with open_runtime(settings) as rt:
        async with rt.db.transaction() as session:
            workspace = Workspace(name="Bench", slug="bench", locale=Locale.EN)
            session.add(workspace)
            await session.flush()
            assert workspace.id is not None
            session.add_all(
                Member(
                    workspace_id=workspace.id,
                    telegram_user_id=FIRST_USER + n,
                    display_name=f"member {n}",
                    role=Role.ADMIN,
                )
                for n in range(members)
            )
        deps, verifier = await build_deps(
            settings=settings,
            db=rt.db,
            store=rt.store,
            vault=rt.vault,
            runner=build_runner(rt),
            providers=rt.providers,
        )
        bot = build_bot(settings)
        try:
            return await polled(bot, build_dispatcher(deps), lambda: drive(world, members))
        finally:
            await verifier.drain()
            await bot.session.close()


async def one_run(members: int, postgres: str | None) -> tuple[float, float]:
    api = BotApi()
    await api.start()
    try:
        with tempfile.TemporaryDirectory(prefix="courier-bot-bench-") as folder:
            async with scratch_postgres(postgres) as url:
                courier = await courier_run(api, members, Path(folder), url)
        echo = await echo_run(api, members)
    finally:
        await api.close()
    return courier, echo


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument(
        "--postgres",
        nargs="?",
        const="postgresql+asyncpg://postgres@127.0.0.1:5432/test",
        help="run Courier's bot on a scratch database of this PostgreSQL server",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    updates = args.members * len(SCRIPT)
    ratios, ours, theirs = [], [], []
    for n in range(1, args.runs + 1):
        courier, echo = await one_run(args.members, args.postgres)
        ours.append(updates / courier)
        theirs.append(updates / echo)
        ratios.append(ours[-1] / theirs[-1])
        print(
            f"run {n}: courier {ours[-1]:.0f} updates/s ({courier:.1f} s), "
            f"echo {theirs[-1]:.0f} updates/s ({echo:.1f} s)"
        )
    backend = "PostgreSQL" if args.postgres else "SQLite"
    print(f"members={args.members} updates={updates} runs={args.runs} ({backend}, long polling)")
    print(f"courier_updates_per_second={statistics.median(ours):.0f} (median)")
    print(f"echo_updates_per_second={statistics.median(theirs):.0f} (median)")
    print(f"bot_ratio={statistics.median(ratios):.2f} target>=0.5")


if __name__ == "__main__":
    asyncio.run(main())
