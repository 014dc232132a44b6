"""What the long-running commands check before they start anything, and the one line each
start-up failure becomes: a port already taken, a folder Courier cannot use, a TLS file it
cannot read. A second `courier run` once died here with a 180-line traceback.

The ports are tried before any part starts, so a second Courier touches nothing (no
migration, no scheduler tick) before it says why it cannot run; a port taken in between
is caught where it is bound (`binding`), with the same line.
"""

from __future__ import annotations

import errno
import os
import socket
import ssl
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from core.config import Settings
from core.errors import ConfigInvalid, CourierError
from core.file_modes import make_private_dir

#: The roles `courier run` starts, and those not built yet with what to say instead.
BUILT = ("mail", "scheduler", "oauth", "bot")
MISSING: dict[str, str] = {}
#: Roles that store documents, and so need their folder before they take anything in.
STORING = ("mail", "scheduler", "bot")
_ANY_HOST = frozenset({"", "0.0.0.0", "::"})


class PortInUse(CourierError):
    key = "port_in_use"
    exit_code = 1


class PortRefused(CourierError):
    """A port below 1024 for a user who may not listen there."""

    key = "port_refused"
    exit_code = 1


class ListenFailed(CourierError):
    key = "listen_failed"
    exit_code = 1


class FolderUnusable(CourierError):
    key = "folder_unusable"
    exit_code = 1


class TelegramUnreachable(CourierError):
    key = "telegram_unreachable"
    exit_code = 1


@dataclass(frozen=True, slots=True)
class Listener:
    """A port one of Courier's parts listens on, and the settings that choose it."""

    part: str
    host: str
    port: int
    port_setting: str
    host_setting: str | None = None


def listeners(settings: Settings, roles: Iterable[str]) -> tuple[Listener, ...]:
    """The ports these roles will listen on, as configured."""
    wanted = set(roles)
    found: list[Listener] = []
    if "mail" in wanted:
        found.append(smtp_listener(settings))
    if "demo" in wanted:
        found.append(demo_listener(settings))
    if "oauth" in wanted and settings.oauth_apps:
        found.append(oauth_listener(settings))
    if "bot" in wanted and settings.telegram_token and settings.telegram_webhook_url:
        found.append(webhook_listener(settings))
    return tuple(found)


def smtp_listener(settings: Settings) -> Listener:
    return Listener(
        "SMTP gateway",
        settings.smtp_host,
        settings.smtp_port,
        "COURIER_SMTP_PORT",
        "COURIER_SMTP_HOST",
    )


def demo_listener(settings: Settings) -> Listener:
    return Listener(
        "Demo Supplier", "127.0.0.1", settings.demo_supplier_port, "COURIER_DEMO_SUPPLIER_PORT"
    )


def oauth_listener(settings: Settings) -> Listener:
    return Listener(
        "OAuth callback",
        settings.oauth_callback_host,
        settings.oauth_callback_port,
        "COURIER_OAUTH_CALLBACK_PORT",
        "COURIER_OAUTH_CALLBACK_HOST",
    )


def webhook_listener(settings: Settings) -> Listener:
    return Listener(
        "Telegram webhook",
        settings.telegram_webhook_host,
        settings.telegram_webhook_port,
        "COURIER_TELEGRAM_WEBHOOK_PORT",
        "COURIER_TELEGRAM_WEBHOOK_HOST",
    )


def check_startup(settings: Settings, roles: Iterable[str]) -> None:
    """Everything these roles need from the machine, or the first thing missing, raised.
    The ports come first: trying them leaves nothing behind, where a folder is made."""
    wanted = tuple(roles)
    ports = listeners(settings, wanted)
    _check_distinct(ports)
    for listener in ports:
        _try_port(listener)
    if "mail" in wanted:
        check_tls(settings)
    if any(role in STORING for role in wanted):
        if settings.storage_dir is None:  # <data dir>/documents: the data folder first
            usable_folder(settings.data_dir, "COURIER_DATA_DIR")
        setting = "COURIER_STORAGE_DIR" if settings.storage_dir else "COURIER_DATA_DIR"
        usable_folder(settings.documents_dir, setting)


def usable_folder(path: Path, setting: str) -> None:
    """Make `path` if it is missing; raise FolderUnusable unless Courier may write in it."""
    try:
        make_private_dir(path)
    except OSError as err:
        raise FolderUnusable(path=str(path), setting=setting, reason=reason_of(err)) from None
    if not path.is_dir():
        raise FolderUnusable(path=str(path), setting=setting, reason="not a folder")
    if not os.access(path, os.W_OK | os.X_OK):
        raise FolderUnusable(path=str(path), setting=setting, reason="not writable by this user")


def check_tls(settings: Settings) -> None:
    """The gateway's certificate and key, read as it will read them."""
    cert, key = settings.smtp_tls_cert, settings.smtp_tls_key
    for path, setting in ((cert, "COURIER_SMTP_TLS_CERT"), (key, "COURIER_SMTP_TLS_KEY")):
        if path is None:
            continue
        try:
            path.open("rb").close()
        except OSError as err:
            reason = f"cannot read {path} ({reason_of(err)})"
            raise ConfigInvalid(setting=setting, reason=reason) from None
    if cert is None or key is None:
        return
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except ssl.SSLError as err:
        reason = f"{cert} and {key} are not a PEM certificate and its key ({err.reason})"
        raise ConfigInvalid(setting="COURIER_SMTP_TLS_CERT", reason=reason) from None


@contextmanager
def binding(listener: Listener) -> Iterator[None]:
    """Around a server's start: its bind failure becomes the line `check_startup` gives."""
    try:
        yield
    except OSError as err:
        raise bind_failure(listener, err) from None


def bind_failure(listener: Listener, err: OSError) -> CourierError:
    """What a failed bind means for the person."""
    where = {"part": listener.part, "port": listener.port, "setting": listener.port_setting}
    if err.errno == errno.EADDRINUSE:
        return PortInUse(**where)
    if err.errno in (errno.EACCES, errno.EPERM):
        return PortRefused(**where)
    if isinstance(err, socket.gaierror) or err.errno == errno.EADDRNOTAVAIL:
        return ConfigInvalid(
            setting=listener.host_setting or listener.port_setting,
            reason=(
                f"the {listener.part} cannot listen on {listener.host} ({reason_of(err)}); "
                "use an address of this machine, such as 127.0.0.1"
            ),
        )
    return ListenFailed(**where, host=listener.host, reason=reason_of(err))


def unwrap(group: BaseExceptionGroup[BaseException]) -> CourierError | None:
    """The failure to tell the person when the parts that stopped all stopped for a reason
    Courier knows (a port taken, a setting refused); None when one of them is a bug."""
    known, rest = group.split(CourierError)
    if known is None or rest is not None:
        return None
    first: BaseException = known
    while isinstance(first, BaseExceptionGroup):
        first = first.exceptions[0]
    return first if isinstance(first, CourierError) else None


def _check_distinct(ports: tuple[Listener, ...]) -> None:
    for index, listener in enumerate(ports):
        for earlier in ports[:index]:
            hosts = {earlier.host, listener.host}
            if (
                listener.port
                and listener.port == earlier.port
                and (len(hosts) == 1 or hosts & _ANY_HOST)
            ):
                raise ConfigInvalid(
                    setting=listener.port_setting,
                    reason=(
                        f"{listener.port} is also the {earlier.part}'s port "
                        f"({earlier.port_setting}); give each its own"
                    ),
                )


def _try_port(listener: Listener) -> None:
    """Bind each address the server will bind, as asyncio binds it, and let go at once.
    Port 0 is tried too: the host may not be one of this machine's addresses."""
    try:
        addresses = {
            (family, address)
            for family, _, _, _, address in socket.getaddrinfo(
                listener.host or None,
                listener.port,
                type=socket.SOCK_STREAM,
                flags=socket.AI_PASSIVE,
            )
        }
        for family, address in addresses:
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                # As asyncio's servers: connections of a Courier just stopped, still in
                # TIME_WAIT, do not keep the next one from listening.
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                probe.bind(address)
    except OSError as err:
        raise bind_failure(listener, err) from None


def reason_of(err: OSError) -> str:
    """An OS error as a few words: "address already in use", "permission denied"."""
    if isinstance(err, socket.gaierror) or not err.errno:
        return (err.strerror or type(err).__name__).lower()
    # Not its strerror: asyncio puts its whole sentence, with the address, there.
    return os.strerror(err.errno).lower()
