"""Button data of the supplier rules conversation (`/rules`): ids only, checked on every
press like bot/callbacks.py's. Steps of an edit also carry the edit's nonce, so a button
from an older edit does nothing."""

from __future__ import annotations

from typing import Literal

from aiogram.filters.callback_data import CallbackData

RuleVerb = Literal[
    # From /integration: the list in a new message; from the list: show a page (id =
    # page), start a new rule, edit or delete one (id = rule).
    "list",
    "page",
    "new",
    "edit",
    "del",
    "rm",
    # Steps of an edit (n = the edit's nonce): a suggested supplier (id = document), ask
    # for the account, pick one (id = list entry), the tax rates, pick one (id = list
    # entry, 0 for none), switch auto-publish, save.
    "sugg",
    "acct",
    "setacct",
    "tax",
    "settax",
    "auto",
    "save",
]


class RuleAction(CallbackData, prefix="ru"):
    do: RuleVerb
    id: int = 0
    n: str = ""
