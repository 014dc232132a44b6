"""What a person does to a merchant connection from an interface: run it now, pause it,
resume it, give it new credentials, remove it. Each is checked against the permission
table (core/permissions.py, MANAGE_CONNECTIONS): a manager acts on any connection of the
workspace, a member on the ones they own. The fetch and the scheduler move connections
through core.services.connections directly: they act for nobody.

A move the connection's state does not allow (pausing a paused one, a second press)
raises IllegalTransition, which an interface shows as "expired".

"Reconnect" logs in again: when a run waits for a code (a wrong one was typed, or the
code never came), its challenge is cancelled so that run stops, and a new login makes
the site send a new code."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from pydantic import SecretStr
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from core.errors import ConnectionDuplicate, IllegalTransition
from core.models import Connection, ConnectionState, Supplier
from core.permissions import Action, Who, require
from core.services.challenges import cancel_open_challenges
from core.services.connections import (
    get_connection,
    login_taken,
    move_connection,
    remove_connection,
    replace_credentials,
)
from core.services.fetch_claims import request_fetch
from core.vault import Vault

S = ConnectionState

#: How long a run asked for from an interface counts as interactive: someone is there
#: to answer a code.
INTERACTIVE_FOR = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class Target:
    """Who acts, on which connection of which workspace."""

    by: Who
    workspace_id: int
    connection_id: int


async def controlled(*, session: AsyncSession, target: Target) -> Connection:
    """The connection, if `target.by` may manage it; else NotAllowed (or NotFound)."""
    connection = await get_connection(
        session=session, workspace_id=target.workspace_id, connection_id=target.connection_id
    )
    require(
        target.by,
        Action.MANAGE_CONNECTIONS,
        workspace_id=target.workspace_id,
        resource_owner_id=connection.owner_member_id,
    )
    return connection


def _refuse(connection: Connection, target: ConnectionState) -> IllegalTransition:
    return IllegalTransition(
        machine="connection", current=str(connection.state), target=str(target)
    )


async def run_now(
    *,
    session: AsyncSession,
    target: Target,
    interactive_for: timedelta,
) -> Connection:
    """Sync now; also "Reconnect", as the run shows what the site asks."""
    connection = await controlled(session=session, target=target)
    if connection.state == S.DISABLED:
        raise _refuse(connection, S.SYNCING)
    request_fetch(connection, interactive_for=interactive_for)
    return connection


async def pause(*, session: AsyncSession, target: Target) -> Connection:
    connection = await controlled(session=session, target=target)
    if connection.state == S.DISABLED:
        raise _refuse(connection, S.DISABLED)
    move_connection(connection, S.DISABLED)
    connection.next_fetch_at = None
    return connection


async def resume(
    *,
    session: AsyncSession,
    target: Target,
    interactive_for: timedelta,
) -> Connection:
    connection = await controlled(session=session, target=target)
    if connection.state != S.DISABLED:
        raise _refuse(connection, S.SYNCING)
    move_connection(connection, S.SYNCING)
    request_fetch(connection, interactive_for=interactive_for)
    return connection


async def update_credentials(
    *,
    session: AsyncSession,
    vault: Vault,
    target: Target,
    login: str,
    password: SecretStr,
    interactive_for: timedelta,
) -> Connection:
    """New credentials, verified at once by a run (a paused connection resumes). A login
    another connection of the workspace uses for the same supplier is refused with
    ConnectionDuplicate: one account, one connection."""
    connection = await controlled(session=session, target=target)
    supplier = await session.get(Supplier, connection.supplier_id)
    name = supplier.name if supplier is not None else ""
    other = await login_taken(
        session=session,
        workspace_id=connection.workspace_id,
        supplier_id=connection.supplier_id,
        login=login,
        other_than=connection.id,
    )
    if other is not None:
        raise ConnectionDuplicate(supplier=name, connection_id=other)
    replace_credentials(vault=vault, connection=connection, login=login, password=password)
    if connection.state == S.DISABLED:
        move_connection(connection, S.SYNCING)
    request_fetch(connection, interactive_for=interactive_for)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as err:  # the same account, given to another connection meanwhile
        raise ConnectionDuplicate(supplier=name) from err
    return connection


@dataclass(frozen=True, slots=True)
class Reconnected:
    connection: Connection
    #: A run was waiting for a code: it stops, and the next login sends a new code.
    new_code: bool
    #: A run is under way (here or in a scheduler): it does the work, none starts now.
    in_flight: bool


async def reconnect(
    *,
    session: AsyncSession,
    target: Target,
    interactive_for: timedelta,
) -> Reconnected:
    """Log in again, as someone is there to answer the site. A run waiting for a code
    gives up that code (its challenge is cancelled, so the run stops at its next look):
    the interface then starts a new run once that one has settled (`prepare_rerun`)."""
    connection = await controlled(session=session, target=target)
    if connection.state == S.DISABLED:
        raise _refuse(connection, S.SYNCING)
    assert connection.id is not None
    if connection.state == S.AWAITING_CODE and await cancel_open_challenges(
        session=session, connection_id=connection.id
    ):
        return Reconnected(connection, new_code=True, in_flight=True)
    request_fetch(connection, interactive_for=interactive_for)
    return Reconnected(connection, new_code=False, in_flight=connection.claimed_by is not None)


async def prepare_rerun(
    *, session: AsyncSession, connection_id: int, interactive_for: timedelta
) -> Connection | None:
    """After a run stopped for `reconnect`, make the next one due and interactive (the
    stopped run's settling cleared both). Checked when the person pressed; None when the
    connection is gone or paused since."""
    connection = await session.get(Connection, connection_id)
    if connection is None or connection.state == S.DISABLED:
        return None
    request_fetch(connection, interactive_for=interactive_for)
    return connection


async def remove(*, session: AsyncSession, target: Target) -> Connection:
    connection = await controlled(session=session, target=target)
    await remove_connection(session=session, connection=connection)
    return connection
