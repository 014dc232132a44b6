"""The poller's decisions, against an in-memory mailbox server and an in-memory database:
the watermark, the back-off, who is told and when, and the pieces of the adapter that
need no server (the FETCH parser, the choice of transport)."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses

import pytest
from pydantic import SecretStr
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel, col, select

from core.backoff import IMAP_POLL
from core.db import Database, create_database
from core.models import (
    Challenge,
    ChallengeChannel,
    ChallengeState,
    InboundMessage,
    Mailbox,
    MailboxCreate,
    Notification,
    WorkspaceCreate,
)
from core.models.base import utcnow
from core.models.mailbox import MailboxState
from core.permissions import OPERATOR
from core.services.mailboxes import History, add_mailbox, replace_secret
from core.services.workspaces import create_workspace
from core.storage import StoredFile, digest
from core.vault import Vault, generate_key
from mail.imap.batch import envelope_of, plan_batches
from mail.imap.client import (
    Account,
    FailureReason,
    FolderStatus,
    MailboxClient,
    MailboxUnavailable,
    RawMessage,
    parse_fetch,
    transport_of,
)
from mail.imap.poller import PollOutcome, PollResult, poll_mailbox
from mail.imap.schedule import (
    POLL_EVERY,
    POLL_FAST,
    claim_due_mailboxes,
    poll_interval,
)

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=utcnow().tzinfo)
PASSWORD = "Unit-S3cret-4a1b"


def mail(n: int) -> bytes:
    return f"From: Shop <billing@shop.example>\r\nMessage-ID: <m{n}@shop>\r\n\r\nn{n}\r\n".encode()


@dataclass
class FakeServer:
    """One folder of one account, and the faults a test wants it to show."""

    uidvalidity: int = 7
    messages: dict[int, bytes] = field(default_factory=dict)
    next_uid: int = 1
    seen: set[int] = field(default_factory=set)
    refuse: FailureReason | None = None
    #: Method name → the failure it raises, e.g. {"fetch": …}; "fetch#2" fails the 2nd.
    faults: dict[str, BaseException] = field(default_factory=dict)
    #: UIDs SEARCH lists but FETCH does not return (expunged in between).
    vanishing: set[int] = field(default_factory=set)
    report_uidnext: bool = True
    calls: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    gate: asyncio.Event | None = None
    #: Set when a poll connects, before it waits at the gate.
    knocked: asyncio.Event = field(default_factory=asyncio.Event)
    #: The fetch with this number hangs (and says so), like a server gone silent.
    hang_fetch: int | None = None
    hanging: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, *raws: bytes) -> list[int]:
        uids = []
        for raw in raws:
            self.messages[self.next_uid] = raw
            uids.append(self.next_uid)
            self.next_uid += 1
        return uids

    async def connect(self, account: Account, secret: SecretStr) -> MailboxClient:
        self.calls.append("connect")
        self.secrets.append(secret.get_secret_value())
        self.knocked.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.refuse is not None:
            raise MailboxUnavailable(self.refuse, detail="fake")
        return FakeClient(self)

    def fault(self, name: str) -> None:
        self.calls.append(name)
        count = self.calls.count(name)
        for key in (name, f"{name}#{count}"):
            if key in self.faults:
                raise self.faults[key]


@dataclass
class FakeClient:
    server: FakeServer
    closed: bool = False

    async def select(self, folder: str) -> FolderStatus:
        self.server.fault("select")
        uidnext = self.server.next_uid if self.server.report_uidnext else None
        return FolderStatus(uidvalidity=self.server.uidvalidity, uidnext=uidnext)

    async def uids_after(self, last_uid: int) -> list[int]:
        self.server.fault("uids_after")
        uids = sorted(self.server.messages)
        # What real servers do with "N:*": the highest UID always matches.
        return [u for u in uids if u > last_uid] or uids[-1:]

    async def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        self.server.fault("sizes")
        return {uid: len(self.server.messages[uid]) for uid in uids if uid in self.server.messages}

    async def fetch(self, uids: Sequence[int]) -> list[RawMessage]:
        self.server.fault("fetch")
        if self.server.calls.count("fetch") == self.server.hang_fetch:
            self.server.hanging.set()
            await asyncio.Event().wait()
        return [
            RawMessage(uid, self.server.messages[uid])
            for uid in uids
            if uid in self.server.messages and uid not in self.server.vanishing
        ]

    async def mark_seen(self, uids: Sequence[int]) -> None:
        self.server.fault("mark_seen")
        self.server.seen.update(uids)

    async def flag(self, uids: Sequence[int]) -> None:
        self.server.fault("flag")

    async def move(self, uids: Sequence[int], folder: str) -> None:
        self.server.fault("move")

    async def close(self) -> None:
        self.closed = True
        self.server.calls.append("close")


class MemoryStore:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    async def put(self, data: bytes, *, sha256: str | None = None) -> StoredFile:
        sha256 = sha256 or digest(data)
        assert sha256 == digest(data)
        self.files[sha256] = data
        return StoredFile(sha256=sha256, size=len(data))

    async def put_many(
        self, items: Sequence[bytes], *, sha256s: Sequence[str] | None = None
    ) -> list[StoredFile]:
        names = sha256s if sha256s is not None else [digest(data) for data in items]
        return [await self.put(data, sha256=name) for data, name in zip(items, names, strict=True)]

    async def get(self, sha256: str) -> bytes:
        return self.files[sha256]

    async def exists(self, sha256: str) -> bool:
        return sha256 in self.files

    async def delete(self, sha256: str) -> None:
        self.files.pop(sha256, None)


@dataclass
class Rig:
    db: Database
    vault: Vault
    store: MemoryStore
    server: FakeServer
    workspace_id: int
    mailbox_id: int
    wakes: int = 0
    woken: asyncio.Event = field(default_factory=asyncio.Event)

    def wake(self) -> None:
        self.wakes += 1
        self.woken.set()

    async def poll(self, *, now: datetime = NOW, batch: int = 50) -> PollResult:
        return await poll_mailbox(
            db=self.db,
            store=self.store,
            vault=self.vault,
            mailbox_id=self.mailbox_id,
            wake=self.wake,
            batch=batch,
            now=now,
            connect=self.server.connect,
        )

    async def mailbox(self) -> Mailbox:
        async with self.db.transaction() as session:
            mailbox = await session.get(Mailbox, self.mailbox_id)
            assert mailbox is not None
            return mailbox

    async def uids(self) -> list[int | None]:
        async with self.db.transaction() as session:
            rows = await session.exec(select(InboundMessage).order_by(col(InboundMessage.id)))
            return [row.uid for row in rows.all()]

    async def notifications(self) -> list[Notification]:
        async with self.db.transaction() as session:
            rows = await session.exec(select(Notification).order_by(col(Notification.id)))
            return list(rows.all())


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    db = create_database(make_url("sqlite+aiosqlite:///:memory:"))
    async with db.engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.create_all)
    vault = Vault([generate_key()])
    async with db.transaction() as session:
        workspace, _ = await create_workspace(
            session=session, data=WorkspaceCreate(name="Garage"), invite_ttl=timedelta(hours=1)
        )
        assert workspace.id is not None
        mailbox = await add_mailbox(
            session=session,
            vault=vault,
            data=MailboxCreate(
                workspace_id=workspace.id,
                host="imap.example.com",
                username="garage@example.com",
                secret=SecretStr(PASSWORD),
            ),
            # The tests put mail in the folder before the first poll, and want it taken.
            history="all",
            by=OPERATOR,
        )
        assert mailbox.id is not None
    yield Rig(db, vault, MemoryStore(), FakeServer(), workspace.id, mailbox.id)
    await db.dispose()


async def test_new_messages_are_taken_in_uid_order_then_never_again(rig: Rig) -> None:
    uids = rig.server.add(*(mail(n) for n in range(5)))

    first = await rig.poll(batch=2)
    second = await rig.poll()

    assert first == PollResult(
        rig.mailbox_id, PollOutcome.OK, recorded=5, next_poll_at=NOW + POLL_EVERY
    )
    assert (second.recorded, second.duplicates) == (0, 0)
    assert await rig.uids() == uids
    assert rig.server.seen == set(uids)
    assert rig.server.calls.count("fetch") == 3  # batches of 2, and none the second time
    assert rig.wakes == 3
    assert set(rig.store.files) == {hashlib.sha256(mail(n)).hexdigest() for n in range(5)}
    assert (await rig.mailbox()).last_uid == uids[-1]


async def test_a_message_that_vanished_before_its_fetch_holds_the_watermark(rig: Rig) -> None:
    uids = rig.server.add(mail(1), mail(2), mail(3))
    rig.server.vanishing = {uids[1]}

    first = await rig.poll()

    assert first.recorded == 2
    assert (await rig.mailbox()).last_uid == uids[0]
    rig.server.vanishing = set()
    second = await rig.poll()
    assert (second.recorded, second.duplicates) == (1, 1)
    assert await rig.uids() == [uids[0], uids[2], uids[1]]
    assert (await rig.mailbox()).last_uid == uids[2]


async def test_a_connection_lost_mid_poll_keeps_what_was_committed(rig: Rig) -> None:
    uids = rig.server.add(*(mail(n) for n in range(4)))
    rig.server.faults["fetch#2"] = MailboxUnavailable(FailureReason.UNREACHABLE, detail="x")

    failed = await rig.poll(batch=2)

    assert (failed.outcome, failed.recorded, failed.error) == (
        PollOutcome.FAILED,
        2,
        FailureReason.UNREACHABLE,
    )
    assert (await rig.mailbox()).last_uid == uids[1]
    assert rig.server.calls[-1] == "close"
    rig.server.faults.clear()
    resumed = await rig.poll(now=NOW + timedelta(minutes=2), batch=2)
    assert resumed.recorded == 2
    assert await rig.uids() == uids


async def test_a_cancelled_poll_keeps_committed_batches_and_closes(rig: Rig) -> None:
    uids = rig.server.add(*(mail(n) for n in range(4)))
    rig.server.hang_fetch = 2
    polling = asyncio.create_task(rig.poll(batch=2))
    await rig.server.hanging.wait()
    await rig.woken.wait()  # batch 1 is committed; the poll now waits for batch 2

    polling.cancel()
    with pytest.raises(asyncio.CancelledError):
        await polling

    assert rig.server.calls[-1] == "close"
    assert await rig.uids() == uids[:2]
    rig.server.hang_fetch = None
    resumed = await rig.poll(batch=2)
    assert (resumed.recorded, resumed.duplicates) == (2, 0)


async def test_a_batch_is_recorded_only_once_its_files_are_stored(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watermark never passes a message whose file is not stored yet: while the
    second batch's files are being written, only the first batch is recorded."""
    uids = rig.server.add(*(mail(n) for n in range(4)))
    storing, release = asyncio.Event(), asyncio.Event()
    real = rig.store.put_many
    batches: list[int] = []

    async def slow(items: Sequence[bytes], *, sha256s: Sequence[str] | None = None) -> object:
        batches.append(len(items))
        if len(batches) == 2:
            storing.set()
            await release.wait()
        return await real(items, sha256s=sha256s)

    monkeypatch.setattr(rig.store, "put_many", slow)
    polling = asyncio.create_task(rig.poll(batch=2))
    await storing.wait()
    await rig.woken.wait()

    assert await rig.uids() == uids[:2]
    assert (await rig.mailbox()).last_uid == uids[1]
    assert set(rig.store.files) == {hashlib.sha256(mail(n)).hexdigest() for n in range(2)}
    release.set()
    done = await polling
    assert (done.recorded, batches) == (4, [2, 2])
    assert await rig.uids() == uids
    assert (await rig.mailbox()).last_uid == uids[-1]


async def test_a_failing_after_action_is_counted_and_nothing_is_taken_twice(rig: Rig) -> None:
    rig.server.add(mail(1), mail(2))
    rig.server.faults["mark_seen"] = RuntimeError("NO")

    first = await rig.poll()
    second = await rig.poll()

    assert (first.recorded, first.after_failures) == (2, 2)
    assert (second.recorded, second.duplicates) == (0, 0)
    assert rig.server.calls.count("fetch") == 1


@pytest.mark.parametrize(
    ("reason", "waits"),
    [
        (FailureReason.AUTH_FAILED, None),
        (FailureReason.TOKEN_EXPIRED, None),
        (FailureReason.UNREACHABLE, timedelta(minutes=1)),
        (FailureReason.FOLDER_MISSING, timedelta(minutes=1)),
        (FailureReason.SERVER_ERROR, timedelta(minutes=1)),
    ],
)
async def test_each_failure_becomes_a_state_a_wait_and_one_notice(
    rig: Rig, reason: FailureReason, waits: timedelta | None
) -> None:
    if reason == FailureReason.FOLDER_MISSING:
        rig.server.faults["select"] = MailboxUnavailable(reason, detail="x")
    elif reason == FailureReason.SERVER_ERROR:
        rig.server.faults["uids_after"] = MailboxUnavailable(reason, detail="x")
    else:
        rig.server.refuse = reason

    results = [await rig.poll(now=NOW + timedelta(hours=i)) for i in range(3)]

    mailbox = await rig.mailbox()
    assert (mailbox.state, mailbox.last_error, mailbox.failure_count) == ("error", reason, 3)
    assert results[0].next_poll_at == (None if waits is None else NOW + waits)
    notes = await rig.notifications()
    assert [(n.kind, n.payload["reason"]) for n in notes] == [("mailbox_error", reason.value)]
    assert notes[0].dedupe_key == f"mailbox:{rig.mailbox_id}:{reason.value}:{NOW.isoformat()}"


async def test_back_off_doubles_and_success_resets_everything(rig: Rig) -> None:
    rig.server.refuse = FailureReason.UNREACHABLE
    waits = []
    for i in range(3):
        now = NOW + timedelta(hours=i)
        result = await rig.poll(now=now)
        assert result.next_poll_at is not None
        waits.append(result.next_poll_at - now)
    rig.server.refuse = FailureReason.AUTH_FAILED
    await rig.poll(now=NOW + timedelta(hours=4))
    rig.server.refuse = None
    await rig.poll(now=NOW + timedelta(hours=5))
    rig.server.refuse = FailureReason.UNREACHABLE
    await rig.poll(now=NOW + timedelta(hours=6))

    assert waits == [timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4)]
    notes = [n.payload["reason"] for n in await rig.notifications()]
    # A change of reason is a new thing to do; after a success, a new episode.
    assert notes == ["unreachable", "auth_failed", "unreachable"]
    assert (await rig.mailbox()).failure_count == 1


def test_back_off_is_capped_at_six_hours() -> None:
    assert [IMAP_POLL.wait(n) for n in (1, 2, 3, 9, 10, 500)] == [
        timedelta(minutes=1),
        timedelta(minutes=2),
        timedelta(minutes=4),
        timedelta(minutes=256),
        timedelta(hours=6),
        timedelta(hours=6),
    ]


async def test_a_new_uidvalidity_skips_to_the_end_and_tells_once(rig: Rig) -> None:
    rig.server.add(mail(1), mail(2))
    await rig.poll()
    rig.server.uidvalidity = 8
    rig.server.messages.clear()
    rig.server.next_uid = 1
    rig.server.report_uidnext = False  # the end is then found by a search
    rig.server.add(mail(1), mail(2), mail(3))

    reset = await rig.poll()
    again = await rig.poll()

    assert (reset.reset, reset.recorded, again.recorded) == (True, 0, 0)
    mailbox = await rig.mailbox()
    assert (mailbox.uidvalidity, mailbox.last_uid) == (8, 3)
    assert [n.kind for n in await rig.notifications()] == ["mailbox_reset"]


async def test_an_unknown_uidvalidity_with_a_watermark_is_a_reset_too(rig: Rig) -> None:
    async with rig.db.transaction() as session:
        mailbox = await session.get(Mailbox, rig.mailbox_id)
        assert mailbox is not None
        mailbox.uidvalidity = None
        mailbox.last_uid = 40
    rig.server.next_uid = 50
    rig.server.add(mail(1))

    result = await rig.poll()

    assert (result.reset, result.recorded) == (True, 0)
    assert (await rig.mailbox()).last_uid == 50


async def _add_mailbox(rig: Rig, **history: History) -> int:
    async with rig.db.transaction() as session:
        mailbox = await add_mailbox(
            session=session,
            vault=rig.vault,
            data=MailboxCreate(
                workspace_id=rig.workspace_id,
                host="imap.example.com",
                username="new@example.com",
                secret=SecretStr(PASSWORD),
            ),
            by=OPERATOR,
            **history,
        )
        assert mailbox.id is not None
        return mailbox.id


@pytest.mark.parametrize("report_uidnext", [True, False])
async def test_a_new_mailbox_starts_at_the_end_of_its_folder(
    rig: Rig, report_uidnext: bool
) -> None:
    rig.mailbox_id = await _add_mailbox(rig)  # history left to its default
    old = rig.server.add(*(mail(n) for n in range(3)))
    rig.server.report_uidnext = report_uidnext

    first = await rig.poll()

    assert (first.outcome, first.recorded, first.reset) == (PollOutcome.OK, 0, False)
    assert "fetch" not in rig.server.calls
    assert rig.server.seen == set()
    mailbox = await rig.mailbox()
    assert (mailbox.uidvalidity, mailbox.last_uid) == (rig.server.uidvalidity, old[-1])
    assert await rig.notifications() == []
    (new,) = rig.server.add(mail(9))
    second = await rig.poll()
    assert (second.recorded, await rig.uids()) == (1, [new])


async def test_history_all_takes_the_whole_folder_on_the_first_poll_only(rig: Rig) -> None:
    rig.mailbox_id = await _add_mailbox(rig, history="all")
    uids = rig.server.add(*(mail(n) for n in range(3)))

    first = await rig.poll()
    second = await rig.poll()

    assert (first.recorded, first.reset, second.recorded) == (3, False, 0)
    assert await rig.uids() == uids
    assert ((await rig.mailbox()).uidvalidity, await rig.notifications()) == (7, [])


async def test_a_refusal_of_replaced_credentials_does_not_stick_to_the_new_ones(
    rig: Rig,
) -> None:
    rig.server.refuse = FailureReason.AUTH_FAILED
    rig.server.gate = asyncio.Event()
    polling = asyncio.create_task(rig.poll())
    await rig.server.knocked.wait()
    async with rig.db.transaction() as session:
        mailbox = await session.get(Mailbox, rig.mailbox_id)
        assert mailbox is not None
        replace_secret(vault=rig.vault, mailbox=mailbox, secret=SecretStr("new-Pa55"))

    rig.server.gate.set()
    stale = await polling

    assert (stale.outcome, stale.error, stale.next_poll_at) == (
        PollOutcome.FAILED,
        FailureReason.AUTH_FAILED,
        None,
    )
    mailbox = await rig.mailbox()
    assert (mailbox.state, mailbox.last_error, mailbox.failure_count) == ("active", None, 0)
    assert await rig.notifications() == []
    rig.server.gate = None
    refused = await rig.poll()
    assert (rig.server.secrets[-1], refused.error) == ("new-Pa55", FailureReason.AUTH_FAILED)
    assert ((await rig.mailbox()).last_error, len(await rig.notifications())) == ("auth_failed", 1)


async def test_a_second_poll_of_a_busy_mailbox_returns_at_once(rig: Rig) -> None:
    rig.server.gate = asyncio.Event()
    running = asyncio.create_task(rig.poll())
    await asyncio.sleep(0)

    busy = await rig.poll()
    rig.server.gate.set()
    done = await running

    assert busy.outcome == PollOutcome.BUSY
    assert done.outcome == PollOutcome.OK
    assert rig.server.calls.count("connect") == 1


async def test_a_paused_mailbox_is_not_contacted(rig: Rig) -> None:
    async with rig.db.transaction() as session:
        mailbox = await session.get(Mailbox, rig.mailbox_id)
        assert mailbox is not None
        mailbox.state = MailboxState.PAUSED

    result = await rig.poll()

    assert result.outcome == PollOutcome.PAUSED
    assert rig.server.calls == []


async def test_a_broken_wake_does_not_undo_the_poll(rig: Rig) -> None:
    rig.server.add(mail(1))

    def wake() -> None:
        raise RuntimeError("worker gone")

    result = await poll_mailbox(
        db=rig.db,
        store=rig.store,
        vault=rig.vault,
        mailbox_id=rig.mailbox_id,
        wake=wake,
        now=NOW,
        connect=rig.server.connect,
    )

    assert (result.outcome, result.recorded) == (PollOutcome.OK, 1)


async def test_the_secret_reaches_the_login_and_nothing_else(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    rig.server.refuse = FailureReason.AUTH_FAILED

    result = await rig.poll()

    assert rig.server.secrets == [PASSWORD]
    mailbox = await rig.mailbox()
    assert PASSWORD not in caplog.text + repr(result) + repr(mailbox)


async def test_due_mailboxes_are_claimed_and_credential_failures_never_are(rig: Rig) -> None:
    async with rig.db.transaction() as session:
        assert await claim_due_mailboxes(session=session, now=NOW) == [rig.mailbox_id]
    async with rig.db.transaction() as session:
        # Claimed: another scheduler passes it by.
        assert await claim_due_mailboxes(session=session, now=NOW + timedelta(minutes=1)) == []
    rig.server.refuse = FailureReason.AUTH_FAILED
    await rig.poll()
    async with rig.db.transaction() as session:
        assert await claim_due_mailboxes(session=session, now=NOW + timedelta(days=30)) == []


def _challenge(channel: ChallengeChannel, state: ChallengeState, expires: datetime) -> Challenge:
    return Challenge(connection_id=1, channel=channel, state=state, expires_at=expires)


def test_polling_is_fast_only_while_a_mailed_code_is_awaited() -> None:
    later = NOW + timedelta(minutes=5)
    assert poll_interval([], now=NOW) == POLL_EVERY
    assert (
        poll_interval([_challenge(ChallengeChannel.EMAIL, ChallengeState.OPEN, later)], now=NOW)
        == POLL_FAST
    )
    assert (
        poll_interval([_challenge(ChallengeChannel.SMS, ChallengeState.OPEN, later)], now=NOW)
        == POLL_EVERY
    )
    assert (
        poll_interval([_challenge(ChallengeChannel.EMAIL, ChallengeState.ANSWERED, later)], now=NOW)
        == POLL_EVERY
    )
    assert (
        poll_interval([_challenge(ChallengeChannel.EMAIL, ChallengeState.OPEN, NOW)], now=NOW)
        == POLL_EVERY
    )


def test_the_envelope_comes_from_the_headers_alone() -> None:
    raw = (
        b"From: =?utf-8?q?Caf=C3=A9?= <Billing@Shop.Example>\r\n"
        b"Subject: caf\xe9\r\n"
        b"Message-ID:\r\n <abc@shop.example>\r\n"
        b"\r\n"
        b"From: not-this@example.com\r\n"
    )
    envelope = envelope_of(raw, StoredFile(sha256="0" * 64, size=len(raw)))
    assert (envelope.mail_from, envelope.message_id, envelope.channel) == (
        "billing@shop.example",
        "<abc@shop.example>",
        "imap",
    )
    bare = envelope_of(b"Subject: none\r\n\r\nbody", StoredFile(sha256="0" * 64, size=3))
    assert (bare.mail_from, bare.message_id) == ("", None)


def _envelope_by_parser(raw: bytes) -> tuple[str, str | None]:
    """What the standard library's header parser reads: envelope_of's reference."""
    end = re.search(rb"\r?\n\r?\n", raw)
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw[: end.start()] if end else raw)

    def text(name: str) -> str:
        value = headers.get(name)
        raw_text = "" if value is None else str(value)
        raw_text = raw_text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        return " ".join(raw_text.split())

    mail_from = next(
        (a.strip("<> ").lower() for _, a in getaddresses([text("from")]) if "@" in a), ""
    )
    return mail_from, text("message-id") or None


@pytest.mark.parametrize(
    "raw",
    [
        mail(1),
        b"from: A <a@x.example>\nMESSAGE-ID: <1@x>\n\nbody",
        b"From: first@x.example\r\nFrom: second@x.example\r\n\r\n",
        b'From:\r\n\t"Dupont, Marie"\r\n <Marie@X.example>\r\nMessage-ID: <a\r\n b@x>\r\n\r\n',
        b"From : spaced@x.example\r\nX-From: other@x.example\r\n\r\n",
        b"Subject: no from\r\nMessage-ID:\r\n\r\nFrom: body@x.example\r\n",
        b"From: =?utf-8?q?Caf=C3=A9?= <cafe@x.example>, b@y.example\r\n\r\n",
        b"From: \xff\xfe <bad@x.example>\r\nMessage-ID: <\xe9@x>\r\n\r\n",
        b"From: undisclosed-recipients:;\r\n\r\n",
        b"no header block at all",
    ],
)
def test_the_envelope_reads_what_the_header_parser_reads(raw: bytes) -> None:
    envelope = envelope_of(raw, StoredFile(sha256="0" * 64, size=len(raw)))
    assert (envelope.mail_from, envelope.message_id) == _envelope_by_parser(raw)


def test_utf8_headers_are_read_as_utf8() -> None:
    # RFC 6532 lets headers carry UTF-8, which compat32's parser turns into U+FFFD.
    raw = "From: Caf\u00e9 <caf\u00e9@x.example>\r\nMessage-ID: <\u00e9@x>\r\n\r\n".encode()
    envelope = envelope_of(raw, StoredFile(sha256="0" * 64, size=len(raw)))
    assert (envelope.mail_from, envelope.message_id) == ("caf\u00e9@x.example", "<\u00e9@x>")


def test_batches_hold_a_count_and_a_weight() -> None:
    sizes = {1: 10, 2: 10, 3: 70 * 1024 * 1024, 4: 10, 5: 10}
    assert plan_batches([1, 2, 3, 4, 5], sizes, batch=3) == [[1, 2], [3], [4, 5]]
    assert plan_batches([1, 2, 4, 5], {}, batch=2) == [[1, 2], [4, 5]]


def test_fetch_responses_pair_each_body_with_its_uid() -> None:
    data: list[object] = [
        (b"1 (UID 10 BODY[] {3}", b"one"),
        b")",
        (b"2 (BODY[] {3}", b"two"),
        b" UID 11)",
        b"3 (FLAGS (\\Seen))",
        (b"4 (UID 13 BODY[] {5}", b"four!"),
        b")",
    ]
    assert [(m.uid, m.raw) for m in parse_fetch(data)] == [
        (10, b"one"),
        (11, b"two"),
        (13, b"four!"),
    ]


@pytest.mark.parametrize(
    ("host", "port", "transport"),
    [
        ("imap.gmail.com", 993, "tls"),
        ("mail.example.fr", 143, "starttls"),
        ("mail.example.fr", 1993, "tls"),
        ("127.0.0.1", 143, "plain"),
        ("localhost", 1143, "plain"),
        ("::1", 40123, "plain"),
        ("127.0.0.1", 993, "tls"),
    ],
)
def test_the_port_and_host_choose_the_transport(host: str, port: int, transport: str) -> None:
    assert transport_of(Account(host=host, port=port, username="u")) == transport
