"""2FA codes typed in the chat.

- A reply to a code prompt answers that prompt's challenge, in any state and in any of
  the person's workspaces: the prompt names its challenge, so nothing needs asking.
- "Type the code" under a prompt starts core's code flow (core/flows/codes.py) for that
  challenge: the next message is the code.
- A bare code outside any conversation starts the code flow with it: it answers the one
  open challenge the person may answer, or asks which one (the code waits sealed).
"""

from __future__ import annotations

import logging

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import ChallengePick
from bot.context import Actor, Deps, Replies
from bot.filters import Matches
from bot.flows import begin
from bot.i18n import Texts
from bot.prompts import challenge_of_prompt
from bot.refusals import refusal
from core.errors import ChallengeClosed, NotAllowed
from core.services.challenges import answer_code, challenge_view, read_code

log = logging.getLogger(__name__)


def looks_like_code(text: str | None) -> str | None:
    return read_code(text)


async def reply_to_prompt(
    message: Message,
    actor: Actor,
    session: AsyncSession,
    deps: Deps,
    texts: Texts,
    say: Replies,
) -> None:
    challenge_id = challenge_of_prompt(message.reply_to_message)
    assert challenge_id is not None
    workspaces = tuple(w.id for _, w in actor.memberships if w.id is not None)
    view = await challenge_view(
        session=session, workspace_ids=workspaces, challenge_id=challenge_id
    )
    if view is None:
        log.warning(
            "refused a code for challenge %s: not in a workspace of telegram user %s",
            challenge_id,
            actor.telegram_user_id,
        )
        say(message.answer(texts("codes.closed")))
        return
    code = read_code(message.text)
    if code is None:
        say(message.answer(texts("codes.not_a_code")))
        return
    member = next(m for m, w in actor.memberships if w.id == view.workspace_id)
    try:
        await answer_code(
            session=session,
            vault=deps.vault,
            by=member,
            workspace_id=view.workspace_id,
            challenge_id=view.id,
            code=code,
            via="chat",
        )
    except NotAllowed as err:
        say(message.answer(refusal(err, texts)))
        return
    except ChallengeClosed:
        say(message.answer(texts("codes.closed")))
        return
    say(message.answer(texts("codes.passed", supplier=view.supplier)))


async def pick_challenge(
    query: CallbackQuery,
    callback_data: ChallengePick,
    actor: Actor,
    session: AsyncSession,
    state: FSMContext,
    deps: Deps,
    callback_answer: CallbackAnswer,
    texts: Texts,
    say: Replies,
) -> None:
    if actor.member is None or not isinstance(query.message, Message):
        callback_answer.text = texts("common.expired")
        return
    await state.clear()  # one conversation at a time: the flow replaces any other
    await begin(
        "code",
        message=query.message,
        actor=actor,
        session=session,
        deps=deps,
        texts=texts,
        say=say,
        args={"challenge_id": callback_data.id},
    )


async def bare_code(
    message: Message,
    actor: Actor,
    session: AsyncSession,
    deps: Deps,
    texts: Texts,
    say: Replies,
) -> None:
    await begin(
        "code",
        message=message,
        actor=actor,
        session=session,
        deps=deps,
        texts=texts,
        say=say,
        args={"code": message.text or ""},
    )


def build_reply() -> Router:
    """A fresh router (a router joins one dispatcher only), its handlers in order."""
    reply_router = Router(name="code-replies")
    reply_router.message.register(
        reply_to_prompt,
        Matches(F.reply_to_message),
        Matches(F.text),
        StateFilter("*"),
        Matches(F.func(lambda m: challenge_of_prompt(m.reply_to_message))),
    )
    reply_router.callback_query.register(pick_challenge, ChallengePick.filter(), StateFilter("*"))
    return reply_router


def build_bare() -> Router:
    """A fresh router (a router joins one dispatcher only), its handlers in order."""
    bare_router = Router(name="bare-codes")
    bare_router.message.register(
        bare_code, StateFilter(None), Matches(F.text.func(looks_like_code))
    )
    return bare_router
