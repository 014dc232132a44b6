"""`/start <code>` (or a deep link) to join a workspace, `/start` and `/workspace` to choose
one: core's joining flow (core/flows/joining.py) decides, this router only starts it.

A stranger, someone in no workspace, gets one answer to everything else: how to join.
"""

from __future__ import annotations

from typing import Any

from aiogram import Router
from aiogram.filters import Command, CommandObject, CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, User
from aiogram.utils.callback_answer import CallbackAnswer
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.context import Actor, Deps, Replies
from bot.flows import conversation_key, flow_actor, show
from bot.i18n import Texts, texts_for
from bot.middlewares import resolve_actor
from bot.routers.gate import IsStranger
from core.flows.steps import Abort, Done


async def join(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    session: AsyncSession,
    actor: Actor,
    deps: Deps,
    texts: Texts,
    say: Replies,
) -> None:
    await _joining(
        message, {"code": (command.args or "").strip()}, state, session, actor, deps, texts, say
    )


async def start(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    actor: Actor,
    deps: Deps,
    texts: Texts,
    say: Replies,
) -> None:
    await _joining(message, {}, state, session, actor, deps, texts, say)


async def choose_workspace(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    actor: Actor,
    deps: Deps,
    texts: Texts,
    say: Replies,
) -> None:
    await _joining(message, {"switch": True}, state, session, actor, deps, texts, say)


async def _joining(
    message: Message,
    args: dict[str, Any],
    state: FSMContext,
    session: AsyncSession,
    actor: Actor,
    deps: Deps,
    texts: Texts,
    say: Replies,
) -> None:
    user = message.from_user
    assert user is not None
    # A conversation belongs to the workspace it started in: entering another ends it.
    await state.clear()
    key = conversation_key(message.chat.id, user.id)
    who = flow_actor(actor, texts)
    args |= {"name": user.full_name or str(user.id), "language_code": user.language_code}
    shown = await deps.flows.start(session=session, key=key, name="joining", actor=who, args=args)
    if isinstance(shown.step, Done | Abort):
        # Said in the language of the workspace the person now works in.
        texts = await _texts_now(session, user)
    show(shown, message=message, texts=texts, say=say)


async def _texts_now(session: AsyncSession, user: User) -> Texts:
    actor = await resolve_actor(session, user)
    locale = actor.workspace.locale if actor.workspace is not None else None
    return texts_for(workspace_locale=locale, language_code=user.language_code)


async def stranger(message: Message, texts: Texts, say: Replies) -> None:
    say(message.answer(texts("start.stranger")))


async def stranger_button(
    query: CallbackQuery, callback_answer: CallbackAnswer, texts: Texts
) -> None:
    callback_answer.text = texts("common.expired")


def build() -> Router:
    """A fresh router (a router joins one dispatcher only), its handlers in order."""
    router = Router(name="start")
    router.message.register(join, CommandStart(deep_link=True), StateFilter("*"))
    router.message.register(start, CommandStart(), StateFilter("*"))
    router.message.register(choose_workspace, Command("workspace"), StateFilter("*"))
    return router


def build_stranger() -> Router:
    """A fresh router (a router joins one dispatcher only), its handlers in order."""
    stranger_router = Router(name="strangers")
    stranger_router.message.filter(IsStranger())
    stranger_router.callback_query.filter(IsStranger())
    stranger_router.message.register(stranger)
    stranger_router.callback_query.register(stranger_button)
    return stranger_router
