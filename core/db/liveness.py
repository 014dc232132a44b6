"""A pooled PostgreSQL connection is checked before use only when it has been idle a while.

SQLAlchemy's `pool_pre_ping` checks every checkout, and with asyncpg a check is three
round trips (BEGIN, an empty query, ROLLBACK: SQLAlchemy wraps it in a transaction for
pgbouncer's sake). Under load a connection comes back to the pool and goes out again
within milliseconds, and that check cost the bot 8 % of its CPU an update.

A connection that answered less than `TRUSTED_SECONDS` ago is used as is. Had the server
gone in that moment, the unit fails as one in flight at that moment would have; the pool,
told of the disconnect, then replaces every connection it holds (SQLAlchemy invalidates
the whole pool on a disconnect error). A connection idle longer, a fresh one aside, is
pinged first and replaced if it does not answer: a restart, a proxy's idle timeout, or a
failover while the process was quiet never reaches a unit of work.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.ext.asyncio import AsyncEngine

#: How long after its last answer a connection is trusted without a ping.
TRUSTED_SECONDS = 2.0
_ANSWERED = "courier_answered_at"


def ping_when_idle(engine: AsyncEngine) -> None:
    """Check a connection before use when it has not answered for `TRUSTED_SECONDS`."""

    @event.listens_for(engine.sync_engine, "connect")
    def _connected(_dbapi_connection: Any, record: Any) -> None:
        record.info[_ANSWERED] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        # A connection that comes back whole answered its last statement.
        if record is not None:
            record.info[_ANSWERED] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _taken(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get(_ANSWERED, 0.0) < TRUSTED_SECONDS:
            return
        try:
            dbapi_connection.ping()
        except Exception as err:
            # The pool drops this connection and opens another (SQLAlchemy's own
            # pessimistic recipe): the unit never sees the dead one.
            raise exc.DisconnectionError("a pooled connection did not answer") from err
        record.info[_ANSWERED] = time.monotonic()
