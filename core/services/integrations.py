"""Integrations with accounting software, and the lists loaded from them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.accounting.provider import ListItem as ListItem  # re-exported for callers
from core.errors import IntegrationActive, ListKindUnknown, NotFound
from core.models import Integration, IntegrationState, ListEntry, ListKind, ListLoad
from core.models.base import utcnow
from core.statemachine import StateMachine
from core.vault import Vault

I = IntegrationState  # noqa: E741
INTEGRATION_STATES: StateMachine[IntegrationState] = StateMachine(
    name="integration",
    moves={
        I.PENDING: frozenset({I.ACTIVE}),
        I.ACTIVE: frozenset({I.EXPIRING, I.EXPIRED}),
        I.EXPIRING: frozenset({I.ACTIVE, I.EXPIRED}),
        # Reconnecting to the same company brings it back; anything else is a new one.
        I.EXPIRED: frozenset({I.ACTIVE}),
    },
    from_any=frozenset({I.DISCONNECTED}),
)
LIVE_STATES = (I.PENDING, I.ACTIVE, I.EXPIRING, I.EXPIRED)


def parse_list_kind(value: str) -> ListKind:
    try:
        return ListKind(value)
    except ValueError as err:
        raise ListKindUnknown(kind=value, known=", ".join(k.value for k in ListKind)) from err


async def current_integration(*, session: AsyncSession, workspace_id: int) -> Integration | None:
    query = select(Integration).where(
        Integration.workspace_id == workspace_id, col(Integration.state).in_(LIVE_STATES)
    )
    return (await session.exec(query)).first()


async def start_integration(
    *, session: AsyncSession, workspace_id: int, provider: str
) -> Integration:
    """One live integration per workspace: changing software disconnects the old one first."""
    existing = await current_integration(session=session, workspace_id=workspace_id)
    if existing is not None:
        raise IntegrationActive(provider=existing.provider, state=str(existing.state))
    integration = Integration(workspace_id=workspace_id, provider=provider)
    session.add(integration)
    await session.flush()
    return integration


def store_tokens(
    *,
    vault: Vault,
    integration: Integration,
    tokens: dict[str, Any],
    access_expires_at: datetime | None,
    refresh_expires_at: datetime | None,
) -> None:
    integration.tokens_sealed = vault.seal_json(tokens)
    integration.access_expires_at = access_expires_at
    integration.refresh_expires_at = refresh_expires_at


def read_tokens(*, vault: Vault, integration: Integration) -> dict[str, Any] | None:
    if integration.tokens_sealed is None:
        return None
    return vault.open_json(integration.tokens_sealed)


def move_integration(
    integration: Integration, target: IntegrationState, *, now: datetime | None = None
) -> None:
    INTEGRATION_STATES.check(IntegrationState(integration.state), target)
    integration.state = target
    integration.state_changed_at = now or utcnow()
    if target == I.DISCONNECTED:
        integration.tokens_sealed = None


async def replace_list(
    *,
    session: AsyncSession,
    integration: Integration,
    kind: ListKind,
    items: Iterable[ListItem],
    now: datetime | None = None,
) -> ListLoad:
    """Swap one list for what the software has now; the others are left alone."""
    assert integration.id is not None
    await session.exec(
        delete(ListEntry).where(
            col(ListEntry.integration_id) == integration.id, col(ListEntry.kind) == kind
        )
    )
    entries = {item.code: item for item in items}  # the software's codes are unique
    session.add_all(
        ListEntry(integration_id=integration.id, kind=kind, code=i.code, name=i.name, extra=i.extra)
        for i in entries.values()
    )
    load = (
        await session.exec(
            select(ListLoad).where(ListLoad.integration_id == integration.id, ListLoad.kind == kind)
        )
    ).first() or ListLoad(integration_id=integration.id, kind=kind)
    load.count = len(entries)
    load.loaded_at = now or utcnow()
    session.add(load)
    await session.flush()
    return load


async def list_loads(*, session: AsyncSession, integration_id: int) -> list[ListLoad]:
    query = (
        select(ListLoad)
        .where(ListLoad.integration_id == integration_id)
        .order_by(col(ListLoad.kind))
    )
    return list((await session.exec(query)).all())


async def list_entries(
    *, session: AsyncSession, integration_id: int, kind: ListKind
) -> list[ListEntry]:
    query = (
        select(ListEntry)
        .where(ListEntry.integration_id == integration_id, ListEntry.kind == kind)
        .order_by(col(ListEntry.code))
    )
    return list((await session.exec(query)).all())


async def get_integration(
    *, session: AsyncSession, workspace_id: int, integration_id: int
) -> Integration:
    integration = await session.get(Integration, integration_id)
    if integration is None or integration.workspace_id != workspace_id:
        raise NotFound(kind="integration", ident=integration_id)
    return integration
