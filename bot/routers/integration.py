"""`/integration` in the chat. The conversation is core's (core/flows/integration.py): what
the software is, who may link it and every step live there. Here are only its doors:

- the command;
- an expiry alert's Reconnect button (bot/flow_render.py), into the flow's reconnect;
- the OAuth callback's deep link, `/start integration_<id>`, back to a confirmation;
- a `.beancount` file sent while the flow asks for a ledger (fetched before the update's
  transaction by bot/uploads.py, handed to the flow as its input).
"""

from __future__ import annotations

from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, CommandStart, Filter, StateFilter
from aiogram.types import CallbackQuery, Message, TelegramObject
from aiogram.utils.callback_answer import CallbackAnswer
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.context import Actor, Deps, Replies
from bot.filters import Matches
from bot.flow_callbacks import IntegrationAction
from bot.flows import begin, conversation_key, flow_actor, show
from bot.i18n import Texts
from bot.uploads import Upload
from core.flows.integration import IntegrationFlow

NAME = IntegrationFlow.name
DEEP_LINK = "integration_"
#: The steps that take a ledger file.
LEDGER_STEPS = frozenset({"ledger", "new_ledger"})


async def command(
    message: Message, actor: Actor, session: AsyncSession, deps: Deps, texts: Texts, say: Replies
) -> None:
    await begin(
        NAME, message=message, actor=actor, session=session, deps=deps, texts=texts, say=say
    )


async def came_back(
    message: Message,
    command: CommandObject,
    actor: Actor,
    session: AsyncSession,
    deps: Deps,
    texts: Texts,
    say: Replies,
) -> None:
    """The software said yes and its callback sent the person back here."""
    ident = (command.args or "").removeprefix(DEEP_LINK)
    await begin(
        NAME,
        message=message,
        actor=actor,
        session=session,
        deps=deps,
        texts=texts,
        say=say,
        args={"linked": ident},
    )


async def reconnect(
    query: CallbackQuery,
    callback_data: IntegrationAction,
    actor: Actor,
    session: AsyncSession,
    deps: Deps,
    texts: Texts,
    say: Replies,
    callback_answer: CallbackAnswer,
) -> None:
    """An alert's Reconnect: the flow checks the link is still this workspace's."""
    if not isinstance(query.message, Message):
        callback_answer.text = texts("common.expired")
        return
    await begin(
        NAME,
        message=query.message,
        actor=actor,
        session=session,
        deps=deps,
        texts=texts,
        say=say,
        args={"reconnect": callback_data.id},
    )


class LedgerAsked(Filter):
    """A file sent while this chat's integration flow asks for a ledger."""

    async def __call__(
        self, event: TelegramObject, session: AsyncSession, deps: Deps
    ) -> bool | dict[str, Any]:
        if not isinstance(event, Message) or event.from_user is None:
            return False
        key = conversation_key(event.chat.id, event.from_user.id)
        row = await deps.flows.current(session=session, key=key)
        if row is None or row.flow != NAME or row.step not in LEDGER_STEPS:
            return False
        return {"flow_key": key}


async def ledger_sent(
    message: Message,
    flow_key: str,
    actor: Actor,
    session: AsyncSession,
    deps: Deps,
    texts: Texts,
    say: Replies,
    upload: Upload | None = None,
) -> None:
    if upload is None:
        sent: dict[str, Any] = {"refused": "unreachable"}
    elif upload.refused is not None:
        sent = {"refused": upload.refused}
    else:
        sent = {"name": upload.filename, "content": upload.content}
    shown = await deps.flows.advance(
        session=session, key=flow_key, actor=flow_actor(actor, texts), user_input={"file": sent}
    )
    if shown is None:
        say(message.answer(texts("common.expired")))
        return
    show(shown, message=message, texts=texts, say=say)


def build_deep_link() -> Router:
    """`/start integration_<id>`: before start's own deep link, which reads invite codes."""
    router = Router(name="integration_deep_link")
    router.message.register(
        came_back,
        CommandStart(deep_link=True, magic=F.args.startswith(DEEP_LINK)),
        StateFilter("*"),
    )
    return router


def build() -> Router:
    """A fresh router (a router joins one dispatcher only), its handlers in order."""
    router = Router(name="integration")
    router.message.register(command, Command("integration"), StateFilter("*"))
    router.callback_query.register(reconnect, IntegrationAction.filter(), StateFilter("*"))
    return router


def build_ledger_upload() -> Router:
    """A `.beancount` file sent while a ledger is asked for: before the inbox's uploads."""
    router = Router(name="integration_ledger_upload")
    router.message.register(ledger_sent, Matches(F.document), LedgerAsked())
    return router
