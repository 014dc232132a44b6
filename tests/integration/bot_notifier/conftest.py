"""The notifier against the Bot API stand-in with Telegram's limits on, on both databases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiogram import Bot

from bot.notifier import Notifier
from bot.notify_pacing import Pace
from core.db import Database
from core.models import Member, Notification, Role
from core.services.members import create_invite, join_workspace
from core.services.notifications import enqueue
from courier.sandbox.botapi import BotApi
from courier.sandbox.chat import TelegramUser
from courier.sandbox.limits import RateLimits
from courier.sandbox.world import BotWorld
from tests.integration.conftest import World
from tests.integration.sandbox.conftest import TOKEN, client


@pytest.fixture
async def api() -> AsyncIterator[BotApi]:
    server = BotApi(limits=RateLimits())
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def telegram(api: BotApi) -> BotWorld:
    return api.add_bot(TOKEN, username="courier_test_bot")


@pytest.fixture
async def bot(api: BotApi, telegram: BotWorld) -> AsyncIterator[Bot]:
    session_bot = client(api)
    yield session_bot
    await session_bot.session.close()


@pytest.fixture
def notifier(bot: Bot, db: Database) -> Notifier:
    return Notifier(bot=bot, db=db, pace=Pace())


@pytest.fixture
def marie(telegram: BotWorld, world: World) -> TelegramUser:
    """The bakery's owner (telegram id 1001 in the `world` fixture) in her chat with the bot."""
    return TelegramUser.create(telegram, first_name="Marie", language_code="fr", user_id=1001)


async def add_member(db: Database, world: World, *, telegram_id: int, role: Role) -> Member:
    async with db.transaction() as session:
        invite = await create_invite(
            session=session, workspace=world.workspace, role=role, ttl=timedelta(hours=1)
        )
        return await join_workspace(
            session=session, code=invite.code, telegram_user_id=telegram_id, display_name="x"
        )


async def notify(
    db: Database, world: World, kind: str, *, to_owner: bool = True, **payload: object
) -> int:
    async with db.transaction() as session:
        row = await enqueue(
            session=session,
            kind=kind,
            workspace_id=world.workspace.id,
            recipient_member_id=world.owner.id if to_owner else None,
            payload=dict(payload),
        )
        assert row.id is not None
        return row.id


async def row(db: Database, row_id: int) -> Notification:
    async with db.read() as session:
        found = await session.get(Notification, row_id)
        assert found is not None
        return found
