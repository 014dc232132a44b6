"""The supplier catalog's typed entry and the loader that validates the curated JSON.

The catalog ships as ``entries.json`` next to this module. Every entry is checked on
load so that a bad edit fails loudly, naming the entry, instead of surfacing later as a
wrong portal link shown to a user.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PORTALS = frozenset({"pro", "personal", "both"})
CATEGORIES = frozenset(
    {
        "telecom",
        "energy",
        "water",
        "cloud",
        "saas",
        "office",
        "travel",
        "fuel",
        "marketplace",
        "retail",
        "insurance",
        "bank",
        "delivery",
        "other",
    }
)
#: api: an official invoice API; portal: a scripted login on the supplier's site;
#: community: a woob module, maintained by its community; email: invoices come by mail
#: only; demo: the Demo Supplier served by Courier itself.
CONNECTOR_KINDS = frozenset({"api", "portal", "community", "email", "demo"})
TWOFA_CHANNELS = frozenset({"sms", "email", "app", "totp"})

_FIELDS = frozenset(
    {
        "key",
        "name",
        "aliases",
        "portal",
        "portal_url",
        "category",
        "countries",
        "domains",
        "connector",
        "twofa",
    }
)
_CONNECTOR_FIELDS = frozenset({"kind", "available"})
_KEY_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
# ISO 3166-1 alpha-2, plus "EU" for suppliers that serve the whole Union.
_COUNTRY_RE = re.compile(r"[A-Z]{2}")
# Brand TLDs (.bnpparibas, .leclerc, .dhl) are real mail domains, so no TLD list here.
_DOMAIN_RE = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")


def is_domain(value: str) -> bool:
    """A lowercase mail domain with at least one dot ("edf.fr", "email.apple.com")."""
    return "." in value and _DOMAIN_RE.fullmatch(value) is not None


class CatalogDataError(ValueError):
    """The catalog data is malformed; the message names the offending entry."""


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One supplier, with the portal where its invoices are fetched."""

    key: str
    name: str
    aliases: tuple[str, ...]
    portal: str
    portal_url: str
    category: str
    countries: tuple[str, ...]
    domains: tuple[str, ...]
    connector_kind: str
    connector_available: bool
    twofa: tuple[str, ...]


def read_catalog_json(name: str, path: Path | None = None) -> tuple[object, str]:
    """The JSON of `path`, or of the file `name` packaged here, and the source to name in
    errors; a file that is not JSON is a CatalogDataError naming it."""
    if path is None:
        source = f"core.catalog/{name}"
        text = resources.files("core.catalog").joinpath(name).read_text("utf-8")
    else:
        source = str(path)
        text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text), source
    except json.JSONDecodeError as exc:
        raise CatalogDataError(f"{source}: not valid JSON: {exc}") from exc


def load_entries(path: Path | None = None) -> tuple[CatalogEntry, ...]:
    """Load and validate the catalog; defaults to the ``entries.json`` packaged here."""
    raw, source = read_catalog_json("entries.json", path)
    return parse_entries(raw, source=source)


def parse_entries(raw: object, *, source: str = "catalog") -> tuple[CatalogEntry, ...]:
    """Validate already-decoded JSON data and build the entries."""
    if not isinstance(raw, list):
        raise CatalogDataError(f"{source}: expected a JSON list of entries")
    entries: list[CatalogEntry] = []
    seen_keys: dict[str, int] = {}
    seen_names: dict[str, int] = {}
    for position, item in enumerate(raw):
        entry = _parse_entry(item, position)
        label = _label(position, entry.key)
        if entry.key in seen_keys:
            raise CatalogDataError(
                f"{label}: duplicate key (already used by entry #{seen_keys[entry.key]})"
            )
        folded_name = entry.name.casefold()
        if folded_name in seen_names:
            raise CatalogDataError(
                f"{label}: duplicate name {entry.name!r} "
                f"(already used by entry #{seen_names[folded_name]})"
            )
        seen_keys[entry.key] = position
        seen_names[folded_name] = position
        entries.append(entry)
    return tuple(entries)


def _label(position: int, key: object) -> str:
    return f"entry #{position} ({key!r})" if isinstance(key, str) and key else f"entry #{position}"


def _parse_entry(item: object, position: int) -> CatalogEntry:
    if not isinstance(item, dict):
        raise CatalogDataError(f"entry #{position}: expected an object")
    label = _label(position, item.get("key"))
    missing = _FIELDS - item.keys()
    if missing:
        raise CatalogDataError(f"{label}: missing field(s) {', '.join(sorted(missing))}")
    unknown = item.keys() - _FIELDS
    if unknown:
        raise CatalogDataError(f"{label}: unknown field(s) {', '.join(sorted(unknown))}")

    key = _text(item, "key", label)
    if not _KEY_RE.fullmatch(key):
        raise CatalogDataError(f"{label}: key must be a lowercase slug, got {key!r}")
    name = _text(item, "name", label)
    portal = _choice(item, "portal", PORTALS, label)
    category = _choice(item, "category", CATEGORIES, label)
    portal_url = _text(item, "portal_url", label)
    parts = urlsplit(portal_url)
    if parts.scheme != "https" or not parts.hostname:
        raise CatalogDataError(f"{label}: portal_url must be an https:// URL, got {portal_url!r}")

    aliases = _texts(item, "aliases", label)
    countries = _texts(item, "countries", label)
    for country in countries:
        if not _COUNTRY_RE.fullmatch(country):
            raise CatalogDataError(f"{label}: country must be a 2-letter code, got {country!r}")
    domains = _texts(item, "domains", label)
    if not domains:
        raise CatalogDataError(f"{label}: domains must not be empty")
    for domain in domains:
        if not is_domain(domain):
            raise CatalogDataError(f"{label}: invalid domain {domain!r}")
    twofa = _texts(item, "twofa", label)
    for channel in twofa:
        if channel not in TWOFA_CHANNELS:
            raise CatalogDataError(
                f"{label}: twofa channel must be one of {sorted(TWOFA_CHANNELS)}, got {channel!r}"
            )

    connector = item["connector"]
    if not isinstance(connector, dict):
        raise CatalogDataError(f"{label}: connector must be an object")
    if connector.keys() != _CONNECTOR_FIELDS:
        raise CatalogDataError(
            f"{label}: connector must have exactly the fields {sorted(_CONNECTOR_FIELDS)}"
        )
    kind = _choice(connector, "kind", CONNECTOR_KINDS, f"{label} connector")
    available = connector["available"]
    if not isinstance(available, bool):
        raise CatalogDataError(f"{label}: connector.available must be true or false")

    return CatalogEntry(
        key=key,
        name=name,
        aliases=aliases,
        portal=portal,
        portal_url=portal_url,
        category=category,
        countries=countries,
        domains=domains,
        connector_kind=kind,
        connector_available=available,
        twofa=twofa,
    )


def _text(item: dict[str, Any], field: str, label: str) -> str:
    value = item[field]
    if not isinstance(value, str) or not value.strip():
        raise CatalogDataError(f"{label}: {field} must be a non-empty string")
    return value


def _choice(item: dict[str, Any], field: str, allowed: frozenset[str], label: str) -> str:
    value = item[field]
    if not isinstance(value, str) or value not in allowed:
        raise CatalogDataError(f"{label}: {field} must be one of {sorted(allowed)}, got {value!r}")
    return value


def _texts(item: dict[str, Any], field: str, label: str) -> tuple[str, ...]:
    value = item[field]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise CatalogDataError(f"{label}: {field} must be a list of non-empty strings")
    if len(set(value)) != len(value):
        raise CatalogDataError(f"{label}: {field} has duplicates")
    return tuple(value)
