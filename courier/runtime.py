"""Opening Courier's parts in order: settings, database, migrations, vault, storage, catalog."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlmodel import col, func, select

from core.catalog.entries import load_entries
from core.config import Settings
from core.db import Database, create_database
from core.db.migrate import current_revision, head_revision, upgrade
from core.errors import DatabaseNotMigrated
from core.models import Supplier
from core.services.catalog import sync_catalog
from core.services.secrets import unlock_vault
from core.storage import LocalDocumentStore
from core.vault import Vault

log = logging.getLogger("courier")


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    db: Database
    store: LocalDocumentStore
    vault: Vault
    #: Listed suppliers in the catalog once it was loaded.
    suppliers: int


async def migrate(db: Database, settings: Settings) -> None:
    """The embedded SQLite applies its migrations itself; a shared server is migrated on
    purpose with `courier db upgrade`, so several processes never race to do it."""
    head = head_revision()
    current = await current_revision(db.engine)
    if current == head:
        return
    if db.backend == "sqlite":
        await upgrade(db.engine)
        log.info("database migrated to %s", head)
        return
    raise DatabaseNotMigrated(url=settings.safe_db_url(), current=current or "empty", head=head)


async def ensure_catalog(db: Database, *, force: bool = False) -> int:
    async with db.transaction() as session:
        listed = await session.scalar(
            select(func.count()).select_from(Supplier).where(col(Supplier.listed).is_(True))
        )
        if listed and not force:
            return int(listed)
        return await sync_catalog(session=session, entries=load_entries())


@asynccontextmanager
async def open_runtime(
    settings: Settings, *, refresh_catalog: bool = False
) -> AsyncIterator[Runtime]:
    """Open Courier's parts. The catalog is loaded when empty, or refreshed from the
    packaged data on request (`courier run`, so an upgrade brings its new suppliers)."""
    db = create_database(settings.db_url)
    try:
        await db.ping()
        await migrate(db, settings)
        async with db.transaction() as session:
            vault = await unlock_vault(session=session, settings=settings)
        suppliers = await ensure_catalog(db, force=refresh_catalog)
        yield Runtime(
            settings=settings,
            db=db,
            store=LocalDocumentStore(settings.documents_dir),
            vault=vault,
            suppliers=suppliers,
        )
    finally:
        await db.dispose()
