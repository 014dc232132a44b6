"""`courier`: the command line. Bad arguments get one line and exit code 2, never a traceback."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, NoReturn

from core.config import Settings, load_settings
from core.errors import CourierError
from core.models import InboundState
from courier import (
    commands,
    connection_commands,
    digest_commands,
    integration_commands,
    mail_commands,
    reading_commands,
)
from courier.doctor import diagnose
from courier.output import emit_json
from courier.sandbox.launch import sandbox
from courier.texts import render_error

Handler = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


async def doctor(args: argparse.Namespace, settings: Settings) -> int:
    checks = await diagnose(settings)
    if args.json:
        emit_json([{"check": c.name, "ok": c.ok, "detail": c.detail} for c in checks])
    else:
        for check in checks:
            print(f"{'ok  ' if check.ok else 'FAIL'}  {check.name:<10}  {check.detail}")
    return 0 if all(c.ok for c in checks) else 1


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _workspace_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workspace", required=True, metavar="SLUG", help="the workspace's slug")


def _limit(value: str) -> int:
    number = int(value)
    if not 1 <= number <= 1000:
        raise argparse.ArgumentTypeError("must be between 1 and 1000")
    return number


def _existing_file(value: str) -> Path:
    path = Path(value)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {value}")
    return path


def build_parser() -> Parser:
    parser = Parser(prog="courier", description="Courier: purchase invoices, collected.")
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=Parser
    )

    def leaf(
        parent: argparse._SubParsersAction[Parser], name: str, handler: Handler, help: str
    ) -> Parser:
        command = parent.add_parser(name, help=help, description=help)
        command.set_defaults(handler=handler)
        return command

    leaf(sub, "run", commands.run, "set up and run everything in one process")
    for role in ("bot", "mail", "scheduler", "oauth"):
        leaf(sub, role, commands.role, f"run the {role} alone")
    # `courier sandbox` (issue #5): the whole system behind a chat in the terminal.
    try_it = leaf(sub, "sandbox", sandbox, "try every chat flow locally, with no Telegram account")
    try_it.add_argument("--data-dir", help="where the sandbox keeps its files (<data dir>/sandbox)")
    try_it.add_argument("--language", choices=["en", "fr"], default="en")
    try_it.add_argument("--limits", action="store_true", help="enforce Telegram's flood limits")
    try_it.add_argument("--verbose", action="store_true", help="show the parts' logs")
    diag = leaf(sub, "doctor", doctor, "check the configuration, database, storage and key")
    _json_flag(diag)

    db = sub.add_parser("db", help="database").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    leaf(db, "upgrade", commands.db_upgrade, "apply the database migrations")

    ws = sub.add_parser("workspace", help="workspaces").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    create = leaf(
        ws, "create", commands.workspace_create, "create a workspace and its owner's invite"
    )
    create.add_argument("name", help="the business's name")
    create.add_argument("--slug", help="the inbox address's local part (default: from the name)")
    create.add_argument("--locale", choices=["fr", "en"], default="fr")
    create.add_argument("--timezone", default="Europe/Paris")
    _json_flag(create)
    _json_flag(leaf(ws, "list", commands.workspace_list, "list the workspaces"))
    invite = leaf(ws, "invite", commands.workspace_invite, "make an invite code for a new member")
    _workspace_flag(invite)
    invite.add_argument("--role", choices=["member", "admin", "owner"], default="member")
    _json_flag(invite)
    join = leaf(ws, "join", commands.workspace_join, "join a workspace with an invite code")
    join.add_argument("code")
    join.add_argument(
        "--telegram-id", type=int, required=True, help="the person's Telegram user id"
    )
    join.add_argument("--name", required=True)
    forwards = leaf(
        ws,
        "member-address",
        commands.workspace_member_address,
        "the address a member forwards invoices from (what they forward, Courier trusts)",
    )
    _workspace_flag(forwards)
    forwards.add_argument("--telegram-id", type=int, required=True, help="the member's id")
    forwards.add_argument("address", nargs="?", help="omit it to forget the address")

    catalog = sub.add_parser("catalog", help="the supplier catalog").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    search = leaf(catalog, "search", commands.catalog_search, "search the supplier catalog")
    search.add_argument("query")
    search.add_argument("--limit", type=_limit, default=10)
    _json_flag(search)

    inbox = sub.add_parser("inbox", help="the purchase inbox").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    inbox_list = leaf(inbox, "list", commands.inbox_list, "list the inbox's documents")
    _workspace_flag(inbox_list)
    inbox_list.add_argument("--limit", type=_limit, default=100)
    _json_flag(inbox_list)
    show = leaf(
        inbox, "show", reading_commands.inbox_show, "a document with its fields and sources"
    )
    _workspace_flag(show)
    show.add_argument("id", type=int)
    _json_flag(show)
    review = leaf(
        inbox, "review", reading_commands.inbox_review, "what to ask next about a document"
    )
    _workspace_flag(review)
    review.add_argument("id", type=int)
    review.add_argument("--answer", metavar="FIELD=VALUE", help="answer the question first")
    _json_flag(review)
    extract = leaf(sub, "extract", reading_commands.extract, "read files without storing them")
    extract.add_argument("files", nargs="+", type=_existing_file, metavar="FILE")
    _json_flag(extract)
    add = leaf(inbox, "add", commands.inbox_add, "add a file to the inbox by hand")
    _workspace_flag(add)
    add.add_argument("file", type=_existing_file)
    add.add_argument("--supplier", help="the supplier's name, if known")
    add.add_argument("--date", type=integration_commands.day, help="the invoice date, YYYY-MM-DD")
    add.add_argument("--amount", type=integration_commands.amount, help="the total incl. tax")
    add.add_argument("--currency", type=integration_commands.currency, help="e.g. EUR")
    _json_flag(add)

    conns = sub.add_parser("connections", help="merchant connections").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    conn_list = leaf(conns, "list", commands.connections_list, "list the merchant connections")
    _workspace_flag(conn_list)
    _json_flag(conn_list)
    conn_add = leaf(
        conns,
        "add",
        connection_commands.connection_add,
        "connect a supplier account; the password is read from standard input",
    )
    _workspace_flag(conn_add)
    conn_add.add_argument("--supplier", required=True, metavar="KEY", help="the catalog key")
    conn_add.add_argument("--login", required=True)
    conn_add.add_argument(
        "--owner",
        type=int,
        metavar="TELEGRAM_ID",
        help="whose documents these are (default: the workspace's owner)",
    )
    conn_add.add_argument(
        "--since", metavar="YYYY-MM-DD", help="fetch from this date (default: all)"
    )
    _json_flag(conn_add)
    for name, handler, text in (
        ("fetch", connection_commands.connection_fetch, "fetch a connection now"),
        (
            "code",
            connection_commands.connection_code,
            "answer a 2FA code (read from standard input)",
        ),
        ("runs", connection_commands.connection_runs, "when it was fetched, and what came of it"),
    ):
        command = leaf(conns, name, handler, text)
        _workspace_flag(command)
        command.add_argument("id", type=int)
        if name == "runs":
            command.add_argument("--limit", type=_limit, default=20)
            _json_flag(command)

    boxes = sub.add_parser("mailbox", help="IMAP mailboxes Courier watches").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    box_add = leaf(
        boxes,
        "add",
        mail_commands.mailbox_add,
        "watch a mailbox; the password or token is read from standard input",
    )
    _workspace_flag(box_add)
    box_add.add_argument("--host", required=True)
    box_add.add_argument("--port", type=int, default=993)
    box_add.add_argument("--user", required=True)
    box_add.add_argument("--folder", default="INBOX")
    box_add.add_argument("--after", choices=["mark_seen", "move", "flag"], default="mark_seen")
    box_add.add_argument("--move-to", help="the folder for --after move")
    box_add.add_argument("--oauth2", action="store_true", help="the secret is an OAuth2 token")
    box_add.add_argument("--all", action="store_true", help="also take the mail already there")
    _json_flag(box_add)
    box_list = leaf(boxes, "list", mail_commands.mailbox_list, "list the watched mailboxes")
    _workspace_flag(box_list)
    _json_flag(box_list)
    box_remove = leaf(boxes, "remove", mail_commands.mailbox_remove, "stop watching a mailbox")
    _workspace_flag(box_remove)
    box_remove.add_argument("id", type=int)

    inbound = sub.add_parser("inbound", help="mail received").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    in_list = leaf(inbound, "list", mail_commands.inbound_list, "list the mail received")
    _workspace_flag(in_list)
    in_list.add_argument("--state", choices=[s.value for s in InboundState])
    _json_flag(in_list)
    in_retry = leaf(inbound, "retry", mail_commands.inbound_retry, "read a failed mail again")
    _workspace_flag(in_retry)
    in_retry.add_argument("id", type=int)

    # Accounting integrations (issue #7): `integration …`, `rules …`, `publish`.
    integration_commands.register(sub, leaf)
    # The weekly digest (issue #5): `digest list|on|off`.
    digest_commands.register(sub, leaf)

    secrets = sub.add_parser("secrets", help="encryption keys").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    leaf(secrets, "rotate", commands.secrets_rotate, "re-encrypt every secret under a new key")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        # Both narrate every step (each migration check, each tick) at INFO.
        for chatty in ("alembic", "apscheduler"):
            logging.getLogger(chatty).setLevel(logging.WARNING)
        # httpx logs each request's URL at INFO, and some suppliers put a token in it.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        logging.basicConfig(
            level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        handler: Handler = args.handler
        code = asyncio.run(handler(args, settings))
        # Flushed here, not at exit, so that a reader gone early is caught below.
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # The reader (`| head`) has what it wanted. Python would still flush stdout at exit
        # and print a second error, so stdout now points at /dev/null. 141 = 128 + SIGPIPE,
        # the status any Unix tool cut short by its reader exits with.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except CourierError as err:
        print(f"courier: {render_error(err)}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
