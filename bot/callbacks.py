"""Button data: short ids only (Telegram allows 64 bytes), checked on every press.

Each factory names one kind of object by its id, never by a name or a secret. Steps of a
conversation also carry the conversation's nonce, so a button from an older run of the
same conversation does nothing (core's flows use bot/flows.py's FlowButton instead).
`owned` is the one gate every press goes through: the object must exist and belong to
the presser's workspace, else the press is refused, answered "this action has expired",
and logged.
"""

from __future__ import annotations

import logging
import secrets
from typing import Literal

from aiogram.filters.callback_data import CallbackData
from sqlmodel.ext.asyncio.session import AsyncSession

from core.errors import MemberNotInWorkspace, NotFound
from core.models import (
    Challenge,
    Connection,
    Document,
    InboundMessage,
    Mailbox,
    Member,
    Workspace,
)
from core.services.connections import get_challenge, get_connection
from core.services.documents import get_document
from core.services.inbound import get_inbound
from core.services.mailboxes import get_mailbox
from core.services.members import get_member
from core.services.workspaces import workspace_by_id

log = logging.getLogger(__name__)


def new_nonce() -> str:
    return secrets.token_hex(3)


class WorkspacePick(CallbackData, prefix="wp"):
    id: int


class ChallengePick(CallbackData, prefix="cp"):
    """Which open challenge a typed code answers; also marks a code prompt, so that a
    reply to the prompt names its challenge."""

    id: int


ConnectionVerb = Literal["show", "fetch", "update", "reconnect", "pause", "resume", "remove", "rm"]


class ConnectionAction(CallbackData, prefix="ca"):
    do: ConnectionVerb
    id: int


class DocumentAction(CallbackData, prefix="da"):
    do: Literal["open", "archive"]
    id: int


class InboundAction(CallbackData, prefix="ia"):
    """On a mail's notice: file the images set aside as decoration ("Keep them")."""

    do: Literal["keep"]
    id: int


class MailboxAction(CallbackData, prefix="ma"):
    do: Literal["add", "remove"]
    id: int = 0


class Cancel(CallbackData, prefix="x"):
    pass


Kind = Literal["connection", "document", "mailbox", "member", "challenge", "workspace", "inbound"]
Owned = Connection | Document | Mailbox | Member | Challenge | Workspace | InboundMessage


async def owned(
    *,
    session: AsyncSession,
    workspace_id: int | None,
    kind: Kind,
    ident: int,
    presser: int,
    quiet: bool = False,
) -> Owned | None:
    """The object the button names, if it belongs to the presser's workspace; else None
    (forged, replayed across workspaces, or gone), and the attempt is logged."""
    found: Owned | None = None
    if workspace_id is not None:
        try:
            found = await _load(session, workspace_id, kind, ident)
        except NotFound:
            found = None
    if found is None and not quiet:
        # No names or data here: only the ids the button carried.
        log.warning(
            "refused a button press: %s %s is not in workspace %s (telegram user %s)",
            kind,
            ident,
            workspace_id,
            presser,
        )
    return found


async def _load(session: AsyncSession, workspace_id: int, kind: Kind, ident: int) -> Owned | None:
    if kind == "connection":
        return await get_connection(session=session, workspace_id=workspace_id, connection_id=ident)
    if kind == "document":
        return await get_document(session=session, workspace_id=workspace_id, document_id=ident)
    if kind == "mailbox":
        return await get_mailbox(session=session, workspace_id=workspace_id, mailbox_id=ident)
    if kind == "member":
        try:
            return await get_member(session=session, workspace_id=workspace_id, member_id=ident)
        except MemberNotInWorkspace:
            return None
    if kind == "inbound":
        return await get_inbound(session=session, workspace_id=workspace_id, message_id=ident)
    if kind == "challenge":
        return await get_challenge(session=session, workspace_id=workspace_id, challenge_id=ident)
    if ident != workspace_id:  # only the presser's own workspace is theirs
        return None
    return await workspace_by_id(session=session, workspace_id=ident)
