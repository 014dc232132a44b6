"""A person who blocked the bot: Telegram's 403 marks their chat, their later news is not
tried at all, and writing to the bot again makes them reachable. The real bot polls the
stand-in; the notifier delivers through it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from sqlmodel import col, select

from bot.notifier import Notifier
from bot.notify_pacing import Pace
from core.models import Member, Notification, NotificationState
from core.services.notifications import enqueue
from courier.sandbox.chat import TelegramUser
from tests.integration.bot.conftest import TOKEN, Harness, harness, harness_settings
from tests.integration.sandbox.conftest import client

__all__ = ["harness", "harness_settings"]


@pytest.fixture
async def notifier(harness: Harness) -> AsyncIterator[Notifier]:
    bot: Bot = client(harness.api, TOKEN)
    yield Notifier(bot=bot, db=harness.db, pace=Pace())
    await bot.session.close()


async def news_for(harness: Harness, person: TelegramUser, supplier: str) -> int:
    async with harness.db.transaction() as session:
        member = (
            await session.exec(
                select(Member).where(Member.telegram_user_id == person.id).order_by(col(Member.id))
            )
        ).first()
        assert member is not None
        row = await enqueue(
            session=session,
            kind="documents_fetched",
            workspace_id=member.workspace_id,
            recipient_member_id=member.id,
            payload={"supplier": supplier, "new": 1},
        )
        assert row.id is not None
        return row.id


async def blocked_since(harness: Harness, person: TelegramUser) -> list[object]:
    async with harness.db.read() as session:
        members = await session.exec(select(Member).where(Member.telegram_user_id == person.id))
        return [m.chat_blocked_at for m in members.all()]


async def state(harness: Harness, row_id: int) -> tuple[NotificationState, int]:
    async with harness.db.read() as session:
        row = await session.get(Notification, row_id)
        assert row is not None
        return row.state, row.attempts


async def test_a_blocked_chat_is_marked_skipped_and_cleared_when_the_person_writes(
    harness: Harness, notifier: Notifier
) -> None:
    _, code = await harness.workspace("Boulangerie Dupont")
    marie = await harness.member("Marie", code)
    # Marie is in a second workspace too: the mark is on her chat, so on both memberships.
    _, second_code = await harness.workspace("Atelier Dupont")
    await marie.say(f"/start {second_code}")
    await marie.wait_for_reply()
    assert await blocked_since(harness, marie) == [None, None]

    marie.block()
    first = await news_for(harness, marie, "EDF Entreprises")
    await notifier.deliver_due()
    assert await state(harness, first) == (NotificationState.UNDELIVERABLE, 1)
    assert notifier.stats.blocked == 1
    assert all(mark is not None for mark in await blocked_since(harness, marie))

    # Her later news goes straight to undeliverable: Telegram is not asked again.
    second = await news_for(harness, marie, "Orange Pro")
    assert await notifier.deliver_due() == 1
    assert await state(harness, second) == (NotificationState.UNDELIVERABLE, 1)
    assert notifier.stats.blocked == 1
    assert notifier.stats.sent == 0

    # She unblocks the bot and writes: any update clears the mark.
    marie.unblock()
    await marie.say("/help")
    await marie.wait_for_reply()
    assert await blocked_since(harness, marie) == [None, None]
    third = await news_for(harness, marie, "Free Pro")
    await notifier.deliver_due()
    assert (await marie.wait_for_reply()).text == "Free Pro: 1 new in the inbox."
    assert await state(harness, third) == (NotificationState.SENT, 0)


async def test_a_stranger_writing_changes_no_mark(harness: Harness, notifier: Notifier) -> None:
    stranger = harness.user("Paul")
    await stranger.say("hello")
    await stranger.wait_for_reply()
    assert await blocked_since(harness, stranger) == []
