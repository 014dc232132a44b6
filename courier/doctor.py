"""`courier doctor`: checks each part and says exactly what is wrong. It changes nothing."""

from __future__ import annotations

import argparse
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from core.config import Settings
from core.db import Database, create_database
from core.db.migrate import current_revision, head_revision
from core.errors import CourierError, SecretKeyMissing
from core.file_modes import make_private_dir, open_to_others
from core.keyring import read_keyring
from core.models import VaultCanary
from core.services.secrets import CANARY, count_sealed
from core.storage_s3 import build_store, store_location
from core.vault import Vault
from courier.output import emit_json
from courier.startup import reason_of
from courier.texts import render_error


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


async def _data_dir(settings: Settings, db: Database | None) -> str:
    make_private_dir(settings.data_dir)
    if not os.access(settings.data_dir, os.W_OK):
        raise PermissionError(f"{settings.data_dir} is not writable")
    return f"{settings.data_dir.resolve()} is writable"


async def _database(settings: Settings, db: Database) -> str:
    await db.ping()
    return f"{settings.safe_db_url()} answers"


async def _schema(settings: Settings, db: Database) -> str:
    current, head = await current_revision(db.engine), head_revision()
    if current != head:
        raise RuntimeError(
            f"schema at {current or 'nothing'}, code expects {head}: run `courier db upgrade`"
        )
    return f"schema at {head}"


async def _storage(settings: Settings, db: Database) -> str:
    store = build_store(settings)
    await store.check()
    return f"{store_location(store)} stores and reads back"


async def _secret_key(settings: Settings, db: Database) -> str:
    ring = read_keyring(settings)
    async with db.transaction() as session:
        canary = await session.get(VaultCanary, CANARY)
        if ring is None:
            if canary is not None or await count_sealed(session=session):
                raise SecretKeyMissing(key_file=str(settings.key_file))
            return "no key yet: one is generated on first run"
        vault = Vault(ring.keys)
        if canary is not None:
            vault.open(canary.sealed)
    return f"key {vault.primary_fingerprint} ({ring.origin}) opens the stored secrets"


async def _private(settings: Settings, db: Database) -> str:
    """The key decrypts every stored credential, and the database holds them sealed."""
    files = [settings.key_file]
    if db.backend == "sqlite" and settings.db_url.database:
        files.append(Path(settings.db_url.database))
    exposed = [str(f.resolve()) for f in files if f.exists() and open_to_others(f)]
    if exposed:
        raise PermissionError(
            f"{', '.join(exposed)} can be read by others: chmod 600 it, and chmod 700 "
            f"{settings.data_dir.resolve()}"
        )
    return "the key and the database are readable by their owner only"


CHECKS: tuple[tuple[str, Callable[[Settings, Database], Awaitable[str]]], ...] = (
    ("data_dir", _data_dir),
    ("database", _database),
    ("schema", _schema),
    ("storage", _storage),
    ("secret_key", _secret_key),
    ("private", _private),
)


async def _check(name: str, check: Awaitable[str]) -> Check:
    try:
        return Check(name, True, await check)
    except CourierError as err:
        return Check(name, False, render_error(err))
    except Exception as err:  # doctor reports every failure, whatever its kind
        return Check(name, False, str(err) or type(err).__name__)


async def diagnose(settings: Settings) -> list[Check]:
    try:
        db = create_database(settings.db_url)
    except OSError as err:
        # The SQLite file's folder cannot be made: the data folder's check says why, and
        # nothing after it can be checked without a database.
        folder = Path(settings.db_url.database or ".").parent
        return [
            await _check("data_dir", _data_dir(settings, None)),
            Check("database", False, f"cannot create the database in {folder} ({reason_of(err)})"),
        ]
    results: list[Check] = []
    try:
        for name, check in CHECKS:
            results.append(await _check(name, check(settings, db)))
            if name == "database" and not results[-1].ok:
                break  # nothing after this can be checked without a database
    finally:
        await db.dispose()
    return results


async def doctor(args: argparse.Namespace, settings: Settings) -> int:
    """`courier doctor`: every check, one line each; exit 1 when one fails."""
    checks = await diagnose(settings)
    if args.json:
        emit_json([{"check": c.name, "ok": c.ok, "detail": c.detail} for c in checks])
    else:
        for check in checks:
            print(f"{'ok  ' if check.ok else 'FAIL'}  {check.name:<10}  {check.detail}")
    return 0 if all(c.ok for c in checks) else 1
