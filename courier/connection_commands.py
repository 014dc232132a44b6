"""The command line's merchant-connection actions: add, fetch now, answer a code, history."""

from __future__ import annotations

import argparse
import sys
from datetime import date, timedelta

from sqlmodel import col, select

from core.config import Settings
from core.errors import DateInvalid, NotFound
from core.models import Challenge, ChallengeState, ConnectionCreate, ConnectionRun, Supplier
from core.permissions import OPERATOR
from core.services.challenges import answer_code
from core.services.connections import create_connection, get_connection
from core.services.fetch_claims import request_fetch
from core.services.members import find_member, list_members
from core.services.workspaces import get_workspace, inbox_address
from core.suppliers.woob.setup import WoobSetup
from courier.connectors import build_registry
from courier.output import emit_json, emit_result, emit_rows
from courier.prompts import read_secret
from courier.runtime import open_runtime

#: How long a "fetch now" counts as interactive: someone is there to answer a code.
INTERACTIVE_FOR = timedelta(minutes=15)


def _parse_since(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as err:
        raise DateInvalid(value=value, reason="expected YYYY-MM-DD") from err


async def connection_add(args: argparse.Namespace, settings: Settings) -> int:
    since = _parse_since(args.since)
    registry = build_registry(woob=WoobSetup(settings.woob_home))
    password = await read_secret("Supplier password: ")
    async with open_runtime(settings) as rt, rt.db.transaction() as session:
        workspace = await get_workspace(session=session, slug=args.workspace)
        assert workspace.id is not None
        supplier = (
            await session.exec(select(Supplier).where(Supplier.key == args.supplier))
        ).first()
        if supplier is None:
            raise NotFound(kind="supplier", ident=args.supplier)
        if not registry.serves(supplier.key):
            address = inbox_address(workspace, settings.mail_domain)
            print(
                f"courier: no connector for {supplier.name} yet; forward its invoices to "
                f"{address} instead",
                file=sys.stderr,
            )
            return 2
        members = await list_members(session=session, workspace_id=workspace.id)
        owner = (
            await find_member(
                session=session, workspace_id=workspace.id, telegram_user_id=args.owner
            )
            if args.owner is not None
            else next((m for m in members if m.role == "owner"), None)
        )
        if owner is None or owner.id is None:
            raise NotFound(kind="member", ident=args.owner or "owner")
        connection = await create_connection(
            session=session,
            vault=rt.vault,
            by=OPERATOR,
            data=ConnectionCreate(
                workspace_id=workspace.id,
                supplier_id=supplier.id or 0,
                owner_member_id=owner.id,
                login=args.login,
                password=password,
                fetch_from=since,
            ),
        )
        request_fetch(connection, interactive_for=INTERACTIVE_FOR)
    if args.json:
        emit_json({"id": connection.id, "supplier": supplier.name, "state": connection.state})
    else:
        print(
            f"connection {connection.id} to {supplier.name} added; verification runs in the "
            "background (courier connections list shows its state)"
        )
    return 0


async def connection_fetch(args: argparse.Namespace, settings: Settings) -> int:
    async with open_runtime(settings) as rt, rt.db.transaction() as session:
        workspace = await get_workspace(session=session, slug=args.workspace)
        assert workspace.id is not None
        connection = await get_connection(
            session=session, workspace_id=workspace.id, connection_id=args.id
        )
        request_fetch(connection, interactive_for=INTERACTIVE_FOR)
    emit_result(
        {"id": args.id, "fetch_requested": True},
        as_json=args.json,
        lines=[f"connection {args.id} will be fetched at the scheduler's next tick"],
    )
    return 0


async def connection_code(args: argparse.Namespace, settings: Settings) -> int:
    code = (await read_secret("Code: ")).get_secret_value()
    async with open_runtime(settings) as rt, rt.db.transaction() as session:
        workspace = await get_workspace(session=session, slug=args.workspace)
        assert workspace.id is not None
        await get_connection(session=session, workspace_id=workspace.id, connection_id=args.id)
        challenge = (
            await session.exec(
                select(Challenge).where(
                    Challenge.connection_id == args.id, Challenge.state == ChallengeState.OPEN
                )
            )
        ).first()
        if challenge is None or challenge.id is None:
            print("courier: no code is awaited for this connection", file=sys.stderr)
            return 2
        await answer_code(
            session=session,
            vault=rt.vault,
            by=OPERATOR,  # the server's operator: the table does not bind them
            workspace_id=workspace.id,
            challenge_id=challenge.id,
            code=code,
            via="cli",
        )
    emit_result(
        {"id": args.id, "challenge": challenge.id, "answered": True},
        as_json=args.json,
        lines=["code passed on to the waiting fetch"],
    )
    return 0


async def connection_runs(args: argparse.Namespace, settings: Settings) -> int:
    async with open_runtime(settings) as rt, rt.db.read() as session:
        workspace = await get_workspace(session=session, slug=args.workspace)
        assert workspace.id is not None
        await get_connection(session=session, workspace_id=workspace.id, connection_id=args.id)
        query = (
            select(ConnectionRun)
            .where(ConnectionRun.connection_id == args.id)
            .order_by(col(ConnectionRun.id).desc())
            .limit(args.limit)
        )
        runs = (await session.exec(query)).all()
    rows = [
        {
            "started_at": r.started_at,
            "finished_at": r.finished_at,
            "interactive": r.interactive,
            "outcome": r.outcome,
            "found": r.documents_found,
            "new": r.documents_new,
            "error": r.error_code,
        }
        for r in runs
    ]
    emit_rows(
        rows,
        ["started_at", "outcome", "found", "new", "error"],
        as_json=args.json,
        empty="never fetched yet",
    )
    return 0
