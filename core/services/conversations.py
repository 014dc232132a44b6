"""Conversations and the active workspace of each chat user, kept in the database.

The bot's FSM storage reads and writes here, inside the transaction of the update it
handles, so a step and the work it did commit together or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.db.database import get_for_update, upsert_insert
from core.db.rows import forget, get_row, keep
from core.models import ChatUser, Conversation, FlowState, Member, Workspace
from core.models.base import utcnow


async def read_conversation(*, session: AsyncSession, key: str) -> Conversation | None:
    return await get_row(session, Conversation, key)


async def save_state(*, session: AsyncSession, key: str, state: str | None) -> None:
    await _save(session, key, {"state": state})


async def save_data(*, session: AsyncSession, key: str, data: dict[str, Any]) -> None:
    await _save(session, key, {"data": dict(data)})


async def _save(session: AsyncSession, key: str, change: dict[str, Any]) -> None:
    """Upsert one part of a conversation; a conversation left empty is removed."""
    row = await get_for_update(session, Conversation, key)
    if row is None:
        values = {"key": key, "state": None, "data": {}, "updated_at": utcnow()} | change
        if values["state"] is None and not values["data"]:
            return
        # Two processes may create the same key at once: the later one updates instead.
        insert = upsert_insert(session)
        await session.exec(
            insert(Conversation)
            .values(**values)
            .on_conflict_do_update(index_elements=["key"], set_=change | {"updated_at": utcnow()})
        )
        forget(session, Conversation, key)
        return
    for name, value in change.items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    if row.state is None and not row.data:
        await session.delete(row)
    else:
        session.add(row)
    await session.flush()


async def memberships(*, session: AsyncSession, telegram_user_id: int) -> list[Member]:
    query = (
        select(Member).where(Member.telegram_user_id == telegram_user_id).order_by(col(Member.id))
    )
    return list((await session.exec(query)).all())


async def workspaces_of(
    *, session: AsyncSession, telegram_user_id: int
) -> list[tuple[Member, Workspace]]:
    place = await chat_place(session=session, telegram_user_id=telegram_user_id)
    return list(place.memberships)


@dataclass(frozen=True, slots=True)
class ChatPlace:
    """Where a chat user stands: their memberships and the workspace they act in."""

    memberships: tuple[tuple[Member, Workspace], ...]
    active_workspace_id: int | None


#: Built once: every update runs it, and building it (some twenty coercions and its cache
#: key) cost as much CPU as running it.
_CHAT_PLACE: Any = (
    # sqlmodel types select() for up to four entities; it takes any number.
    select(Member, Workspace, ChatUser, Conversation, FlowState)  # type: ignore[call-overload]
    .join(Workspace, col(Workspace.id) == col(Member.workspace_id))
    .outerjoin(ChatUser, col(ChatUser.telegram_user_id) == col(Member.telegram_user_id))
    # A key of None matches nothing (NULL = key is never true).
    .outerjoin(Conversation, col(Conversation.key) == bindparam("conversation_key"))
    .outerjoin(FlowState, col(FlowState.key) == bindparam("flow_key"))
    .where(col(Member.telegram_user_id) == bindparam("telegram_user_id"))
    .order_by(col(Member.id))
)


async def chat_place(
    *,
    session: AsyncSession,
    telegram_user_id: int,
    conversation_key: str | None = None,
    flow_key: str | None = None,
) -> ChatPlace:
    """The memberships and the active workspace, with, kept for the unit's reads that
    follow (core/db/rows.py), the conversation under `conversation_key` and the flow
    under `flow_key`, there or not: one statement, where each update of the chat used to
    make up to seven."""
    params = {
        "telegram_user_id": telegram_user_id,
        "conversation_key": conversation_key,
        "flow_key": flow_key,
    }
    rows = (await session.exec(_CHAT_PLACE, params=params)).all()
    if rows:
        # A stranger has no row at all, which says nothing of their conversation.
        if conversation_key:
            keep(session, Conversation, conversation_key, rows[0][3])
        if flow_key:
            keep(session, FlowState, flow_key, rows[0][4])
    chat_user = next((row[2] for row in rows if row[2] is not None), None)
    return ChatPlace(
        memberships=tuple((member, workspace) for member, workspace, _, _, _ in rows),
        active_workspace_id=chat_user.active_workspace_id if chat_user else None,
    )


async def active_workspace_id(*, session: AsyncSession, telegram_user_id: int) -> int | None:
    row = await session.get(ChatUser, telegram_user_id)
    return row.active_workspace_id if row is not None else None


async def set_active_workspace(
    *, session: AsyncSession, telegram_user_id: int, workspace_id: int
) -> None:
    values = {
        "telegram_user_id": telegram_user_id,
        "active_workspace_id": workspace_id,
        "updated_at": utcnow(),
    }
    insert = upsert_insert(session)
    await session.exec(
        insert(ChatUser)
        .values(**values)
        .on_conflict_do_update(index_elements=["telegram_user_id"], set_=values)
    )
