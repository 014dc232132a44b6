"""Supplier catalog: the curated list of suppliers and the search that finds them.

``load_entries()`` reads the packaged ``entries.json``; ``CatalogIndex`` answers what the
user types ("ornage", "EDF pro", "boui…") with the suppliers it most likely means.
"""

from __future__ import annotations

from core.catalog.entries import (
    CATEGORIES,
    CONNECTOR_KINDS,
    PORTALS,
    TWOFA_CHANNELS,
    CatalogDataError,
    CatalogEntry,
    load_entries,
    parse_entries,
)
from core.catalog.index import CatalogIndex, CatalogMatch, fold

__all__ = [
    "CATEGORIES",
    "CONNECTOR_KINDS",
    "PORTALS",
    "TWOFA_CHANNELS",
    "CatalogDataError",
    "CatalogEntry",
    "CatalogIndex",
    "CatalogMatch",
    "fold",
    "load_entries",
    "parse_entries",
]
