"""Joining a workspace with `/start <code>` (or a deep link), and `/workspace` to switch.

A stranger, someone in no workspace, gets one answer to everything: how to join.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject, CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import WorkspacePick
from bot.context import Actor, Replies
from bot.i18n import Texts, texts_for
from bot.routers.gate import IsStranger
from core.models import Workspace
from core.services.conversations import set_active_workspace
from core.services.members import join_workspace


async def join(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    session: AsyncSession,
    actor: Actor,
    say: Replies,
) -> None:
    assert message.from_user is not None
    user = message.from_user
    code = (command.args or "").strip()
    before = {w.id for _, w in actor.memberships}
    member = await join_workspace(
        session=session,
        code=code,
        telegram_user_id=user.id,
        display_name=user.full_name or str(user.id),
        language_code=user.language_code,
    )
    await set_active_workspace(
        session=session, telegram_user_id=user.id, workspace_id=member.workspace_id
    )
    await state.clear()
    workspace = await session.get(Workspace, member.workspace_id)
    assert workspace is not None
    texts = texts_for(workspace_locale=workspace.locale, language_code=user.language_code)
    if member.workspace_id in before:
        say(message.answer(texts("start.already_member", workspace=workspace.name)))
        return
    role = texts(f"common.role_{member.role}")
    say(message.answer(texts("start.joined", workspace=workspace.name, role=role)))


async def start(
    message: Message, actor: Actor, state: FSMContext, texts: Texts, say: Replies
) -> None:
    if actor.workspace is None:
        say(message.answer(texts("start.stranger")))
        return
    await state.clear()
    say(message.answer(texts("start.welcome_back", workspace=actor.workspace.name)))


def workspace_keyboard(actor: Actor) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for _, workspace in actor.memberships:
        assert workspace.id is not None
        mark = "• " if workspace.id == actor.workspace_id else ""
        builder.button(text=f"{mark}{workspace.name}", callback_data=WorkspacePick(id=workspace.id))
    builder.adjust(1)
    return builder.as_markup()


async def choose_workspace(
    message: Message, actor: Actor, state: FSMContext, texts: Texts, say: Replies
) -> None:
    if actor.workspace is None:
        say(message.answer(texts("start.stranger")))
        return
    if len(actor.memberships) == 1:
        say(message.answer(texts("workspace.only_one", workspace=actor.workspace.name)))
        return
    # A conversation belongs to the workspace it started in: switching ends it.
    await state.clear()
    say(message.answer(texts("workspace.choose"), reply_markup=workspace_keyboard(actor)))


async def switch_workspace(
    query: CallbackQuery,
    callback_data: WorkspacePick,
    actor: Actor,
    session: AsyncSession,
    state: FSMContext,
    callback_answer: CallbackAnswer,
    texts: Texts,
    say: Replies,
) -> None:
    target = next((w for _, w in actor.memberships if w.id == callback_data.id), None)
    if target is None or target.id is None:
        callback_answer.text = texts("common.expired")
        return
    await set_active_workspace(
        session=session, telegram_user_id=actor.telegram_user_id, workspace_id=target.id
    )
    await state.clear()
    texts = texts_for(workspace_locale=target.locale, language_code=query.from_user.language_code)
    if isinstance(query.message, Message):
        say(query.message.edit_text(texts("workspace.switched", workspace=target.name)))


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
    router.callback_query.register(switch_workspace, WorkspacePick.filter(), StateFilter("*"))
    return router


def build_stranger() -> Router:
    """A fresh router (a router joins one dispatcher only), its handlers in order."""
    stranger_router = Router(name="strangers")
    stranger_router.message.filter(IsStranger())
    stranger_router.callback_query.filter(IsStranger())
    stranger_router.message.register(stranger)
    stranger_router.callback_query.register(stranger_button)
    return stranger_router
