"""The curated supplier data and its loader's validation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from core.catalog import (
    CATEGORIES,
    CONNECTOR_KINDS,
    CatalogDataError,
    CatalogEntry,
    load_entries,
    parse_entries,
)

# (personal portal, professional portal): picking the wrong one hides invoices.
PORTAL_PAIRS = [
    ("orange", "orange-pro"),
    ("edf", "edf-entreprises"),
    ("amazon", "amazon-business"),
    ("engie", "engie-pro"),
    ("sfr", "sfr-business"),
    ("bouygues-telecom", "bouygues-telecom-entreprises"),
    ("free", "free-pro"),
    ("bt", "bt-business"),
    ("cdiscount", "cdiscount-pro"),
    ("uber", "uber-for-business"),
    ("sncf-connect", "sncf-connect-pro"),
    ("bnp-paribas", "bnp-paribas-pro"),
]


@pytest.fixture(scope="module")
def entries() -> tuple[CatalogEntry, ...]:
    return load_entries()


@pytest.fixture(scope="module")
def by_key(entries: tuple[CatalogEntry, ...]) -> dict[str, CatalogEntry]:
    return {entry.key: entry for entry in entries}


def _raw(**overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "key": "acme",
        "name": "Acme",
        "aliases": ["acme corp"],
        "portal": "pro",
        "portal_url": "https://billing.acme.example",
        "category": "saas",
        "countries": ["FR"],
        "domains": ["acme.example"],
        "connector": {"kind": "portal", "available": False},
        "twofa": ["totp"],
    }
    entry.update(overrides)
    return entry


# --- the shipped data ---------------------------------------------------------------


def test_packaged_catalog_is_large_enough(entries: tuple[CatalogEntry, ...]) -> None:
    assert len(entries) >= 300


def test_keys_and_names_are_unique(entries: tuple[CatalogEntry, ...]) -> None:
    keys = [entry.key for entry in entries]
    names = [entry.name.casefold() for entry in entries]
    assert len(set(keys)) == len(keys)
    assert len(set(names)) == len(names)


def test_every_portal_url_is_https_on_one_of_the_entry_domains(
    entries: tuple[CatalogEntry, ...],
) -> None:
    # The domains later match 2FA and invoice mails: the portal's own domain must be there.
    for entry in entries:
        parts = urlsplit(entry.portal_url)
        host = parts.hostname or ""
        assert parts.scheme == "https", entry.key
        assert any(host == d or host.endswith("." + d) for d in entry.domains), entry.key


def test_entries_are_typed_values(by_key: dict[str, CatalogEntry]) -> None:
    orange_pro = by_key["orange-pro"]
    assert orange_pro.portal == "pro"
    assert orange_pro.category == "telecom"
    assert isinstance(orange_pro.aliases, tuple)
    assert isinstance(orange_pro.domains, tuple)
    with pytest.raises(AttributeError):
        orange_pro.name = "changed"  # type: ignore[misc]


@pytest.mark.parametrize(("personal_key", "pro_key"), PORTAL_PAIRS)
def test_suppliers_with_two_portals_have_two_entries(
    by_key: dict[str, CatalogEntry], personal_key: str, pro_key: str
) -> None:
    personal, pro = by_key[personal_key], by_key[pro_key]
    assert personal.portal == "personal"
    assert pro.portal == "pro"
    assert personal.portal_url != pro.portal_url
    # A shared alias makes one search show both, so the user picks the right portal.
    assert {alias.casefold() for alias in personal.aliases} & {
        alias.casefold() for alias in pro.aliases
    }


def test_every_category_is_represented(entries: tuple[CatalogEntry, ...]) -> None:
    assert {entry.category for entry in entries} == CATEGORIES


def test_known_billing_apis_are_marked_as_api(by_key: dict[str, CatalogEntry]) -> None:
    for key in ("aws", "google-cloud", "ovhcloud", "scaleway", "digitalocean", "stripe"):
        assert by_key[key].connector_kind == "api", key


def test_available_connectors_are_exactly_those_courier_ships(
    entries: tuple[CatalogEntry, ...],
) -> None:
    from courier.connectors import build_registry

    registry = build_registry()
    available = {entry.key for entry in entries if entry.connector_available}
    assert available == registry.keys()
    # The kind the catalog shows (and `catalog search --json` reports) is the one shipped.
    kinds = {entry.key: entry.connector_kind for entry in entries}
    for key in available:
        assert kinds[key] == registry.kind_of(key), key


def test_every_shipped_connector_declares_the_fields_it_gives() -> None:
    from core.suppliers.given_fields import GIVABLE_FIELDS
    from courier.connectors import build_registry

    registry = build_registry()
    for key in registry.keys() - {"demo-supplier"}:
        gives = registry.gives(key)
        assert gives, key
        assert gives <= GIVABLE_FIELDS, key
        assert {"total_incl_tax", "currency"} <= gives, key  # every API gives its total


def test_the_catalog_knows_every_kind_of_connector(entries: tuple[CatalogEntry, ...]) -> None:
    kinds = {entry.connector_kind for entry in entries}
    assert {"api", "portal", "email", "demo"} <= kinds
    assert kinds <= CONNECTOR_KINDS
    api = [e for e in entries if e.connector_kind == "api" and e.connector_available]
    assert len(api) >= 5


# --- validation ---------------------------------------------------------------------


def test_valid_entry_is_parsed_into_tuples() -> None:
    (entry,) = parse_entries([_raw()])
    assert entry == CatalogEntry(
        key="acme",
        name="Acme",
        aliases=("acme corp",),
        portal="pro",
        portal_url="https://billing.acme.example",
        category="saas",
        countries=("FR",),
        domains=("acme.example",),
        connector_kind="portal",
        connector_available=False,
        twofa=("totp",),
    )


def test_load_entries_reads_a_given_path(tmp_path: Path) -> None:
    path = tmp_path / "entries.json"
    path.write_text(json.dumps([_raw(), _raw(key="other", name="Other")]), encoding="utf-8")
    assert [entry.key for entry in load_entries(path)] == ["acme", "other"]


def test_catalog_data_error_is_a_value_error() -> None:
    assert issubclass(CatalogDataError, ValueError)


def test_missing_field_names_the_entry_and_field() -> None:
    raw = _raw()
    del raw["portal_url"]
    with pytest.raises(CatalogDataError, match=r"entry #0 \('acme'\).*portal_url"):
        parse_entries([raw])


def test_unknown_field_is_rejected() -> None:
    with pytest.raises(CatalogDataError, match=r"'acme'.*unknown field.*website"):
        parse_entries([_raw(website="https://acme.example")])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"portal": "business"}, "portal must be one of"),
        ({"category": "food"}, "category must be one of"),
        ({"connector": {"kind": "scraper", "available": False}}, "kind must be one of"),
        ({"connector": {"kind": "api", "available": "no"}}, "available must be true or false"),
        ({"connector": {"kind": "api"}}, "connector must have exactly"),
        ({"portal_url": "http://acme.example"}, "https://"),
        ({"portal_url": "https://"}, "https://"),
        ({"key": "Acme Corp"}, "lowercase slug"),
        ({"name": "  "}, "name must be a non-empty string"),
        ({"aliases": "acme"}, "aliases must be a list"),
        ({"aliases": ["acme", "acme"]}, "aliases has duplicates"),
        ({"countries": ["France"]}, "2-letter code"),
        ({"domains": []}, "domains must not be empty"),
        ({"domains": ["https://acme.example"]}, "invalid domain"),
        ({"twofa": ["pigeon"]}, "twofa channel"),
    ],
)
def test_bad_values_name_the_entry(overrides: dict[str, Any], message: str) -> None:
    raw = _raw(**overrides)
    good = _raw(key="first", name="First")
    with pytest.raises(CatalogDataError, match=r"entry #1 \(") as caught:
        parse_entries([good, raw])
    assert message in str(caught.value)
    if isinstance(raw["key"], str) and raw["key"] == "acme":
        assert "'acme'" in str(caught.value)


def test_duplicate_key_is_rejected() -> None:
    with pytest.raises(CatalogDataError, match=r"entry #1 \('acme'\): duplicate key.*#0"):
        parse_entries([_raw(), _raw(name="Acme Two")])


def test_duplicate_name_is_rejected_case_insensitively() -> None:
    with pytest.raises(CatalogDataError, match=r"entry #1 \('acme-2'\): duplicate name"):
        parse_entries([_raw(), _raw(key="acme-2", name="ACME")])


def test_top_level_must_be_a_list() -> None:
    with pytest.raises(CatalogDataError, match="list"):
        parse_entries({"acme": _raw()})


def test_entry_must_be_an_object() -> None:
    with pytest.raises(CatalogDataError, match=r"entry #0: expected an object"):
        parse_entries(["acme"])


def test_invalid_json_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "entries.json"
    path.write_text("[{", encoding="utf-8")
    with pytest.raises(CatalogDataError, match="not valid JSON"):
        load_entries(path)
