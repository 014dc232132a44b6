"""The dispatcher's middlewares: flood limit, one unit of work per update (with the member,
the workspace, the texts and the FSM's state read in it), and, around Bot API calls, the
calls sent again (after a 429, or when one never went out) and the answers' models kept
for the process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import stamina
from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.dispatcher.middlewares.base import BaseMiddleware
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.middleware import FSMContextMiddleware
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import CallbackQuery, Chat, Message, TelegramObject, Update, User
from aiohttp import ClientConnectionResetError

from bot.context import Actor, Deps, Replies
from bot.flows import flow_key
from bot.i18n import texts_for
from bot.storage import CURRENT_SESSION, storage_key
from core.errors import CourierError
from core.limits import Buckets
from core.services.conversations import chat_place

log = logging.getLogger(__name__)
Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class KeptResponseTypes(BaseRequestMiddleware):
    """Each Bot API call's response type, parametrised once and kept for the process.

    aiogram reads every answer through `Response[method.__returning__]`, and pydantic
    keeps parametrised generic models only weakly: once the garbage collector has run,
    the next call builds the model and its validator again. Under load the bot spent
    most of its time there (a bench profile: 7 of 14 s of handling). A strong reference
    per return type (a few dozen) keeps pydantic's cache warm."""

    def __init__(self) -> None:
        self._kept: dict[object, object] = {}

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        returning = method.__returning__
        if returning not in self._kept:
            self._kept[returning] = Response[returning]  # type: ignore[valid-type]
        return await make_request(bot, method)


class SendAgain(BaseRequestMiddleware):
    """A call the Bot API did not act on is sent again.

    - Refused with 429: after the wait it asked for (aiogram does not retry an ordinary
      call), up to `attempts` in all.
    - Never gone out whole: at once. aiohttp reuses kept-alive connections, and the
      server may close one just as a call goes out on it; writing fails before the
      request is whole, so the server cannot have acted on it, and sending it again, on
      a new connection, cannot double a message. Without this, a reply after its update
      committed was lost (one in 5,000 in the bot's benchmark).

    A call that went out whole and got no answer is not sent again: the message may have
    been delivered."""

    def __init__(self, *, attempts: int = 3, longest_wait: float = 60.0) -> None:
        self.attempts = attempts
        self.longest_wait = longest_wait

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        # The first attempt outside stamina: nearly every call succeeds at once, and
        # setting up a retry context for each cost the bot 3 % of its CPU.
        try:
            return await make_request(bot, method)
        except TelegramRetryAfter as err:
            wait = self._wait_asked(err)
            if wait is False or self.attempts < 2:
                raise
            await asyncio.sleep(float(wait))
        except TelegramNetworkError as err:
            if not _unsent(err) or self.attempts < 2:
                raise
            log.info("the Bot API closed a connection under %s; sent again", type(method).__name__)
        # stamina waits what the hook returns: the Bot API's own retry_after. Its first
        # attempt waits nothing.
        async for attempt in stamina.retry_context(
            on=self._wait_asked, attempts=self.attempts - 1, timeout=None
        ):
            with attempt:
                return await make_request(bot, method)
        raise AssertionError("unreachable")  # the last attempt returns or raises

    def _wait_asked(self, err: BaseException) -> bool | float:
        """The wait a 429 asked for; False (give up) for anything else or a longer wait."""
        if not isinstance(err, TelegramRetryAfter) or err.retry_after > self.longest_wait:
            return False
        log.info("Bot API asked to wait %ss", err.retry_after)
        return float(err.retry_after)


def _unsent(err: BaseException) -> bool:
    """Whether aiohttp failed while writing the request: a reset under the write."""
    cause = err.__cause__
    while cause is not None:
        if isinstance(cause, ClientConnectionResetError):
            return True
        cause = cause.__cause__
    return False


class FloodLimit(BaseMiddleware):
    """At most `burst` updates per person at once, then `burst` per `window` seconds (a
    token bucket each, core/limits.py); the rest are dropped, with one warning per
    window. Kept in memory: a flood is a per-process concern."""

    def __init__(self, *, burst: int = 20, window: float = 10.0) -> None:
        self._updates = Buckets(burst / window, burst)
        self._warnings = Buckets(1 / window)

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None:
            return await handler(event, data)
        if not await self._updates.try_take(user.id):
            chat: Chat | None = data.get("event_chat")
            if chat is not None and await self._warnings.try_take(user.id):
                texts = texts_for(workspace_locale=None, language_code=user.language_code)
                await data["bot"].send_message(chat.id, texts("common.flood"))
            log.info("flood limit: dropped an update from telegram user %s", user.id)
            return None
        return await handler(event, data)


class StateInTheUnit(FSMContextMiddleware):
    """aiogram's FSM middleware, with the isolation lock, except that for the updates a
    unit of work handles (a message, a button) the state is read in the unit's
    transaction (`UnitOfWork`), not before it. aiogram reads it here, ahead of any
    middleware of ours, and that cost every update a read transaction of its own."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if not isinstance(event, Update) or (event.message or event.callback_query) is None:
            return await super().__call__(handler, event, data)
        data["fsm_storage"] = self.storage
        context = self.resolve_event_context(data["bot"], data)
        if context is None:
            return await handler(event, data)
        async with self.events_isolation.lock(key=context.key):
            data["state"] = context
            return await handler(event, data)


class UnitOfWork(BaseMiddleware):
    """One transaction per update: the member, their active workspace and their texts are
    read in it, the handler works in it, the FSM writes in it; then it commits, and only
    then does the background work the handler asked for start. A CourierError rolls
    everything back and is told to the person in their words."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        deps: Deps = data["deps"]
        user: User | None = data.get("event_from_user")
        say = Replies()
        data["say"] = say
        texts = texts_for(workspace_locale=None, language_code=user.language_code if user else None)
        try:
            async with deps.db.transaction() as session:
                token = CURRENT_SESSION.set(session)
                try:
                    data["session"] = session
                    state: FSMContext | None = data.get("state")
                    key = storage_key(state.key) if state is not None else None
                    # The key InFlow and the flow buttons read under: one statement reads both.
                    flow = flow_key(event) if isinstance(event, Message | CallbackQuery) else None
                    actor = await resolve_actor(session, user, key, flow)
                    data["actor"] = actor
                    texts = texts_for(
                        workspace_locale=actor.workspace.locale if actor.workspace else None,
                        language_code=user.language_code if user else None,
                        timezone=actor.workspace.timezone if actor.workspace else None,
                    )
                    data["texts"] = texts
                    if state is not None and "raw_state" not in data:
                        data["raw_state"] = await state.get_state()  # see StateInTheUnit
                    result = await handler(event, data)
                finally:
                    CURRENT_SESSION.reset(token)
        except CourierError as err:
            await _tell(data, texts.error(err))
            return None
        except Exception:
            log.exception("an update failed; its transaction was rolled back")
            await _tell(data, texts("common.internal_error"))
            return None
        bot: Bot = data["bot"]
        for step in say.drain():
            try:
                if isinstance(step, TelegramMethod):
                    await bot(step)
                else:
                    await step()
            except Exception:
                # Committed already: a reply that fails is logged, never rolled back.
                log.exception("a reply after commit failed")
        return result


async def resolve_actor(
    session: Any, user: User | None, state_key: str | None = None, flow_key: str | None = None
) -> Actor:
    """Who the update is from, in one statement, which also reads, for the rest of the
    unit, the FSM's conversation under `state_key` and the flow under `flow_key`."""
    if user is None:
        return Actor(telegram_user_id=0, member=None, workspace=None)
    place = await chat_place(
        session=session,
        telegram_user_id=user.id,
        conversation_key=state_key,
        flow_key=flow_key,
    )
    pairs = place.memberships
    if not pairs:
        return Actor(telegram_user_id=user.id, member=None, workspace=None)
    active = place.active_workspace_id
    member, workspace = next(((m, w) for m, w in pairs if w.id == active), pairs[0])
    return Actor(telegram_user_id=user.id, member=member, workspace=workspace, memberships=pairs)


async def _tell(data: dict[str, Any], text: str) -> None:
    query = data.get("event_update")
    callback = getattr(query, "callback_query", None)
    if callback is not None:  # or Telegram spins until "query is too old"
        with contextlib.suppress(Exception):
            await data["bot"].answer_callback_query(callback.id)
    chat: Chat | None = data.get("event_chat")
    if chat is None:
        return
    try:
        await data["bot"].send_message(chat.id, text)
    except Exception:
        log.exception("could not tell chat %s about a failure", chat.id)
