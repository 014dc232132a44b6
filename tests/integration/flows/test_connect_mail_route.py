"""A supplier Courier cannot connect to still has a way in: the chat says so, and gives
the workspace's forwarding address, the supplier's own setting for invoices by email
(where the catalog knows it), and a button that starts watching a mailbox instead."""

from __future__ import annotations

from pathlib import Path

from core.catalog.entries import load_entries
from core.db import Database
from core.flows.steps import Choice, Form, Text
from core.services.catalog import sync_catalog
from core.vault import Vault
from tests.integration.conftest import World
from tests.integration.flows.connect_world import chat, make_flows, step_id

EDF_SETTING = "Espace Client → facture électronique (e-facture)"


async def _real_catalog(db: Database, *keys: str) -> None:
    """These entries of the packaged catalog, with their packaged mail routes."""
    async with db.transaction() as session:
        await sync_catalog(session=session, entries=[e for e in load_entries() if e.key in keys])


def _lines(step: Choice) -> list[Text]:
    return list(step.details)


async def test_typing_edf_gives_the_address_the_edf_setting_and_the_mailbox_button(
    db: Database, world: World, vault: Vault, tmp_path: Path
) -> None:
    await _real_catalog(db, "edf", "edf-entreprises")
    flows, runs = await make_flows(db, vault, tmp_path)
    marie = chat(db, flows, runs, world.owner)

    results = await marie.start("connect", {"supplier": "edf"})
    assert isinstance(results, Choice)
    edf = next(o.id for o in results.options if o.label.params.get("name") == "EDF (particuliers)")
    way_in = await marie.press(edf)

    assert isinstance(way_in, Choice)
    assert way_in.step_id == "no_connector"
    assert way_in.prompt.params["supplier"] == "EDF (particuliers)"
    setting, forward, mailbox = _lines(way_in)
    assert (setting.key, setting.params["setting"]) == ("flows.connect.way_in.setting", EDF_SETTING)
    assert forward.key == "flows.connect.way_in.forward"
    assert str(forward.params["address"]).endswith("@in.example.com")
    assert mailbox.key == "flows.connect.way_in.mailbox"
    assert [o.id for o in way_in.options] == ["start-mailbox", "other_supplier", "cancel"]

    # The button hands the conversation to the mailbox flow: no forwarding needed.
    host = await marie.press("start-mailbox")
    assert isinstance(host, Form)
    assert (host.flow, host.step_id) == ("mailbox", "host")
    row = await marie.state()
    assert row is not None
    assert row.flow == "mailbox"


async def test_a_supplier_emailing_invoices_by_default_says_so(
    db: Database, world: World, vault: Vault, tmp_path: Path
) -> None:
    await _real_catalog(db, "uber", "uber-for-business")
    flows, runs = await make_flows(db, vault, tmp_path)
    marie = chat(db, flows, runs, world.owner)
    results = await marie.start("connect", {"supplier": "uber"})
    assert isinstance(results, Choice)
    uber = next(o.id for o in results.options if o.label.params.get("name") == "Uber (courses)")
    way_in = await marie.press(uber)
    assert isinstance(way_in, Choice)
    assert [line.key for line in _lines(way_in)][:2] == [
        "flows.connect.way_in.by_default",
        "flows.connect.way_in.forward",
    ]


async def test_a_supplier_the_catalog_knows_no_setting_for_gets_the_address_and_the_mailbox(
    db: Database, world: World, vault: Vault, tmp_path: Path
) -> None:
    flows, runs = await make_flows(db, vault, tmp_path)
    marie = chat(db, flows, runs, world.owner)
    way_in = await marie.start("connect", {"supplier": "orange pro"})
    assert isinstance(way_in, Choice)
    assert [line.key for line in _lines(way_in)] == [
        "flows.connect.way_in.forward",
        "flows.connect.way_in.mailbox",
    ]
    # Typing searches again; "Another supplier" asks again.
    assert step_id(await marie.send({"text": "zzzz"})) == "supplier"
    again = await marie.start("connect", {"supplier": "orange pro"})
    assert step_id(again) == "no_connector"
    assert step_id(await marie.press("other_supplier")) == "supplier"


async def test_a_forged_handover_not_offered_by_the_step_starts_nothing(
    db: Database, world: World, vault: Vault, tmp_path: Path
) -> None:
    await _real_catalog(db, "edf", "edf-entreprises")
    flows, runs = await make_flows(db, vault, tmp_path)
    marie = chat(db, flows, runs, world.owner)
    results = await marie.start("connect", {"supplier": "edf"})
    assert step_id(results) == "results"
    # The results step offers no hand-over: the press is an unknown pick, not a new flow.
    picked = await marie.press("start-mailbox")
    assert step_id(picked) == "supplier"
    row = await marie.state()
    assert row is not None
    assert row.flow == "connect"
