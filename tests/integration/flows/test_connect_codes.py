"""A 2FA code given in the chat: the one open request takes it; with several, the person
picks among them, each named by its supplier and login, while the code waits sealed."""

from __future__ import annotations

import json
from pathlib import Path

from core.db import Database
from core.flows.steps import Choice
from core.models import Challenge, ChallengeChannel, ChallengeState, Connection
from core.services.challenges import open_challenge
from core.vault import Vault
from tests.integration.conftest import World, connect
from tests.integration.flows.connect_world import (
    chat,
    error_key,
    make_flows,
    result_key,
    step_id,
)


async def _challenge(db: Database, connection: Connection) -> Challenge:
    async with db.transaction() as session:
        row = await session.get(Connection, connection.id)
        assert row is not None
        return await open_challenge(session=session, connection=row, channel=ChallengeChannel.SMS)


async def _state(db: Database, challenge: Challenge) -> ChallengeState:
    async with db.read() as session:
        row = await session.get(Challenge, challenge.id)
    assert row is not None
    return ChallengeState(row.state)


async def test_a_bare_code_with_nothing_awaited_says_so(
    db: Database, world: World, vault: Vault, tmp_path: Path
) -> None:
    flows, runs = await make_flows(db, vault, tmp_path)
    ended = await chat(db, flows, runs, world.owner).start("code", {"code": "123456"})
    assert result_key(ended) == "flows.code.abort.none_awaited"


async def test_with_two_accounts_waiting_the_person_picks_by_login(
    db: Database, world: World, vault: Vault, tmp_path: Path
) -> None:
    first = await _challenge(db, await connect(db, vault, world, login="a@dupont.fr"))
    second = await _challenge(db, await connect(db, vault, world, login="b@dupont.fr"))
    flows, runs = await make_flows(db, vault, tmp_path)
    marie = chat(db, flows, runs, world.owner)

    which = await marie.start("code", {"code": "654-321"})
    assert isinstance(which, Choice)
    assert which.step_id == "which"
    logins = [o.label.params.get("login") for o in which.options if o.id != "cancel"]
    assert logins == ["a@dupont.fr", "b@dupont.fr"]
    row = await marie.state()
    assert row is not None
    assert "654321" not in json.dumps(row.data)
    assert vault.open(row.data["code_sealed"]) == "654321"
    wrong = await marie.send({"text": "the second one"})
    assert (step_id(wrong), error_key(wrong)) == ("which", "flows.code.error.pick_one")
    done = await marie.press(f"c{second.id}")
    assert result_key(done) == "flows.code.passed"
    assert await _state(db, second) == ChallengeState.ANSWERED
    assert await _state(db, first) == ChallengeState.OPEN


async def test_type_the_code_asks_for_it_and_checks_it_looks_like_one(
    db: Database, world: World, vault: Vault, tmp_path: Path
) -> None:
    challenge = await _challenge(db, await connect(db, vault, world))
    flows, runs = await make_flows(db, vault, tmp_path)
    marie = chat(db, flows, runs, world.owner)
    asked = await marie.start("code", {"challenge_id": challenge.id})
    assert step_id(asked) == "code"
    sentence = await marie.send({"code": "I did not get it"})
    assert error_key(sentence) == "flows.code.error.not_a_code"
    assert result_key(await marie.send({"code": " 778899 "})) == "flows.code.passed"
    assert await _state(db, challenge) == ChallengeState.ANSWERED
    # The same request again: it is closed now.
    again = await marie.start("code", {"challenge_id": challenge.id})
    assert result_key(again) == "flows.code.abort.closed"
