"""Opening Courier's parts in order: settings, database, migrations, vault, storage, catalog,
and the process-wide objects every role shares (the accounting provider registry, the
connections to the suppliers' hosts)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import col, func, select

from core.accounting.registry import ProviderRegistry
from core.catalog.entries import load_entries
from core.config import Settings
from core.db import Database, create_database
from core.db.migrate import current_revision, head_revision, upgrade
from core.errors import DatabaseNotMigrated
from core.limits import shared_limits
from core.models import Supplier
from core.services.catalog import sync_catalog
from core.services.secrets import unlock_vault
from core.storage_s3 import ConfiguredStore, build_store
from core.suppliers.pool import HttpPool
from core.suppliers.woob.modules import with_community
from core.suppliers.woob.setup import WoobSetup
from core.vault import Vault
from courier.startup import FolderUnusable, reason_of, usable_folder

log = logging.getLogger("courier")


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    db: Database
    store: ConfiguredStore
    vault: Vault
    #: Listed suppliers in the catalog once it was loaded.
    suppliers: int
    #: The one provider registry of this process: every role, chat action and command
    #: shares its HTTP clients and per-company call limiters (Xero counts 60 calls a
    #: minute and 5 at once per company, not per action), and on PostgreSQL every process
    #: counts in the same table. Closed when the runtime is.
    providers: ProviderRegistry
    #: The connections to the suppliers' hosts, kept alive from one run to the next and
    #: capped per host; each run's client still keeps its own cookies. Closed when the
    #: runtime is.
    supplier_http: HttpPool


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


async def ensure_catalog(db: Database, *, force: bool = False, woob: bool = False) -> int:
    """`woob`: woob is installed here, so its community connectors are available."""
    async with db.transaction() as session:
        listed = await session.scalar(
            select(func.count()).select_from(Supplier).where(col(Supplier.listed).is_(True))
        )
        if listed and not force:
            return int(listed)
        entries = with_community(load_entries(), installed=woob)
        return await sync_catalog(session=session, entries=entries)


def _create_database(settings: Settings) -> Database:
    """The database, with the data folder checked first when Courier writes there: the
    embedded SQLite lives in it, and so does the key generated on a first run."""
    first_key = settings.secret_key is None and not settings.key_file.exists()
    if settings.database_url is None or first_key:
        usable_folder(settings.data_dir, "COURIER_DATA_DIR")
    try:
        return create_database(settings.db_url)
    except OSError as err:  # only SQLite touches files here: its folder or file
        folder = Path(settings.db_url.database or ".").parent
        raise FolderUnusable(
            path=str(folder), setting="COURIER_DATABASE_URL", reason=reason_of(err)
        ) from None


@asynccontextmanager
async def open_runtime(
    settings: Settings, *, refresh_catalog: bool = False
) -> AsyncIterator[Runtime]:
    """Open Courier's parts. The catalog is loaded when empty, or refreshed from the
    packaged data on request (`courier run`, so an upgrade brings its new suppliers)."""
    db = _create_database(settings)
    # Builds nothing until a provider is asked for. On PostgreSQL its limiters count in
    # the database, so a company's limits hold across every process.
    providers = ProviderRegistry(settings, limits=shared_limits(db.engine))
    # A run sends one request at a time, so with a socket per run at once to one host no
    # run waits for one; politeness to a portal is the throttle's (per supplier, roles.py).
    supplier_http = HttpPool(per_host=settings.fetch_concurrency)
    try:
        await db.ping()
        await migrate(db, settings)
        async with db.transaction() as session:
            vault = await unlock_vault(session=session, settings=settings)
        woob = WoobSetup(settings.woob_home).installed
        suppliers = await ensure_catalog(db, force=refresh_catalog, woob=woob)
        yield Runtime(
            settings=settings,
            db=db,
            store=build_store(settings),
            vault=vault,
            suppliers=suppliers,
            providers=providers,
            supplier_http=supplier_http,
        )
    finally:
        await supplier_http.aclose()
        await providers.aclose()
        await db.dispose()
