"""The mail routes data (core/catalog/mail_routes.json) and its loader's validation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.catalog import CatalogDataError, load_entries
from core.catalog.mail_routes import (
    PUBLIC_MAILBOXES,
    SHARED_SENDERS,
    MailRoute,
    load_mail_routes,
    mail_route,
    parse_mail_routes,
)
from core.services.catalog import row_domains

KEYS = frozenset({"edf", "uber"})


def _parse(raw: Any) -> dict[str, MailRoute]:
    return dict(parse_mail_routes(raw, keys=KEYS, source="test"))


def test_the_packaged_routes_load_and_name_only_catalog_entries() -> None:
    entries = {entry.key: entry for entry in load_entries()}
    routes = load_mail_routes()
    assert set(routes) <= set(entries)
    # The big suppliers people have: EDF's setting is known, Uber emails by default.
    edf = mail_route("edf")
    assert edf is not None
    assert "edf.fr" in edf.domains
    assert edf.setting is not None
    uber = mail_route("uber")
    assert uber is not None
    assert uber.by_default
    assert mail_route("demo-supplier") is None
    for route in routes.values():
        assert not set(route.domains) & (PUBLIC_MAILBOXES | SHARED_SENDERS)


def test_a_route_adds_its_domains_to_the_entrys_once() -> None:
    [edf] = [entry for entry in load_entries() if entry.key == "edf"]
    route = MailRoute("edf", domains=("edf.fr", "factures.edf.example"))
    assert row_domains(edf, route) == [*edf.domains, "factures.edf.example"]
    assert row_domains(edf, None) == list(edf.domains)


def test_a_good_route_parses() -> None:
    routes = _parse(
        {
            "edf": {"domains": ["edf.fr"], "setting": "Espace Client → facture électronique"},
            "uber": {"domains": ["uber.com"], "by_default": True},
        }
    )
    assert routes["edf"] == MailRoute(
        "edf", ("edf.fr",), "Espace Client → facture électronique", False
    )
    assert routes["uber"].by_default


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"edf-nope": {"domains": ["edf.fr"]}}, "not a catalog key"),
        ({"edf": {"domains": ["EDF.fr"]}}, "invalid domain"),
        ({"edf": {"domains": ["edf"]}}, "invalid domain"),
        ({"edf": {"domains": ["edf .fr"]}}, "invalid domain"),
        ({"edf": {"domains": ["https://edf.fr"]}}, "invalid domain"),
        ({"edf": {"domains": ["edf.fr", "edf.fr"]}}, "duplicates"),
        ({"edf": {"domains": "edf.fr"}}, "list of strings"),
        ({"edf": {"domains": ["gmail.com"]}}, "anyone's domain"),
        ({"edf": {"domains": ["edf.gmail.com"]}}, "anyone's domain"),
        ({"edf": {"domains": ["edf.sendgrid.net"]}}, "anyone's domain"),
        ({"edf": {"domains": ["stripe.com"]}}, "anyone's domain"),
        ({"edf": {"domains": ["co.uk"]}}, "public suffix"),
        ({"edf": {"domain": ["edf.fr"]}}, "unknown field"),
        ({"edf": {}}, "non-empty object"),
        ({"edf": {"setting": ""}}, "setting"),
        ({"edf": {"setting": "Mes factures\nRecevoir"}}, "setting"),
        ({"edf": {"setting": "x" * 201}}, "setting"),
        ({"edf": {"by_default": "yes"}}, "by_default"),
        ({"edf": {"setting": "Mes factures", "by_default": True}}, "either"),
        (["edf"], "keyed by catalog key"),
    ],
)
def test_a_bad_route_fails_naming_it(raw: Any, message: str) -> None:
    with pytest.raises(CatalogDataError, match=message):
        _parse(raw)


def test_a_file_that_is_not_json_fails(tmp_path: Path) -> None:
    path = tmp_path / "routes.json"
    path.write_text("{", encoding="utf-8")
    with pytest.raises(CatalogDataError, match="not valid JSON"):
        load_mail_routes(path, keys=KEYS)
    path.write_text(json.dumps({"uber": {"by_default": True}}), encoding="utf-8")
    assert load_mail_routes(path, keys=KEYS)["uber"].by_default
