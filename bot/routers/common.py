"""`/cancel` and `/help`, in every state: they come first, so no step can swallow them."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, ReplyKeyboardRemove

from bot.callbacks import Cancel
from bot.context import Actor
from bot.i18n import Texts

router = Router(name="common")


@router.message(Command("cancel"), StateFilter("*"))
async def cancel(message: Message, state: FSMContext, texts: Texts) -> None:
    if await state.get_state() is None:
        await message.answer(texts("common.nothing_to_cancel"))
        return
    await state.clear()
    await message.answer(texts("common.cancelled"), reply_markup=ReplyKeyboardRemove())


@router.callback_query(Cancel.filter(), StateFilter("*"))
async def cancel_button(query: CallbackQuery, state: FSMContext, texts: Texts) -> None:
    await state.clear()
    if isinstance(query.message, Message):
        await query.message.edit_text(texts("common.cancelled"))


@router.message(Command("help"), StateFilter("*"))
async def show_help(message: Message, actor: Actor, texts: Texts) -> None:
    if actor.member is None:
        await message.answer(texts("start.stranger"))
        return
    await message.answer(texts("help.text"))
