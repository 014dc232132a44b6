"""The IMAP side of mailbox polling: a small async `MailboxClient` contract, its values and
failures, and the real adapter over imap-tools.

imap-tools is blocking, so every call of the adapter runs in a worker thread; one
connection is never used by two threads at once. Where imap-tools would lose bytes or
touch more than asked, the adapter speaks IMAP through its `client` (imaplib) instead:
- messages are fetched as `BODY.PEEK[]` literals, the exact bytes the server holds, and
  never reparsed (imap-tools' attachment view drops parts with neither filename nor
  Content-ID, such as a nameless PDF);
- flags are set with `+FLAGS.SILENT` and nothing is expunged (imap-tools' `flag()`
  expunges the whole folder, which would delete what the user marked deleted).

Secrets reach the adapter as `SecretStr` and are unwrapped only inside the login call;
failures carry a reason key and the exception's class name, never the server's words
about a login, nor a password or a token.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import ipaddress
import re
import socket
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, TypeVar

from imap_tools import BaseMailBox, MailBox, MailBoxUnencrypted
from imap_tools.errors import ImapToolsError, MailboxFolderSelectError
from imap_tools.utils import encode_folder
from pydantic import SecretStr

from core.models.mailbox import MailboxAuth

T = TypeVar("T")

#: A dead server must not hold a poll for long; the scheduler tries again later.
DEFAULT_TIMEOUT = 30.0
_UID = re.compile(rb"UID (\d+)")
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")


class FailureReason(StrEnum):
    AUTH_FAILED = "auth_failed"
    TOKEN_EXPIRED = "token_expired"
    UNREACHABLE = "unreachable"
    FOLDER_MISSING = "folder_missing"
    #: The server refused a command of a working session (a FETCH, a SEARCH).
    SERVER_ERROR = "server_error"
    #: The host is on this machine or a private network, and the operator did not allow it.
    HOST_REFUSED = "host_refused"


#: Retrying these cannot help: they wait until the user gives new credentials.
NEEDS_CREDENTIALS = frozenset({FailureReason.AUTH_FAILED, FailureReason.TOKEN_EXPIRED})


class MailboxUnavailable(Exception):
    """The mailbox could not be read; `reason` says why, `detail` names the exception.

    Not a CourierError: it never reaches a person as such. The poller turns it into the
    mailbox's state and a notification keyed by `reason`."""

    def __init__(self, reason: FailureReason, *, detail: str) -> None:
        super().__init__(reason.value, detail)
        self.reason = reason
        self.detail = detail

    def __str__(self) -> str:
        return f"mailbox_unavailable(reason={self.reason.value}, detail={self.detail})"


@dataclass(frozen=True, slots=True)
class Account:
    """Where and who to log in as; the secret travels apart, as a SecretStr."""

    host: str
    port: int
    username: str
    auth: MailboxAuth = MailboxAuth.PASSWORD


@dataclass(frozen=True, slots=True)
class FolderStatus:
    uidvalidity: int
    #: The UID the next message will get; every message there now has a smaller one.
    uidnext: int | None


@dataclass(frozen=True, slots=True)
class RawMessage:
    uid: int
    raw: bytes = field(repr=False)


class MailboxClient(Protocol):
    """One logged-in IMAP session. Calls are made one at a time."""

    async def select(self, folder: str) -> FolderStatus: ...

    async def uids_after(self, last_uid: int) -> list[int]: ...

    async def sizes(self, uids: Sequence[int]) -> dict[int, int]: ...

    async def fetch(self, uids: Sequence[int]) -> list[RawMessage]: ...

    async def mark_seen(self, uids: Sequence[int]) -> None: ...

    async def flag(self, uids: Sequence[int]) -> None: ...

    async def move(self, uids: Sequence[int], folder: str) -> None: ...

    async def close(self) -> None: ...


class Connector(Protocol):
    async def __call__(self, account: Account, secret: SecretStr) -> MailboxClient: ...


def is_loopback(host: str) -> bool:
    if host.lower() in {"localhost", "localhost.localdomain"}:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_private(address: str) -> bool:
    """Loopback, private, link-local and other addresses no public mail server has: a
    mailbox pointed at one would make Courier a probe of its own network."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_unspecified
        or ip.is_multicast
        or ip.is_reserved
        or not ip.is_global
    )


def _refuse_private_host(account: Account) -> None:
    """Every address the name has must be public: a name is an address like any other."""
    if is_loopback(account.host):
        raise MailboxUnavailable(FailureReason.HOST_REFUSED, detail="loopback")
    try:
        found = socket.getaddrinfo(account.host, account.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as err:
        raise MailboxUnavailable(FailureReason.UNREACHABLE, detail=type(err).__name__) from None
    if any(is_private(str(info[4][0])) for info in found):
        raise MailboxUnavailable(FailureReason.HOST_REFUSED, detail="private address")


def _refuse_private_peer(box: BaseMailBox) -> None:
    """The address actually connected to: the name may resolve anew between check and
    connect (DNS rebinding). Checked before the login, so no secret goes there."""
    sock = box.client.sock
    if is_private(str(sock.getpeername()[0])):
        _shutdown(box)
        raise MailboxUnavailable(FailureReason.HOST_REFUSED, detail="private peer")


def transport_of(account: Account) -> str:
    """ "tls" (implicit TLS), "starttls" or "plain".

    The model has no TLS field, so the port decides, as mail clients do by default: 143
    means STARTTLS, anything else implicit TLS. A loopback host is the exception: traffic
    that never leaves the machine is spoken in clear (a local bridge, the test Dovecot),
    except on 993, which is TLS everywhere. A loopback host is only reached at all when
    the operator allows private hosts (`connect_imap`'s `allow_private`).
    """
    if is_loopback(account.host) and account.port != 993:
        return "plain"
    return "starttls" if account.port == 143 else "tls"


def _open_box(account: Account, timeout: float) -> BaseMailBox:
    transport = transport_of(account)
    if transport == "tls":
        context = ssl.create_default_context()
        return MailBox(account.host, account.port, timeout=timeout, ssl_context=context)
    box = MailBoxUnencrypted(account.host, account.port, timeout=timeout)
    if transport == "starttls":
        # Not MailBoxStartTls: when the upgrade fails there, its socket is left open.
        try:
            _check(box.client.starttls(ssl_context=ssl.create_default_context()))
        except BaseException:
            _shutdown(box)
            raise
    return box


def _login(box: BaseMailBox, account: Account, secret: SecretStr) -> None:
    value = secret.get_secret_value()
    if account.auth == MailboxAuth.OAUTH2:
        box.xoauth2(account.username, value, initial_folder=None)
    elif value.isascii() and account.username.isascii():
        box.login(account.username, value, initial_folder=None)
    else:
        # LOGIN's quoted strings are ASCII only; SASL PLAIN carries UTF-8.
        box.login_utf8(account.username, value, initial_folder=None)


def _shutdown(box: BaseMailBox) -> None:
    """Close the socket whatever state the session is in: an unclosed socket is a leak."""
    try:
        box.logout()
    except Exception:
        with contextlib.suppress(Exception):
            box.client.shutdown()


def _connect(
    account: Account, secret: SecretStr, timeout: float, allow_private: bool
) -> BaseMailBox:
    if not allow_private:
        _refuse_private_host(account)
    try:
        box = _open_box(account, timeout)
    except (OSError, imaplib.IMAP4.error, ImapToolsError) as err:
        # imaplib closes its socket itself when the greeting or STARTTLS fails.
        raise MailboxUnavailable(FailureReason.UNREACHABLE, detail=type(err).__name__) from None
    if not allow_private:
        try:
            _refuse_private_peer(box)
        except OSError as err:
            _shutdown(box)
            raise MailboxUnavailable(FailureReason.UNREACHABLE, detail=type(err).__name__) from None
    try:
        _login(box, account, secret)
    except (OSError, imaplib.IMAP4.abort) as err:
        _shutdown(box)
        raise MailboxUnavailable(FailureReason.UNREACHABLE, detail=type(err).__name__) from None
    except (imaplib.IMAP4.error, ImapToolsError, UnicodeError) as err:
        _shutdown(box)
        # `from None`: the server's reply to a login is not ours to log. With OAuth2 any
        # refusal means the token no longer works, and the way out is to reconnect.
        reason = (
            FailureReason.TOKEN_EXPIRED
            if account.auth == MailboxAuth.OAUTH2
            else FailureReason.AUTH_FAILED
        )
        raise MailboxUnavailable(reason, detail=type(err).__name__) from None
    try:
        # imaplib keeps the capabilities of the greeting; MOVE and UIDPLUS come after login.
        typ, data = box.client.capability()
        if typ == "OK" and data and isinstance(data[-1], bytes):
            box.client.capabilities = tuple(data[-1].decode("ascii", "replace").upper().split())
    except (OSError, imaplib.IMAP4.error) as err:
        _shutdown(box)
        raise MailboxUnavailable(FailureReason.UNREACHABLE, detail=type(err).__name__) from None
    return box


def _check(result: tuple[str, Sequence[object]]) -> Sequence[object]:
    typ, data = result
    if typ != "OK":
        raise imaplib.IMAP4.error(f"{typ} response")
    return data


def _uid_set(uids: Sequence[int]) -> str:
    """ "3:7,9" rather than "3,4,5,6,7,9": a thousand UIDs stay a short command line."""
    ranges: list[str] = []
    ordered = sorted(set(uids))
    start = previous = ordered[0]
    for uid in [*ordered[1:], None]:
        if uid is not None and uid == previous + 1:
            previous = uid
            continue
        ranges.append(str(start) if start == previous else f"{start}:{previous}")
        if uid is not None:
            start = previous = uid
    return ",".join(ranges)


def _status_number(value: object) -> int | None:
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)
    return int(text) if text.strip().isdigit() else None


def parse_fetch(data: Sequence[object]) -> list[RawMessage]:
    """Pair each literal with its UID, which servers put before or after the body."""
    messages: list[RawMessage] = []
    waiting: bytes | None = None
    for item in data:
        if isinstance(item, tuple) and len(item) == 2:
            head, body = item
            found = _UID.search(head) if isinstance(head, bytes) else None
            if found and isinstance(body, bytes):
                messages.append(RawMessage(uid=int(found[1]), raw=body))
                waiting = None
            else:
                waiting = body if isinstance(body, bytes) else None
        elif isinstance(item, bytes) and waiting is not None:
            found = _UID.search(item)
            if found:
                messages.append(RawMessage(uid=int(found[1]), raw=waiting))
            waiting = None
    return messages


class ImapClient:
    """The adapter: a logged-in imap-tools mailbox, driven from worker threads."""

    def __init__(self, box: BaseMailBox) -> None:
        self._box = box
        # A poll cancelled mid-call leaves its thread running: close() must wait for it.
        self._busy = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"ImapClient(closed={self._closed})"

    async def _run(self, call: Callable[[], T]) -> T:
        return await asyncio.to_thread(self._guarded, call)

    def _guarded(self, call: Callable[[], T]) -> T:
        with self._busy:
            if self._closed:
                raise MailboxUnavailable(FailureReason.UNREACHABLE, detail="closed")
            try:
                return call()
            except (OSError, imaplib.IMAP4.abort) as err:
                raise MailboxUnavailable(
                    FailureReason.UNREACHABLE, detail=type(err).__name__
                ) from err
            except (imaplib.IMAP4.error, ImapToolsError) as err:
                raise MailboxUnavailable(
                    FailureReason.SERVER_ERROR, detail=type(err).__name__
                ) from err

    async def select(self, folder: str) -> FolderStatus:
        def call() -> FolderStatus:
            client = self._box.client
            try:
                self._box.folder.set(folder)
            except MailboxFolderSelectError as err:
                raise MailboxUnavailable(
                    FailureReason.FOLDER_MISSING, detail=type(err).__name__
                ) from None
            # SELECT already told us; STATUS is asked only of servers that did not.
            uidvalidity = _status_number((client.response("UIDVALIDITY")[1] or [b""])[-1])
            uidnext = _status_number((client.response("UIDNEXT")[1] or [b""])[-1])
            if uidvalidity is None:
                status = self._box.folder.status(folder, ["UIDVALIDITY", "UIDNEXT"])
                uidvalidity, uidnext = status["UIDVALIDITY"], status.get("UIDNEXT")
            return FolderStatus(uidvalidity=uidvalidity, uidnext=uidnext)

        return await self._run(call)

    async def uids_after(self, last_uid: int) -> list[int]:
        def call() -> list[int]:
            data = _check(self._box.client.uid("SEARCH", f"UID {last_uid + 1}:*"))
            words = data[0].split() if data and isinstance(data[0], bytes) else []
            # "N:*" always matches the highest UID, even when it is below N.
            return sorted(uid for uid in map(int, words) if uid > last_uid)

        return await self._run(call)

    async def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        if not uids:
            return {}

        def call() -> dict[int, int]:
            data = _check(self._box.client.uid("FETCH", _uid_set(uids), "(UID RFC822.SIZE)"))
            found: dict[int, int] = {}
            for item in data:
                line = item[0] if isinstance(item, tuple) else item
                uid = _UID.search(line) if isinstance(line, bytes) else None
                size = _SIZE.search(line) if isinstance(line, bytes) else None
                if uid and size:
                    found[int(uid[1])] = int(size[1])
            return found

        return await self._run(call)

    async def fetch(self, uids: Sequence[int]) -> list[RawMessage]:
        if not uids:
            return []

        def call() -> list[RawMessage]:
            data = _check(self._box.client.uid("FETCH", _uid_set(uids), "(UID BODY.PEEK[])"))
            wanted = set(uids)
            found = {m.uid: m for m in parse_fetch(data) if m.uid in wanted}
            return [found[uid] for uid in sorted(found)]

        return await self._run(call)

    def _store(self, uids: Sequence[int], flag: str) -> None:
        _check(self._box.client.uid("STORE", _uid_set(uids), "+FLAGS.SILENT", flag))

    async def mark_seen(self, uids: Sequence[int]) -> None:
        if uids:
            await self._run(lambda: self._store(uids, r"(\Seen)"))

    async def flag(self, uids: Sequence[int]) -> None:
        if uids:
            await self._run(lambda: self._store(uids, r"(\Flagged)"))

    async def move(self, uids: Sequence[int], folder: str) -> None:
        if not uids:
            return

        def call() -> None:
            client, uid_set = self._box.client, _uid_set(uids)
            target = encode_folder(folder).decode("ascii")  # quoted modified UTF-7
            if "MOVE" in client.capabilities:
                _check(client.uid("MOVE", uid_set, target))
                return
            _check(client.uid("COPY", uid_set, target))
            self._store(uids, r"(\Deleted)")
            # Plain EXPUNGE would also remove what the user had marked deleted.
            if "UIDPLUS" in client.capabilities:
                _check(client.uid("EXPUNGE", uid_set))

        await self._run(call)

    async def close(self) -> None:
        def call() -> None:
            with self._busy:
                if not self._closed:
                    self._closed = True
                    _shutdown(self._box)

        await asyncio.to_thread(call)


async def connect_imap(
    account: Account,
    secret: SecretStr,
    *,
    socket_timeout: float = DEFAULT_TIMEOUT,
    allow_private: bool = False,
) -> MailboxClient:
    """Connect and log in; raises MailboxUnavailable with the reason a person can act on.
    `socket_timeout` bounds each network wait, not the whole session. A host on this
    machine or a private network is refused (HOST_REFUSED) unless `allow_private`."""
    box = await asyncio.to_thread(_connect, account, secret, socket_timeout, allow_private)
    return ImapClient(box)


@dataclass(frozen=True, slots=True)
class ImapConnector:
    """`connect_imap` with the operator's policy, as the poller and the checks take it."""

    allow_private: bool = False
    socket_timeout: float = DEFAULT_TIMEOUT

    async def __call__(self, account: Account, secret: SecretStr) -> MailboxClient:
        return await connect_imap(
            account, secret, socket_timeout=self.socket_timeout, allow_private=self.allow_private
        )


async def probe_mailbox(
    account: Account, secret: SecretStr, folder: str, *, connect: Connector
) -> None:
    """Log in and open the folder, then leave: what a mailbox must pass before it is
    added, so no one is told "I now watch" a mailbox Courier cannot read."""
    client = await connect(account, secret)
    try:
        await client.select(folder)
    finally:
        await client.close()
