"""Reconnect: log in again now that someone is there; a run waiting for a code gives it
up, so that the new login makes the site send a new code (finding 9: after a wrong code
there was no way to ask for a new one)."""

from __future__ import annotations

from pathlib import Path

from core.db import Database
from core.models import (
    Challenge,
    ChallengeChannel,
    ChallengeState,
    Connection,
    ConnectionState,
)
from core.services.challenges import open_challenge
from core.services.connections import move_connection
from core.vault import Vault
from tests.integration.conftest import World, connect
from tests.integration.flows.connect_world import chat, make_flows, result_key


async def _in_state(db: Database, connection: Connection, *states: ConnectionState) -> None:
    async with db.transaction() as session:
        row = await session.get(Connection, connection.id)
        assert row is not None
        for state in states:
            move_connection(row, state)


async def test_a_run_waiting_for_a_code_gives_it_up_for_a_new_login(
    db: Database, world: World, vault: Vault, tmp_path: Path
) -> None:
    connection = await connect(db, vault, world)
    await _in_state(db, connection, ConnectionState.SYNCING, ConnectionState.AWAITING_CODE)
    async with db.transaction() as session:
        row = await session.get(Connection, connection.id)
        assert row is not None
        challenge = await open_challenge(
            session=session, connection=row, channel=ChallengeChannel.EMAIL
        )
    flows, runs = await make_flows(db, vault, tmp_path)

    done = await chat(db, flows, runs, world.owner).start(
        "reconnect", {"connection_id": connection.id}
    )
    assert result_key(done) == "flows.reconnect.new_code"
    async with db.read() as session:
        given_up = await session.get(Challenge, challenge.id)
    assert given_up is not None
    assert given_up.state == ChallengeState.CANCELLED
    assert runs.restarted == [connection.id]  # once the waiting run has stopped
    assert runs.started == []


async def test_after_the_site_asked_for_something_a_reconnect_runs_at_once(
    db: Database, world: World, vault: Vault, tmp_path: Path
) -> None:
    connection = await connect(db, vault, world)
    await _in_state(db, connection, ConnectionState.SYNCING, ConnectionState.ACTION_REQUIRED)
    flows, runs = await make_flows(db, vault, tmp_path)
    done = await chat(db, flows, runs, world.owner).start(
        "reconnect", {"connection_id": connection.id}
    )
    assert result_key(done) == "flows.reconnect.started"
    async with db.read() as session:
        row = await session.get(Connection, connection.id)
    assert row is not None
    assert row.interactive_until is not None
    assert runs.started == [(connection.id, True)]


async def test_a_paused_connection_is_resumed_first(
    db: Database, world: World, vault: Vault, tmp_path: Path
) -> None:
    connection = await connect(db, vault, world)
    await _in_state(db, connection, ConnectionState.DISABLED)
    flows, runs = await make_flows(db, vault, tmp_path)
    ended = await chat(db, flows, runs, world.owner).start(
        "reconnect", {"connection_id": connection.id}
    )
    assert result_key(ended) == "flows.reconnect.abort.paused"
    assert runs.started == []
    assert runs.restarted == []
