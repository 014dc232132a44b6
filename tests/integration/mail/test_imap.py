"""Mailbox polling against a real Dovecot and real databases: every message is taken once,
byte for byte, whatever fails and whenever it fails."""

from __future__ import annotations

import asyncio
import email
import hashlib
import logging
import socket
import traceback
from collections.abc import Iterator, Sequence
from datetime import timedelta

import pytest
from imap_tools import MailMessage
from pydantic import SecretStr
from sqlmodel import col, select

from core.db import Database
from core.errors import StorageFailed
from core.models import (
    ChallengeChannel,
    ConnectionCreate,
    InboundMessage,
    Mailbox,
    Notification,
)
from core.models.base import utcnow
from core.models.mailbox import AfterProcessing, MailboxAuth, MailboxState
from core.permissions import OPERATOR
from core.services.challenges import open_challenge
from core.services.connections import create_connection
from core.storage import LocalDocumentStore
from core.vault import Vault
from mail.imap.client import (
    Account,
    Connector,
    FailureReason,
    MailboxClient,
    MailboxUnavailable,
    connect_imap,
    probe_mailbox,
)
from mail.imap.poller import PollOutcome, poll_due_mailboxes, poll_mailbox
from mail.imap.schedule import POLL_EVERY, POLL_FAST
from tests.integration.conftest import World
from tests.integration.mail.conftest import LOCAL, MakeMailbox
from tests.integration.mail.dovecot import Dovecot, fake_pdf, invoice_mail


class Wake:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1


async def _rows(db: Database, mailbox_id: int) -> list[InboundMessage]:
    async with db.transaction() as session:
        query = (
            select(InboundMessage)
            .where(InboundMessage.mailbox_id == mailbox_id)
            .order_by(col(InboundMessage.id))
        )
        return list((await session.exec(query)).all())


async def _notifications(db: Database, kind: str) -> list[Notification]:
    async with db.transaction() as session:
        return list(
            (await session.exec(select(Notification).where(Notification.kind == kind))).all()
        )


async def _mailbox(db: Database, mailbox_id: int) -> Mailbox:
    async with db.transaction() as session:
        mailbox = await session.get(Mailbox, mailbox_id)
        assert mailbox is not None
        return mailbox


def _id(mailbox: Mailbox) -> int:
    assert mailbox.id is not None
    return mailbox.id


async def test_new_messages_are_recorded_once_with_their_exact_bytes(
    db: Database,
    store: LocalDocumentStore,
    vault: Vault,
    dovecot: Dovecot,
    folder: str,
    make_mailbox: MakeMailbox,
) -> None:
    nameless = invoice_mail(1, pdf=fake_pdf(20_000, 1))
    raws = [nameless, invoice_mail(2, filename="facture-2.pdf"), invoice_mail(3)]
    uids = dovecot.append_many("alice", raws, folder)
    mailbox = await make_mailbox()
    wake = Wake()

    result = await poll_mailbox(
        connect=LOCAL, db=db, store=store, vault=vault, mailbox_id=_id(mailbox), wake=wake
    )

    assert (result.outcome, result.recorded, result.duplicates) == (PollOutcome.OK, 3, 0)
    assert wake.calls == 1
    rows = await _rows(db, _id(mailbox))
    assert [row.uid for row in rows] == uids
    assert [row.sha256 for row in rows] == [hashlib.sha256(raw).hexdigest() for raw in raws]
    assert {row.state for row in rows} == {"received"}
    first = rows[0]
    assert (first.mail_from, first.message_id) == ("factures@edf.fr", "<invoice-1@edf.fr>")
    assert (first.channel, first.recipient, first.workspace_id) == (
        "imap",
        "alice",
        mailbox.workspace_id,
    )
    assert first.sha256 is not None
    stored = await store.get(first.sha256)
    assert stored == nameless
    pdfs = [
        p
        for p in email.message_from_bytes(stored).walk()
        if p.get_content_type() == "application/pdf"
    ]
    assert len(pdfs) == 1
    assert pdfs[0].get_filename() is None
    assert pdfs[0]["Content-ID"] is None
    assert pdfs[0].get_payload(decode=True) == fake_pdf(20_000, 1)
    # Why the raw bytes: imap-tools' own view of this message has no attachment at all.
    assert MailMessage.from_bytes(stored).attachments == []
    assert dovecot.flags("alice", folder) == {uid: frozenset({"\\Seen"}) for uid in uids}
    after = await _mailbox(db, _id(mailbox))
    assert (after.last_uid, after.state, after.failure_count) == (uids[-1], "active", 0)

    again = await poll_mailbox(
        connect=LOCAL, db=db, store=store, vault=vault, mailbox_id=_id(mailbox), wake=wake
    )

    assert (again.recorded, again.duplicates, wake.calls) == (0, 0, 1)
    assert len(await _rows(db, _id(mailbox))) == 3


async def test_a_new_mailbox_takes_only_mail_that_arrives_after_it(
    db: Database,
    store: LocalDocumentStore,
    vault: Vault,
    dovecot: Dovecot,
    folder: str,
    make_mailbox: MakeMailbox,
) -> None:
    old = dovecot.append_many("alice", [invoice_mail(i) for i in range(3)], folder)
    mailbox = await make_mailbox(history="new_only")

    first = await poll_mailbox(
        connect=LOCAL, db=db, store=store, vault=vault, mailbox_id=_id(mailbox), wake=Wake()
    )

    assert (first.outcome, first.recorded, first.reset) == (PollOutcome.OK, 0, False)
    assert await _rows(db, _id(mailbox)) == []
    assert dovecot.flags("alice", folder) == {uid: frozenset() for uid in old}
    state = await _mailbox(db, _id(mailbox))
    assert (state.uidvalidity, state.last_uid) == (dovecot.uidvalidity("alice", folder), old[-1])
    assert await _notifications(db, "mailbox_reset") == []

    (new,) = dovecot.append_many("alice", [invoice_mail(9)], folder)
    later = await poll_mailbox(
        connect=LOCAL, db=db, store=store, vault=vault, mailbox_id=_id(mailbox), wake=Wake()
    )

    assert later.recorded == 1
    assert [row.uid for row in await _rows(db, _id(mailbox))] == [new]
    assert dovecot.flags("alice", folder)[new] == frozenset({"\\Seen"})


class _Crash(BaseException):
    """A process killed between the commit and the after-action."""


def _after_action_raises(exc: BaseException) -> Connector:
    async def connect(account: Account, secret: SecretStr) -> MailboxClient:
        client = await connect_imap(account, secret, allow_private=True)

        async def fail(uids: Sequence[int], *_: object) -> None:
            raise exc

        client.mark_seen = fail  # type: ignore[method-assign]
        return client

    return connect


@pytest.mark.parametrize("failure", ["error", "crash"])
async def test_a_failing_after_action_loses_nothing_and_duplicates_nothing(
    db: Database,
    store: LocalDocumentStore,
    vault: Vault,
    dovecot: Dovecot,
    folder: str,
    make_mailbox: MakeMailbox,
    failure: str,
) -> None:
    uids = dovecot.append_many("alice", [invoice_mail(i) for i in range(3)], folder)
    mailbox = await make_mailbox()
    broken = _after_action_raises(
        RuntimeError("server said NO") if failure == "error" else _Crash()
    )

    if failure == "error":
        result = await poll_mailbox(
            db=db,
            store=store,
            vault=vault,
            mailbox_id=_id(mailbox),
            wake=Wake(),
            connect=broken,
        )
        assert (result.outcome, result.recorded, result.after_failures) == (PollOutcome.OK, 3, 3)
    else:
        with pytest.raises(_Crash):
            await poll_mailbox(
                db=db,
                store=store,
                vault=vault,
                mailbox_id=_id(mailbox),
                wake=Wake(),
                connect=broken,
            )
    assert [row.uid for row in await _rows(db, _id(mailbox))] == uids
    assert dovecot.flags("alice", folder) == {uid: frozenset() for uid in uids}

    again = await poll_mailbox(
        connect=LOCAL, db=db, store=store, vault=vault, mailbox_id=_id(mailbox), wake=Wake()
    )

    assert (again.outcome, again.recorded, again.duplicates) == (PollOutcome.OK, 0, 0)
    assert [row.uid for row in await _rows(db, _id(mailbox))] == uids


async def test_a_disk_failure_mid_batch_records_none_of_it_and_the_retry_takes_it_once(
    db: Database,
    store: LocalDocumentStore,
    vault: Vault,
    dovecot: Dovecot,
    folder: str,
    make_mailbox: MakeMailbox,
) -> None:
    """No row ever points at a missing file: a batch whose files could not all be
    stored is not recorded, its watermark does not move, and the next poll takes it."""
    raws = [invoice_mail(i, pdf=fake_pdf(2_000, i)) for i in range(1, 6)]
    uids = dovecot.append_many("alice", raws, folder)
    mailbox = await make_mailbox()
    # A folder where the third message's file must go: the second batch's rename fails.
    blocker = store.path_of(hashlib.sha256(raws[2]).hexdigest())
    blocker.mkdir(parents=True)

    with pytest.raises(StorageFailed):
        await poll_mailbox(
            connect=LOCAL,
            db=db,
            store=store,
            vault=vault,
            mailbox_id=_id(mailbox),
            wake=Wake(),
            batch=2,
        )

    rows = await _rows(db, _id(mailbox))
    assert [row.uid for row in rows] == uids[:2]
    assert (await _mailbox(db, _id(mailbox))).last_uid == uids[1]
    for row, raw in zip(rows, raws, strict=False):
        assert row.sha256 is not None
        assert await store.get(row.sha256) == raw
    blocker.rmdir()

    again = await poll_mailbox(
        connect=LOCAL, db=db, store=store, vault=vault, mailbox_id=_id(mailbox), wake=Wake()
    )

    assert (again.outcome, again.recorded, again.duplicates) == (PollOutcome.OK, 3, 0)
    rows = await _rows(db, _id(mailbox))
    assert [row.uid for row in rows] == uids
    for row, raw in zip(rows, raws, strict=True):
        assert row.sha256 is not None
        assert await store.get(row.sha256) == raw
    assert list(store.root.rglob(".incoming-*")) == []


async def test_move_and_flag_are_applied_on_the_server(
    db: Database,
    store: LocalDocumentStore,
    vault: Vault,
    dovecot: Dovecot,
    folder: str,
    make_mailbox: MakeMailbox,
) -> None:
    archive = f"{folder}-done"
    dovecot.create_folder("alice", archive)
    dovecot.append_many("alice", [invoice_mail(1), invoice_mail(2)], folder)
    moving = await make_mailbox(after=AfterProcessing.MOVE, move_to=archive)

    moved = await poll_mailbox(
        connect=LOCAL, db=db, store=store, vault=vault, mailbox_id=_id(moving), wake=Wake()
    )

    assert (moved.recorded, moved.after_failures) == (2, 0)
    assert dovecot.uids("alice", folder) == []
    assert list(dovecot.flags("alice", archive).values()) == [frozenset(), frozenset()]

    uids = dovecot.append_many("alice", [invoice_mail(3)], archive)
    flagging = await make_mailbox(folder=archive, after=AfterProcessing.FLAG)
    flagged = await poll_mailbox(
        connect=LOCAL, db=db, store=store, vault=vault, mailbox_id=_id(flagging), wake=Wake()
    )

    assert flagged.recorded == 3
    assert dovecot.flags("alice", archive)[uids[0]] == frozenset({"\\Flagged"})


async def test_a_new_uidvalidity_skips_the_folder_and_tells_once(
    db: Database,
    store: LocalDocumentStore,
    vault: Vault,
    dovecot: Dovecot,
    folder: str,
    make_mailbox: MakeMailbox,
) -> None:
    dovecot.append_many("alice", [invoice_mail(1), invoice_mail(2)], folder)
    mailbox = await make_mailbox()
    await poll_mailbox(
        connect=LOCAL, db=db, store=store, vault=vault, mailbox_id=_id(mailbox), wake=Wake()
    )
    old = dovecot.uidvalidity("alice", folder)
    dovecot.delete_folder("alice", folder)
    dovecot.create_folder("alice", folder)
    dovecot.append_many("alice", [invoice_mail(1), invoice_mail(2), invoice_mail(3)], folder)
    new = dovecot.uidvalidity("alice", folder)
    assert new != old

    reset = await poll_mailbox(
        connect=LOCAL, db=db, store=store, vault=vault, mailbox_id=_id(mailbox), wake=Wake()
    )
    await poll_mailbox(
        connect=LOCAL, db=db, store=store, vault=vault, mailbox_id=_id(mailbox), wake=Wake()
    )

    assert (reset.outcome, reset.reset, reset.recorded) == (PollOutcome.OK, True, 0)
    assert len(await _rows(db, _id(mailbox))) == 2
    notes = await _notifications(db, "mailbox_reset")
    assert len(notes) == 1
    assert notes[0].payload["mailbox_id"] == _id(mailbox)
    state = await _mailbox(db, _id(mailbox))
    assert (state.uidvalidity, state.last_uid) == (new, 3)

    (uid,) = dovecot.append_many("alice", [invoice_mail(4)], folder)
    later = await poll_mailbox(
        connect=LOCAL, db=db, store=store, vault=vault, mailbox_id=_id(mailbox), wake=Wake()
    )

    assert (later.recorded, later.reset) == (1, False)
    assert (await _rows(db, _id(mailbox)))[-1].uid == uid


async def test_a_wrong_password_stops_polling_until_the_credentials_change(
    db: Database,
    store: LocalDocumentStore,
    vault: Vault,
    dovecot: Dovecot,
    make_mailbox: MakeMailbox,
) -> None:
    mailbox = await make_mailbox(secret=SecretStr("not-alices-password"))
    now = utcnow()

    first = await poll_mailbox(
        connect=LOCAL,
        db=db,
        store=store,
        vault=vault,
        mailbox_id=_id(mailbox),
        wake=Wake(),
        now=now,
    )
    second = await poll_mailbox(
        connect=LOCAL,
        db=db,
        store=store,
        vault=vault,
        mailbox_id=_id(mailbox),
        wake=Wake(),
        now=now + timedelta(minutes=1),
    )

    assert (first.outcome, first.error, first.next_poll_at) == (
        PollOutcome.FAILED,
        "auth_failed",
        None,
    )
    assert second.error == "auth_failed"
    state = await _mailbox(db, _id(mailbox))
    assert (state.state, state.last_error, state.failure_count, state.next_poll_at) == (
        MailboxState.ERROR,
        "auth_failed",
        2,
        None,
    )
    notes = await _notifications(db, "mailbox_error")
    assert [n.payload["reason"] for n in notes] == ["auth_failed"]
    assert str(_id(mailbox)) in (notes[0].dedupe_key or "")
    for later in (timedelta(minutes=5), timedelta(days=2)):
        assert (
            await poll_due_mailboxes(
                connect=LOCAL, db=db, store=store, vault=vault, wake=Wake(), now=now + later
            )
            == []
        )


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_an_unreachable_server_is_retried_with_back_off(
    db: Database,
    store: LocalDocumentStore,
    vault: Vault,
    make_mailbox: MakeMailbox,
) -> None:
    mailbox = await make_mailbox(port=_closed_port())
    now = utcnow()
    wake = Wake()

    first = await poll_mailbox(
        connect=LOCAL, db=db, store=store, vault=vault, mailbox_id=_id(mailbox), wake=wake, now=now
    )

    assert (first.error, first.next_poll_at) == ("unreachable", now + timedelta(minutes=1))
    assert (
        await poll_due_mailboxes(
            connect=LOCAL,
            db=db,
            store=store,
            vault=vault,
            wake=wake,
            now=now + timedelta(seconds=30),
        )
        == []
    )
    (second,) = await poll_due_mailboxes(
        connect=LOCAL, db=db, store=store, vault=vault, wake=wake, now=now + timedelta(seconds=61)
    )
    assert (second.error, second.next_poll_at) == (
        "unreachable",
        now + timedelta(seconds=61) + timedelta(minutes=2),
    )
    assert len(await _notifications(db, "mailbox_error")) == 1
    state = await _mailbox(db, _id(mailbox))
    assert (state.state, state.last_error, state.failure_count) == ("error", "unreachable", 2)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never says a word."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


async def test_a_server_that_never_answers_times_out_as_unreachable(
    db: Database,
    store: LocalDocumentStore,
    vault: Vault,
    make_mailbox: MakeMailbox,
    silent_server: int,
) -> None:
    mailbox = await make_mailbox(port=silent_server)

    async def impatient(account: Account, secret: SecretStr) -> MailboxClient:
        return await connect_imap(account, secret, socket_timeout=0.3, allow_private=True)

    result = await poll_mailbox(
        db=db, store=store, vault=vault, mailbox_id=_id(mailbox), wake=Wake(), connect=impatient
    )

    assert (result.outcome, result.error) == (PollOutcome.FAILED, "unreachable")


async def test_a_missing_folder_and_a_refused_token_are_told_apart(
    db: Database,
    store: LocalDocumentStore,
    vault: Vault,
    make_mailbox: MakeMailbox,
    folder: str,
) -> None:
    missing = await make_mailbox(folder=f"{folder}-gone")
    # This Dovecot offers no XOAUTH2: the refusal an expired token gets from Gmail.
    oauth = await make_mailbox(auth=MailboxAuth.OAUTH2, secret=SecretStr("ya29.expired-token"))
    now = utcnow()

    gone = await poll_mailbox(
        connect=LOCAL,
        db=db,
        store=store,
        vault=vault,
        mailbox_id=_id(missing),
        wake=Wake(),
        now=now,
    )
    token = await poll_mailbox(
        connect=LOCAL, db=db, store=store, vault=vault, mailbox_id=_id(oauth), wake=Wake(), now=now
    )

    assert (gone.error, gone.next_poll_at) == ("folder_missing", now + timedelta(minutes=1))
    assert (token.error, token.next_poll_at) == ("token_expired", None)
    reasons = sorted(n.payload["reason"] for n in await _notifications(db, "mailbox_error"))
    assert reasons == ["folder_missing", "token_expired"]


async def test_a_recovered_mailbox_is_active_again(
    db: Database,
    store: LocalDocumentStore,
    vault: Vault,
    dovecot: Dovecot,
    folder: str,
    make_mailbox: MakeMailbox,
) -> None:
    mailbox = await make_mailbox(folder=f"{folder}-later")
    failed = await poll_mailbox(
        connect=LOCAL, db=db, store=store, vault=vault, mailbox_id=_id(mailbox), wake=Wake()
    )
    assert failed.error == "folder_missing"
    dovecot.create_folder("alice", f"{folder}-later")

    result = await poll_mailbox(
        connect=LOCAL, db=db, store=store, vault=vault, mailbox_id=_id(mailbox), wake=Wake()
    )

    assert result.outcome == PollOutcome.OK
    state = await _mailbox(db, _id(mailbox))
    assert (state.state, state.last_error, state.failure_count) == ("active", None, 0)


async def test_a_large_backlog_is_taken_in_batches_in_uid_order(
    db: Database,
    store: LocalDocumentStore,
    vault: Vault,
    dovecot: Dovecot,
    folder: str,
    make_mailbox: MakeMailbox,
) -> None:
    uids = dovecot.append_many("alice", [invoice_mail(i) for i in range(120)], folder)
    mailbox = await make_mailbox()
    wake = Wake()

    result = await poll_mailbox(
        connect=LOCAL, db=db, store=store, vault=vault, mailbox_id=_id(mailbox), wake=wake, batch=50
    )

    assert result.recorded == 120
    assert wake.calls == 3  # once per batch: the worker starts before the poll ends
    assert [row.uid for row in await _rows(db, _id(mailbox))] == uids
    assert (await _mailbox(db, _id(mailbox))).last_uid == uids[-1]


async def test_overlapping_polls_take_each_message_once(
    db: Database,
    store: LocalDocumentStore,
    vault: Vault,
    dovecot: Dovecot,
    folder: str,
    make_mailbox: MakeMailbox,
) -> None:
    uids = dovecot.append_many("alice", [invoice_mail(i) for i in range(30)], folder)
    mailbox = await make_mailbox()
    # A second Database on the same engine has its own locks: another process, in effect.
    other_process = Database(db.engine)

    results = await asyncio.gather(
        poll_mailbox(
            connect=LOCAL,
            db=db,
            store=store,
            vault=vault,
            mailbox_id=_id(mailbox),
            wake=Wake(),
            batch=10,
        ),
        poll_mailbox(
            connect=LOCAL,
            db=db,
            store=store,
            vault=vault,
            mailbox_id=_id(mailbox),
            wake=Wake(),
            batch=10,
        ),
        poll_mailbox(
            connect=LOCAL,
            db=other_process,
            store=store,
            vault=vault,
            mailbox_id=_id(mailbox),
            wake=Wake(),
            batch=10,
        ),
    )

    assert sorted(r.outcome for r in results[:2]) == [PollOutcome.BUSY, PollOutcome.OK]
    assert sum(r.recorded for r in results) == 30
    assert [row.uid for row in await _rows(db, _id(mailbox))] == uids


async def test_polling_is_fast_while_a_supplier_emails_a_code(
    db: Database,
    store: LocalDocumentStore,
    vault: Vault,
    world: World,
    make_mailbox: MakeMailbox,
) -> None:
    mailbox = await make_mailbox()
    now = utcnow()
    slow = await poll_mailbox(
        connect=LOCAL,
        db=db,
        store=store,
        vault=vault,
        mailbox_id=_id(mailbox),
        wake=Wake(),
        now=now,
    )
    assert slow.next_poll_at == now + POLL_EVERY
    assert world.workspace.id
    assert world.supplier.id
    assert world.owner.id
    async with db.transaction() as session:
        connection = await create_connection(
            session=session,
            vault=vault,
            data=ConnectionCreate(
                workspace_id=world.workspace.id,
                supplier_id=world.supplier.id,
                owner_member_id=world.owner.id,
                login="marie@boulangerie.fr",
                password=SecretStr("pw"),
            ),
            by=OPERATOR,
        )
        await open_challenge(
            session=session, connection=connection, channel=ChallengeChannel.EMAIL, now=now
        )

    # The next tick does not wait out the slow interval, and each poll asks for the next
    # one POLL_FAST later.
    assert (
        await poll_due_mailboxes(
            connect=LOCAL,
            db=db,
            store=store,
            vault=vault,
            wake=Wake(),
            now=now + timedelta(seconds=2),
        )
        == []
    )
    (fast,) = await poll_due_mailboxes(
        connect=LOCAL, db=db, store=store, vault=vault, wake=Wake(), now=now + POLL_FAST
    )
    assert fast.next_poll_at == now + 2 * POLL_FAST


async def test_no_secret_reaches_logs_results_or_notifications(
    db: Database,
    store: LocalDocumentStore,
    vault: Vault,
    dovecot: Dovecot,
    folder: str,
    make_mailbox: MakeMailbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "Wr0ng-S3cret-9f2e"
    dovecot.append("alice", invoice_mail(1), folder)
    mailboxes = [
        await make_mailbox(),
        await make_mailbox(secret=SecretStr(wrong)),
        await make_mailbox(auth=MailboxAuth.OAUTH2, secret=SecretStr(wrong)),
        await make_mailbox(port=_closed_port(), secret=SecretStr(wrong)),
    ]

    results = [
        await poll_mailbox(
            connect=LOCAL, db=db, store=store, vault=vault, mailbox_id=_id(m), wake=Wake()
        )
        for m in mailboxes
    ]

    assert [r.error for r in results] == [None, "auth_failed", "token_expired", "unreachable"]
    seen = "\n".join(
        [caplog.text, *map(repr, results), *map(repr, mailboxes)]
        + [repr(n.payload) for n in await _notifications(db, "mailbox_error")]
    )
    for auth in (MailboxAuth.PASSWORD, MailboxAuth.OAUTH2):
        account = Account(host=dovecot.host, port=dovecot.port, username="alice", auth=auth)
        with pytest.raises(MailboxUnavailable) as caught:
            await connect_imap(account, SecretStr(wrong), allow_private=True)
        failure = caught.value
        seen += "".join(traceback.format_exception(failure))
        seen += f"{failure!s} {failure!r} {failure.__context__!r} {failure.__cause__!r}"
    for secret in (wrong, dovecot.passwords["alice"]):
        assert secret not in seen


async def test_a_mailbox_on_a_private_host_is_not_polled_without_permission(
    db: Database, store: LocalDocumentStore, vault: Vault, dovecot: Dovecot, folder: str
) -> None:
    """The row was added before the policy, or the name now points inside: the poll that
    connects is refused before any password is sent, and the mailbox says why."""
    dovecot.append_many("alice", [invoice_mail(1)], folder)
    account = Account(host=dovecot.host, port=dovecot.port, username="alice")
    password = SecretStr(dovecot.passwords["alice"])
    with pytest.raises(MailboxUnavailable) as caught:
        await connect_imap(account, password)
    assert caught.value.reason == FailureReason.HOST_REFUSED
    # The operator's permission, and only it, lets the same server in.
    await probe_mailbox(account, password, folder, connect=LOCAL)


async def test_the_check_before_adding_finds_a_wrong_password_or_folder(
    dovecot: Dovecot, folder: str
) -> None:
    account = Account(host=dovecot.host, port=dovecot.port, username="alice")
    with pytest.raises(MailboxUnavailable) as wrong:
        await probe_mailbox(account, SecretStr("not-her-password"), folder, connect=LOCAL)
    assert wrong.value.reason == FailureReason.AUTH_FAILED
    right = SecretStr(dovecot.passwords["alice"])
    with pytest.raises(MailboxUnavailable) as missing:
        await probe_mailbox(account, right, "No-Such-Folder", connect=LOCAL)
    assert missing.value.reason == FailureReason.FOLDER_MISSING
