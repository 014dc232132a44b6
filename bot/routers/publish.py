"""`/publish`, and the Publish and Retry buttons of rules, refusals and reports: each
starts core's publish flow (core/flows/publish.py), which decides, checks and words
everything; this router only routes."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, StateFilter
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.context import Actor, Deps, Replies
from bot.flows import begin
from bot.i18n import Texts
from bot.outcomes import PublishAction
from core.flows.flow import Input


async def command(
    message: Message,
    actor: Actor,
    session: AsyncSession,
    deps: Deps,
    texts: Texts,
    say: Replies,
) -> None:
    await begin(
        "publish", message=message, actor=actor, session=session, deps=deps, texts=texts, say=say
    )


async def pressed(
    query: CallbackQuery,
    callback_data: PublishAction,
    actor: Actor,
    session: AsyncSession,
    deps: Deps,
    texts: Texts,
    say: Replies,
    callback_answer: CallbackAnswer,
) -> None:
    if not isinstance(query.message, Message):
        callback_answer.text = texts("common.expired")
        return
    args: Input | None = None
    if callback_data.do == "retry":
        args = {"document": callback_data.id}
    elif callback_data.do == "refused":
        args = {"refused": True}
    await begin(
        "publish",
        message=query.message,
        actor=actor,
        session=session,
        deps=deps,
        texts=texts,
        say=say,
        args=args,
    )


def build() -> Router:
    """A fresh router (a router joins one dispatcher only), its handlers in order."""
    router = Router(name="publish")
    router.message.register(command, Command("publish"), StateFilter("*"))
    router.callback_query.register(pressed, PublishAction.filter(), StateFilter("*"))
    return router
