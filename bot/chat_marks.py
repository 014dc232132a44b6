"""A person who blocked the bot and writes to it again is reachable again.

The notifier marks a member's chat when Telegram answers 403 (bot/notifier.py); any
message or button press from that person clears the mark on all their memberships, in
the update's own transaction. It only writes when there is a mark to clear.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject
from sqlalchemy import update
from sqlmodel import col

from bot.context import Actor
from core.models import Member

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class ClearBlockedMark(BaseMiddleware):
    """Runs inside the update's unit of work (it needs `actor` and `session`)."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        actor: Actor | None = data.get("actor")
        if actor is not None and any(m.chat_blocked_at for m, _ in actor.memberships):
            await data["session"].exec(
                update(Member)
                .where(col(Member.telegram_user_id) == actor.telegram_user_id)
                .values(chat_blocked_at=None)
            )
        return await handler(event, data)
