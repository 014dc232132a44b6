"""The chat side of core's flows (core/flows): turn updates into inputs, and step results
into messages and buttons. No decision and no query lives here.

- A command starts a flow (`begin`), replacing any in progress.
- While a flow waits, a text that is not a command is its input: a form's field, or
  `{"text": ...}` for a choice. A secret field's message is deleted first and reaches the
  flow as a SecretStr. Commands are never taken as input: `/foo` during a password step
  is a command, so no message is ever swallowed as a password by mistake.
- A button carries the step's nonce and an option id (`FlowButton`); a button of an
  earlier step, or of a flow since cancelled, is answered "this action has expired".
- A `Progress` step's work runs once the update committed; its outcome goes to the flow
  as the next input, in a transaction of its own, and the step it leads to is shown.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Filter
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    TelegramObject,
)
from aiogram.utils.callback_answer import CallbackAnswer
from pydantic import SecretStr
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.context import Actor, Deps, Replies
from bot.filters import Matches
from bot.i18n import Texts
from bot.secrets import delete_secret_message
from core.flows.flow import Actor as FlowActor
from core.flows.flow import Input
from core.flows.manager import FollowUp, Shown
from core.flows.steps import Abort, Choice, Done, Form, Option, Progress, Step, Text, load_step

log = logging.getLogger(__name__)


#: A command as Telegram reads one (`/cancel`, `/help@courier_bot args`). A path typed
#: where a step asks for a name (`/home/marie/books.beancount`) is no command: the step
#: gets it, and says why it cannot take it, rather than "I did not understand".
COMMAND = re.compile(r"/[A-Za-z0-9_]{1,32}(@[A-Za-z0-9_]+)?(\s|$)")


class FlowButton(CallbackData, prefix="fl"):
    """An option of the step shown with nonce `n`."""

    n: str
    o: str


def conversation_key(chat_id: int, user_id: int) -> str:
    return f"tg:{chat_id}:{user_id}"


def flow_key(event: Message | CallbackQuery) -> str | None:
    """The conversation a message or a button press belongs to: its chat and its sender."""
    message = event if isinstance(event, Message) else event.message
    user = event.from_user
    if message is None or user is None:
        return None
    return conversation_key(message.chat.id, user.id)


def flow_actor(actor: Actor, texts: Texts) -> FlowActor:
    return FlowActor(
        telegram_user_id=actor.telegram_user_id or None,
        member=actor.member,
        workspace_id=actor.workspace_id,
        language=texts.language,
    )


def word(texts: Texts, text: Text) -> str:
    return texts(text.key, **dict(text.params))


def render(shown: Shown, texts: Texts) -> tuple[str, InlineKeyboardMarkup | None]:
    """The message of one step: its note, its prompt or result, its error, its buttons."""
    step: Step = shown.step
    lines: list[str] = []
    if step.note is not None:
        lines.append(word(texts, step.note))
    error = getattr(step, "error", None)
    if error is not None:
        lines.append("⚠️ " + word(texts, error))
    if isinstance(step, Done):
        lines.append(word(texts, step.result))
    elif isinstance(step, Abort):
        lines.append(word(texts, step.reason))
    else:
        lines.append(word(texts, step.prompt))
    details: tuple[Text, ...] = getattr(step, "details", ())
    if details:  # a listing: one line each, under what it lists
        lines[-1] += "\n" + "\n".join(word(texts, line) for line in details)
    options: tuple[Option, ...] = getattr(step, "options", ())
    columns = step.columns if isinstance(step, Choice) else 1
    if not options:
        return "\n\n".join(lines), None
    rows: list[list[InlineKeyboardButton]] = []
    for index, option in enumerate(options):
        button = InlineKeyboardButton(
            text=word(texts, option.label),
            callback_data=FlowButton(n=shown.nonce or "-", o=option.id).pack(),
        )
        if index % columns == 0:
            rows.append([])
        rows[-1].append(button)
    return "\n\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


def show(shown: Shown, *, message: Message, texts: Texts, say: Replies) -> None:
    """Answer with the step, then start what it asked for, once the update committed,
    and show where each piece of work's outcome led the flow."""
    text, markup = render(shown, texts)
    say(message.answer(text, reply_markup=markup))
    for work in shown.later:
        say.then(_then_show(work, message=message, texts=texts))


def _then_show(work: FollowUp, *, message: Message, texts: Texts) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        shown = await work()
        if shown is None:
            return
        text, markup = render(shown, texts)
        await message.answer(text, reply_markup=markup)
        for more in shown.later:
            await _then_show(more, message=message, texts=texts)()

    return run


async def begin(
    name: str,
    *,
    message: Message,
    actor: Actor,
    session: AsyncSession,
    deps: Deps,
    texts: Texts,
    say: Replies,
    args: Input | None = None,
) -> Shown:
    """Start flow `name` in this chat (from a command or a button's message). The key is
    the actor's, not the message's sender: a button's message was sent by the bot."""
    key = conversation_key(message.chat.id, actor.telegram_user_id)
    shown = await deps.flows.start(
        session=session, key=key, name=name, actor=flow_actor(actor, texts), args=args
    )
    show(shown, message=message, texts=texts, say=say)
    return shown


class InFlow(Filter):
    """A text (not a command) sent while a flow waits in this chat."""

    async def __call__(
        self, event: TelegramObject, session: AsyncSession, deps: Deps
    ) -> bool | dict[str, Any]:
        if not isinstance(event, Message) or event.text is None or COMMAND.match(event.text):
            return False
        key = flow_key(event)
        row = await deps.flows.current(session=session, key=key) if key else None
        if row is None:
            return False
        return {"flow_state": row}


async def typed(
    message: Message,
    bot: Bot,
    flow_state: Any,
    actor: Actor,
    session: AsyncSession,
    deps: Deps,
    texts: Texts,
    say: Replies,
) -> None:
    shown_before = load_step(flow_state.shown)
    text = message.text or ""
    value: Input
    if isinstance(shown_before, Form) and shown_before.fields:
        field = shown_before.fields[0]
        if field.kind == "secret":
            # Gone from the chat before anything else, whatever the step makes of it.
            if not await delete_secret_message(bot, message):
                say(message.answer(texts("connect.password_not_deleted")))
            value = {field.name: SecretStr(text)}
        else:
            value = {field.name: text.strip()}
    else:
        value = {"text": text.strip()}
    who = flow_actor(actor, texts)
    shown = await deps.flows.advance(
        session=session, key=flow_state.key, actor=who, user_input=value
    )
    if shown is None:
        say(message.answer(texts("common.expired")))
        return
    show(shown, message=message, texts=texts, say=say)


async def pressed(
    query: CallbackQuery,
    callback_data: FlowButton,
    actor: Actor,
    session: AsyncSession,
    deps: Deps,
    texts: Texts,
    say: Replies,
    callback_answer: CallbackAnswer,
) -> None:
    key = flow_key(query)
    who = flow_actor(actor, texts)
    shown = None
    if key is not None and isinstance(query.message, Message):
        shown = await deps.flows.advance(
            session=session,
            key=key,
            actor=who,
            user_input={"option": callback_data.o},
            nonce=callback_data.n,
        )
    if shown is None or key is None or not isinstance(query.message, Message):
        callback_answer.text = texts("common.expired")
        return
    # The pressed message keeps its text but loses its buttons: they were answered.
    say(query.message.edit_reply_markup(reply_markup=None))
    show(shown, message=query.message, texts=texts, say=say)


def waiting(step: Step) -> bool:
    return isinstance(step, Form | Choice | Progress)


def build() -> Router:
    """Inputs to the flow waiting in a chat: placed before the subjects' routers."""
    router = Router(name="flows")
    router.message.register(typed, Matches(F.text), InFlow())
    router.callback_query.register(pressed, FlowButton.filter())
    return router
