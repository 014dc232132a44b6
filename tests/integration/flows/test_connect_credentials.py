"""New credentials for a connection: a login another connection uses is refused at the
login step with its key (finding 1: it raised IntegrityError at the password and stuck
the conversation there), the current one is kept in one press, the password is never
kept by the flow."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlmodel import select

from core.db import Database
from core.flows.steps import Form
from core.models import Connection, Role
from core.services.connections import read_credentials
from core.vault import Vault
from tests.integration.conftest import World, connect, join
from tests.integration.flows.connect_world import (
    chat,
    error_key,
    make_flows,
    result_key,
    step_id,
)


async def _connection(db: Database, ident: int | None) -> Connection:
    async with db.read() as session:
        row = await session.get(Connection, ident)
    assert row is not None
    return row


async def test_a_login_another_connection_uses_is_refused_at_the_login_step(
    db: Database, world: World, vault: Vault, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    await connect(db, vault, world, login="compta@dupont.fr")
    second = await connect(db, vault, world, login="achats@dupont.fr")
    flows, runs = await make_flows(db, vault, tmp_path)
    marie = chat(db, flows, runs, world.owner)

    login = await marie.start("credentials", {"connection_id": second.id})
    assert step_id(login) == "login"
    taken = await marie.send({"login": "COMPTA@dupont.fr"})
    assert (step_id(taken), error_key(taken)) == ("login", "flows.credentials.error.login_taken")
    row = await marie.state()
    assert row is not None
    assert row.step == "login"
    assert caplog.records == []  # an expected refusal, not a failure: nothing logged

    password = await marie.send({"login": "factures@dupont.fr"})
    assert step_id(password) == "password"
    done = await marie.send({"password": SecretStr("s3cret-new")})
    assert result_key(done) == "flows.credentials.updated"
    updated = await _connection(db, second.id)
    assert updated.login == "factures@dupont.fr"
    assert read_credentials(vault=vault, connection=updated).password.get_secret_value() == (
        "s3cret-new"
    )
    assert runs.started == [(second.id, True)]


async def test_the_current_login_is_kept_in_one_press(
    db: Database, world: World, vault: Vault, tmp_path: Path
) -> None:
    connection = await connect(db, vault, world, login="compta@dupont.fr")
    flows, runs = await make_flows(db, vault, tmp_path)
    marie = chat(db, flows, runs, world.owner)
    login = await marie.start("credentials", {"connection_id": connection.id})
    assert isinstance(login, Form)
    assert [o.id for o in login.options] == ["keep"]
    password = await marie.press("keep")
    assert isinstance(password, Form)
    assert password.prompt.params["login"] == "compta@dupont.fr"
    row = await marie.state()
    assert row is not None
    assert "s3cret" not in json.dumps(row.data)
    assert result_key(await marie.send({"password": SecretStr("s3cret")})) == (
        "flows.credentials.updated"
    )


async def test_only_who_manages_the_connection_changes_its_credentials(
    db: Database, world: World, vault: Vault, tmp_path: Path
) -> None:
    connection = await connect(db, vault, world)
    paul = await join(db, world, role=Role.MEMBER, telegram_user_id=2002)
    flows, runs = await make_flows(db, vault, tmp_path)
    ended = await chat(db, flows, runs, paul).start("credentials", {"connection_id": connection.id})
    assert result_key(ended) == "permissions.manage_connections"
    async with db.read() as session:
        assert (await session.exec(select(Connection.login))).all() == ["compta@dupont.fr"]
