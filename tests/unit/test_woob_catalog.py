"""woob's modules in the catalog: listed as `community`, available exactly when woob is
installed, and served by the registry then; the bridge's failures as Courier's errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.catalog import load_entries
from core.suppliers.connector import (
    ActionRequired,
    ApprovalDenied,
    CodeRejected,
    ConnectorError,
    LayoutChanged,
    LoginRefused,
    SupplierUnavailable,
)
from core.suppliers.registry import ConnectorMissing
from core.suppliers.woob.connector import BridgeFailed, _error
from core.suppliers.woob.modules import COMMUNITY, with_community
from core.suppliers.woob.setup import WoobSetup
from courier.connectors import build_registry


def installed_here(home: Path) -> WoobSetup:
    """A woob home as `install` leaves it, without running pip: the registry only looks."""
    setup = WoobSetup(home)
    setup.python.parent.mkdir(parents=True)
    setup.python.touch()
    (home / "installed.json").write_text(json.dumps({"requirement": "woob==3.7"}))
    return setup


def test_every_woob_module_has_a_community_entry_and_no_other() -> None:
    community = {e.key for e in load_entries() if e.connector_kind == "community"}
    assert community == set(COMMUNITY)
    assert len(community) >= 20


def test_without_woob_they_are_listed_but_not_available(tmp_path: Path) -> None:
    entries = list(with_community(load_entries(), installed=False))
    assert not any(e.connector_available for e in entries if e.connector_kind == "community")
    assert not WoobSetup(tmp_path).installed
    registry = build_registry(woob=WoobSetup(tmp_path))
    assert not any(registry.kind_of(key) for key in COMMUNITY)


def test_with_woob_installed_the_catalog_and_the_registry_agree(tmp_path: Path) -> None:
    setup = installed_here(tmp_path / "woob")
    assert setup.installed
    registry = build_registry(woob=setup)
    entries = list(with_community(load_entries(), installed=True))
    available = {e.key for e in entries if e.connector_available}
    assert available == registry.keys()
    kinds = {e.key: e.connector_kind for e in entries}
    assert all(kinds[key] == registry.kind_of(key) for key in available)
    assert len([k for k in available if kinds[k] == "community"]) >= 20


def test_an_install_cut_short_is_not_installed(tmp_path: Path) -> None:
    setup = installed_here(tmp_path / "woob")
    (setup.home / "installed.json").unlink()  # pip failed before the marker
    assert not setup.installed


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("incorrect_password", LoginRefused),
        ("code_rejected", CodeRejected),
        ("approval_denied", ApprovalDenied),
        ("action_needed", ActionRequired),
        ("unavailable", SupplierUnavailable),
        ("layout", LayoutChanged),
        ("no_module", ConnectorMissing),
        ("protocol", BridgeFailed),
        ("session_lost", SupplierUnavailable),
    ],
)
def test_the_bridges_failures_are_courier_errors(kind: str, error: type[ConnectorError]) -> None:
    assert type(_error({"ok": False, "error": kind, "what": "X"})) is error


def test_a_question_says_how_long_it_holds_when_woob_knows() -> None:
    from datetime import UTC, datetime, timedelta

    from core.suppliers.connector import ApprovalRequest, CodeRequest
    from core.suppliers.woob.connector import _step

    soon = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    code = _step(
        {"step": "code", "medium": "email", "destination": "c***@x.fr", "expires_at": soon}
    )
    assert isinstance(code, CodeRequest)
    assert code.channel == "email"
    assert code.expires_in is not None
    assert timedelta(minutes=4) < code.expires_in <= timedelta(minutes=5)
    approval = _step({"step": "approval", "expires_at": None})
    assert approval == ApprovalRequest()
    assert _step({"step": "pending"}) is None
