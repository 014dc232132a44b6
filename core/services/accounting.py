"""What the accounting services need, passed in explicitly, and the grant they act with.

The accounting flows call outside software, so unlike the session-level services they open
their own short transactions around each call: the intent is committed before the call,
the outcome after it, and no transaction is held open while the software answers.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from core.accounting.errors import IntegrationExpired, ProviderFailure
from core.accounting.provider import AccountingProvider, Company, Grant
from core.accounting.registry import ProviderRegistry
from core.config import Settings
from core.db import Database
from core.models import Integration, IntegrationState
from core.models.base import utcnow
from core.services.integrations import (
    company_of,
    expire_integration,
    move_integration,
    open_grant,
    seal_grant,
)
from core.storage import DocumentStore
from core.vault import Vault

log = logging.getLogger(__name__)
T = TypeVar("T")

#: An access token this close to its end is refreshed before use.
ACCESS_MARGIN = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class Accounting:
    db: Database
    vault: Vault
    store: DocumentStore
    providers: ProviderRegistry
    #: The redirect URI registered with the OAuth2 software (Settings.oauth_callback_url).
    callback_url: str
    state_ttl: timedelta = timedelta(minutes=30)


def make_accounting(
    *,
    providers: ProviderRegistry,
    settings: Settings,
    db: Database,
    vault: Vault,
    store: DocumentStore,
) -> Accounting:
    """An `Accounting` for a piece of work, over the process's one provider registry: built
    once by the composition root (courier/runtime.py) and closed there, never per action,
    so each software's HTTP clients and per-company limits are shared by every action."""
    return Accounting(
        db=db,
        vault=vault,
        store=store,
        providers=providers,
        callback_url=settings.oauth_callback_url,
        state_ttl=timedelta(minutes=settings.oauth_state_ttl_minutes),
    )


@dataclass(frozen=True, slots=True)
class Link:
    """An integration's provider, grant and company, ready for a call."""

    integration_id: int
    workspace_id: int
    provider: AccountingProvider
    grant: Grant
    company: Company


async def usable_link(acc: Accounting, *, integration_id: int, force_refresh: bool = False) -> Link:
    """The integration's grant, refreshed first when it is (nearly) stale.

    The refresh runs with the integration's row locked (FOR UPDATE on PostgreSQL; SQLite
    has one writer), so two processes never spend one single-use refresh token. The new
    grant is committed in that same transaction, before anything uses it; a failure
    anywhere leaves the old grant stored, never nothing.
    """
    async with acc.db.read() as session:
        integration = await session.get(Integration, integration_id)
        assert integration is not None
        provider = acc.providers.get(integration.provider)
        grant = open_grant(vault=acc.vault, integration=integration)
        link = _link(integration, provider, grant)
    if force_refresh or _stale(provider, grant):
        return await refresh_link(acc, integration_id=integration_id, only_if_due=not force_refresh)
    return link


async def refresh_link(
    acc: Accounting,
    *,
    integration_id: int,
    only_if_due: bool = True,
    now: datetime | None = None,
) -> Link:
    """Refresh and store the grant; IntegrationExpired expires the integration and is raised."""
    expired: IntegrationExpired | None = None
    async with acc.db.transaction() as session:
        integration = await session.get(Integration, integration_id, with_for_update=True)
        assert integration is not None
        provider = acc.providers.get(integration.provider)
        grant = open_grant(vault=acc.vault, integration=integration)
        # Another process may have refreshed while we waited for the lock.
        if not only_if_due or _stale(provider, grant, now):
            try:
                grant = await provider.refresh(grant=grant)
            except IntegrationExpired as err:
                await expire_integration(
                    session=session, integration=integration, reason=_reason(err)
                )
                expired = err
            else:
                seal_grant(vault=acc.vault, integration=integration, grant=grant)
                integration.last_error = None
                warn = provider.warning_starts_at(grant)
                if integration.state == IntegrationState.EXPIRING and (
                    warn is None or warn > utcnow()
                ):
                    move_integration(integration, IntegrationState.ACTIVE)
                session.add(integration)
        link = _link(integration, provider, grant)
    if expired is not None:
        raise expired
    return link


async def call_with_link(
    acc: Accounting, *, integration_id: int, call: Callable[[Link], Awaitable[T]]
) -> T:
    """Make one call to the software. A refusal of the authorisation is given one forced
    refresh (a 401 that a refresh cures is no expiry); a second one expires the
    integration. Other failures are recorded on it and raised; none changes its state."""
    try:
        link = await usable_link(acc, integration_id=integration_id)
        try:
            return await call(link)
        except IntegrationExpired:
            link = await refresh_link(acc, integration_id=integration_id, only_if_due=False)
            return await call(link)
    except IntegrationExpired as err:
        async with acc.db.transaction() as session:
            integration = await session.get(Integration, integration_id)
            assert integration is not None
            if integration.state != IntegrationState.EXPIRED:
                await expire_integration(
                    session=session, integration=integration, reason=_reason(err)
                )
        raise
    except ProviderFailure as err:
        async with acc.db.transaction() as session:
            integration = await session.get(Integration, integration_id)
            assert integration is not None
            integration.last_error = f"{err.key}: {_reason(err)}"[:300]
            session.add(integration)
        raise


def _stale(provider: AccountingProvider, grant: Grant, now: datetime | None = None) -> bool:
    now = now or utcnow()
    due = provider.refresh_due_at(grant)
    ending = grant.access_expires_at
    return (ending is not None and ending - ACCESS_MARGIN <= now) or (
        due is not None and due <= now
    )


def _link(integration: Integration, provider: AccountingProvider, grant: Grant) -> Link:
    assert integration.id is not None
    return Link(integration.id, integration.workspace_id, provider, grant, company_of(integration))


def _reason(err: ProviderFailure) -> str:
    return str(err.params.get("reason") or err.key)
