"""The flood limit, the 429 retry, the resend of a call that never went out and the kept
response models, above fakes of what they wrap."""

from __future__ import annotations

import asyncio
import gc
import weakref
from typing import Any

import pytest
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter
from aiogram.methods import GetMe, Response, SendMessage
from aiogram.types import User
from aiohttp import ClientConnectionResetError, ClientOSError, ServerDisconnectedError

from bot.middlewares import FloodLimit, KeptResponseTypes, SendAgain


async def test_a_flood_is_cut_and_the_person_is_heard_again_later() -> None:
    limit = FloodLimit(burst=3, window=0.3)  # 3 at once, then one every 0.1 s
    handled: list[int] = []

    async def handler(event: Any, data: dict[str, Any]) -> None:
        handled.append(data["n"])

    user = User(id=7, is_bot=False, first_name="Eve")
    for n in range(5):
        await limit(handler, object(), {"event_from_user": user, "n": n})  # type: ignore[arg-type]
    assert handled == [0, 1, 2]
    other = User(id=8, is_bot=False, first_name="Marie")
    await limit(handler, object(), {"event_from_user": other, "n": 99})  # type: ignore[arg-type]
    assert handled == [0, 1, 2, 99]
    await asyncio.sleep(0.12)
    await limit(handler, object(), {"event_from_user": user, "n": 5})  # type: ignore[arg-type]
    assert handled == [0, 1, 2, 99, 5]


async def test_a_429_is_retried_after_its_wait_then_given_up() -> None:
    calls: list[str] = []
    method = GetMe()

    async def make_request(bot: Any, method: Any) -> Any:
        calls.append("call")
        if len(calls) < 3:
            raise TelegramRetryAfter(method=method, message="Too Many Requests", retry_after=0)
        return "ok"

    result: Any = await SendAgain(attempts=3)(make_request, None, method)  # type: ignore[arg-type]
    assert result == "ok"
    assert len(calls) == 3
    calls.clear()
    with pytest.raises(TelegramRetryAfter):
        await SendAgain(attempts=2)(make_request, None, method)  # type: ignore[arg-type]
    assert len(calls) == 2


async def test_a_429_asking_too_long_a_wait_or_another_error_is_not_retried() -> None:
    calls: list[str] = []
    method = GetMe()

    async def too_long(bot: Any, method: Any) -> Any:
        calls.append("call")
        raise TelegramRetryAfter(method=method, message="Too Many Requests", retry_after=600)

    with pytest.raises(TelegramRetryAfter):
        await SendAgain(attempts=3, longest_wait=60)(too_long, None, method)  # type: ignore[arg-type]
    assert calls == ["call"]

    async def broken(bot: Any, method: Any) -> Any:
        calls.append("broken")
        raise ConnectionError("reset")

    with pytest.raises(ConnectionError):
        await SendAgain(attempts=3)(broken, None, method)  # type: ignore[arg-type]
    assert calls == ["call", "broken"]


def _network_error(method: Any, cause: Exception) -> TelegramNetworkError:
    """What aiogram raises, chained as aiohttp and aiogram chain it."""
    try:
        try:
            raise cause
        except Exception as low:
            raise TelegramNetworkError(method=method, message=str(low)) from low
    except TelegramNetworkError as err:
        return err


async def test_a_reply_whose_connection_closed_under_its_write_is_sent_again() -> None:
    """The server closed a kept-alive connection as the reply went out on it: the request
    never arrived whole, so it is sent once more, and the person gets their answer."""
    method = SendMessage(chat_id=7, text="Your inbox")
    sent: list[str] = []

    async def make_request(bot: Any, method: Any) -> Any:
        sent.append(method.text)
        if len(sent) == 1:
            try:
                raise ClientConnectionResetError("Cannot write to closing transport")
            except ClientConnectionResetError as reset:
                body = ClientOSError(None, "Can not write request body")
                body.__cause__ = reset
                raise _network_error(method, body) from body
        return "delivered"

    result: Any = await SendAgain()(make_request, None, method)  # type: ignore[arg-type]
    assert result == "delivered"
    assert sent == ["Your inbox", "Your inbox"]


async def test_a_reply_that_went_out_and_got_no_answer_is_not_sent_twice() -> None:
    """The server hung up after the request: it may have delivered the message."""
    method = SendMessage(chat_id=7, text="Your inbox")
    sent: list[str] = []

    async def make_request(bot: Any, method: Any) -> Any:
        sent.append(method.text)
        raise _network_error(method, ServerDisconnectedError())

    with pytest.raises(TelegramNetworkError):
        await SendAgain()(make_request, None, method)  # type: ignore[arg-type]
    assert sent == ["Your inbox"]


async def test_each_answers_model_is_built_once_and_survives_garbage_collection() -> None:
    # pydantic keeps parametrised models weakly: without a strong reference, a
    # collection drops Response[User] and the next answer builds it again (milliseconds).
    kept = KeptResponseTypes()

    async def make_request(bot: Any, method: Any) -> str:
        return "answered"

    answer: object = await kept(make_request, None, GetMe())  # type: ignore[arg-type]
    assert answer == "answered"
    model = weakref.ref(Response[User])  # GetMe answers with a User
    gc.collect()
    assert model() is not None
