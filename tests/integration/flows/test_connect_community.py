"""A woob community connector says what it is before the owner gives a password for it."""

from __future__ import annotations

from pathlib import Path

from core.db import Database
from core.flows.steps import Form
from core.models import Supplier
from core.vault import Vault
from tests.integration.conftest import World
from tests.integration.flows.connect_world import chat, make_flows, step_id


async def _make_available(db: Database, world: World, *, kind: str) -> None:
    async with db.transaction() as session:
        supplier = await session.get(Supplier, world.supplier.id)
        assert supplier is not None
        supplier.connector_kind, supplier.connector_available = kind, True


async def test_a_community_connector_is_labelled_as_the_woob_communitys(
    db: Database, world: World, vault: Vault, tmp_path: Path
) -> None:
    await _make_available(db, world, kind="community")
    flows, runs = await make_flows(db, vault, tmp_path)
    marie = chat(db, flows, runs, world.owner)
    login = await marie.start("connect", {"supplier": "edf entreprises"})
    assert step_id(login) == "login"
    assert isinstance(login, Form)
    [label] = login.details
    assert label.key == "flows.connect.community"
    assert label.params["supplier"] == "EDF Entreprises"


async def test_an_api_connector_has_no_such_label(
    db: Database, world: World, vault: Vault, tmp_path: Path
) -> None:
    await _make_available(db, world, kind="api")
    flows, runs = await make_flows(db, vault, tmp_path)
    marie = chat(db, flows, runs, world.owner)
    login = await marie.start("connect", {"supplier": "edf entreprises"})
    assert isinstance(login, Form)
    assert login.details == ()
