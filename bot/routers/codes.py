"""2FA codes typed in the chat.

- A reply to a code prompt answers that prompt's challenge, in any state.
- "Type the code" under a prompt makes the next message the code.
- A bare code outside any conversation answers the one open challenge the person may
  answer (their own connections', or any when they manage the workspace: core's
  permission table); with several, the bot asks which (the code waits sealed).
"""

from __future__ import annotations

import logging
import re

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import Cancel, ChallengePick, owned
from bot.context import Actor, Deps, Replies
from bot.i18n import Texts
from bot.prompts import challenge_of_prompt
from bot.refusals import refusal
from core.errors import NotAllowed
from core.models import Challenge, Connection, Member, Supplier
from core.services.challenges import answer_code, answerable_challenges

log = logging.getLogger(__name__)

#: What a one-time code looks like: 4 to 10 letters and digits, at least one digit.
CODE = re.compile(r"^\s*(?=[A-Za-z0-9-]*\d)([A-Za-z0-9]{2,5}-?[A-Za-z0-9]{2,5})\s*$")


class Codes(StatesGroup):
    which = State()
    typing = State()


def looks_like_code(text: str | None) -> str | None:
    match = CODE.match(text or "")
    return match.group(1).replace("-", "") if match else None


async def _supplier_of(session: AsyncSession, challenge: Challenge) -> str:
    connection = await session.get(Connection, challenge.connection_id)
    supplier = await session.get(Supplier, connection.supplier_id) if connection else None
    return supplier.name if supplier is not None else ""


async def _challenge_for(
    session: AsyncSession, actor: Actor, challenge_id: int
) -> tuple[Challenge, Member] | None:
    """The challenge, if it belongs to one of the presser's workspaces (a prompt may come
    from a workspace other than the active one), with the presser's membership there."""
    for member, workspace in actor.memberships:
        found = await owned(
            session=session,
            workspace_id=workspace.id,
            kind="challenge",
            ident=challenge_id,
            presser=actor.telegram_user_id,
            quiet=True,
        )
        if isinstance(found, Challenge):
            return found, member
    log.warning(
        "refused a code for challenge %s: not in a workspace of telegram user %s",
        challenge_id,
        actor.telegram_user_id,
    )
    return None


async def _submit(
    message: Message,
    session: AsyncSession,
    deps: Deps,
    texts: Texts,
    challenge: Challenge,
    member: Member,
    code: str,
    say: Replies,
) -> None:
    assert challenge.id is not None
    try:
        await answer_code(
            session=session,
            vault=deps.vault,
            by=member,
            workspace_id=member.workspace_id,
            challenge_id=challenge.id,
            code=code,
            via="chat",
        )
    except NotAllowed as err:
        say(message.answer(refusal(err, texts)))
        return
    say(message.answer(texts("codes.passed", supplier=await _supplier_of(session, challenge))))


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
    code = looks_like_code(message.text)
    found = await _challenge_for(session, actor, challenge_id)
    if found is None or code is None:
        say(message.answer(texts("codes.closed" if found is None else "codes.not_a_code")))
        return
    await _submit(message, session, deps, texts, *found, code, say)


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
    found = await _challenge_for(session, actor, callback_data.id)
    if found is None or found[0].state != "open":
        callback_answer.text = texts("common.expired")
        return
    challenge, member = found
    sealed = (
        (await state.get_data()).get("code_sealed")
        if await state.get_state() == Codes.which.state
        else None
    )
    if sealed and isinstance(query.message, Message):
        await state.clear()
        code = deps.vault.open(sealed)
        await _submit(query.message, session, deps, texts, challenge, member, code, say)
        return
    await state.set_state(Codes.typing)
    await state.set_data({"challenge_id": challenge.id})
    if isinstance(query.message, Message):
        say(query.message.answer(texts("codes.type_now")))


async def typed_code(
    message: Message,
    actor: Actor,
    session: AsyncSession,
    state: FSMContext,
    deps: Deps,
    texts: Texts,
    say: Replies,
) -> None:
    code = looks_like_code(message.text)
    if code is None:
        say(message.answer(texts("codes.not_a_code")))
        return
    challenge_id = int((await state.get_data()).get("challenge_id", 0))
    await state.clear()
    found = await _challenge_for(session, actor, challenge_id)
    if found is None:
        say(message.answer(texts("codes.closed")))
        return
    await _submit(message, session, deps, texts, *found, code, say)


async def bare_code(
    message: Message,
    actor: Actor,
    session: AsyncSession,
    state: FSMContext,
    deps: Deps,
    texts: Texts,
    say: Replies,
) -> None:
    assert actor.workspace_id is not None
    assert actor.member is not None
    code = looks_like_code(message.text)
    assert code is not None
    # Only what this person may answer: another member's challenge is not theirs to guess.
    waiting = await answerable_challenges(
        session=session, workspace_id=actor.workspace_id, by=actor.member
    )
    if not waiting:
        say(message.answer(texts("codes.none_awaited")))
        return
    if len(waiting) == 1:
        await _submit(message, session, deps, texts, waiting[0], actor.member, code, say)
        return
    # Which one? The code waits sealed in the conversation, never in clear.
    await state.set_state(Codes.which)
    await state.set_data({"code_sealed": deps.vault.seal(code)})
    builder = InlineKeyboardBuilder()
    for challenge in waiting:
        assert challenge.id is not None
        builder.button(
            text=await _supplier_of(session, challenge),
            callback_data=ChallengePick(id=challenge.id),
        )
    builder.button(text=texts("common.cancel_button"), callback_data=Cancel())
    builder.adjust(1)
    say(message.answer(texts("codes.which"), reply_markup=builder.as_markup()))


def build_reply() -> Router:
    """A fresh router (a router joins one dispatcher only), its handlers in order."""
    reply_router = Router(name="code-replies")
    reply_router.message.register(
        reply_to_prompt,
        F.reply_to_message,
        F.text,
        StateFilter("*"),
        F.func(lambda m: challenge_of_prompt(m.reply_to_message)),
    )
    reply_router.callback_query.register(pick_challenge, ChallengePick.filter(), StateFilter("*"))
    reply_router.message.register(typed_code, Codes.typing, F.text)
    return reply_router


def build_bare() -> Router:
    """A fresh router (a router joins one dispatcher only), its handlers in order."""
    bare_router = Router(name="bare-codes")
    bare_router.message.register(bare_code, StateFilter(None), F.text.func(looks_like_code))
    return bare_router
