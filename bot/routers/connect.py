"""`/connect`: starts core's connect flow (core/flows/connect.py), which holds every step.

`/connect` asks for the supplier; `/connect demo` searches for it at once. The flow's
steps are rendered and fed by bot/flows.py.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.context import Actor, Deps, Replies
from bot.flows import begin
from bot.i18n import Texts


async def start(
    message: Message,
    command: CommandObject,
    actor: Actor,
    session: AsyncSession,
    state: FSMContext,
    deps: Deps,
    texts: Texts,
    say: Replies,
) -> None:
    await state.clear()  # one conversation at a time: the flow replaces any other
    query = (command.args or "").strip()
    await begin(
        "connect",
        message=message,
        actor=actor,
        session=session,
        deps=deps,
        texts=texts,
        say=say,
        args={"supplier": query} if query else None,
    )


def build() -> Router:
    """A fresh router (a router joins one dispatcher only), its handlers in order."""
    router = Router(name="connect")
    router.message.register(start, Command("connect"), StateFilter("*"))
    return router
