"""Where the secret keys come from: COURIER_SECRET_KEY, or a key file under the data dir.

With neither, a key file is generated on first run (mode 0600). If sealed data already
exists, Courier refuses to generate one: a new key could never open the old data, and
saying so plainly beats a stream of decryption errors later.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from core.config import Settings
from core.durable import fsync_dir
from core.errors import SecretKeyInvalid
from core.file_modes import make_private_dir
from core.vault import fingerprint, generate_key

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class KeyRing:
    keys: tuple[bytes, ...]
    origin: Literal["env", "file"]
    path: Path | None = None

    def __repr__(self) -> str:
        prints = ",".join(fingerprint(key) for key in self.keys)
        return f"KeyRing(origin={self.origin!r}, keys=[{prints}])"


def _split(text: str) -> tuple[bytes, ...]:
    return tuple(
        part.strip().encode() for part in text.replace(",", "\n").splitlines() if part.strip()
    )


def read_keyring(settings: Settings) -> KeyRing | None:
    """The configured keys, newest first, or None when none is configured yet."""
    if settings.secret_key is not None:
        keys = _split(settings.secret_key.get_secret_value())
        if not keys:
            raise SecretKeyInvalid(reason="COURIER_SECRET_KEY is empty")
        return KeyRing(keys=keys, origin="env")
    path = settings.key_file
    if not path.exists():
        return None
    keys = _split(path.read_text(encoding="ascii"))
    if not keys:
        raise SecretKeyInvalid(reason=f"{path} is empty")
    return KeyRing(keys=keys, origin="file", path=path)


def write_key_file(path: Path, keys: tuple[bytes, ...]) -> None:
    """Replace the key file atomically, readable by its owner only."""
    make_private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, b"\n".join(keys) + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def create_key_file(path: Path) -> KeyRing:
    """Generate the first key. O_EXCL makes two processes starting at once agree on one."""
    make_private_dir(path.parent)
    key = generate_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return KeyRing(keys=_split(path.read_text(encoding="ascii")), origin="file", path=path)
    try:
        os.write(fd, key + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(path.parent)
    log.warning(
        "No secret key was configured: generated one in %s (key %s). Back this file up: "
        "without it the stored credentials cannot be read.",
        path,
        fingerprint(key),
    )
    return KeyRing(keys=(key,), origin="file", path=path)
