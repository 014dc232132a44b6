"""What a person does to a merchant connection from an interface: run it now, pause it,
resume it, give it new credentials, remove it. Each is checked against the permission
table (core/permissions.py, MANAGE_CONNECTIONS): a manager acts on any connection of the
workspace, a member on the ones they own. The fetch and the scheduler move connections
through core.services.connections directly: they act for nobody.

A move the connection's state does not allow (pausing a paused one, a second press)
raises IllegalTransition, which an interface shows as "expired"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from pydantic import SecretStr
from sqlmodel.ext.asyncio.session import AsyncSession

from core.errors import IllegalTransition
from core.models import Connection, ConnectionState
from core.permissions import Action, Who, require
from core.services.connections import (
    get_connection,
    move_connection,
    remove_connection,
    replace_credentials,
)
from core.services.fetch_claims import request_fetch
from core.vault import Vault

S = ConnectionState


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
    """New credentials, verified at once by a run (a paused connection resumes)."""
    connection = await controlled(session=session, target=target)
    replace_credentials(vault=vault, connection=connection, login=login, password=password)
    if connection.state == S.DISABLED:
        move_connection(connection, S.SYNCING)
    request_fetch(connection, interactive_for=interactive_for)
    return connection


async def remove(*, session: AsyncSession, target: Target) -> Connection:
    connection = await controlled(session=session, target=target)
    await remove_connection(session=session, connection=connection)
    return connection
