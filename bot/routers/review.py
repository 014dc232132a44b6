"""Review in the chat: the Review button of a notice or of /inbox starts the review flow
(core/flows/review.py) on its document. The flow asks, one question at a time, only what
is doubtful; its answers, "Later" and /cancel go through the flows router (bot/flows.py)
like any flow's. The button carries the document's id only: the flow checks in core that
the document is the presser's workspace's.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import StateFilter
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.context import Actor, Deps, Replies
from bot.flow_callbacks import SHOW, ReviewAction
from bot.flows import begin
from bot.i18n import Texts


async def start(
    query: CallbackQuery,
    callback_data: ReviewAction,
    actor: Actor,
    session: AsyncSession,
    deps: Deps,
    callback_answer: CallbackAnswer,
    texts: Texts,
    say: Replies,
) -> None:
    # Buttons of the chat-handler review answered a question by its index: a press of
    # one (left in an old chat, or forged) is no start, and has expired.
    if callback_data.c != SHOW or not isinstance(query.message, Message):
        callback_answer.text = texts("common.expired")
        return
    await begin(
        "review",
        message=query.message,
        actor=actor,
        session=session,
        deps=deps,
        texts=texts,
        say=say,
        args={"document_id": callback_data.id},
    )


def build() -> Router:
    """A fresh router (a router joins one dispatcher only), its handlers in order."""
    router = Router(name="review")
    router.callback_query.register(start, ReviewAction.filter(), StateFilter("*"))
    return router
