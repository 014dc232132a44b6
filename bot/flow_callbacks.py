"""Button data of the accounting link and review conversations (ids only, checked on
every press like bot/callbacks.py's). The link's own buttons are its flow's (bot/flows.py)."""

from __future__ import annotations

from typing import Literal

from aiogram.filters.callback_data import CallbackData


class IntegrationAction(CallbackData, prefix="ia"):
    """An expiry alert's Reconnect (bot/flow_render.py): it starts /integration's flow at
    its reconnect, which checks the link is still the presser's workspace's. Buttons of
    the old status message carried other verbs; they no longer parse, and so expire."""

    do: Literal["reconnect"]
    id: int
    #: Unused; kept so the alerts already sent still parse.
    arg: str = ""


class ReviewAction(CallbackData, prefix="rv"):
    """A review step on document `id`: `c` >= 0 answers `f` with the question's c-th
    likely answer; TYPE asks to type it; SHOW shows the next question."""

    id: int
    f: str = ""
    c: int = -2


TYPE, SHOW = -1, -2
