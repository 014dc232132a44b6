"""The bakery's Beancount ledger and the parts a flow reaches for (services), around one
provider registry for the test, as courier/runtime.py holds one for the process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from core.accounting.registry import ProviderRegistry
from core.config import Settings
from core.db import Database
from core.storage import LocalDocumentStore
from core.vault import Vault
from tests.integration.accounting.conftest import LEDGER


@asynccontextmanager
async def ledger_services(
    *, db: Database, vault: Vault, store: LocalDocumentStore, tmp_path: Path
) -> AsyncIterator[tuple[dict[str, Any], Path]]:
    """The flows' services and the ledger file they may link; the registry closed after."""
    settings = Settings(_env_file=None, data_dir=tmp_path / "var")
    ledger = tmp_path / "books" / "main.beancount"
    ledger.parent.mkdir()
    ledger.write_text(LEDGER, encoding="utf-8")
    providers = ProviderRegistry(settings)
    services = {
        "settings": settings,
        "db": db,
        "vault": vault,
        "store": store,
        "providers": providers,
    }
    try:
        yield services, ledger
    finally:
        await providers.aclose()
