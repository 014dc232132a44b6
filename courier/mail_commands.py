"""The command line's mail actions: mailboxes to watch, and inbound mail to retry."""

from __future__ import annotations

import argparse
import sys

from core.config import Settings
from core.models import (
    AfterProcessing,
    InboundState,
    MailboxAuth,
    MailboxCreate,
    set_aside_images,
)
from core.permissions import OPERATOR
from core.services.inbound import get_inbound, list_inbound, retry_inbound
from core.services.mailboxes import add_mailbox, list_mailboxes, remove_mailbox
from core.services.workspaces import get_workspace
from courier.output import emit_json, emit_result, emit_rows
from courier.prompts import read_secret
from courier.runtime import open_runtime
from courier.texts import DECORATION_REASONS, MAILBOX_CHECK
from mail.imap import Account, ImapConnector, MailboxUnavailable, probe_mailbox


async def mailbox_add(args: argparse.Namespace, settings: Settings) -> int:
    if args.after == "move" and not args.move_to:
        print("courier mailbox add: --after move needs --move-to FOLDER", file=sys.stderr)
        return 2
    secret = await read_secret(f"Mailbox {'OAuth2 access token' if args.oauth2 else 'password'}: ")
    auth = MailboxAuth.OAUTH2 if args.oauth2 else MailboxAuth.PASSWORD
    account = Account(host=args.host, port=args.port, username=args.user, auth=auth)
    # Before anything is stored: a mailbox that cannot be read is not "added".
    try:
        await probe_mailbox(
            account,
            secret,
            args.folder,
            connect=ImapConnector(allow_private=settings.mailbox_allow_private),
        )
    except MailboxUnavailable as failure:
        why = MAILBOX_CHECK[failure.reason.value].format(
            host=args.host, port=args.port, user=args.user, folder=args.folder
        )
        print(f"courier mailbox add: {why}", file=sys.stderr)
        return 1
    async with open_runtime(settings) as rt, rt.db.transaction() as session:
        workspace = await get_workspace(session=session, slug=args.workspace)
        assert workspace.id is not None
        data = MailboxCreate(
            workspace_id=workspace.id,
            host=args.host,
            port=args.port,
            username=args.user,
            auth=auth,
            folder=args.folder,
            after=AfterProcessing(args.after),
            move_to=args.move_to,
            secret=secret,
        )
        mailbox = await add_mailbox(
            session=session,
            vault=rt.vault,
            data=data,
            by=OPERATOR,
            history="all" if args.all else "new_only",
        )
    if args.json:
        emit_json({"id": mailbox.id, "username": mailbox.username, "folder": mailbox.folder})
    else:
        since = "everything in it" if args.all else "mail that arrives from now on"
        print(f"mailbox {mailbox.id} ({mailbox.username}, {mailbox.folder}) added: takes {since}")
    return 0


async def mailbox_list(args: argparse.Namespace, settings: Settings) -> int:
    async with open_runtime(settings) as rt, rt.db.read() as session:
        workspace = await get_workspace(session=session, slug=args.workspace)
        assert workspace.id is not None
        mailboxes = await list_mailboxes(session=session, workspace_id=workspace.id)
    rows = [
        {
            "id": m.id,
            "host": m.host,
            "port": m.port,
            "username": m.username,
            "folder": m.folder,
            "after": m.after,
            "state": m.state,
            "last_error": m.last_error,
            "last_polled_at": m.last_polled_at,
        }
        for m in mailboxes
    ]
    emit_rows(
        rows,
        ["id", "host", "username", "folder", "state", "last_error", "last_polled_at"],
        as_json=args.json,
        empty="no mailbox watched",
    )
    return 0


async def mailbox_remove(args: argparse.Namespace, settings: Settings) -> int:
    async with open_runtime(settings) as rt, rt.db.transaction() as session:
        workspace = await get_workspace(session=session, slug=args.workspace)
        assert workspace.id is not None
        await remove_mailbox(
            session=session, workspace_id=workspace.id, mailbox_id=args.id, by=OPERATOR
        )
    emit_result(
        {"id": args.id, "removed": True},
        as_json=args.json,
        lines=[f"mailbox {args.id} removed; what it brought in stays in the inbox"],
    )
    return 0


async def inbound_list(args: argparse.Namespace, settings: Settings) -> int:
    async with open_runtime(settings) as rt, rt.db.read() as session:
        workspace = await get_workspace(session=session, slug=args.workspace)
        assert workspace.id is not None
        state = InboundState(args.state) if args.state else None
        messages = await list_inbound(session=session, workspace_id=workspace.id, state=state)
    rows = [
        {
            "id": m.id,
            "channel": m.channel,
            "from": m.mail_from,
            "recipient": m.recipient,
            "received_at": m.received_at,
            "state": m.state,
            "reason": m.state_reason,
            "attempts": m.attempts,
        }
        for m in messages
    ]
    emit_rows(
        rows,
        ["id", "channel", "from", "received_at", "state", "reason"],
        as_json=args.json,
        empty="no mail received",
    )
    return 0


async def inbound_show(args: argparse.Namespace, settings: Settings) -> int:
    """One mail: its state, the documents it gave, what was skipped and what set aside."""
    async with open_runtime(settings) as rt, rt.db.read() as session:
        workspace = await get_workspace(session=session, slug=args.workspace)
        assert workspace.id is not None
        message = await get_inbound(session=session, workspace_id=workspace.id, message_id=args.id)
    outcome = message.outcome or {}
    aside = set_aside_images(message)
    if args.json:
        emit_json(
            {
                "id": message.id,
                "channel": message.channel,
                "from": message.mail_from,
                "received_at": message.received_at,
                "state": message.state,
                "reason": message.state_reason,
                "added": outcome.get("added", []),
                "already": outcome.get("already", []),
                "skipped": outcome.get("skipped", []),
                "set_aside": [image.to_json() for image in aside],
                "set_aside_kept": outcome.get("set_aside_kept", []),
            }
        )
        return 0
    reason = f" ({message.state_reason})" if message.state_reason else ""
    print(f"mail {message.id} from {message.mail_from or '?'} by {message.channel}")
    print(f"received {message.received_at:%Y-%m-%d %H:%M} UTC, {message.state}{reason}")
    print(f"documents added: {_ids(outcome.get('added'))}")
    if outcome.get("already"):
        print(f"already in the inbox: {_ids(outcome.get('already'))}")
    for note in outcome.get("skipped") or ():
        print(f"not read: {note}")
    if aside:
        print(f"{len(aside)} image(s) set aside as decoration:")
        for image in aside:
            why = DECORATION_REASONS.get(image.reason, image.reason)
            print(f"  {image.filename}  {image.size} bytes  {why}")
        kept = outcome.get("set_aside_kept")
        print(f"  kept as documents: {_ids(kept)}" if kept else "  (not kept)")
    return 0


def _ids(values: object) -> str:
    return ", ".join(str(v) for v in values) if isinstance(values, list) and values else "none"


async def inbound_retry(args: argparse.Namespace, settings: Settings) -> int:
    async with open_runtime(settings) as rt, rt.db.transaction() as session:
        workspace = await get_workspace(session=session, slug=args.workspace)
        assert workspace.id is not None
        await retry_inbound(session=session, workspace_id=workspace.id, message_id=args.id)
    emit_result(
        {"id": args.id, "queued": True},
        as_json=args.json,
        lines=[f"message {args.id} is queued again; the mail worker reads it within seconds"],
    )
    return 0
