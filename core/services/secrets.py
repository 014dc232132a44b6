"""Unlocking the vault at start, and re-sealing every secret under a new key.

A canary row, sealed under the current key, tells a missing or wrong key apart from an
empty database: Courier refuses to start rather than generate a key that opens nothing.
"""

from __future__ import annotations

from sqlalchemy import Column, Table, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

import core.models  # noqa: F401  (every table must be registered to find its sealed columns)
from core.config import Settings
from core.errors import SecretKeyMismatch, SecretKeyMissing
from core.keyring import KeyRing, create_key_file, read_keyring
from core.models import VaultCanary
from core.vault import Vault

CANARY = "primary"
_CANARY_TEXT = "courier-vault-canary"


def sealed_columns() -> list[tuple[Table, Column[str]]]:
    """Every column marked SEALED, found from the models so a new one is never forgotten."""
    found: list[tuple[Table, Column[str]]] = []
    for table in SQLModel.metadata.sorted_tables:
        found.extend((table, column) for column in table.columns if column.info.get("sealed"))
    return found


async def count_sealed(*, session: AsyncSession) -> int:
    total = 0
    for table, column in sealed_columns():
        count = await session.scalar(
            select(func.count()).select_from(table).where(column.is_not(None))
        )
        total += int(count or 0)
    return total


async def unlock_vault(*, session: AsyncSession, settings: Settings) -> Vault:
    """Open the vault with the configured keys, generating the first key on a fresh install."""
    ring: KeyRing | None = read_keyring(settings)
    canary = await session.get(VaultCanary, CANARY)
    if ring is None:
        if canary is not None or await count_sealed(session=session) > 0:
            raise SecretKeyMissing(key_file=str(settings.key_file))
        ring = create_key_file(settings.key_file)
    vault = Vault(ring.keys)
    if canary is None:
        try:
            async with session.begin_nested():
                session.add(VaultCanary(name=CANARY, sealed=vault.seal(_CANARY_TEXT)))
                await session.flush()
        except IntegrityError:
            # Another process started at the same moment and wrote it first: check theirs.
            canary = await session.get(VaultCanary, CANARY)
    if canary is not None and vault.open(canary.sealed) != _CANARY_TEXT:
        raise SecretKeyMismatch(key=vault.primary_fingerprint)
    return vault


async def reseal_all(*, session: AsyncSession, vault: Vault) -> int:
    """Re-encrypt every sealed value under the vault's primary key. Returns how many."""
    # Table-level statements, on the session's own connection and so in its transaction.
    connection = await session.connection()
    count = 0
    for table, column in sealed_columns():
        keys = list(table.primary_key.columns)
        rows = (await connection.execute(select(*keys, column).where(column.is_not(None)))).all()
        for *ids, token in rows:
            match = [key == value for key, value in zip(keys, ids, strict=True)]
            await connection.execute(
                update(table).where(*match).values({column.name: vault.reseal(token)})
            )
            count += 1
    return count
