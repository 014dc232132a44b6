"""IMAP mailboxes a workspace lets Courier watch. Their secret is sealed at rest.

Where a new mailbox starts is written in the row itself, so the poller needs no other
column to know it (see `add_mailbox`):
- `uidvalidity` None and `last_uid` 0: never polled, start at the folder's end;
- `uidvalidity` WHOLE_FOLDER (0) and `last_uid` 0: never polled, take every message;
- anything else: the watermark of a mailbox polled before.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, Protocol

from pydantic import SecretStr
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.errors import CredentialsMissing, NotFound
from core.models import Mailbox, MailboxCreate
from core.models.mailbox import MailboxState
from core.permissions import Action, Who, require
from core.vault import Vault

#: What a new mailbox takes on its first poll: only mail that arrives after it ("new_only"),
#: or also what the folder already holds ("all").
History = Literal["new_only", "all"]

#: The mark of a mailbox to be taken whole on its first poll. No server can send it: a
#: UIDVALIDITY is a non-zero number (RFC 3501, 2.3.1.1), so it never matches a real one.
WHOLE_FOLDER = 0

#: A server name, with an optional port: "imap.example.com" or "imap.example.com:993".
_HOST = re.compile(r"^([a-z0-9](?:[a-z0-9.-]{0,198}[a-z0-9])?)(?::(\d{1,5}))?$")
IMAPS_PORT = 993


class CheckOutcome(StrEnum):
    """How logging in to a mailbox went, before it is added: each failure is one a person
    can act on (another password, another server or port)."""

    OK = "ok"
    AUTH_FAILED = "auth_failed"
    TOKEN_EXPIRED = "token_expired"
    UNREACHABLE = "unreachable"
    #: The server answered, but no secure connection could be set up (a certificate not
    #: valid for the name, or a port that does not speak TLS).
    TLS = "tls"
    FOLDER_MISSING = "folder_missing"
    SERVER_ERROR = "server_error"
    HOST_REFUSED = "host_refused"


@dataclass(frozen=True, slots=True)
class MailboxTarget:
    """Where and whom to log in as; the secret travels apart, as a SecretStr."""

    host: str
    port: int
    username: str
    folder: str = "INBOX"


class MailboxCheck(Protocol):
    """Logs in to a mailbox and opens its folder, then leaves (the IMAP side implements
    it: core speaks no IMAP). It never raises for a failure a person can act on: it says
    which one."""

    async def __call__(self, target: MailboxTarget, secret: SecretStr) -> CheckOutcome: ...


def parse_host(value: str) -> tuple[str, int] | None:
    """A server name and its port (993 unless given) from what a person typed; None when
    it is not a server name."""
    match = _HOST.match(value.strip().lower())
    if match is None or "." not in match.group(1):
        return None
    port = int(match.group(2) or IMAPS_PORT)
    if not 1 <= port <= 65535:
        return None
    return match.group(1), port


def private_literal(host: str) -> bool:
    """An address (not a name) that no public mail server has, or this machine's name.
    A name is resolved and checked when the login is tried; this says it at once."""
    if host in {"localhost", "localhost.localdomain"}:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_loopback or address.is_multicast


async def add_mailbox(
    *,
    session: AsyncSession,
    vault: Vault,
    data: MailboxCreate,
    by: Who,
    history: History = "new_only",
) -> Mailbox:
    """Add a mailbox. By default ("new_only") its first poll records the folder's
    UIDVALIDITY and highest UID and takes nothing: connecting a mailbox must not turn
    years of old mail into inbox items. With "all", the first poll takes every message
    the folder holds. Either way, later polls take what arrives after the last one.
    Only managers add one (NotAllowed)."""
    require(by, Action.MANAGE_MAILBOXES, workspace_id=data.workspace_id)
    secret = data.secret.get_secret_value()
    if not secret:
        raise CredentialsMissing()
    mailbox = Mailbox.model_validate(
        data.model_dump(exclude={"secret"}) | {"secret_sealed": vault.seal(secret)}
    )
    # No column says where to start: the never-polled state says it (see the module's
    # docstring). The default row, uidvalidity None, is the safe "new_only".
    mailbox.uidvalidity = WHOLE_FOLDER if history == "all" else None
    session.add(mailbox)
    await session.flush()
    return mailbox


def read_secret(*, vault: Vault, mailbox: Mailbox) -> SecretStr:
    return SecretStr(vault.open(mailbox.secret_sealed))


def replace_secret(*, vault: Vault, mailbox: Mailbox, secret: SecretStr) -> None:
    """Seal new credentials (a password, a fresh OAuth2 token) and poll at the next tick.

    New credentials end an auth_failed or token_expired episode: the error, its count and
    its wait are cleared, so the next failure is a new episode, told again. A paused
    mailbox stays paused: pausing is the user's decision, not a failure's. The poller
    compares the sealed secret before and after a poll, so a poll that was already
    running with the old one cannot mark the new one as refused."""
    value = secret.get_secret_value()
    if not value:
        raise CredentialsMissing()
    mailbox.secret_sealed = vault.seal(value)
    if mailbox.state != MailboxState.PAUSED:
        mailbox.state = MailboxState.ACTIVE
    mailbox.last_error = None
    mailbox.failure_count = 0
    mailbox.next_poll_at = None


async def get_mailbox(*, session: AsyncSession, workspace_id: int, mailbox_id: int) -> Mailbox:
    mailbox = await session.get(Mailbox, mailbox_id)
    if mailbox is None or mailbox.workspace_id != workspace_id:
        raise NotFound(kind="mailbox", ident=mailbox_id)
    return mailbox


async def find_mailbox(
    *, session: AsyncSession, workspace_id: int, host: str, username: str
) -> Mailbox | None:
    """The mailbox of this user on this server, if the workspace already watches it."""
    query = select(Mailbox).where(
        Mailbox.workspace_id == workspace_id,
        func.lower(Mailbox.host) == host.lower(),
        Mailbox.username == username,
    )
    return (await session.exec(query)).first()


async def list_mailboxes(*, session: AsyncSession, workspace_id: int) -> list[Mailbox]:
    query = select(Mailbox).where(Mailbox.workspace_id == workspace_id).order_by(col(Mailbox.id))
    return list((await session.exec(query)).all())


async def remove_mailbox(
    *, session: AsyncSession, workspace_id: int, mailbox_id: int, by: Who
) -> None:
    """Stop watching a mailbox. The messages taken from it stay, with their files, and go
    on through processing: the foreign key sets their mailbox_id to NULL. Only managers
    remove one (NotAllowed)."""
    require(by, Action.MANAGE_MAILBOXES, workspace_id=workspace_id)
    mailbox = await get_mailbox(session=session, workspace_id=workspace_id, mailbox_id=mailbox_id)
    await session.delete(mailbox)
    await session.flush()
