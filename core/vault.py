"""Encryption at rest for credentials, sessions, tokens and mailbox secrets.

Secrets are sealed with Fernet (AES-128-CBC + HMAC-SHA256) under a MultiFernet key ring:
the first key seals, every key opens, which is what makes rotation possible without a
window where some rows are unreadable.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from core.errors import SecretKeyInvalid, SecretKeyMismatch


def fingerprint(key: bytes) -> str:
    """A short, non-secret name for a key, to tell keys apart in messages."""
    return hashlib.sha256(key).hexdigest()[:8]


def generate_key() -> bytes:
    return Fernet.generate_key()


class Vault:
    """Seals and opens secrets. Never logs or shows what it handles."""

    __slots__ = ("_fernet", "_keys")

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise SecretKeyInvalid(reason="no key")
        try:
            fernets = [Fernet(key) for key in keys]
        except (ValueError, TypeError) as err:
            # The message says which key by position only: the key itself is the secret.
            raise SecretKeyInvalid(reason="not a Fernet key (32 url-safe base64 bytes)") from err
        self._keys = tuple(keys)
        self._fernet = MultiFernet(fernets)

    def __repr__(self) -> str:
        return f"Vault(primary={self.primary_fingerprint}, keys={len(self._keys)})"

    def with_primary(self, key: bytes) -> Vault:
        """The ring with `key` first: it seals from now on, and the old keys still open."""
        return Vault((key, *self._keys))

    @property
    def primary_fingerprint(self) -> str:
        return fingerprint(self._keys[0])

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode("ascii")

    def open(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode()
        except InvalidToken as err:
            raise SecretKeyMismatch(key=self.primary_fingerprint) from err

    def seal_json(self, value: dict[str, Any]) -> str:
        return self.seal(json.dumps(value, separators=(",", ":")))

    def open_json(self, token: str) -> dict[str, Any]:
        value = json.loads(self.open(token))
        if not isinstance(value, dict):
            raise SecretKeyMismatch(key=self.primary_fingerprint)
        return value

    def reseal(self, token: str) -> str:
        """Re-encrypt under the primary key, whichever key of the ring sealed it."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except InvalidToken as err:
            raise SecretKeyMismatch(key=self.primary_fingerprint) from err
