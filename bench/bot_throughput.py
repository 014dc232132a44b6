"""Bot throughput: U members send N updates in all (commands, a search and a button
press each), through the Bot API stand-in by long polling; Courier's bot against a bare
aiogram echo bot on the same stand-in, in the same run.

Each member plays `/connect`, `edf` (supplier buttons come back), presses "Cancel",
then `/inbox` and `/help`, waiting for each answer as a person would; all members at
once. Courier's bot does its real work: the member and workspace resolved, one
transaction per update, FSM state in the database (SQLite), event isolation, flood
limit, callback answers. The echo bot answers each message with its text and a button,
and each press with an answer and an edit.

Each bot runs in a process of its own, as deployed, and so does neither the Bot API
stand-in nor the members, who run in the benchmark's process: a bot's figure is its own,
not its share of one interpreter with the 1,000 people talking to it.

- `bot_ratio=` Courier's updates per second / the echo bot's (target >= 0.5), median;
- `courier_cpu_ms_per_update=`, `echo_cpu_ms_per_update=` each bot's process CPU time
  from polling to stopped, per update, median: steadier than the rates on a noisy
  machine, and where a change to the bot shows first.

Courier's bot process settles its collector once built, as `courier bot` does
(courier/heap.py); `--heap default` leaves CPython's defaults, for a side-by-side run.

    python -m bench.bot_throughput [--members 1000] [--runs 1] [--postgres [URL]]
                                   [--heap settled|default]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
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
from courier.heap import settle_heap
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


async def poll_until_told(bot: Bot, dispatcher: Dispatcher) -> None:
    """Say "ready", then poll until the benchmark closes this process's stdin, which it
    does once its members are done; then say the CPU time polling took."""
    stop = asyncio.Event()
    print("ready", flush=True)

    async def _told() -> None:
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        stop.set()

    told = asyncio.create_task(_told())
    started = time.process_time()
    try:
        await run_polling(bot, dispatcher, stop)
    finally:
        await told
    print(f"cpu {time.process_time() - started:.6f}", flush=True)


async def serve_echo(api_url: str) -> None:
    """The echo bot's process: polls until told to stop."""
    bot = Bot(ECHO_TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api_url)))
    try:
        await poll_until_told(bot, echo_dispatcher())
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


async def serve_courier(
    api_url: str, members: int, folder: Path, database_url: str | None, *, settled: bool
) -> None:
    """Courier's bot process, wired as `courier bot` wires it: its members joined, then
    polling until told to stop."""
    settings = Settings(
        _env_file=None,
        data_dir=folder,
        database_url=database_url,
        telegram_token=SecretStr(COURIER_TOKEN),
        telegram_api_url=api_url,
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
        dispatcher = build_dispatcher(deps)
        if settled:  # as `courier bot` does once built (courier/heap.py)
            settle_heap()
        try:
            await poll_until_told(bot, dispatcher)
        finally:
            await verifier.drain()
            await bot.session.close()


@dataclass(frozen=True)
class Timing:
    seconds: float
    cpu_seconds: float  # the bot's process, from "ready" to stopped


async def timed_in_own_process(world: BotWorld, members: int, *role: str) -> Timing:
    """Start a bot's process, wait until it polls, time the members, then stop it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.bot_throughput",
        *role,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        assert (await process.stdout.readline()).strip() == b"ready", "the bot did not start"
        seconds = await drive(world, members)
    finally:
        process.stdin.close()
        said = await process.stdout.read()
        if await process.wait() != 0:
            raise RuntimeError(f"the bot's process ended with {process.returncode}")
    return Timing(seconds, float(said.split()[-1]))


async def one_run(members: int, postgres: str | None, heap: str) -> tuple[Timing, Timing]:
    api = BotApi()
    await api.start()
    try:
        with tempfile.TemporaryDirectory(prefix="courier-bot-bench-") as folder:
            async with scratch_postgres(postgres) as url:
                courier_world = api.add_bot(COURIER_TOKEN, username="courier_bench_bot")
                role = ["--role=courier", f"--api={api.url}", f"--members={members}"]
                role += [f"--folder={folder}", f"--heap={heap}"]
                role += [f"--database-url={url}"] if url else []
                courier = await timed_in_own_process(courier_world, members, *role)
        echo_world = api.add_bot(ECHO_TOKEN, username="echo_bot")
        echo = await timed_in_own_process(echo_world, members, "--role=echo", f"--api={api.url}")
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
    parser.add_argument(
        "--heap",
        choices=["settled", "default"],
        default="settled",
        help="Courier's collector as `courier bot` sets it, or CPython's defaults",
    )
    # A bot's process (the benchmark starts them).
    parser.add_argument("--role", choices=["bench", "courier", "echo"], default="bench")
    parser.add_argument("--api", default="")
    parser.add_argument("--folder", default="")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if args.role == "courier":
        await serve_courier(
            args.api,
            args.members,
            Path(args.folder),
            args.database_url,
            settled=args.heap == "settled",
        )
        return
    if args.role == "echo":
        await serve_echo(args.api)
        return
    updates = args.members * len(SCRIPT)
    ratios, ours, theirs, our_cpu, their_cpu = [], [], [], [], []
    for n in range(1, args.runs + 1):
        courier, echo = await one_run(args.members, args.postgres, args.heap)
        ours.append(updates / courier.seconds)
        theirs.append(updates / echo.seconds)
        ratios.append(ours[-1] / theirs[-1])
        our_cpu.append(1000 * courier.cpu_seconds / updates)
        their_cpu.append(1000 * echo.cpu_seconds / updates)
        print(
            f"run {n}: courier {ours[-1]:.0f} updates/s ({courier.seconds:.1f} s, "
            f"{our_cpu[-1]:.2f} ms CPU each), echo {theirs[-1]:.0f} updates/s "
            f"({echo.seconds:.1f} s, {their_cpu[-1]:.2f} ms CPU each)"
        )
    backend = "PostgreSQL" if args.postgres else "SQLite"
    print(
        f"members={args.members} updates={updates} runs={args.runs} ({backend}, long polling,"
        f" Courier's heap {args.heap})"
    )
    print(f"courier_updates_per_second={statistics.median(ours):.0f} (median)")
    print(f"echo_updates_per_second={statistics.median(theirs):.0f} (median)")
    print(f"courier_cpu_ms_per_update={statistics.median(our_cpu):.2f} (median)")
    print(f"echo_cpu_ms_per_update={statistics.median(their_cpu):.2f} (median)")
    print(f"bot_ratio={statistics.median(ratios):.2f} target>=0.5")


if __name__ == "__main__":
    asyncio.run(main())
