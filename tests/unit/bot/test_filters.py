"""Every filter and handler of the bot runs on the event loop: aiogram sends any that is
not a coroutine to a worker thread, a trip per update for an attribute read."""

from __future__ import annotations

from collections.abc import Iterator

from aiogram import F, Router
from aiogram.types import Chat, Message

from bot.app import build_routers
from bot.filters import Matches


def routers(router: Router) -> Iterator[Router]:
    yield router
    for sub in router.sub_routers:
        yield from routers(sub)


def test_no_filter_or_handler_of_the_bot_is_sent_to_a_thread() -> None:
    threaded = [
        f"{router.name}.{name}: {getattr(callable_.callback, '__qualname__', callable_.callback)}"
        for root in build_routers()
        for router in routers(root)
        for name, observer in router.observers.items()
        for handler in observer.handlers
        for callable_ in (handler, *(handler.filters or ()), *(observer._handler.filters or ()))
        if not callable_.awaitable
    ]
    assert threaded == []


def message(**fields: object) -> Message:
    return Message.model_validate(
        {"message_id": 1, "date": 0, "chat": Chat(id=1, type="private"), **fields}
    )


async def test_a_magic_filter_answers_on_the_loop_as_aiogram_would() -> None:
    assert await Matches(F.text)(message(text="edf")) == "edf"
    assert not await Matches(F.text)(message(caption="a photo"))
    assert not await Matches(F.document | F.photo)(message(text="edf"))
    assert await Matches(F.text.as_("said"))(message(text="hi")) == {"said": "hi"}
