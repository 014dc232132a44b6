"""Keeping accounting links alive between uses: tokens refreshed well inside their
lifetimes, and owners warned once when a link enters its software's warning window
(`expiring`), before it breaks rather than after."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel import col, select

from core.accounting.errors import IntegrationExpired, ProviderFailure
from core.models import Integration, IntegrationState, Member, Role
from core.models.base import utcnow
from core.services.accounting import Accounting, refresh_link
from core.services.integrations import move_integration, open_grant
from core.services.notifications import enqueue

log = logging.getLogger(__name__)

_KEPT = (IntegrationState.ACTIVE, IntegrationState.EXPIRING)


async def keep_tokens_fresh(acc: Accounting, *, now: datetime | None = None) -> int:
    """Refresh every grant its provider says is due; return how many were refreshed.
    One at a time: the providers' own rate limits are far above what this needs."""
    now = now or utcnow()
    refreshed = 0
    for integration_id in await _due(acc, now):
        try:
            await refresh_link(acc, integration_id=integration_id, now=now)
            refreshed += 1
        except IntegrationExpired:
            continue  # expired, and its one alert written by refresh_link
        except ProviderFailure as err:
            log.warning("integration %s: refresh failed (%s); next tick", integration_id, err.key)
    return refreshed


async def _due(acc: Accounting, now: datetime) -> list[int]:
    async with acc.db.read() as session:
        rows = (
            await session.exec(select(Integration).where(col(Integration.state).in_(_KEPT)))
        ).all()
        due: list[int] = []
        for integration in rows:
            assert integration.id is not None
            provider = acc.providers.get(integration.provider)
            when = provider.refresh_due_at(open_grant(vault=acc.vault, integration=integration))
            if when is not None and when <= now:
                due.append(integration.id)
        return due


async def warn_expiring(acc: Accounting, *, now: datetime | None = None) -> int:
    """`active` → `expiring` inside the provider's window, telling each owner once."""
    now = now or utcnow()
    warned = 0
    async with acc.db.transaction() as session:
        rows = (
            await session.exec(
                select(Integration).where(Integration.state == IntegrationState.ACTIVE)
            )
        ).all()
        for integration in rows:
            provider = acc.providers.get(integration.provider)
            grant = open_grant(vault=acc.vault, integration=integration)
            starts = provider.warning_starts_at(grant)
            if starts is None or starts > now:
                continue
            move_integration(integration, IntegrationState.EXPIRING, now=now)
            session.add(integration)
            ends = grant.refresh_expires_at
            owners = (
                await session.exec(
                    select(Member).where(
                        Member.workspace_id == integration.workspace_id,
                        Member.role == Role.OWNER,
                    )
                )
            ).all()
            for owner in owners:
                await enqueue(
                    session=session,
                    kind="integration_expiring",
                    workspace_id=integration.workspace_id,
                    recipient_member_id=owner.id,
                    payload={
                        "integration_id": integration.id,
                        "provider": integration.provider,
                        "company": integration.company_name,
                        "expires_at": ends.isoformat() if ends else None,
                        "action": "reconnect",
                    },
                    dedupe_key=f"integration:{integration.id}:expiring:{starts.date()}:{owner.id}",
                )
            warned += 1
    return warned
