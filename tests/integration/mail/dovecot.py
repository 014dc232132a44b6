"""A private Dovecot for the IMAP tests and the bench, and helpers that act on it over
real IMAP (imaplib) the way a person's mail client would.

The server follows shared/recipes/dovecot.md: its own config in a temporary folder, plain
IMAP on a free loopback port, users alice and bob. Everything here is blocking and needs
no event loop, so a session fixture can start it from inside a running test loop.
"""

from __future__ import annotations

import base64
import hashlib
import imaplib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

USERS: Mapping[str, str] = {"alice": "alice-Pa55-7d1c", "bob": "bob-Pa55-39ef"}
_APPENDUID = re.compile(rb"APPENDUID (\d+) (\d+)")
_FLAGS = re.compile(rb"FLAGS \(([^)]*)\)")

_CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
# Tests log in with wrong passwords on purpose: no failure delay, and no per-IP penalty
# (mode 0 on anvil's penalty socket turns it off), which would slow every later login.
auth_failure_delay = 0
# Throwaway mail: no fsync, so appending a thousand messages takes a moment, not minutes.
mail_fsync = never
mail_location = maildir:{root}/mail/%u
default_login_user = dovenull
default_internal_user = dovecot
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
first_valid_uid = 1
"""


class DovecotMissing(RuntimeError):
    """The dovecot binary is not installed (`apt-get install dovecot-imapd`)."""


def dovecot_binary() -> str | None:
    return shutil.which("dovecot") or (
        "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").is_file() else None
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class Dovecot:
    root: Path
    port: int
    binary: str
    passwords: Mapping[str, str] = field(default_factory=lambda: dict(USERS))
    host: str = "127.0.0.1"

    @property
    def config(self) -> Path:
        return self.root / "dovecot.conf"

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.is_file() else ""

    @contextmanager
    def session(self, user: str) -> Iterator[imaplib.IMAP4]:
        imap = imaplib.IMAP4(self.host, self.port, timeout=10)
        try:
            imap.login(user, self.passwords[user])
            yield imap
        finally:
            try:
                imap.logout()
            except Exception:
                imap.shutdown()

    def append_many(self, user: str, messages: Iterable[bytes], folder: str = "INBOX") -> list[int]:
        """Append messages in order; return their UIDs. Send CRLF line ends: imaplib turns
        bare LFs into CRLF, and the bytes a test compares must be the bytes appended."""
        uids = []
        with self.session(user) as imap:
            for raw in messages:
                typ, data = imap.append(_quote(folder), "", None, raw)
                found = _APPENDUID.search(data[-1] or b"") if typ == "OK" else None
                if found is None:
                    raise RuntimeError(f"APPEND to {folder} failed: {typ} {data!r}")
                uids.append(int(found[2]))
        return uids

    def append(self, user: str, raw: bytes, folder: str = "INBOX") -> int:
        return self.append_many(user, [raw], folder)[0]

    def create_folder(self, user: str, folder: str) -> None:
        with self.session(user) as imap:
            typ, data = imap.create(_quote(folder))
            if typ != "OK":
                raise RuntimeError(f"CREATE {folder} failed: {data!r}")

    def delete_folder(self, user: str, folder: str) -> None:
        with self.session(user) as imap:
            typ, data = imap.delete(_quote(folder))
            if typ != "OK":
                raise RuntimeError(f"DELETE {folder} failed: {data!r}")

    def uids(self, user: str, folder: str = "INBOX") -> list[int]:
        with self.session(user) as imap:
            imap.select(_quote(folder), readonly=True)
            _, data = imap.uid("SEARCH", "ALL")
            return [int(uid) for uid in (data[0] or b"").split()]

    def flags(self, user: str, folder: str = "INBOX") -> dict[int, frozenset[str]]:
        """Each message's flags by UID, read without changing any."""
        with self.session(user) as imap:
            imap.select(_quote(folder), readonly=True)
            _, data = imap.uid("FETCH", "1:*", "(UID FLAGS)")
            found: dict[int, frozenset[str]] = {}
            for item in data:
                line = item[0] if isinstance(item, tuple) else item
                if not isinstance(line, bytes):
                    continue
                uid, flags = re.search(rb"UID (\d+)", line), _FLAGS.search(line)
                if uid and flags:
                    # \\Recent belongs to a session, not to the message.
                    found[int(uid[1])] = frozenset(flags[1].decode().split()) - {"\\Recent"}
            return found

    def uidvalidity(self, user: str, folder: str = "INBOX") -> int:
        with self.session(user) as imap:
            _, data = imap.status(_quote(folder), "(UIDVALIDITY)")
            found = re.search(rb"UIDVALIDITY (\d+)", data[0] or b"")
            assert found, data
            return int(found[1])


def fake_pdf(size: int, seed: int = 0) -> bytes:
    """Bytes that start and end like a PDF, `size` long, different for each seed."""
    head, tail = f"%PDF-1.4\n% courier test {seed}\n".encode(), b"\n%%EOF\n"
    filler = hashlib.sha256(str(seed).encode()).hexdigest().encode()
    body = (filler * (size // len(filler) + 1))[: max(size - len(head) - len(tail), 0)]
    return head + body + tail


def invoice_mail(
    index: int,
    *,
    pdf: bytes | None = None,
    filename: str | None = None,
    sender: str = "factures@edf.fr",
) -> bytes:
    """A supplier's mail with a PDF part, CRLF throughout. With no filename the part has
    neither a name nor a Content-ID: the kind that imap-tools' attachments drop."""
    pdf = fake_pdf(2_000, index) if pdf is None else pdf
    disposition = f'Content-Disposition: attachment; filename="{filename}"\r\n' if filename else ""
    encoded = base64.encodebytes(pdf).replace(b"\n", b"\r\n")
    return (
        (
            f"From: EDF Entreprises <{sender}>\r\n"
            "To: alice@example.test\r\n"
            f"Subject: Votre facture {index}\r\n"
            f"Message-ID: <invoice-{index}@edf.fr>\r\n"
            "Date: Mon, 23 Nov 2026 10:00:00 +0100\r\n"
            "MIME-Version: 1.0\r\n"
            'Content-Type: multipart/mixed; boundary="courier-boundary"\r\n'
            "\r\n"
            "--courier-boundary\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "\r\n"
            f"Bonjour, voici votre facture n\u00b0 {index}.\r\n"
            "--courier-boundary\r\n"
            "Content-Type: application/pdf\r\n"
            f"{disposition}"
            "Content-Transfer-Encoding: base64\r\n"
            "\r\n"
        ).encode()
        + encoded
        + b"--courier-boundary--\r\n"
    )


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def start_dovecot(users: Mapping[str, str] = USERS) -> Dovecot:
    """Start a private Dovecot; raises DovecotMissing when it is not installed."""
    binary = dovecot_binary()
    if binary is None:
        raise DovecotMissing("dovecot is not installed (apt-get install dovecot-imapd)")
    # Not pytest's tmp_path: its 0700 folders keep Dovecot's unprivileged processes out.
    root = Path(tempfile.mkdtemp(prefix="courier-dovecot-"))
    root.chmod(0o755)
    try:
        for name in ("run", "state", "mail"):
            (root / name).mkdir()
        (root / "users").write_text("".join(f"{u}:{{PLAIN}}{p}\n" for u, p in users.items()))
        shutil.chown(root / "mail", "dovecot", "dovecot")
        for _attempt in range(3):
            server = Dovecot(root=root, port=_free_port(), binary=binary, passwords=dict(users))
            server.config.write_text(_CONFIG.format(root=root, port=server.port))
            subprocess.run([binary, "-c", str(server.config)], check=True, timeout=30)
            if _answers(server):
                return server
            _stop(server)  # most likely the free port was taken meanwhile: try another
        raise RuntimeError(f"Dovecot did not start:\n{server.log()}")
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


def _answers(server: Dovecot, wait: float = 5.0) -> bool:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((server.host, server.port), timeout=1) as sock:
                if sock.recv(64).startswith(b"* OK"):
                    return True
        except OSError:
            time.sleep(0.05)
    return False


def _stop(server: Dovecot) -> None:
    subprocess.run(
        [server.binary, "-c", str(server.config), "stop"], check=False, capture_output=True
    )
    pid_file = server.root / "run" / "master.pid"
    deadline = time.monotonic() + 10
    while pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def stop_dovecot(server: Dovecot) -> None:
    _stop(server)
    shutil.rmtree(server.root, ignore_errors=True)


@contextmanager
def running_dovecot(users: Mapping[str, str] = USERS) -> Iterator[Dovecot]:
    server = start_dovecot(users)
    try:
        yield server
    finally:
        stop_dovecot(server)


@contextmanager
def dovecot_for_tests() -> Iterator[Dovecot]:
    """A private Dovecot for a fixture: skipped with its reason when Dovecot is not
    installed, except in CI, where the IMAP tests must run."""
    try:
        server = start_dovecot()
    except DovecotMissing as err:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the IMAP tests: {err}")
        pytest.skip(str(err))
    try:
        yield server
    finally:
        stop_dovecot(server)
