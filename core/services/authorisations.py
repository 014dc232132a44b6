"""Linking a workspace to its accounting software, and managing the link's life.

- connect: an OAuth2 software gets an authorisation URL whose `state` is stored (hashed,
  single-use, expiring, tied to the workspace and the member); a token or a ledger path
  connects at once. Either way the integration is `pending` until its lists are loaded.
- reconnect: the same company only (else CompanyMismatch: that is a change of software);
  rules and lists stay, and the documents the expiry blocked are published again. A
  company that is a place (a Beancount ledger file) may have moved: a provider that can
  tell the same books at a new place (`Relocatable`) follows them there.
- change software: the old integration is fully disconnected, the new one loaded; rules
  stay with the workspace, to be transferred (core.services.rules.transfer_rules).
- disconnect, keeping the rules or not; the documents always stay.
- refresh every list, or one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.accounting.errors import (
    AuthorizationStateInvalid,
    CompanyMismatch,
    IntegrationNotUsable,
    LedgerLinkedElsewhere,
    ProviderFailure,
    SecretRequired,
)
from core.accounting.provider import (
    AccountingProvider,
    AuthKind,
    Authorized,
    Company,
    Grant,
    ListItem,
)
from core.errors import IntegrationActive
from core.models import (
    AuthorizationPurpose,
    AuthorizationRequest,
    Integration,
    IntegrationState,
    ListKind,
    Publication,
    PublicationState,
    Rule,
)
from core.models.base import utcnow
from core.services.accounting import Accounting, call_with_link
from core.services.integrations import (
    apply_lists,
    company_of,
    current_integration,
    move_integration,
    open_grant,
    release_documents,
    require_integration,
    require_manager,
    seal_grant,
    start_integration,
)
from core.services.oauth_states import new_state, spend_state, state_hash
from core.services.publishing import publish_blocked
from core.services.rules import release_rule_holds

log = logging.getLogger(__name__)

P = AuthorizationPurpose


@runtime_checkable
class Relocatable(Protocol):
    """A provider whose company is a place that can move and stay the same books."""

    async def same_books(
        self, *, old: Company, new: Company, published_keys: Sequence[str]
    ) -> bool:
        """Whether `new` is `old` moved; `published_keys` are the idempotency keys of
        what Courier published to `old`."""
        ...


@dataclass(frozen=True, slots=True)
class Connecting:
    """The outcome of a connect, reconnect or change: done, or a URL to open first."""

    provider: str
    authorization_url: str | None = None
    integration_id: int | None = None
    state: IntegrationState | None = None


@dataclass(frozen=True, slots=True)
class Refreshed:
    integration_id: int
    counts: dict[ListKind, int]
    flagged_rules: list[str]
    state: IntegrationState
    #: Documents held for their rule that the new lists un-flagged: back in the inbox.
    released: tuple[int, ...] = ()


async def connect(
    acc: Accounting,
    *,
    workspace_id: int,
    actor: int | None,
    provider_name: str,
    secret: str | None = None,
) -> Connecting:
    """A first link (refused while one is live: that is `change_software`)."""
    provider = acc.providers.get(provider_name)
    async with acc.db.transaction() as session:
        await require_manager(session=session, workspace_id=workspace_id, actor=actor)
        existing = await current_integration(session=session, workspace_id=workspace_id)
        if existing is not None:
            raise IntegrationActive(provider=existing.provider, state=str(existing.state))
    return await _begin(acc, provider, workspace_id, actor, P.CONNECT, None, secret)


async def reconnect(
    acc: Accounting, *, workspace_id: int, actor: int | None, secret: str | None = None
) -> Connecting:
    async with acc.db.transaction() as session:
        await require_manager(session=session, workspace_id=workspace_id, actor=actor)
        integration = await require_integration(session=session, workspace_id=workspace_id)
    provider = acc.providers.get(integration.provider)
    if secret is None and provider.auth_kind == AuthKind.LOCAL_FILE:
        secret = integration.company_id  # the same ledger
    return await _begin(acc, provider, workspace_id, actor, P.RECONNECT, integration.id, secret)


async def change_software(
    acc: Accounting,
    *,
    workspace_id: int,
    actor: int | None,
    provider_name: str,
    secret: str | None = None,
) -> Connecting:
    """The old link is disconnected only once the new one is authorised."""
    provider = acc.providers.get(provider_name)
    async with acc.db.transaction() as session:
        await require_manager(session=session, workspace_id=workspace_id, actor=actor)
        old = await current_integration(session=session, workspace_id=workspace_id)
    return await _begin(
        acc, provider, workspace_id, actor, P.CHANGE, old.id if old else None, secret
    )


async def _begin(
    acc: Accounting,
    provider: AccountingProvider,
    workspace_id: int,
    actor: int | None,
    purpose: AuthorizationPurpose,
    integration_id: int | None,
    secret: str | None,
) -> Connecting:
    if provider.auth_kind != AuthKind.OAUTH2:
        if not secret:
            what = "a ledger path" if provider.auth_kind == AuthKind.LOCAL_FILE else "a token"
            raise SecretRequired(provider=provider.name, what=what)
        authorized = await provider.connect_with_secret(secret=secret)
        return await finish(
            acc,
            provider=provider,
            workspace_id=workspace_id,
            purpose=purpose,
            integration_id=integration_id,
            authorized=authorized,
        )
    state = new_state()
    start = await provider.start_authorization(state=state, redirect_uri=acc.callback_url)
    async with acc.db.transaction() as session:
        session.add(
            AuthorizationRequest(
                workspace_id=workspace_id,
                member_id=actor,
                provider=provider.name,
                purpose=purpose,
                integration_id=integration_id,
                state_hash=state_hash(start.state),
                code_verifier_sealed=(
                    acc.vault.seal(start.code_verifier) if start.code_verifier else None
                ),
                expires_at=utcnow() + acc.state_ttl,
            )
        )
    return Connecting(provider=provider.name, authorization_url=start.url)


@dataclass(frozen=True, slots=True)
class CallbackOutcome:
    workspace_id: int
    purpose: AuthorizationPurpose
    connecting: Connecting


async def complete_callback(acc: Accounting, *, params: Mapping[str, str]) -> CallbackOutcome:
    """The OAuth2 callback: the state is spent first (even if what follows fails, it
    cannot be replayed), then the code is exchanged and the link finished."""
    state = params.get("state", "")
    async with acc.db.transaction() as session:
        request = await spend_state(session=session, state=state)
        if request.purpose == P.SUPPLIER:
            # A supplier's consent is core.services.supplier_sign_in's to finish.
            raise AuthorizationStateInvalid(reason="unknown_state")
        verifier = (
            acc.vault.open(request.code_verifier_sealed) if request.code_verifier_sealed else None
        )
        await require_manager(
            session=session, workspace_id=request.workspace_id, actor=request.member_id
        )
        snapshot = (request.workspace_id, request.provider, request.purpose, request.integration_id)
    workspace_id, provider_name, purpose, integration_id = snapshot
    if params.get("error"):
        # The person declined at the software, or the software refused: say which.
        raise AuthorizationStateInvalid(reason=params["error"][:60])
    provider = acc.providers.get(provider_name)
    authorized = await provider.complete_authorization(
        params=params, redirect_uri=acc.callback_url, code_verifier=verifier
    )
    connecting = await finish(
        acc,
        provider=provider,
        workspace_id=workspace_id,
        purpose=purpose,
        integration_id=integration_id,
        authorized=authorized,
    )
    return CallbackOutcome(workspace_id=workspace_id, purpose=purpose, connecting=connecting)


async def finish(
    acc: Accounting,
    *,
    provider: AccountingProvider,
    workspace_id: int,
    purpose: AuthorizationPurpose,
    integration_id: int | None,
    authorized: Authorized,
) -> Connecting:
    if purpose == P.RECONNECT:
        assert integration_id is not None
        return await _finish_reconnect(acc, provider, integration_id, authorized)
    revoke: tuple[str, Grant, Company] | None = None
    async with acc.db.transaction() as session:
        if purpose == P.CHANGE and integration_id is not None:
            old = await session.get(Integration, integration_id)
            if old is not None and old.state != IntegrationState.DISCONNECTED:
                revoke = (
                    old.provider,
                    open_grant(vault=acc.vault, integration=old),
                    company_of(old),
                )
                move_integration(old, IntegrationState.DISCONNECTED)
                session.add(old)
                await release_documents(session=session, integration_id=integration_id)
                await session.flush()
        await _claim(session, provider, workspace_id, authorized.company)
        integration = await start_integration(
            session=session, workspace_id=workspace_id, provider=provider.name
        )
        integration.company_id = authorized.company.id
        integration.company_name = authorized.company.name[:200]
        integration.authorized_at = utcnow()
        seal_grant(vault=acc.vault, integration=integration, grant=authorized.grant)
        session.add(integration)
        await session.flush()
        assert integration.id is not None
        new_id = integration.id
    if revoke is not None:
        await _revoke(acc, *revoke)
    refreshed = await refresh_lists(acc, workspace_id=workspace_id, actor=None)
    return Connecting(provider=provider.name, integration_id=new_id, state=refreshed.state)


async def _finish_reconnect(
    acc: Accounting, provider: AccountingProvider, integration_id: int, authorized: Authorized
) -> Connecting:
    async with acc.db.transaction() as session:
        integration = await session.get(Integration, integration_id)
        if integration is None or integration.state == IntegrationState.DISCONNECTED:
            raise IntegrationNotUsable(provider=provider.name, state="disconnected")
        moved = integration.company_id != authorized.company.id and await _moved(
            session, provider, integration, authorized.company
        )
        if integration.company_id != authorized.company.id and not moved:
            mismatch = CompanyMismatch(
                provider=provider.name,
                expected=_company_label(company_of(integration), authorized.company),
                got=_company_label(authorized.company, company_of(integration)),
            )
        else:
            mismatch = None
            if moved:
                await _claim(session, provider, integration.workspace_id, authorized.company)
                log.info(
                    "%s: the books moved from %s to %s",
                    provider.name,
                    integration.company_id,
                    authorized.company.id,
                )
                integration.company_id = authorized.company.id
                integration.company_name = authorized.company.name[:200]
            seal_grant(vault=acc.vault, integration=integration, grant=authorized.grant)
            integration.authorized_at = utcnow()
            integration.last_error = None
            if integration.state in (IntegrationState.EXPIRED, IntegrationState.EXPIRING):
                move_integration(integration, IntegrationState.ACTIVE)
            session.add(integration)
        state = IntegrationState(integration.state)
    if mismatch is not None:
        # Not ours to keep: the grant for the other company is given back at once.
        await _revoke(acc, provider.name, authorized.grant, authorized.company)
        raise mismatch
    if state == IntegrationState.PENDING or moved:
        # Books at a new place are read again: they are the lists from now on.
        state = (await refresh_lists(acc, workspace_id=integration.workspace_id, actor=None)).state
    await publish_blocked(acc, integration_id=integration_id)
    return Connecting(provider=provider.name, integration_id=integration_id, state=state)


async def _claim(
    session: AsyncSession, provider: AccountingProvider, workspace_id: int, company: Company
) -> None:
    """A ledger is one workspace's books: refused while another workspace links it. (A
    company at an online software is its own to share; the software checks access.)"""
    if provider.auth_kind != AuthKind.LOCAL_FILE:
        return
    taken = await session.exec(
        select(Integration.id).where(
            Integration.provider == provider.name,
            Integration.company_id == company.id,
            Integration.workspace_id != workspace_id,
            Integration.state != IntegrationState.DISCONNECTED,
        )
    )
    if taken.first() is not None:
        raise LedgerLinkedElsewhere(name=company.name)


async def _moved(
    session: AsyncSession, provider: AccountingProvider, integration: Integration, new: Company
) -> bool:
    if not isinstance(provider, Relocatable):
        return False
    keys = (
        await session.exec(
            select(Publication.idempotency_key).where(
                Publication.integration_id == integration.id,
                Publication.state == PublicationState.PUBLISHED,
            )
        )
    ).all()
    return await provider.same_books(
        old=company_of(integration), new=new, published_keys=list(keys)
    )


def _company_label(company: Company, other: Company) -> str:
    """The company's name, or its id where both names are alike (two ledgers named
    main.beancount are told apart by their paths)."""
    if company.name and company.name != other.name:
        return company.name
    return company.id or company.name


async def _revoke(acc: Accounting, provider_name: str, grant: Grant, company: Company) -> None:
    try:
        await acc.providers.get(provider_name).disconnect(grant=grant, company=company)
    except ProviderFailure as err:
        # Revocation is a courtesy to the software; the link is gone on our side anyway.
        log.warning("%s: could not revoke the grant (%s)", provider_name, err.key)


async def refresh_lists(
    acc: Accounting, *, workspace_id: int, actor: int | None, kind: ListKind | None = None
) -> Refreshed:
    """Reload every list (or one); a `pending` integration becomes `active` once all are."""
    async with acc.db.transaction() as session:
        await require_manager(session=session, workspace_id=workspace_id, actor=actor)
        integration = await require_integration(session=session, workspace_id=workspace_id)
    assert integration.id is not None
    if integration.state == IntegrationState.EXPIRED:
        raise IntegrationNotUsable(provider=integration.provider, state="expired")
    provider = acc.providers.get(integration.provider)
    kinds = [kind] if kind is not None else sorted(provider.list_kinds)
    lists: dict[ListKind, list[ListItem]] = {}
    for each in kinds:
        if each not in provider.list_kinds:
            lists[each] = []  # the software has no such list: loaded, and empty
            continue
        lists[each] = await call_with_link(
            acc,
            integration_id=integration.id,
            call=lambda link, each=each: link.provider.load_list(  # type: ignore[misc]
                grant=link.grant, company=link.company, kind=each
            ),
        )
    async with acc.db.transaction() as session:
        row = await session.get(Integration, integration.id)
        assert row is not None
        flagged = await apply_lists(session=session, integration=row, lists=lists)
        released = await release_rule_holds(session=session, workspace_id=workspace_id)
        if row.state == IntegrationState.PENDING and kind is None:
            move_integration(row, IntegrationState.ACTIVE)
            session.add(row)
        return Refreshed(
            integration_id=integration.id,
            counts={k: len(v) for k, v in lists.items()},
            flagged_rules=[r.party_name for r in flagged],
            state=IntegrationState(row.state),
            released=tuple(released),
        )


async def disconnect(
    acc: Accounting, *, workspace_id: int, actor: int | None, keep_rules: bool
) -> int:
    """Revoke where the software allows it, then forget the grant. Documents stay; those
    waiting for this link go back to the inbox. Returns how many rules were dropped."""
    async with acc.db.transaction() as session:
        await require_manager(session=session, workspace_id=workspace_id, actor=actor)
        integration = await require_integration(session=session, workspace_id=workspace_id)
        assert integration.id is not None
        provider_name, grant, company = (
            integration.provider,
            open_grant(vault=acc.vault, integration=integration),
            company_of(integration),
        )
        move_integration(integration, IntegrationState.DISCONNECTED)
        session.add(integration)
        await release_documents(session=session, integration_id=integration.id)
        dropped = 0
        if not keep_rules:
            rules = (
                await session.exec(select(Rule.id).where(Rule.workspace_id == workspace_id))
            ).all()
            dropped = len(rules)
            await session.exec(delete(Rule).where(col(Rule.workspace_id) == workspace_id))
    await _revoke(acc, provider_name, grant, company)
    return dropped
