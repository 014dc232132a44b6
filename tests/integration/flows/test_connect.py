"""The connect flow, step by step: supplier, owner, login, password, history; an account
already connected is said at the login step; the password is only ever kept sealed."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlmodel import select

from core.db import Database
from core.flows.steps import Abort, Choice, Form
from core.models import Connection, ConnectionState, Role, Supplier
from core.services.connections import read_credentials
from core.vault import Vault
from tests.integration.conftest import World, connect, join
from tests.integration.flows.connect_world import (
    chat,
    enable_connector,
    error_key,
    make_flows,
    result_key,
    step_id,
)

PASSWORD = "correct horse battery staple"


async def _connections(db: Database) -> list[Connection]:
    async with db.read() as session:
        return list((await session.exec(select(Connection))).all())


async def test_a_supplier_plainly_meant_goes_straight_to_its_login_and_is_connected(
    db: Database, world: World, vault: Vault, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await enable_connector(db, world)
    flows, runs = await make_flows(db, vault, tmp_path)
    marie = chat(db, flows, runs, world.owner)

    login = await marie.start("connect", {"supplier": "edf entreprises"})
    assert step_id(login) == "login"
    assert isinstance(login, Form)
    assert login.prompt.key == "flows.connect.login_pro"
    password = await marie.send({"login": "compta@dupont.fr"})
    assert step_id(password) == "password"
    assert isinstance(password, Form)
    assert password.fields[0].kind == "secret"
    history = await marie.send({"password": SecretStr(PASSWORD)})
    assert step_id(history) == "history"
    assert isinstance(history, Form)
    assert history.note is not None
    assert history.note.key == "flows.connect.password_kept"
    # Between steps the password is kept sealed only, and never shown.
    row = await marie.state()
    assert row is not None
    assert row.data["password_sealed"]
    assert PASSWORD not in json.dumps(row.data) + json.dumps(row.shown)
    assert vault.open(row.data["password_sealed"]) == PASSWORD

    done = await marie.press("full")
    assert result_key(done) == "flows.connect.started"
    [connection] = await _connections(db)
    assert (connection.login, connection.fetch_from) == ("compta@dupont.fr", None)
    assert connection.state == ConnectionState.NEW
    assert connection.interactive_until is not None  # someone is there to answer a code
    assert read_credentials(vault=vault, connection=connection).password.get_secret_value() == (
        PASSWORD
    )
    assert runs.started == [(connection.id, True)]
    assert await marie.state() is None
    assert PASSWORD not in caplog.text


async def test_an_account_already_connected_is_said_at_the_login_step(
    db: Database, world: World, vault: Vault, tmp_path: Path
) -> None:
    await enable_connector(db, world)
    await connect(db, vault, world, login="compta@dupont.fr")
    flows, runs = await make_flows(db, vault, tmp_path)
    marie = chat(db, flows, runs, world.owner)
    await marie.start("connect", {"supplier": "edf entreprises"})

    again = await marie.send({"login": "  Compta@Dupont.FR "})
    assert step_id(again) == "login"  # no password asked for an account that cannot be added
    assert error_key(again) == "flows.connect.error.already_connected"
    other = await marie.send({"login": "achats@dupont.fr"})
    assert step_id(other) == "password"


async def test_several_matches_are_offered_and_only_those_can_be_picked(
    db: Database, world: World, vault: Vault, tmp_path: Path
) -> None:
    await enable_connector(db, world)
    async with db.transaction() as session:
        session.add(Supplier(key="edf", name="EDF", portal="personal", portal_url="https://edf.fr"))
    flows, runs = await make_flows(db, vault, tmp_path)
    marie = chat(db, flows, runs, world.owner)

    asked = await marie.start("connect")
    assert step_id(asked) == "supplier"
    nothing = await marie.send({"supplier": "zzzz"})
    assert (step_id(nothing), error_key(nothing)) == ("supplier", "flows.connect.error.no_match")
    # "edf": the personal site and the professional one are different accounts: a choice.
    results = await marie.send({"supplier": "edf"})
    assert isinstance(results, Choice)
    assert results.step_id == "results"
    offered = {option.id: option.label.key for option in results.options}
    assert offered[f"s{world.supplier.id}"] == "flows.connect.option.supplier_pro"
    assert "cancel" in offered
    forged = await marie.press(f"s{world.other_supplier.id}")  # not among the results
    assert (step_id(forged), error_key(forged)) == ("supplier", "flows.connect.error.pick_again")
    await marie.send({"supplier": "edf"})
    login = await marie.press(f"s{world.supplier.id}")
    assert step_id(login) == "login"
    # "Another supplier" goes back to the search.
    assert step_id(await marie.press("other_supplier")) == "supplier"


async def test_a_supplier_without_connector_gives_the_forwarding_address(
    db: Database, world: World, vault: Vault, tmp_path: Path
) -> None:
    flows, runs = await make_flows(db, vault, tmp_path)
    marie = chat(db, flows, runs, world.owner)
    way_in = await marie.start("connect", {"supplier": "orange pro"})
    assert isinstance(way_in, Choice)
    assert (way_in.step_id, way_in.prompt.key) == ("no_connector", "flows.connect.no_connector")
    assert str(way_in.prompt.params["address"]).endswith("@in.example.com")
    ended = await marie.press("cancel")
    assert isinstance(ended, Abort)
    assert await marie.state() is None


async def test_the_owner_is_asked_when_the_workspace_has_several_members(
    db: Database, world: World, vault: Vault, tmp_path: Path
) -> None:
    await enable_connector(db, world)
    paul = await join(db, world, role=Role.MEMBER, telegram_user_id=2002)
    flows, runs = await make_flows(db, vault, tmp_path)
    marie = chat(db, flows, runs, world.owner)
    owner = await marie.start("connect", {"supplier": "edf entreprises"})
    assert isinstance(owner, Choice)
    assert owner.step_id == "owner"
    assert [o.id for o in owner.options] == [f"m{world.owner.id}", f"m{paul.id}"]
    assert error_key(await marie.press("m999999")) == "flows.connect.error.pick_owner"
    assert step_id(await marie.press(f"m{paul.id}")) == "login"
    await marie.send({"login": "paul@dupont.fr"})
    await marie.send({"password": SecretStr(PASSWORD)})
    await marie.send({"since": "2026-01-01"})
    [connection] = await _connections(db)
    assert connection.owner_member_id == paul.id
    assert connection.fetch_from is not None
    assert connection.fetch_from.isoformat() == "2026-01-01"


async def test_a_bad_date_or_an_empty_password_is_asked_again_at_the_same_step(
    db: Database, world: World, vault: Vault, tmp_path: Path
) -> None:
    await enable_connector(db, world)
    flows, runs = await make_flows(db, vault, tmp_path)
    marie = chat(db, flows, runs, world.owner)
    await marie.start("connect", {"supplier": "edf entreprises"})
    assert error_key(await marie.send({"login": ""})) == "flows.connect.error.login_empty"
    await marie.send({"login": "compta@dupont.fr"})
    empty = await marie.send({"password": SecretStr("   ")})
    assert (step_id(empty), error_key(empty)) == ("password", "flows.connect.error.password_empty")
    await marie.send({"password": SecretStr(PASSWORD)})
    unread = await marie.send({"since": "last spring"})
    assert (step_id(unread), error_key(unread)) == ("history", "flows.connect.error.date_bad")
    future = await marie.send({"since": "2999-01-01"})
    assert (step_id(future), error_key(future)) == ("history", "flows.connect.error.date_future")
    assert await _connections(db) == []


async def test_a_plain_member_cannot_start_connecting(
    db: Database, world: World, vault: Vault, tmp_path: Path
) -> None:
    paul = await join(db, world, role=Role.MEMBER, telegram_user_id=2002)
    flows, runs = await make_flows(db, vault, tmp_path)
    ended = await chat(db, flows, runs, paul).start("connect")
    assert result_key(ended) == "permissions.add_connection"
