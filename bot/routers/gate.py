"""Only members reach the conversations; a stranger is told how to join, nothing else."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Filter
from aiogram.types import TelegramObject

from bot.context import Actor


class IsMember(Filter):
    async def __call__(self, event: TelegramObject, actor: Actor) -> bool:
        return actor.member is not None


class IsStranger(Filter):
    async def __call__(self, event: TelegramObject, actor: Actor) -> bool:
        return actor.member is None


def members_only(router: Router) -> None:
    router.message.filter(IsMember())
    router.callback_query.filter(IsMember())
