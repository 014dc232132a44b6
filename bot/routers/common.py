"""`/cancel` and `/help`, in every state: they come first, so no step can swallow them."""

from __future__ import annotations

from typing import Any

from aiogram import Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, ReplyKeyboardRemove
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import Cancel
from bot.context import Actor, Deps, Replies
from bot.flows import conversation_key
from bot.i18n import Texts


async def cancel(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    deps: Deps,
    texts: Texts,
    say: Replies,
) -> None:
    key = conversation_key(message.chat.id, message.from_user.id) if message.from_user else ""
    row = await deps.flows.current(session=session, key=key) if key else None
    stopped = await deps.flows.cancel(session=session, key=key) if key else False
    if await state.get_state() is None and not stopped:
        say(message.answer(texts("common.nothing_to_cancel")))
        return
    await state.clear()
    said = _kept(row.data if row is not None else None, texts) or texts("common.cancelled")
    say(message.answer(said, reply_markup=ReplyKeyboardRemove()))


def _kept(data: Any, texts: Texts) -> str | None:
    """What a stopped flow had already saved, in its own words: a flow that keeps each
    step's work (a review's answers) stores the text to say as `_on_cancel`, so /cancel
    does not claim that nothing was changed."""
    said = data.get("_on_cancel") if isinstance(data, dict) else None
    if not isinstance(said, dict) or not texts.has(str(said.get("key"))):
        return None
    params = said.get("params")
    return texts(str(said["key"]), **(params if isinstance(params, dict) else {}))


async def cancel_button(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    deps: Deps,
    texts: Texts,
    say: Replies,
) -> None:
    if isinstance(query.message, Message):
        key = conversation_key(query.message.chat.id, query.from_user.id)
        await deps.flows.cancel(session=session, key=key)
    await state.clear()
    if isinstance(query.message, Message):
        say(query.message.edit_text(texts("common.cancelled")))


async def show_help(message: Message, actor: Actor, texts: Texts, say: Replies) -> None:
    if actor.member is None:
        say(message.answer(texts("start.stranger")))
        return
    say(message.answer(texts("help.text")))


def build() -> Router:
    """A fresh router (a router joins one dispatcher only), its handlers in order."""
    router = Router(name="common")
    router.message.register(cancel, Command("cancel"), StateFilter("*"))
    router.callback_query.register(cancel_button, Cancel.filter(), StateFilter("*"))
    router.message.register(show_help, Command("help"), StateFilter("*"))
    return router
