"""`courier integration …`, `courier rules …` and `courier publish`: the accounting link
from the command line. The operator at the server's command line acts with the owners'
rights (no member id), like every other command here.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlmodel import col, func, select

from core.accounting.provider import AuthKind
from core.config import Settings
from core.models import Document, DocumentState, IntegrationState, ListKind
from core.services.accounting import Accounting, make_accounting
from core.services.authorisations import (
    Connecting,
    change_software,
    connect,
    disconnect,
    reconnect,
    refresh_lists,
)
from core.services.integrations import (
    current_integration,
    list_loads,
    parse_list_kind,
    waiting_documents,
)
from core.services.publishing import (
    PublishOutcome,
    on_document_ready,
    publish_document,
    publish_ready,
)
from core.services.rules import held_by_rule, list_rules, set_rule, transfer_rules
from core.services.workspaces import get_workspace
from courier.output import emit_json, emit_result, emit_rows, invocation, with_invocation
from courier.prompts import read_secret
from courier.runtime import Runtime, open_runtime
from courier.texts import PUBLISH_REASONS

Handler = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]


def build_accounting(rt: Runtime) -> Accounting:
    """An `Accounting` over the runtime's parts and its one provider registry, which the
    runtime closes: nothing to close here."""
    return make_accounting(
        providers=rt.providers, settings=rt.settings, db=rt.db, vault=rt.vault, store=rt.store
    )


@dataclass(frozen=True, slots=True)
class _Session:
    acc: Accounting
    workspace_id: int
    slug: str


@asynccontextmanager
async def _open(settings: Settings, slug: str) -> AsyncIterator[_Session]:
    async with open_runtime(settings) as rt:
        async with rt.db.read() as session:
            workspace = await get_workspace(session=session, slug=slug)
        assert workspace.id is not None
        yield _Session(build_accounting(rt), workspace.id, workspace.slug)


async def _secret_for(acc: Accounting, provider_name: str, ledger: Path | None) -> str | None:
    provider = acc.providers.get(provider_name)
    if provider.auth_kind == AuthKind.LOCAL_FILE:
        return str(ledger) if ledger is not None else None
    if provider.auth_kind == AuthKind.TOKEN:
        return (await read_secret(f"{provider.display_name} token: ")).get_secret_value() or None
    return None


def _report(connecting: Connecting, slug: str, *, as_json: bool, after: Sequence[str] = ()) -> None:
    """The link made, or the address to open first. The address is the command's answer
    (the person opens it), so --json gives it too; it holds a one-time state, no secret."""
    if connecting.authorization_url is not None:
        lines = ["Open this address to authorise Courier, then come back:"]
        lines.append(connecting.authorization_url)
    else:
        lines = [f"{slug} is linked to {connecting.provider}: {connecting.state}", *after]
    emit_result(
        {
            "workspace": slug,
            "provider": connecting.provider,
            "state": connecting.state,
            "authorization_url": connecting.authorization_url,
        },
        as_json=as_json,
        lines=lines,
    )


async def integration_connect(args: argparse.Namespace, settings: Settings) -> int:
    async with _open(settings, args.workspace) as s:
        secret = await _secret_for(s.acc, args.provider, args.ledger)
        result = await connect(
            s.acc,
            workspace_id=s.workspace_id,
            actor=None,
            provider_name=args.provider,
            secret=secret,
        )
    _report(result, s.slug, as_json=args.json)
    return 0


async def integration_reconnect(args: argparse.Namespace, settings: Settings) -> int:
    async with _open(settings, args.workspace) as s:
        async with s.acc.db.read() as session:
            live = await current_integration(session=session, workspace_id=s.workspace_id)
        name = live.provider if live is not None else "beancount"
        secret = await _secret_for(s.acc, name, args.ledger)
        result = await reconnect(s.acc, workspace_id=s.workspace_id, actor=None, secret=secret)
    _report(result, s.slug, as_json=args.json)
    return 0


async def integration_change(args: argparse.Namespace, settings: Settings) -> int:
    async with _open(settings, args.workspace) as s:
        secret = await _secret_for(s.acc, args.provider, args.ledger)
        result = await change_software(
            s.acc,
            workspace_id=s.workspace_id,
            actor=None,
            provider_name=args.provider,
            secret=secret,
        )
    after = [f"Next: {invocation()} integration transfer-rules --workspace {s.slug}"]
    _report(result, s.slug, as_json=args.json, after=after)
    return 0


async def integration_transfer_rules(args: argparse.Namespace, settings: Settings) -> int:
    async with _open(settings, args.workspace) as s, s.acc.db.transaction() as session:
        report = await transfer_rules(session=session, workspace_id=s.workspace_id, actor=None)
    unmapped = [
        {"supplier": u.party_name, "field": u.field, "code": u.code, "name": u.name}
        for u in report.unmapped
    ]
    if args.json:
        emit_json({"rules": report.rules, "mapped": report.mapped, "unmapped": unmapped})
        return 0
    print(f"{report.mapped} of {report.rules} rules mapped to the new software")
    if unmapped:
        print(with_invocation("Not mapped (kept and flagged; set them with `courier rules set`):"))
        emit_rows(unmapped, ["supplier", "field", "code", "name"], as_json=False, empty="")
    return 0


async def integration_disconnect(args: argparse.Namespace, settings: Settings) -> int:
    async with _open(settings, args.workspace) as s:
        dropped = await disconnect(
            s.acc, workspace_id=s.workspace_id, actor=None, keep_rules=args.keep_rules
        )
    kept = "rules kept" if args.keep_rules else f"{dropped} rules dropped"
    emit_result(
        {"workspace": s.slug, "rules_kept": args.keep_rules, "rules_dropped": dropped},
        as_json=args.json,
        lines=[f"{s.slug} is disconnected ({kept}; documents stay in the inbox)"],
    )
    return 0


async def integration_refresh(args: argparse.Namespace, settings: Settings) -> int:
    kind: ListKind | None = parse_list_kind(args.list) if args.list else None
    async with _open(settings, args.workspace) as s:
        refreshed = await refresh_lists(s.acc, workspace_id=s.workspace_id, actor=None, kind=kind)
        await _send_released(s.acc, refreshed.released)
    rows = [{"list": k, "count": n} for k, n in sorted(refreshed.counts.items())]
    if args.json:
        emit_json(
            {"state": refreshed.state, "lists": rows, "flagged_rules": refreshed.flagged_rules}
        )
        return 0
    for row in rows:
        print(f"{row['list']:<10} {row['count']} loaded")
    for name in refreshed.flagged_rules:
        print(f"rule for {name} is flagged: its account or tax rate is gone (documents held)")
    return 0


async def integration_status(args: argparse.Namespace, settings: Settings) -> int:
    async with _open(settings, args.workspace) as s, s.acc.db.read() as session:
        integration = await current_integration(session=session, workspace_id=s.workspace_id)
        if integration is None:
            status: dict[str, Any] = {"workspace": s.slug, "software": None, "state": None}
        else:
            assert integration.id is not None
            loads = await list_loads(session=session, integration_id=integration.id)
            held = await session.scalar(
                select(func.count())
                .select_from(Document)
                .where(
                    Document.workspace_id == s.workspace_id,
                    col(Document.state).in_((DocumentState.BLOCKED, DocumentState.NEEDS_REVIEW)),
                )
            )
            status = {
                "workspace": s.slug,
                "software": integration.provider,
                "state": integration.state,
                "company": integration.company_name,
                "company_id": integration.company_id,
                "authorized_at": integration.authorized_at,
                "last_error": integration.last_error,
                "lists": [
                    {"list": load.kind, "count": load.count, "loaded_at": load.loaded_at}
                    for load in loads
                ],
                "documents_waiting_reconnect": await waiting_documents(
                    session=session, integration_id=integration.id
                ),
                "documents_held": int(held or 0),
            }
    if args.json:
        emit_json(status)
        return 0
    if status["software"] is None:
        print(f"{s.slug} has no accounting software linked")
        return 0
    print(f"software   {status['software']} ({status['company']})")
    advice = with_invocation(_advice(IntegrationState(status["state"])))
    print(f"state      {status['state']}{advice}")
    if status["last_error"]:
        print(f"last error {status['last_error']}")
    print(
        f"waiting    {status['documents_waiting_reconnect']} documents for a reconnect, "
        f"{status['documents_held']} held or to review"
    )
    emit_rows(
        status["lists"], ["list", "count", "loaded_at"], as_json=False, empty="no list loaded"
    )
    return 0


def _advice(state: IntegrationState) -> str:
    return {
        IntegrationState.PENDING: " (run `courier integration refresh` to load the lists)",
        IntegrationState.EXPIRING: " (reconnect soon: `courier integration reconnect`)",
        IntegrationState.EXPIRED: " (run `courier integration reconnect`)",
    }.get(state, "")


async def rules_list(args: argparse.Namespace, settings: Settings) -> int:
    async with _open(settings, args.workspace) as s, s.acc.db.read() as session:
        rules = await list_rules(session=session, workspace_id=s.workspace_id)
    rows = [
        {
            "supplier": r.party_name,
            "account": r.account_code,
            "tax_rate": r.tax_rate_code,
            "contact": r.contact_code,
            "auto_publish": r.auto_publish,
            "flagged": r.flagged,
        }
        for r in rules
    ]
    emit_rows(
        rows,
        ["supplier", "account", "tax_rate", "contact", "auto_publish", "flagged"],
        as_json=args.json,
        empty="no rule yet",
    )
    return 0


async def rules_set(args: argparse.Namespace, settings: Settings) -> int:
    async with _open(settings, args.workspace) as s:
        async with s.acc.db.transaction() as session:
            held = [
                d
                for d in (
                    await session.exec(
                        select(Document).where(
                            Document.workspace_id == s.workspace_id,
                            col(Document.state).in_(
                                (DocumentState.NEEDS_REVIEW, DocumentState.BLOCKED)
                            ),
                        )
                    )
                ).all()
                if held_by_rule(d)
            ]
            rule = await set_rule(
                session=session,
                workspace_id=s.workspace_id,
                party_name=args.supplier,
                account_code=args.account,
                tax_rate_code=args.tax_rate,
                auto_publish=args.auto_publish,
                check_lists=True,
            )
            # set_rule let the supplier's documents held for want of a rule back in the inbox.
            released = [d.id for d in held if d.id is not None and d.state == DocumentState.INBOX]
        sent = await _send_released(s.acc, released)
    auto = ", published automatically" if rule.auto_publish else ""
    tax = f", tax rate {rule.tax_rate_code}" if rule.tax_rate_code else ""
    lines = [f"{rule.party_name}: account {rule.account_code}{tax}{auto}"]
    if released:
        lines.append(
            f"{len(released)} held document(s) released: {sent} published, "
            f"{len(released) - sent} ready for `{invocation()} publish --all-ready`"
        )
    emit_result(
        {
            "supplier": rule.party_name,
            "account": rule.account_code,
            "tax_rate": rule.tax_rate_code,
            "auto_publish": rule.auto_publish,
            "released": released,
            "published": sent,
        },
        as_json=args.json,
        lines=lines,
    )
    return 0


async def _send_released(acc: Accounting, released: Sequence[int]) -> int:
    """Released documents go out now if their rule auto-publishes (after the commit)."""
    sent = 0
    for document_id in released:
        outcome = await on_document_ready(acc, document_id=document_id)
        sent += outcome is not None and outcome.state == "published"
    return sent


async def publish(args: argparse.Namespace, settings: Settings) -> int:
    async with _open(settings, args.workspace) as s:
        if args.document is not None:
            outcomes = [
                await publish_document(
                    s.acc, workspace_id=s.workspace_id, document_id=args.document
                )
            ]
        else:
            outcomes = await publish_ready(s.acc, workspace_id=s.workspace_id)
    rows = [_row(o) for o in outcomes]
    emit_rows(
        rows,
        ["document", "state", "reason", "where"],
        as_json=args.json,
        empty="nothing ready to publish",
    )
    return 0


def _row(outcome: PublishOutcome) -> dict[str, Any]:
    reason = outcome.reason
    explained = None if reason is None else with_invocation(PUBLISH_REASONS.get(reason, reason))
    if outcome.detail:
        explained = f"{explained}: {outcome.detail}"
    return {
        "document": outcome.document_id,
        "state": outcome.state,
        "reason": explained,
        "reason_key": reason,
        "where": outcome.location or outcome.external_id,
    }


async def after_upload(rt: Runtime, document_id: int) -> PublishOutcome | None:
    """A hand upload is ready like any other document: auto-publish if its rule says so."""
    return await on_document_ready(build_accounting(rt), document_id=document_id)
