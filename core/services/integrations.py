"""Integrations with accounting software: their state, sealed grant, lists, the rule flags
the lists raise, and who may manage them. Session-level: callers own the transaction."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.accounting.errors import ManagerRequired, NoIntegration
from core.accounting.provider import AccountingProvider, Company, Grant
from core.accounting.provider import ListItem as ListItem  # re-exported for callers
from core.errors import IntegrationActive, ListKindUnknown, NotAllowed, NotFound
from core.models import (
    Document,
    DocumentState,
    Integration,
    IntegrationState,
    ListEntry,
    ListKind,
    ListLoad,
    Notification,
    Publication,
    PublicationState,
    Rule,
)
from core.models.base import utcnow
from core.permissions import Action, acting, allows
from core.services.notifications import enqueue
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


EXPIRED_REASON = "integration_expired"
#: Rule flags the lists raise; a flagged rule holds its documents instead of guessing.
FLAG_ACCOUNT_DELETED = "account_deleted"
FLAG_TAX_RATE_DELETED = "tax_rate_deleted"
LIST_FLAGS = (FLAG_ACCOUNT_DELETED, FLAG_TAX_RATE_DELETED)


async def require_manager(
    *,
    session: AsyncSession,
    workspace_id: int,
    actor: int | None,
    action: Action = Action.MANAGE_INTEGRATION,
) -> None:
    """Raise ManagerRequired unless the permission table lets `actor` (a member id, or
    None for the operator at the server's command line) do `action` in the workspace."""
    try:
        who = await acting(session=session, member_id=actor)
    except NotAllowed as err:
        raise ManagerRequired(action=str(action)) from err
    if not allows(who, action, workspace_id=workspace_id):
        raise ManagerRequired(action=str(action))


async def require_integration(*, session: AsyncSession, workspace_id: int) -> Integration:
    integration = await current_integration(session=session, workspace_id=workspace_id)
    if integration is None:
        raise NoIntegration()
    return integration


def seal_grant(*, vault: Vault, integration: Integration, grant: Grant) -> None:
    """Store the newest grant. The refresh token it replaces is kept beside it: if the
    software rotated but our answer was lost, the old one may still work (Xero: 30 min)."""
    previous = open_grant(vault=vault, integration=integration)
    tokens: dict[str, Any] = {"grant": grant.to_json()}
    if previous.refresh_token and previous.refresh_token != grant.refresh_token:
        tokens["previous_refresh_token"] = previous.refresh_token
    store_tokens(
        vault=vault,
        integration=integration,
        tokens=tokens,
        access_expires_at=grant.access_expires_at,
        refresh_expires_at=grant.refresh_expires_at,
    )


def open_grant(*, vault: Vault, integration: Integration) -> Grant:
    tokens = read_tokens(vault=vault, integration=integration)
    if not tokens or "grant" not in tokens:
        return Grant()
    return Grant.from_json(tokens["grant"])


def company_of(integration: Integration) -> Company:
    return Company(id=integration.company_id or "", name=integration.company_name or "")


async def waiting_documents(*, session: AsyncSession, integration_id: int) -> int:
    query = select(Publication.id).where(
        Publication.integration_id == integration_id,
        Publication.state == PublicationState.BLOCKED,
        Publication.reason == EXPIRED_REASON,
    )
    return len((await session.exec(query)).all())


def expiry_dedupe_key(integration: Integration) -> str:
    return f"integration:{integration.id}:expired:{integration.state_changed_at.isoformat()}"


async def expire_integration(
    *, session: AsyncSession, integration: Integration, reason: str, now: datetime | None = None
) -> Notification | None:
    """`expired`, once: the one alert of this expiry says what happened and offers Reconnect.
    Called again while already expired, it only brings the alert's count up to date. A
    link still `pending` was never working: it keeps the reason and waits to be connected."""
    integration.last_error = reason[:300]
    session.add(integration)
    if integration.state == I.PENDING:
        await session.flush()
        return None
    if integration.state != I.EXPIRED:
        move_integration(integration, I.EXPIRED, now=now)
    await session.flush()
    return await refresh_expiry_alert(session=session, integration=integration)


async def refresh_expiry_alert(*, session: AsyncSession, integration: Integration) -> Notification:
    assert integration.id is not None
    waiting = await waiting_documents(session=session, integration_id=integration.id)
    payload = {
        "integration_id": integration.id,
        "provider": integration.provider,
        "company": integration.company_name,
        "documents_waiting": waiting,
        "action": "reconnect",
    }
    alert = await enqueue(
        session=session,
        kind="integration_expired",
        workspace_id=integration.workspace_id,
        payload=payload,
        dedupe_key=expiry_dedupe_key(integration),
    )
    if alert.payload != payload and alert.sent_at is None:
        alert.payload = payload  # not sent yet: let it say how many wait now
        session.add(alert)
        await session.flush()
    return alert


async def apply_lists(
    *,
    session: AsyncSession,
    integration: Integration,
    lists: dict[ListKind, list[ListItem]],
    now: datetime | None = None,
) -> list[Rule]:
    """Store freshly loaded lists, then flag the rules they broke; return the flagged ones."""
    for kind, items in lists.items():
        await replace_list(
            session=session, integration=integration, kind=kind, items=items, now=now
        )
    return await flag_rules(session=session, integration=integration, loaded=set(lists))


async def flag_rules(
    *, session: AsyncSession, integration: Integration, loaded: set[ListKind]
) -> list[Rule]:
    """A rule pointing at an account or tax rate the software no longer has is flagged (its
    documents are held); one whose account came back is cleared. Only lists just loaded
    are judged, and only the flags lists raise are cleared."""
    assert integration.id is not None
    codes: dict[ListKind, set[str]] = {}
    for kind in loaded & {ListKind.ACCOUNTS, ListKind.TAX_RATES}:
        entries = await list_entries(session=session, integration_id=integration.id, kind=kind)
        codes[kind] = {e.code for e in entries}
    rules = (
        await session.exec(select(Rule).where(Rule.workspace_id == integration.workspace_id))
    ).all()
    flagged: list[Rule] = []
    for rule in rules:
        flag: str | None = None
        accounts = codes.get(ListKind.ACCOUNTS)
        rates = codes.get(ListKind.TAX_RATES)
        if accounts is not None and rule.account_code and rule.account_code not in accounts:
            flag = FLAG_ACCOUNT_DELETED
        elif rates is not None and rule.tax_rate_code and rule.tax_rate_code not in rates:
            flag = FLAG_TAX_RATE_DELETED
        if flag is not None:
            rule.flagged = flag
            flagged.append(rule)
        elif rule.flagged in LIST_FLAGS:
            rule.flagged = None
        session.add(rule)
    await session.flush()
    return flagged


async def release_documents(*, session: AsyncSession, integration_id: int) -> int:
    """Publications that never reached a disconnected integration are dropped, and their
    documents go back to the inbox: nothing is lost, nothing waits for a dead link."""
    query = select(Publication).where(
        Publication.integration_id == integration_id,
        col(Publication.state).in_(
            (PublicationState.BLOCKED, PublicationState.WAITING, PublicationState.PENDING)
        ),
    )
    released = 0
    for publication in (await session.exec(query)).all():
        document = await session.get(Document, publication.document_id)
        if document is not None and document.state == DocumentState.BLOCKED:
            document.state = DocumentState.INBOX
            document.state_reason = None
            session.add(document)
        await session.delete(publication)
        released += 1
    await session.flush()
    return released


def supports(provider: AccountingProvider, kind: ListKind) -> bool:
    return kind in provider.list_kinds
