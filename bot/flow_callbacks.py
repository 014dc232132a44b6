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
    """Review document `id` (c=SHOW): starts the review flow (core/flows/review.py), whose
    own buttons answer it. `f` and other values of `c` were the chat-handler review's
    answers: such a press (an old chat's, or forged) has expired."""

    id: int
    f: str = ""
    c: int = -2


TYPE, SHOW = -1, -2
