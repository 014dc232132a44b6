"""Notification fan-out: N outbox rows for N chats, delivered through the Bot API
stand-in with Telegram's limits enforced (30 messages/s overall with a burst of 30,
1/s per chat), by Courier's notifier.

Side by side in the same run, the baseline: the same N messages sent by a bare loop
with aiogram that sends as fast as it can and, on a 429, waits `retry_after` and tries
again (the usual fix). It shows what pacing buys: as many messages a second, without
the 429s.

- `fanout_messages_per_second=` what the notifier achieved, first claim to last message
  (target >= 27); `fanout_ratio=` that over Telegram's 30/s;
- `lost=` rows not delivered or messages missing from a chat (must be 0);
- `too_many_requests=` 429s the notifier met, against the baseline's.

    python -m bench.bot_fanout [--chats 600] [--runs 1]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramRetryAfter
from sqlalchemy.engine import make_url
from sqlmodel import col, func, select

from bot.notifier import Notifier
from core.db import Database, create_database
from core.db.migrate import upgrade
from core.models import Member, Notification, NotificationState, Role, Workspace
from core.services.notifications import enqueue
from courier.sandbox.botapi import BotApi
from courier.sandbox.chat import TelegramUser
from courier.sandbox.limits import RateLimits

TOKEN = "2000000002:BENCH-fanout-token"
FIRST_USER = 900_000_000


@dataclass(frozen=True, slots=True)
class Result:
    seconds: float
    delivered: int
    lost: int
    too_many_requests: int

    def rate(self) -> float:
        return self.delivered / self.seconds


async def seed(db: Database, chats: int) -> None:
    async with db.transaction() as session:
        workspace = Workspace(name="Fan-out", slug="fanout")
        session.add(workspace)
        await session.flush()
        assert workspace.id is not None
        members = [
            Member(
                workspace_id=workspace.id,
                telegram_user_id=FIRST_USER + n,
                display_name=f"member {n}",
                role=Role.MEMBER,
            )
            for n in range(chats)
        ]
        session.add_all(members)
        await session.flush()
        for n, member in enumerate(members):
            await enqueue(
                session=session,
                kind="documents_fetched",
                workspace_id=workspace.id,
                recipient_member_id=member.id,
                payload={"supplier": "EDF Entreprises", "new": 1 + n % 5, "found": 5},
            )


def client(url: str) -> Bot:
    return Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(url)))


async def courier_notifier(db: Database, chats: int) -> Result:
    api = BotApi(limits=RateLimits())
    world = api.add_bot(TOKEN, username="fanout_bot")
    users = [TelegramUser.create(world, user_id=FIRST_USER + n) for n in range(chats)]
    await api.start()
    bot = client(api.url)
    notifier = Notifier(bot=bot, db=db)
    started = time.perf_counter()
    try:
        while await notifier.deliver_due():
            pass
        seconds = time.perf_counter() - started
    finally:
        await bot.session.close()
        await api.close()
    async with db.read() as session:
        sent = await session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(col(Notification.state) == NotificationState.SENT)
        )
    received = sum(1 for user in users if len(user.messages) == 1)
    lost = max(chats - int(sent or 0), chats - received)
    return Result(seconds, received, lost, api.stats.too_many_requests)


async def bare_loop(chats: int) -> Result:
    """The baseline: send as fast as possible; on 429 wait and retry."""
    api = BotApi(limits=RateLimits())
    world = api.add_bot(TOKEN, username="fanout_bot")
    users = [TelegramUser.create(world, user_id=FIRST_USER + n) for n in range(chats)]
    await api.start()
    bot = client(api.url)
    started = time.perf_counter()
    try:
        for user in users:
            while True:
                try:
                    await bot.send_message(user.id, "EDF Entreprises: 1 new in the inbox.")
                    break
                except TelegramRetryAfter as err:
                    await asyncio.sleep(err.retry_after)
        seconds = time.perf_counter() - started
    finally:
        await bot.session.close()
        await api.close()
    received = sum(1 for user in users if len(user.messages) == 1)
    return Result(seconds, received, chats - received, api.stats.too_many_requests)


async def one_run(chats: int) -> tuple[Result, Result]:
    with tempfile.TemporaryDirectory(prefix="courier-fanout-") as folder:
        db = create_database(make_url(f"sqlite+aiosqlite:///{Path(folder) / 'courier.db'}"))
        try:
            await upgrade(db.engine)
            await seed(db, chats)
            ours = await courier_notifier(db, chats)
        finally:
            await db.dispose()
    baseline = await bare_loop(chats)
    return ours, baseline


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=600)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    runs = [await one_run(args.chats) for _ in range(args.runs)]
    for n, (ours, base) in enumerate(runs, start=1):
        print(
            f"run {n}: notifier {ours.rate():.1f} msg/s, {ours.too_many_requests} x 429, "
            f"lost {ours.lost}; bare loop {base.rate():.1f} msg/s, "
            f"{base.too_many_requests} x 429, lost {base.lost}"
        )
    rate = statistics.median(ours.rate() for ours, _ in runs)
    base_rate = statistics.median(base.rate() for _, base in runs)
    print(f"chats={args.chats} runs={args.runs} limits: 30/s overall (burst 30), 1/s per chat")
    print(f"fanout_messages_per_second={rate:.1f} target>=27 (median)")
    print(f"fanout_ratio={rate / 30:.2f} of Telegram's 30/s; bare loop: {base_rate / 30:.2f}")
    print(f"lost={max(ours.lost for ours, _ in runs)} target=0")
    print(
        f"too_many_requests={max(ours.too_many_requests for ours, _ in runs)} "
        f"(bare loop: {max(base.too_many_requests for _, base in runs)})"
    )


if __name__ == "__main__":
    asyncio.run(main())
