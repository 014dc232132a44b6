"""`courier digest list|on|off`: who gets the weekly digest (core/services/digests.py)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Coroutine
from typing import Any

from core.config import Settings
from core.services.digests import digest_readers, set_weekly_digest
from core.services.workspaces import get_workspace
from courier.output import emit_rows
from courier.runtime import open_runtime

Handler = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]
COLUMNS = ("telegram_id", "name", "role", "digest", "chat")


async def digest_list(args: argparse.Namespace, settings: Settings) -> int:
    async with open_runtime(settings) as rt, rt.db.read() as session:
        workspace = await get_workspace(session=session, slug=args.workspace)
        assert workspace.id is not None
        readers = await digest_readers(session=session, workspace_id=workspace.id)
    rows = [
        {
            "telegram_id": m.telegram_user_id,
            "name": m.display_name,
            "role": str(m.role),
            "digest": "on" if m.weekly_digest else "off",
            "chat": "blocked the bot" if m.chat_blocked_at else "ok",
        }
        for m in readers
    ]
    emit_rows(rows, COLUMNS, as_json=args.json, empty="no owner or admin in this workspace")
    return 0


async def digest_switch(args: argparse.Namespace, settings: Settings) -> int:
    enabled = args.action == "on"
    async with open_runtime(settings) as rt, rt.db.transaction() as session:
        workspace = await get_workspace(session=session, slug=args.workspace)
        assert workspace.id is not None
        readers = await digest_readers(
            session=session, workspace_id=workspace.id, telegram_user_id=args.telegram_id
        )
        changed = sum(set_weekly_digest(m, enabled=enabled) for m in readers)
    print(f"weekly digest {args.action} for {len(readers)} member(s) ({changed} changed)")
    return 0


def register(
    sub: argparse._SubParsersAction[Any],
    leaf: Callable[[argparse._SubParsersAction[Any], str, Handler, str], argparse.ArgumentParser],
) -> None:
    """Adds `digest list|on|off` to the `courier` parser."""
    group = sub.add_parser("digest", help="the weekly digest").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    listing = leaf(group, "list", digest_list, "owners and admins, and who gets the digest")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    commands = [listing]
    for name, text in (("on", "send the weekly digest"), ("off", "stop the weekly digest")):
        command = leaf(group, name, digest_switch, text)
        command.add_argument(
            "--telegram-id", type=int, help="one owner or admin (default: all of them)"
        )
        commands.append(command)
    for command in commands:
        command.add_argument(
            "--workspace", required=True, metavar="SLUG", help="the workspace's slug"
        )
