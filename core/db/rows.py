"""Rows a unit of work has read by key, kept for the rest of it, absent ones included.

The session's identity map holds rows weakly, and knows nothing of rows that are not
there. So a row read in one statement and dropped by its caller is read again by the next
`session.get`, and an absent row is looked for again every time. The bot's FSM asks for
the same conversation up to four times in an update, and most conversations are absent:
it read one row a statement. Here the first answer stands for the rest of the unit.

That answer stays true because the unit changes rows through its session: an ORM insert
is in the identity map (looked at first), a delete marks the kept row deleted, and a
Core insert, which the session does not see, is followed by `forget`. Another process's
commit in between is not seen, as a row already in the identity map is not either.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import inspect
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
    if (model, key) in kept:
        row = kept[(model, key)]
        if row is None or _gone(row):
            # Absent when read, or deleted since by this unit: whatever the unit added
            # under this key since is in the identity map.
            identity = session.identity_key(model, key)
            return session.sync_session.identity_map.get(identity)
        state = inspect(row)
        if not (state.expired or state.expired_attributes):
            return row  # type: ignore[no-any-return]
    row = await session.get(model, key)  # an expired row is read again here
    keep(session, model, key, row)
    return row


def _gone(row: Any) -> bool:
    state = inspect(row)
    return bool(state.deleted or state.was_deleted or state.detached)
