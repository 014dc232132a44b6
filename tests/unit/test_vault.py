"""The vault seals and opens, rotates without a gap, and never shows a key or a secret."""

from __future__ import annotations

import pytest

from core.errors import SecretKeyInvalid, SecretKeyMismatch
from core.vault import Vault, fingerprint, generate_key


def test_a_sealed_secret_opens_only_with_its_key() -> None:
    key = generate_key()
    token = Vault([key]).seal("hunter2")
    assert "hunter2" not in token
    assert Vault([key]).open(token) == "hunter2"
    with pytest.raises(SecretKeyMismatch) as caught:
        Vault([generate_key()]).open(token)
    assert "hunter2" not in str(caught.value)
    assert "hunter2" not in repr(caught.value)


def test_rotation_keeps_old_tokens_readable_then_moves_them_to_the_new_key() -> None:
    old = Vault([generate_key()])
    token = old.seal("s3cret")
    new_key = generate_key()
    ring = old.with_primary(new_key)
    assert ring.open(token) == "s3cret"
    resealed = ring.reseal(token)
    assert Vault([new_key]).open(resealed) == "s3cret"


def test_a_bad_key_is_refused_without_echoing_it() -> None:
    with pytest.raises(SecretKeyInvalid) as caught:
        Vault([b"not-a-real-key-but-secret-ish"])
    assert "secret-ish" not in str(caught.value)
    with pytest.raises(SecretKeyInvalid):
        Vault([])


def test_the_repr_names_keys_by_fingerprint_only() -> None:
    key = generate_key()
    shown = repr(Vault([key]))
    assert key.decode() not in shown
    assert fingerprint(key) in shown


def test_json_round_trip() -> None:
    vault = Vault([generate_key()])
    assert vault.open_json(vault.seal_json({"login": "a", "password": "b"})) == {
        "login": "a",
        "password": "b",
    }
