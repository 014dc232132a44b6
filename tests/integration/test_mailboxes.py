"""Mailboxes as core keeps them, on both databases: where a new one starts, new
credentials, removal that keeps the mail, and recording a batch of mailbox messages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import event
from sqlmodel import col, select

from core.db import Database
from core.errors import CredentialsMissing, NotAllowed, NotFound
from core.models import (
    InboundChannel,
    InboundMessage,
    Mailbox,
    MailboxCreate,
    MailboxState,
    Role,
    WorkspaceCreate,
)
from core.models.base import utcnow
from core.permissions import OPERATOR
from core.services.inbound import (
    Envelope,
    MailboxCopy,
    Recipient,
    record_mailbox_messages,
)
from core.services.mailboxes import (
    WHOLE_FOLDER,
    History,
    add_mailbox,
    get_mailbox,
    read_secret,
    remove_mailbox,
    replace_secret,
)
from core.services.workspaces import create_workspace
from core.vault import Vault
from tests.integration.conftest import World, join

SECRET = "imap-app-Pa55-first"


async def _add(db: Database, vault: Vault, world: World, **history: History) -> Mailbox:
    assert world.workspace.id is not None
    async with db.transaction() as session:
        return await add_mailbox(
            session=session,
            vault=vault,
            data=MailboxCreate(
                workspace_id=world.workspace.id,
                host="imap.example.com",
                username="compta@dupont.fr",
                secret=SecretStr(SECRET),
            ),
            by=OPERATOR,
            **history,
        )


async def _reload(db: Database, mailbox: Mailbox) -> Mailbox | None:
    async with db.transaction() as session:
        return await session.get(Mailbox, mailbox.id)


def _copy(
    mailbox: Mailbox, uid: int, *, uidvalidity: int = 7, message_id: str | None = "<m@edf.fr>"
) -> MailboxCopy:
    assert mailbox.id is not None
    return MailboxCopy(
        envelope=Envelope(
            channel=InboundChannel.IMAP,
            mail_from="factures@edf.fr",
            sha256=f"{uid:064x}",
            size=100 + uid,
            message_id=message_id and message_id.replace("@", f"{uid}@"),
        ),
        recipient=Recipient(address=mailbox.username, workspace_id=mailbox.workspace_id),
        mailbox_id=mailbox.id,
        uidvalidity=uidvalidity,
        uid=uid,
    )


async def _messages(db: Database) -> list[InboundMessage]:
    async with db.transaction() as session:
        query = select(InboundMessage).order_by(col(InboundMessage.id))
        return list((await session.exec(query)).all())


async def test_a_new_mailbox_starts_at_the_end_unless_it_takes_the_whole_folder(
    db: Database, vault: Vault, world: World
) -> None:
    new_only = await _reload(db, await _add(db, vault, world))
    whole = await _reload(db, await _add(db, vault, world, history="all"))

    assert new_only is not None
    assert whole is not None
    assert (new_only.uidvalidity, new_only.last_uid) == (None, 0)
    assert (whole.uidvalidity, whole.last_uid) == (WHOLE_FOLDER, 0)


async def test_new_credentials_end_a_credentials_episode(
    db: Database, vault: Vault, world: World
) -> None:
    mailbox = await _add(db, vault, world)
    async with db.transaction() as session:
        refused = await session.get(Mailbox, mailbox.id)
        assert refused is not None
        refused.state, refused.last_error = MailboxState.ERROR, "auth_failed"
        refused.failure_count, refused.next_poll_at = 3, None
        refused.uidvalidity, refused.last_uid = 7, 42
        sealed = refused.secret_sealed

    async with db.transaction() as session:
        replaced = await session.get(Mailbox, mailbox.id)
        assert replaced is not None
        replace_secret(vault=vault, mailbox=replaced, secret=SecretStr("imap-app-Pa55-second"))

    after = await _reload(db, mailbox)
    assert after is not None
    assert (after.state, after.last_error, after.failure_count, after.next_poll_at) == (
        MailboxState.ACTIVE,
        None,
        0,
        None,
    )
    assert after.secret_sealed != sealed
    assert "Pa55-second" not in after.secret_sealed
    assert read_secret(vault=vault, mailbox=after).get_secret_value() == "imap-app-Pa55-second"
    # The watermark is the folder's, not the credentials': no mail is taken twice.
    assert (after.uidvalidity, after.last_uid) == (7, 42)


async def test_new_credentials_leave_a_paused_mailbox_paused_and_need_a_value(
    db: Database, vault: Vault, world: World
) -> None:
    mailbox = await _add(db, vault, world)
    later = utcnow() + timedelta(minutes=4)
    async with db.transaction() as session:
        paused = await session.get(Mailbox, mailbox.id)
        assert paused is not None
        paused.state, paused.next_poll_at = MailboxState.PAUSED, later
        replace_secret(vault=vault, mailbox=paused, secret=SecretStr("imap-app-Pa55-second"))
        with pytest.raises(CredentialsMissing):
            replace_secret(vault=vault, mailbox=paused, secret=SecretStr(""))

    after = await _reload(db, mailbox)
    assert after is not None
    assert (after.state, after.next_poll_at) == (MailboxState.PAUSED, None)
    assert read_secret(vault=vault, mailbox=after).get_secret_value() == "imap-app-Pa55-second"


async def test_a_removed_mailbox_leaves_its_messages_behind(
    db: Database, vault: Vault, world: World
) -> None:
    mailbox = await _add(db, vault, world)
    kept = await _add(db, vault, world)
    async with db.transaction() as session:
        await record_mailbox_messages(
            session=session, items=[_copy(mailbox, 1), _copy(mailbox, 2), _copy(kept, 1)]
        )
        other, _ = await create_workspace(
            session=session, data=WorkspaceCreate(name="Garage"), invite_ttl=timedelta(hours=1)
        )
    assert world.workspace.id is not None
    assert mailbox.id is not None
    async with db.transaction() as session:
        assert other.id is not None
        with pytest.raises(NotFound):
            await remove_mailbox(
                session=session, workspace_id=other.id, mailbox_id=mailbox.id, by=OPERATOR
            )

    async with db.transaction() as session:
        await remove_mailbox(
            session=session, workspace_id=world.workspace.id, mailbox_id=mailbox.id, by=OPERATOR
        )

    assert await _reload(db, mailbox) is None
    assert await _reload(db, kept) is not None
    rows = await _messages(db)
    assert [(row.mailbox_id, row.uid) for row in rows] == [(None, 1), (None, 2), (kept.id, 1)]
    assert {row.workspace_id for row in rows} == {world.workspace.id}
    assert [row.sha256 for row in rows[:2]] == [f"{1:064x}", f"{2:064x}"]
    async with db.transaction() as session:
        with pytest.raises(NotFound):
            await get_mailbox(
                session=session, workspace_id=world.workspace.id, mailbox_id=mailbox.id
            )


async def test_a_batch_records_each_mailbox_message_once(
    db: Database, vault: Vault, world: World
) -> None:
    mailbox = await _add(db, vault, world)
    inserts: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.lstrip().upper().startswith("INSERT"):
            inserts.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        async with db.transaction() as session:
            # A message without a Message-ID among others: still the same statement.
            first = await record_mailbox_messages(
                session=session,
                items=[_copy(mailbox, 3), _copy(mailbox, 1, message_id=None), _copy(mailbox, 2)],
            )
            assert await record_mailbox_messages(session=session, items=[]) == []
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert len(inserts) == 1

    async with db.transaction() as session:
        # The same statement meets old UIDs, a repeated one and new ones; the caller's
        # other work in the transaction is untouched by the conflicts.
        locked = await session.get(Mailbox, mailbox.id, with_for_update=True)
        assert locked is not None
        locked.last_uid = 5
        second = await record_mailbox_messages(
            session=session,
            items=[_copy(mailbox, uid) for uid in (2, 3, 4, 4, 5)]
            + [_copy(mailbox, 2, uidvalidity=8)],
        )

    assert [row.uid for row in first] == [3, 1, 2]
    assert [(row.uid, row.uidvalidity) for row in second] == [(4, 7), (5, 7), (2, 8)]
    assert all(row.id is not None for row in first + second)
    rows = await _messages(db)
    assert [(row.uid, row.uidvalidity) for row in rows] == [
        (3, 7),
        (1, 7),
        (2, 7),
        (4, 7),
        (5, 7),
        (2, 8),
    ]
    head = rows[0]
    assert (head.channel, head.state, head.attempts, head.outcome) == ("imap", "received", 0, {})
    assert (head.recipient, head.mail_from, head.message_id, head.size) == (
        "compta@dupont.fr",
        "factures@edf.fr",
        "<m3@edf.fr>",
        103,
    )
    assert head.received_at is not None
    assert head.received_at.tzinfo is not None
    assert rows[1].message_id is None
    after = await _reload(db, mailbox)
    assert after is not None
    assert after.last_uid == 5


async def test_only_a_manager_adds_or_removes_a_watched_mailbox(
    db: Database, vault: Vault, world: World
) -> None:
    clerk = await join(db, world, role=Role.MEMBER, telegram_user_id=2002)
    assert world.workspace.id is not None
    new = MailboxCreate(
        workspace_id=world.workspace.id,
        host="imap.example.com",
        username="compta@dupont.fr",
        secret=SecretStr(SECRET),
    )
    with pytest.raises(NotAllowed):
        async with db.transaction() as session:
            await add_mailbox(session=session, vault=vault, data=new, by=clerk)
    async with db.transaction() as session:
        mailbox = await add_mailbox(session=session, vault=vault, data=new, by=world.owner)
    assert mailbox.id is not None
    with pytest.raises(NotAllowed):
        async with db.transaction() as session:
            await remove_mailbox(
                session=session, workspace_id=world.workspace.id, mailbox_id=mailbox.id, by=clerk
            )
    assert await _reload(db, mailbox) is not None  # still watched
