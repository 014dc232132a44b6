"""The `courier` command tree. Building it imports no command: each leaf names its handler
as `module:function` under courier/, imported only when that command runs, so `--help`
and a mistyped argument answer at once and each command pays only for what it uses."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

if TYPE_CHECKING:
    from core.config import Settings

# Choices copied from the enums that hold them, whose module imports every table; a unit
# test keeps each list equal to its enum.
INBOUND_STATES = ("received", "delivered", "code_relayed", "confirmation", "no_document", "failed")
LIST_KINDS = ("accounts", "suppliers", "customers", "tax_rates")


@dataclass(frozen=True, slots=True)
class Handler:
    """A command's coroutine, found by name when it runs."""

    module: str
    function: str

    @classmethod
    def named(cls, reference: str) -> Handler:
        module, _, function = reference.partition(":")
        return cls(f"courier.{module}", function)

    def load(self) -> Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]:
        handler = getattr(importlib.import_module(self.module), self.function)
        assert callable(handler), self
        return handler  # type: ignore[no-any-return]


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


class Leaf(Protocol):
    """Adds a command that runs `handler`; every one that ends takes --json."""

    def __call__(
        self,
        parent: argparse._SubParsersAction[Parser],
        name: str,
        handler: str,
        help: str,
        *,
        serves: bool = False,
    ) -> Parser: ...


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


def amount(value: str) -> Decimal:
    try:
        number = Decimal(value.replace(",", "."))
    except InvalidOperation as err:
        raise argparse.ArgumentTypeError(f"not an amount: {value}") from err
    if not number.is_finite() or number <= 0 or number.as_tuple().exponent < -2:  # type: ignore[operator]
        raise argparse.ArgumentTypeError(f"not an amount with at most 2 decimals: {value}")
    return number


def day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value}") from err


def currency(value: str) -> str:
    if len(value) != 3 or not value.isalpha():
        raise argparse.ArgumentTypeError(f"not a currency code such as EUR: {value}")
    return value.upper()


def build_parser() -> Parser:
    parser = Parser(prog="courier", description="Courier: purchase invoices, collected.")
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=Parser
    )

    def leaf(
        parent: argparse._SubParsersAction[Parser],
        name: str,
        handler: str,
        help: str,
        *,
        serves: bool = False,
    ) -> Parser:
        command = parent.add_parser(name, help=help, description=help)
        command.set_defaults(handler=Handler.named(handler))
        if not serves:  # what runs until stopped prints a log, not a result
            command.add_argument(
                "--json", action="store_true", help="print JSON instead of text, for scripts"
            )
        return command

    leaf(sub, "run", "serve_commands:run", "set up and run everything in one process", serves=True)
    for role in ("bot", "mail", "scheduler", "oauth"):
        leaf(sub, role, "serve_commands:role", f"run the {role} alone", serves=True)
    # `courier sandbox` (issue #5): the whole system behind a chat in the terminal.
    try_it = leaf(
        sub,
        "sandbox",
        "sandbox.launch:sandbox",
        "try every chat flow locally, with no Telegram account",
        serves=True,
    )
    try_it.add_argument("--data-dir", help="where the sandbox keeps its files (<data dir>/sandbox)")
    try_it.add_argument(
        "--language",
        choices=["en", "fr"],
        help="the chat's language, kept for later runs (default: the sandbox's, English at first)",
    )
    try_it.add_argument("--limits", action="store_true", help="enforce Telegram's flood limits")
    try_it.add_argument("--verbose", action="store_true", help="show the parts' logs")
    leaf(sub, "doctor", "doctor:doctor", "check the configuration, database, storage and key")

    db = sub.add_parser("db", help="database").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    leaf(db, "upgrade", "commands:db_upgrade", "apply the database migrations")

    ws = sub.add_parser("workspace", help="workspaces").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    create = leaf(
        ws, "create", "commands:workspace_create", "create a workspace and its owner's invite"
    )
    create.add_argument("name", help="the business's name")
    create.add_argument("--slug", help="the inbox address's local part (default: from the name)")
    create.add_argument("--locale", choices=["fr", "en"], default="fr")
    create.add_argument("--timezone", default="Europe/Paris")
    leaf(ws, "list", "commands:workspace_list", "list the workspaces")
    invite = leaf(ws, "invite", "commands:workspace_invite", "make an invite code for a new member")
    _workspace_flag(invite)
    invite.add_argument("--role", choices=["member", "admin", "owner"], default="member")
    join = leaf(ws, "join", "commands:workspace_join", "join a workspace with an invite code")
    join.add_argument("code")
    join.add_argument(
        "--telegram-id", type=int, required=True, help="the person's Telegram user id"
    )
    join.add_argument("--name", required=True)
    forwards = leaf(
        ws,
        "member-address",
        "commands:workspace_member_address",
        "the address a member forwards invoices from (what they forward, Courier trusts)",
    )
    _workspace_flag(forwards)
    forwards.add_argument("--telegram-id", type=int, required=True, help="the member's id")
    forwards.add_argument("address", nargs="?", help="omit it to forget the address")

    catalog = sub.add_parser("catalog", help="the supplier catalog").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    search = leaf(catalog, "search", "commands:catalog_search", "search the supplier catalog")
    search.add_argument("query")
    search.add_argument("--limit", type=_limit, default=10)

    woob = sub.add_parser("woob", help="woob's community connectors").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    woob_install = leaf(
        woob,
        "install",
        "woob_commands:woob_install",
        "install woob in its own virtualenv, for the community connectors",
    )
    woob_install.add_argument(
        "--no-modules",
        action="store_true",
        help="do not fetch woob's modules now (each is fetched on its first use)",
    )

    inbox = sub.add_parser("inbox", help="the purchase inbox").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    inbox_list = leaf(inbox, "list", "commands:inbox_list", "list the inbox's documents")
    _workspace_flag(inbox_list)
    inbox_list.add_argument("--limit", type=_limit, default=100)
    show = leaf(
        inbox, "show", "reading_commands:inbox_show", "a document with its fields and sources"
    )
    _workspace_flag(show)
    show.add_argument("id", type=int)
    review = leaf(
        inbox, "review", "reading_commands:inbox_review", "what to ask next about a document"
    )
    _workspace_flag(review)
    review.add_argument("id", type=int)
    review.add_argument("--answer", metavar="FIELD=VALUE", help="answer the question first")
    extract = leaf(sub, "extract", "reading_commands:extract", "read files without storing them")
    extract.add_argument("files", nargs="+", type=_existing_file, metavar="FILE")
    add = leaf(inbox, "add", "commands:inbox_add", "add a file to the inbox by hand")
    _workspace_flag(add)
    add.add_argument("file", type=_existing_file)
    add.add_argument("--supplier", help="the supplier's name, if known")
    add.add_argument("--date", type=day, help="the invoice date, YYYY-MM-DD")
    add.add_argument("--amount", type=amount, help="the total incl. tax")
    add.add_argument("--currency", type=currency, help="e.g. EUR")

    conns = sub.add_parser("connections", help="merchant connections").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    conn_list = leaf(conns, "list", "commands:connections_list", "list the merchant connections")
    _workspace_flag(conn_list)
    conn_add = leaf(
        conns,
        "add",
        "connection_commands:connection_add",
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
    for name, handler, text in (
        ("fetch", "connection_commands:connection_fetch", "fetch a connection now"),
        (
            "code",
            "connection_commands:connection_code",
            "answer a 2FA code (read from standard input)",
        ),
        ("runs", "connection_commands:connection_runs", "when it was fetched, and what came of it"),
    ):
        command = leaf(conns, name, handler, text)
        _workspace_flag(command)
        command.add_argument("id", type=int)
        if name == "runs":
            command.add_argument("--limit", type=_limit, default=20)

    boxes = sub.add_parser("mailbox", help="IMAP mailboxes Courier watches").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    box_add = leaf(
        boxes,
        "add",
        "mail_commands:mailbox_add",
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
    box_list = leaf(boxes, "list", "mail_commands:mailbox_list", "list the watched mailboxes")
    _workspace_flag(box_list)
    box_remove = leaf(boxes, "remove", "mail_commands:mailbox_remove", "stop watching a mailbox")
    _workspace_flag(box_remove)
    box_remove.add_argument("id", type=int)

    inbound = sub.add_parser("inbound", help="mail received").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    in_list = leaf(inbound, "list", "mail_commands:inbound_list", "list the mail received")
    _workspace_flag(in_list)
    in_list.add_argument("--state", choices=INBOUND_STATES)
    in_show = leaf(inbound, "show", "mail_commands:inbound_show", "what came of one mail")
    _workspace_flag(in_show)
    in_show.add_argument("id", type=int)
    in_retry = leaf(inbound, "retry", "mail_commands:inbound_retry", "read a failed mail again")
    _workspace_flag(in_retry)
    in_retry.add_argument("id", type=int)

    # Accounting integrations (issue #7): `integration …`, `rules …`, `publish`.
    _integration(sub, leaf)
    # The weekly digest (issue #5): `digest list|on|off`.
    _digest(sub, leaf)

    secrets = sub.add_parser("secrets", help="encryption keys").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    leaf(secrets, "rotate", "commands:secrets_rotate", "re-encrypt every secret under a new key")
    return parser


def _integration(sub: argparse._SubParsersAction[Parser], leaf: Leaf) -> None:
    """Adds `integration`, `rules` and `"integration_commands:publish"` to the `courier` parser."""

    def workspace(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--workspace", required=True, metavar="SLUG", help="the workspace's slug"
        )

    software = ["beancount", "xero", "quickbooks", "pennylane"]
    group = sub.add_parser("integration", help="the accounting software").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    for name, handler, text in (
        ("connect", "integration_commands:integration_connect", "link the accounting software"),
        (
            "change",
            "integration_commands:integration_change",
            "change software: the old one is disconnected",
        ),
    ):
        command = leaf(group, name, handler, text)
        workspace(command)
        command.add_argument("provider", choices=software)
        command.add_argument("--ledger", type=Path, help="the Beancount ledger file")
    again = leaf(
        group, "reconnect", "integration_commands:integration_reconnect", "renew the authorisation"
    )
    workspace(again)
    again.add_argument("--ledger", type=Path, help="the Beancount ledger file, if it moved")
    status = leaf(
        group,
        "status",
        "integration_commands:integration_status",
        "software, state, lists, documents waiting",
    )
    workspace(status)
    refresh = leaf(
        group, "refresh", "integration_commands:integration_refresh", "reload every list, or one"
    )
    workspace(refresh)
    refresh.add_argument("--list", choices=LIST_KINDS)
    transfer = leaf(
        group,
        "transfer-rules",
        "integration_commands:integration_transfer_rules",
        "map the rules to the new software",
    )
    workspace(transfer)
    off = leaf(
        group, "disconnect", "integration_commands:integration_disconnect", "unlink; documents stay"
    )
    workspace(off)
    keep = off.add_mutually_exclusive_group(required=True)
    keep.add_argument("--keep-rules", dest="keep_rules", action="store_true")
    keep.add_argument("--drop-rules", dest="keep_rules", action="store_false")

    rules = sub.add_parser("rules", help="supplier rules").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    listed = leaf(rules, "list", "integration_commands:rules_list", "the supplier rules")
    workspace(listed)
    setting = leaf(
        rules,
        "set",
        "integration_commands:rules_set",
        "set a supplier's account, tax rate, auto-publish",
    )
    workspace(setting)
    setting.add_argument("--supplier", required=True, metavar="NAME")
    setting.add_argument("--account", required=True, metavar="CODE")
    setting.add_argument("--tax-rate", metavar="CODE")
    setting.add_argument("--auto-publish", action="store_true")

    out = leaf(
        sub,
        "publish",
        "integration_commands:publish",
        "publish documents to the accounting software",
    )
    workspace(out)
    which = out.add_mutually_exclusive_group(required=True)
    which.add_argument("--document", type=int, metavar="ID")
    which.add_argument("--all-ready", action="store_true")


def _digest(sub: argparse._SubParsersAction[Parser], leaf: Leaf) -> None:
    """Adds `digest list|on|off` to the `courier` parser."""
    group = sub.add_parser("digest", help="the weekly digest").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    listing = leaf(
        group, "list", "digest_commands:digest_list", "owners and admins, and who gets the digest"
    )
    commands = [listing]
    for name, text in (("on", "send the weekly digest"), ("off", "stop the weekly digest")):
        command = leaf(group, name, "digest_commands:digest_switch", text)
        command.add_argument(
            "--telegram-id", type=int, help="one owner or admin (default: all of them)"
        )
        commands.append(command)
    for command in commands:
        command.add_argument(
            "--workspace", required=True, metavar="SLUG", help="the workspace's slug"
        )
