"""A 2FA code travels through the database from whoever received it to the waiting fetch."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.db import Database
from core.errors import ChallengeClosed
from core.models import Challenge, ChallengeChannel, ChallengeState, Connection
from core.models.base import utcnow
from core.services.challenges import (
    expire_challenges,
    open_challenge,
    open_challenges,
    settle_code,
    submit_code,
    take_code,
)
from core.vault import Vault
from tests.integration.conftest import World, connect


async def _connection(db: Database, vault: Vault, world: World) -> Connection:
    return await connect(db, vault, world, login="a@b.fr")


async def test_a_code_from_the_chat_reaches_the_fetch_and_is_then_erased(
    db: Database, vault: Vault, world: World
) -> None:
    connection = await _connection(db, vault, world)
    async with db.transaction() as session:
        challenge = await open_challenge(
            session=session,
            connection=connection,
            channel=ChallengeChannel.SMS,
            masked_destination="SMS to ••••12",
        )
    assert challenge.id is not None
    async with db.transaction() as session:  # the bot's process
        await submit_code(
            session=session, vault=vault, challenge_id=challenge.id, code=" 482913 ", via="chat"
        )
    async with db.transaction() as session:  # the fetch's process
        waiting = await session.get(Challenge, challenge.id)
        assert waiting is not None
        assert "482913" not in (waiting.code_sealed or "")
        assert take_code(vault=vault, challenge=waiting) == "482913"
        settle_code(waiting, accepted=True)
    async with db.transaction() as session:
        done = await session.get(Challenge, challenge.id)
        assert done is not None
        assert (done.state, done.code_sealed) == (
            ChallengeState.ACCEPTED,
            None,
        )


async def test_three_wrong_codes_close_the_challenge(
    db: Database, vault: Vault, world: World
) -> None:
    connection = await _connection(db, vault, world)
    async with db.transaction() as session:
        challenge = await open_challenge(
            session=session, connection=connection, channel=ChallengeChannel.EMAIL
        )
        assert challenge.id is not None
        for attempt in range(3):
            await submit_code(
                session=session,
                vault=vault,
                challenge_id=challenge.id,
                code=f"00000{attempt}",
                via="chat",
            )
            settle_code(challenge, accepted=False)
        assert challenge.state == ChallengeState.FAILED
        with pytest.raises(ChallengeClosed):
            await submit_code(
                session=session, vault=vault, challenge_id=challenge.id, code="123456", via="chat"
            )


async def test_an_unanswered_challenge_expires_and_refuses_late_codes(
    db: Database, vault: Vault, world: World
) -> None:
    connection = await _connection(db, vault, world)
    async with db.transaction() as session:
        challenge = await open_challenge(
            session=session,
            connection=connection,
            channel=ChallengeChannel.SMS,
            ttl=timedelta(minutes=10),
        )
    later = utcnow() + timedelta(minutes=11)
    async with db.transaction() as session:
        [expired] = await expire_challenges(session=session, now=later)
    assert expired.id == challenge.id
    assert expired.state == ChallengeState.EXPIRED
    assert challenge.id is not None
    with pytest.raises(ChallengeClosed):
        async with db.transaction() as session:
            await submit_code(
                session=session, vault=vault, challenge_id=challenge.id, code="1234", via="mail"
            )


async def test_a_new_challenge_replaces_the_open_one(
    db: Database, vault: Vault, world: World
) -> None:
    connection = await _connection(db, vault, world)
    async with db.transaction() as session:
        await open_challenge(session=session, connection=connection, channel=ChallengeChannel.SMS)
        newer = await open_challenge(
            session=session, connection=connection, channel=ChallengeChannel.EMAIL
        )
        assert world.workspace.id is not None
        assert [
            c.id for c in await open_challenges(session=session, workspace_id=world.workspace.id)
        ] == [newer.id]
