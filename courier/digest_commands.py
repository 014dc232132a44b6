"""`courier digest list|on|off`: who gets the weekly digest (core/services/digests.py)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Coroutine
from typing import Any

from core.config import Settings
from core.services.digests import digest_readers, set_weekly_digest
from core.services.workspaces import get_workspace
from courier.output import emit_result, emit_rows
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
    emit_result(
        {"digest": args.action, "members": len(readers), "changed": changed},
        as_json=args.json,
        lines=[f"weekly digest {args.action} for {len(readers)} member(s) ({changed} changed)"],
    )
    return 0
