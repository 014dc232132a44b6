"""What nothing else matched: a word of help outside conversations, a nudge inside one,
and "this action has expired" for any button no handler took (stale or forged)."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.filters import StateFilter
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

from bot.context import Replies
from bot.i18n import Texts

log = logging.getLogger(__name__)


async def unknown(message: Message, texts: Texts, say: Replies) -> None:
    say(message.answer(texts("common.unknown")))


async def off_the_step(message: Message, texts: Texts, say: Replies) -> None:
    say(message.answer(texts("common.in_conversation")))


async def stale_button(query: CallbackQuery, callback_answer: CallbackAnswer, texts: Texts) -> None:
    log.info("a button no step expects was pressed (telegram user %s)", query.from_user.id)
    callback_answer.text = texts("common.expired")


def build() -> Router:
    """A fresh router (a router joins one dispatcher only), its handlers in order."""
    router = Router(name="fallback")
    router.message.register(unknown, StateFilter(None))
    router.message.register(off_the_step, StateFilter("*"))
    router.callback_query.register(stale_button, StateFilter("*"))
    return router
