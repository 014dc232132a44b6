"""Button data of the accounting link and review conversations (ids only, checked on
every press like bot/callbacks.py's)."""

from __future__ import annotations

import logging
from typing import Literal

from aiogram.filters.callback_data import CallbackData
from sqlmodel.ext.asyncio.session import AsyncSession

from core.errors import NotFound
from core.models import Integration, IntegrationState
from core.services.integrations import get_integration

log = logging.getLogger(__name__)

IntegrationVerb = Literal[
    "reconnect", "refresh", "lists", "reload", "change", "disconnect", "off", "transfer", "leave"
]


class IntegrationAction(CallbackData, prefix="ia"):
    do: IntegrationVerb
    id: int
    #: The list to reload, or "keep"/"drop" for the rules at a disconnect.
    arg: str = ""


class SoftwarePick(CallbackData, prefix="is"):
    name: str
    #: The integration being replaced, or 0 for a first link.
    change: int = 0


class LedgerPick(CallbackData, prefix="lp"):
    """The i-th ledger of the workspace's folder as listed in this conversation (its
    names are kept in the conversation, never sent in a button), or NEW_LEDGER."""

    n: str
    i: int


NEW_LEDGER = -1


class ReviewAction(CallbackData, prefix="rv"):
    """Review document `id` (c=SHOW): starts the review flow (core/flows/review.py), whose
    own buttons answer it. `f` and other values of `c` were the chat-handler review's
    answers: such a press (an old chat's, or forged) has expired."""

    id: int
    f: str = ""
    c: int = -2


TYPE, SHOW = -1, -2


async def owned_integration(
    *,
    session: AsyncSession,
    workspace_id: int | None,
    ident: int,
    presser: int,
    live: bool = True,
) -> Integration | None:
    """The integration a button names, if it is the presser's workspace's (and, with
    `live`, not disconnected since); else None, and the attempt is logged."""
    found: Integration | None = None
    if workspace_id is not None:
        try:
            found = await get_integration(
                session=session, workspace_id=workspace_id, integration_id=ident
            )
        except NotFound:
            found = None
    if found is None:
        log.warning(
            "refused a button press: integration %s is not in workspace %s (telegram user %s)",
            ident,
            workspace_id,
            presser,
        )
        return None
    if live and found.state == IntegrationState.DISCONNECTED:
        return None
    return found
