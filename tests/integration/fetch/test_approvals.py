"""'Approve in your app': the owner taps on the phone; Courier polls the site meanwhile."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlmodel import col, select

from core.db import Database
from core.errors import ChallengeClosed
from core.models import (
    Challenge,
    ChallengeChannel,
    ChallengeState,
    Connection,
    ConnectionState,
    Document,
    Notification,
    RunOutcome,
)
from core.services.challenges import open_challenges, submit_code
from core.services.fetch import ConnectionRunner
from core.services.fetch_claims import request_fetch
from core.storage import LocalDocumentStore
from core.vault import Vault
from tests.integration.fetch.conftest import QUICK, Site, make_runner

S = ConnectionState


async def _sync_now(db: Database, connection: Connection) -> None:
    async with db.transaction() as session:
        row = await session.get(Connection, connection.id)
        assert row is not None
        request_fetch(row, interactive_for=timedelta(minutes=15))


async def _kinds(db: Database) -> list[str]:
    async with db.read() as session:
        query = select(Notification.kind).order_by(col(Notification.id))
        return list((await session.exec(query)).all())


async def _challenges(db: Database) -> list[Challenge]:
    async with db.read() as session:
        return list((await session.exec(select(Challenge).order_by(col(Challenge.id)))).all())


async def _state(db: Database, connection: Connection) -> ConnectionState:
    async with db.read() as session:
        row = await session.get(Connection, connection.id)
    assert row is not None
    return row.state


async def test_an_approval_on_the_phone_lets_the_waiting_run_go_on(
    db: Database, vault: Vault, runner: ConnectionRunner, connection: Connection, site: Site
) -> None:
    site.approval, site.approve_after = True, None
    await _sync_now(db, connection)
    assert connection.id is not None
    run = asyncio.create_task(runner.run(connection.id))
    for _ in range(200):  # the run opens the challenge and tells the owner
        if await _challenges(db) and site.calls.count("poll") >= 2:
            break
        await asyncio.sleep(0.01)
    [challenge] = await _challenges(db)
    assert (challenge.channel, challenge.state) == (ChallengeChannel.APP, ChallengeState.OPEN)
    assert challenge.masked_destination == "••••12"
    assert await _state(db, connection) == S.AWAITING_APPROVAL
    assert await _kinds(db) == ["approval_requested"]
    # Nothing to type: the chat finds no code awaited, and a code sent anyway is refused.
    async with db.transaction() as session:
        assert await open_challenges(session=session, workspace_id=connection.workspace_id) == []
        assert challenge.id is not None
        with pytest.raises(ChallengeClosed):
            await submit_code(
                session=session, vault=vault, challenge_id=challenge.id, code="1234", via="chat"
            )
    site.approve_after = 0  # the owner taps "approve"

    result = await run

    assert (result.outcome, result.state, result.new) == (RunOutcome.SUCCESS, S.ACTIVE, 3)
    [challenge] = await _challenges(db)
    assert challenge.state == ChallengeState.ACCEPTED
    assert await _kinds(db) == ["approval_requested", "documents_fetched"]
    async with db.read() as session:
        row = await session.get(Connection, connection.id)
        documents = (await session.exec(select(Document))).all()
    assert row is not None
    assert row.session_sealed is not None  # the next weekly run restores it, no phone
    assert len(documents) == 3


async def test_an_approval_nobody_gives_ends_in_needs_user_with_one_message(
    db: Database, vault: Vault, store: LocalDocumentStore, connection: Connection, site: Site
) -> None:
    site.approval = True  # and nobody ever taps
    await _sync_now(db, connection)
    assert connection.id is not None

    short = replace(QUICK, challenge_ttl=timedelta(seconds=1))
    result = await make_runner(db, vault, store, site, short).run(connection.id)

    assert (result.state, result.error) == (S.NEEDS_USER, "approval_timeout")
    [challenge] = await _challenges(db)
    assert challenge.state == ChallengeState.EXPIRED
    assert await _kinds(db) == ["approval_requested", "connection_needs_user"]
    assert site.calls.count("poll") > 1  # the site was asked, again and again, meanwhile


async def test_an_approval_refused_on_the_phone_ends_in_needs_user(
    db: Database, runner: ConnectionRunner, connection: Connection, site: Site
) -> None:
    site.approval, site.deny = True, True
    await _sync_now(db, connection)
    assert connection.id is not None

    result = await runner.run(connection.id)

    assert (result.state, result.error) == (S.NEEDS_USER, "approval_denied")
    [challenge] = await _challenges(db)
    assert challenge.state == ChallengeState.FAILED


async def test_a_background_run_never_waits_for_an_approval(
    db: Database, runner: ConnectionRunner, connection: Connection, site: Site
) -> None:
    site.approval, site.approve_after = True, 0
    assert connection.id is not None

    result = await runner.run(connection.id)  # a scheduled run: nobody is there

    assert (result.state, result.error) == (S.NEEDS_USER, "approval_needed")
    assert await _challenges(db) == []
    assert "poll" not in site.calls
    assert await _kinds(db) == ["connection_needs_user"]
    async with db.read() as session:
        row = await session.get(Connection, connection.id)
    assert row is not None
    assert row.next_fetch_at is None  # it waits for the owner's "Sync now"
