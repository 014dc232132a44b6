"""The command line's actions. Each opens one transaction for the event it handles."""

from __future__ import annotations

import argparse
import asyncio
from datetime import timedelta
from pathlib import Path

from core.catalog.mail_routes import mail_route
from core.config import Settings
from core.db import create_database
from core.db.migrate import head_revision, upgrade
from core.errors import MemberNotInWorkspace
from core.keyring import read_keyring, write_key_file
from core.models import Locale, Role, Supplier, WorkspaceCreate
from core.services.catalog import load_search
from core.services.connections import list_connections
from core.services.documents import StoredUpload, ingest_upload, list_documents
from core.services.members import create_invite, find_member, join_workspace, set_mail_address
from core.services.secrets import reseal_all
from core.services.workspaces import (
    create_workspace,
    get_workspace,
    inbox_address,
    list_workspaces,
)
from core.sniff import require_accepted, sniff_path
from core.storage_s3 import sniff_stored
from core.vault import fingerprint, generate_key
from courier import texts
from courier.output import emit_json, emit_result, emit_rows
from courier.runtime import ensure_catalog, open_runtime


async def db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    db = create_database(settings.db_url)
    try:
        await db.ping()
        await upgrade(db.engine)
        count = await ensure_catalog(db, force=True)
    finally:
        await db.dispose()
    database, revision = settings.safe_db_url(), head_revision()
    emit_result(
        {"database": database, "revision": revision, "suppliers": count},
        as_json=args.json,
        lines=[f"database {database} is at {revision}; catalog: {count} suppliers"],
    )
    return 0


async def workspace_create(args: argparse.Namespace, settings: Settings) -> int:
    data = WorkspaceCreate(
        name=args.name, slug=args.slug, locale=Locale(args.locale), timezone=args.timezone
    )
    async with open_runtime(settings) as rt, rt.db.transaction() as session:
        workspace, invite = await create_workspace(
            session=session, data=data, invite_ttl=timedelta(hours=settings.invite_ttl_hours)
        )
    result = {
        "slug": workspace.slug,
        "inbox_address": inbox_address(workspace, settings.mail_domain),
        "invite_code": invite.code,
    }
    if args.json:
        emit_json(result)
    else:
        print(f"workspace  {result['slug']}")
        print(f"inbox      {result['inbox_address']}")
        print(f"invite     {result['invite_code']}  (owner, valid {settings.invite_ttl_hours} h)")
    return 0


async def workspace_list(args: argparse.Namespace, settings: Settings) -> int:
    async with open_runtime(settings) as rt, rt.db.transaction() as session:
        workspaces = await list_workspaces(session=session)
    rows = [
        {
            "slug": w.slug,
            "name": w.name,
            "locale": w.locale,
            "inbox_address": inbox_address(w, settings.mail_domain),
        }
        for w in workspaces
    ]
    emit_rows(
        rows,
        ["slug", "name", "locale", "inbox_address"],
        as_json=args.json,
        empty="no workspace yet",
    )
    return 0


async def workspace_invite(args: argparse.Namespace, settings: Settings) -> int:
    async with open_runtime(settings) as rt, rt.db.transaction() as session:
        workspace = await get_workspace(session=session, slug=args.workspace)
        invite = await create_invite(
            session=session,
            workspace=workspace,
            role=Role(args.role),
            ttl=timedelta(hours=settings.invite_ttl_hours),
        )
    if args.json:
        emit_json(
            {
                "workspace": workspace.slug,
                "invite_code": invite.code,
                "role": invite.role,
                "expires_at": invite.expires_at,
            }
        )
    else:
        print(
            f"invite {invite.code} ({invite.role}) joins {workspace.slug} until "
            f"{invite.expires_at:%Y-%m-%d %H:%M} UTC"
        )
    return 0


async def workspace_join(args: argparse.Namespace, settings: Settings) -> int:
    """What the bot's /start <code> does, for a person without the bot at hand."""
    async with open_runtime(settings) as rt, rt.db.transaction() as session:
        member = await join_workspace(
            session=session,
            code=args.code,
            telegram_user_id=args.telegram_id,
            display_name=args.name,
        )
    emit_result(
        {"telegram_id": member.telegram_user_id, "name": member.display_name, "role": member.role},
        as_json=args.json,
        lines=[f"{member.display_name} joined as {member.role}"],
    )
    return 0


async def workspace_member_address(args: argparse.Namespace, settings: Settings) -> int:
    """Mail from this address, authenticated as its own domain, is the member's word."""
    async with open_runtime(settings) as rt, rt.db.transaction() as session:
        workspace = await get_workspace(session=session, slug=args.workspace)
        assert workspace.id is not None
        member = await find_member(
            session=session, workspace_id=workspace.id, telegram_user_id=args.telegram_id
        )
        if member is None:
            raise MemberNotInWorkspace(member_id=args.telegram_id)
        await set_mail_address(session=session, member=member, address=args.address)
    emit_result(
        {
            "telegram_id": args.telegram_id,
            "name": member.display_name,
            "mail_address": member.mail_address,
        },
        as_json=args.json,
        lines=[f"{member.display_name} forwards from {member.mail_address or 'no address'}"],
    )
    return 0


def way_in(supplier: Supplier) -> dict[str, object]:
    """How a supplier's invoices reach Courier: its connector, or mail (the route's setting
    or "emailed by default" where the catalog knows them, core/catalog/mail_routes.json)."""
    if supplier.connector_available:
        return {"by": "connector", "text": texts.WAY_IN["connector"]}
    route = mail_route(supplier.key)
    setting = route.setting if route is not None else None
    by_default = route.by_default if route is not None else False
    wording = "setting" if setting else "by_default" if by_default else "mail"
    return {
        "by": "mail",
        "mail_domains": list(supplier.domains),
        "setting": setting,
        "by_default": by_default,
        "text": texts.WAY_IN[wording].format(setting=setting),
    }


async def catalog_search(args: argparse.Namespace, settings: Settings) -> int:
    async with open_runtime(settings) as rt, rt.db.transaction() as session:
        search = await load_search(session=session)
    rows = [
        {
            "key": h.supplier.key,
            "name": h.supplier.name,
            "portal": h.supplier.portal,
            "portal_url": h.supplier.portal_url,
            "connector": h.supplier.connector_kind,
            "available": h.supplier.connector_available,
            "score": round(h.score, 1),
            # The table has room for the sentence only; JSON gives the route's parts too.
            "way_in": way_in(h.supplier) if args.json else way_in(h.supplier)["text"],
        }
        for h in search.search(args.query, limit=args.limit)
    ]
    # The key is what `connections add --supplier` takes: the README says to find it here.
    emit_rows(
        rows,
        ["key", "name", "portal", "portal_url", "connector", "available", "way_in"],
        as_json=args.json,
        empty=f"no supplier matches '{args.query}'",
    )
    return 0


async def inbox_list(args: argparse.Namespace, settings: Settings) -> int:
    async with open_runtime(settings) as rt, rt.db.transaction() as session:
        workspace = await get_workspace(session=session, slug=args.workspace)
        assert workspace.id is not None
        documents = await list_documents(
            session=session, workspace_id=workspace.id, limit=args.limit
        )
    rows = [
        {
            "id": d.id,
            "filename": d.filename,
            "source": d.source,
            "supplier": d.supplier_name,
            "date": d.issue_date or d.received_at.date(),
            "amount": d.total_amount,
            "currency": d.currency,
            "state": d.state,
        }
        for d in documents
    ]
    emit_rows(
        rows,
        ["id", "filename", "source", "supplier", "date", "amount", "currency", "state"],
        as_json=args.json,
        empty="the inbox is empty",
    )
    return 0


async def inbox_add(args: argparse.Namespace, settings: Settings) -> int:
    path: Path = args.file
    async with open_runtime(settings) as rt:
        async with rt.db.read() as session:  # a mistyped workspace stores nothing
            workspace = await get_workspace(session=session, slug=args.workspace)
        assert workspace.id is not None
        # A type Courier does not read is refused before anything is stored, as the chat
        # and mail refuse it (core/sniff.py ACCEPTED); sniffing maps only the file's head.
        sniffed = await asyncio.to_thread(sniff_path, path, path.name)
        require_accepted(sniffed, name=path.name)
        # Streamed into the store before the transaction opens, so a large copy never holds
        # the database; refused past the size mail may bring in, before it is read.
        with path.open("rb") as source:
            stored = await rt.store.put_file(
                source, name=path.name, max_bytes=settings.mail_max_bytes
            )
        content_type = await sniff_stored(rt.store, stored.sha256, path.name)
        async with rt.db.transaction() as session:
            result = await ingest_upload(
                session=session,
                upload=StoredUpload(
                    workspace_id=workspace.id,
                    stored=stored,
                    content_type=content_type,
                    filename=path.name,
                    supplier_name=args.supplier,
                    issue_date=args.date,
                    total_amount=args.amount,
                    currency=args.currency,
                ),
            )
        document = result.document
        assert document.id is not None
        # Committed: now it is ready like a chat upload, and may go out by its rule. Only
        # this command publishes: the others here do not load the accounting stack.
        from courier import integration_commands

        published = (
            await integration_commands.after_upload(rt, document.id) if result.created else None
        )
    if args.json:
        emit_json(
            {
                "id": document.id,
                "created": result.created,
                "duplicate": result.duplicate,
                "sha256": document.sha256,
                "published": published.state if published else None,
            }
        )
    elif result.created:
        print(f"added document {document.id} ({document.filename})")
        if published is not None:
            print(f"auto-published: {published.state}")
    else:
        print(f"already in the inbox as document {document.id} ({document.filename})")
    return 0


async def connections_list(args: argparse.Namespace, settings: Settings) -> int:
    async with open_runtime(settings) as rt, rt.db.transaction() as session:
        workspace = await get_workspace(session=session, slug=args.workspace)
        assert workspace.id is not None
        pairs = await list_connections(session=session, workspace_id=workspace.id)
    rows = [
        {
            "id": c.id,
            "supplier": s.name,
            "login": c.login,
            "state": c.state,
            "last_error": c.last_error,
            "last_success_at": c.last_success_at,
            "next_fetch_at": c.next_fetch_at,
        }
        for c, s in pairs
    ]
    emit_rows(
        rows,
        ["id", "supplier", "login", "state", "last_success_at", "next_fetch_at"],
        as_json=args.json,
        empty="no connection yet",
    )
    return 0


async def secrets_rotate(args: argparse.Namespace, settings: Settings) -> int:
    """With a key file, the new key is written beside the old ones first, the data re-sealed
    in one transaction, and only then are the old keys dropped: a crash at any point leaves
    a key file that opens everything. With COURIER_SECRET_KEY, the user puts the new key
    first in the list and this re-seals everything under it."""
    async with open_runtime(settings) as rt:
        ring = read_keyring(settings)
        assert ring is not None, "open_runtime leaves a key configured"
        if ring.path is not None:
            primary = generate_key()
            write_key_file(ring.path, (primary, *ring.keys))
            vault = rt.vault.with_primary(primary)
        else:
            primary, vault = ring.keys[0], rt.vault
        async with rt.db.transaction() as session:
            count = await reseal_all(session=session, vault=vault)
        if ring.path is not None:
            write_key_file(ring.path, (primary,))
    # The fingerprint names the key without revealing it.
    key = fingerprint(primary)
    lines = [f"re-sealed {count} secrets under key {key}"]
    if ring.path is None and len(ring.keys) > 1:
        lines.append(
            "every secret now opens with the first key: drop the others from COURIER_SECRET_KEY"
        )
    emit_result({"resealed": count, "key": key}, as_json=args.json, lines=lines)
    return 0
