"""`/rules` in the chat. The conversation is core's (core/flows/rules.py): the listing,
the edit, the lookups in the accounting software's lists, who may do it, and what a saved
rule sends; its steps' answers and buttons go through the flows router (bot/flows.py).
Here is only its door, the command."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, StateFilter
from aiogram.types import Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.context import Actor, Deps, Replies
from bot.flows import begin
from bot.i18n import Texts
from core.flows.rules import Rules


async def command(
    message: Message, actor: Actor, session: AsyncSession, deps: Deps, texts: Texts, say: Replies
) -> None:
    await begin(
        Rules.name, message=message, actor=actor, session=session, deps=deps, texts=texts, say=say
    )


def build() -> Router:
    """A fresh router (a router joins one dispatcher only), its handlers in order."""
    router = Router(name="rules")
    router.message.register(command, Command("rules"), StateFilter("*"))
    return router
