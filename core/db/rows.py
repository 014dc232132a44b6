"""Rows a unit of work has read by key, kept for the rest of it, absent ones included.

The session's identity map holds rows weakly, and knows nothing of rows that are not
there. So a row read in one statement and dropped by its caller is read again by the next
`session.get`, and an absent row is looked for again every time. The bot's FSM asks for
the same conversation up to four times in an update, and most conversations are absent:
it read one row a statement. Here the first answer stands for the rest of the unit.

That answer stays true because the unit changes rows through its session: an ORM insert
replaces the kept entry when it is flushed, a delete marks the kept row deleted, and a
Core insert, which the session does not see, is followed by `forget`. Another process's
commit in between is not seen, as a row already in the identity map is not either.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session
from sqlmodel.ext.asyncio.session import AsyncSession

T = TypeVar("T")

_KEPT = "courier_kept_rows"


def keep(session: AsyncSession, model: type[Any], key: Any, row: Any | None) -> None:
    """Remember what the unit read for `key`: the row, or None when there is none."""
    session.info.setdefault(_KEPT, {})[(model, key)] = row


def forget(session: AsyncSession, model: type[Any], key: Any) -> None:
    """The unit wrote `key` past the session (a Core statement): read it again next time."""
    session.info.get(_KEPT, {}).pop((model, key), None)


async def get_row(session: AsyncSession, model: type[T], key: Any) -> T | None:
    """`session.get`, read from the database at most once per unit for each key."""
    kept: dict[tuple[type[Any], Any], Any] = session.info.get(_KEPT, {})
    if (model, key) in kept and not session.sync_session.new:  # pending adds: see below
        row = kept[(model, key)]
        if row is None or _gone(row):
            # Absent when read, or deleted since, and not added since: an add replaces
            # the entry when it is flushed (`_added`).
            return None
        state = inspect(row)
        if not (state.expired or state.expired_attributes):
            return row  # type: ignore[no-any-return]
    # Not kept; or expired (a savepoint rolled back), read again; or rows added and not
    # yet flushed, which session.get flushes first and may find.
    row = await session.get(model, key)
    keep(session, model, key, row)
    return row


def known_absent(session: AsyncSession, model: type[Any], key: Any) -> bool:
    """Whether the unit read `key` and found no row (or deleted it since), and has added
    nothing it has not flushed."""
    kept: dict[tuple[type[Any], Any], Any] = session.info.get(_KEPT, {})
    if (model, key) not in kept or session.sync_session.new:
        return False
    row = kept[(model, key)]
    return row is None or _gone(row)


def _gone(row: Any) -> bool:
    state = inspect(row)
    return bool(state.deleted or state.was_deleted or state.detached)


@event.listens_for(Session, "pending_to_persistent")
def _added(session: Session, instance: Any) -> None:
    """A row the unit inserts through its session is what it reads next under that key.
    Kept here, strongly: the identity map alone would let it go once it is clean."""
    kept = session.info.get(_KEPT)
    if not kept:
        return
    identity: tuple[Any, ...] = inspect(instance).identity or ()
    key = identity[0] if len(identity) == 1 else identity
    if (type(instance), key) in kept:
        kept[(type(instance), key)] = instance
