"""What `/integration` shows of a workspace's link to its accounting software: values the
chat words, read in one place for owners and admins only (core/permissions.py).

Session-level, like core/services/integrations.py: callers own the transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.errors import NotFound
from core.models import Document, DocumentState, Integration, IntegrationState, ListKind, Rule
from core.services.integrations import (
    current_integration,
    get_integration,
    list_loads,
    require_manager,
    waiting_documents,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IntegrationStatus:
    integration_id: int
    provider: str
    company: str
    state: IntegrationState
    #: Why the last call to the software failed (a key and a reason), or None.
    last_error: str | None
    #: Entries per list loaded so far; a list never loaded is absent.
    counts: dict[ListKind, int]
    #: When the most recent list was loaded (None: none yet).
    loaded_at: datetime | None
    #: Documents blocked until the link works again (an expiry).
    waiting: int
    #: Documents held for a rule or a review.
    held: int


async def integration_status(
    *, session: AsyncSession, workspace_id: int, actor: int | None
) -> IntegrationStatus | None:
    """The live link's status, or None when the workspace has none."""
    await require_manager(session=session, workspace_id=workspace_id, actor=actor)
    integration = await current_integration(session=session, workspace_id=workspace_id)
    if integration is None:
        return None
    assert integration.id is not None
    loads = await list_loads(session=session, integration_id=integration.id)
    held = await session.scalar(
        select(func.count())
        .select_from(Document)
        .where(
            Document.workspace_id == workspace_id,
            col(Document.state).in_((DocumentState.BLOCKED, DocumentState.NEEDS_REVIEW)),
        )
    )
    return IntegrationStatus(
        integration_id=integration.id,
        provider=integration.provider,
        company=integration.company_name or integration.company_id or "",
        state=IntegrationState(integration.state),
        last_error=integration.last_error,
        counts={ListKind(load.kind): load.count for load in loads},
        loaded_at=max((load.loaded_at for load in loads), default=None),
        waiting=await waiting_documents(session=session, integration_id=integration.id),
        held=int(held or 0),
    )


async def live_integration(
    *, session: AsyncSession, workspace_id: int, integration_id: int, actor: int | None
) -> Integration:
    """The link a button or a deep link names, if it is still this workspace's live one;
    NotFound otherwise (another workspace's id is logged: a forged press, or a mistake)."""
    await require_manager(session=session, workspace_id=workspace_id, actor=actor)
    try:
        integration = await get_integration(
            session=session, workspace_id=workspace_id, integration_id=integration_id
        )
    except NotFound:
        log.warning(
            "refused: integration %s is not in workspace %s (member %s)",
            integration_id,
            workspace_id,
            actor,
        )
        raise
    if integration.state == IntegrationState.DISCONNECTED:
        raise NotFound(kind="integration", ident=integration_id)
    return integration


async def previous_integration(
    *, session: AsyncSession, workspace_id: int, integration_id: int
) -> Integration | None:
    """The link this one replaced (the most recently disconnected), if any."""
    query = (
        select(Integration)
        .where(
            Integration.workspace_id == workspace_id,
            Integration.state == IntegrationState.DISCONNECTED,
            Integration.id != integration_id,
        )
        .order_by(col(Integration.state_changed_at).desc())
    )
    return (await session.exec(query)).first()


async def has_rules(*, session: AsyncSession, workspace_id: int) -> bool:
    found = await session.scalar(
        select(func.count()).select_from(Rule).where(Rule.workspace_id == workspace_id)
    )
    return bool(found)
