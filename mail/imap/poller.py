"""Polling the IMAP mailboxes workspaces let Courier watch: what a scheduler tick calls.

A poll takes the messages above the mailbox's UID watermark in batches. For each batch it
stores every message's exact raw bytes (durable: synced once for the batch), then
records the batch and moves the watermark in one transaction; only after that commit
does it apply the after-action on the server (seen, flag or move). A crash at any point
therefore loses nothing and records nothing twice: before the commit the batch is
fetched again next time, after it the unique (mailbox, UIDVALIDITY, UID) key and the
watermark keep it from coming back. An after-action that fails is logged and not retried.

A mailbox's first poll starts at the folder's end unless it was added to take the whole
folder (see core.services.mailboxes). The worker that reads recorded messages is woken
through `wake()`, after each commit.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sqlmodel.ext.asyncio.session import AsyncSession

from core.db import Database
from core.errors import NotFound
from core.models import Mailbox
from core.models.base import utcnow
from core.models.mailbox import AfterProcessing, MailboxAuth, MailboxState
from core.services.inbound import Recipient
from core.services.mailboxes import WHOLE_FOLDER, read_secret
from core.services.notifications import enqueue
from core.storage import DocumentStore
from core.vault import Vault
from mail.imap.batch import DEFAULT_BATCH, Flight, after_action, plan_batches, record_batch
from mail.imap.client import (
    NEEDS_CREDENTIALS,
    Account,
    Connector,
    FailureReason,
    FolderStatus,
    MailboxClient,
    MailboxUnavailable,
    connect_imap,
)
from mail.imap.schedule import claim_due_mailboxes, mark_polled, mark_unavailable

logger = logging.getLogger(__name__)

#: Mailboxes polled side by side in one tick: a dead server waits out its timeout alone.
CONCURRENCY = 4


class PollOutcome(StrEnum):
    OK = "ok"
    #: Another poll of the same mailbox was running, or took over (a UIDVALIDITY reset).
    BUSY = "busy"
    PAUSED = "paused"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class PollResult:
    mailbox_id: int
    outcome: PollOutcome
    recorded: int = 0
    #: Messages a previous run or another process had recorded already.
    duplicates: int = 0
    #: UIDVALIDITY changed: the mailbox was skipped to its end, not taken again.
    reset: bool = False
    error: FailureReason | None = None
    after_failures: int = 0
    next_poll_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class _Target:
    """What a poll needs of the mailbox row, read once so no session is held over I/O."""

    mailbox_id: int
    workspace_id: int
    account: Account
    folder: str
    after: AfterProcessing
    move_to: str | None
    uidvalidity: int | None
    last_uid: int
    #: The secret the poll logs in with, as sealed then: new credentials replace it.
    sealed: str = field(repr=False)


@dataclass(slots=True)
class _Tally:
    recorded: int = 0
    duplicates: int = 0
    after_failures: int = 0
    reset: bool = False


class _Superseded(Exception):
    """The mailbox row changed under the poll (reset elsewhere, deleted): stop quietly."""


# Per database so two test loops, or two databases in one process, never share a lock.
_locks: weakref.WeakKeyDictionary[Database, dict[int, asyncio.Lock]] = weakref.WeakKeyDictionary()


def _lock(db: Database, mailbox_id: int) -> asyncio.Lock:
    return _locks.setdefault(db, {}).setdefault(mailbox_id, asyncio.Lock())


async def poll_mailbox(
    *,
    db: Database,
    store: DocumentStore,
    vault: Vault,
    mailbox_id: int,
    wake: Callable[[], None],
    batch: int = DEFAULT_BATCH,
    now: datetime | None = None,
    connect: Connector = connect_imap,
) -> PollResult:
    """Poll one mailbox now. In this process a second poll of the same mailbox returns
    BUSY at once; across processes the unique UID key keeps each message single."""
    lock = _lock(db, mailbox_id)
    if lock.locked():
        return PollResult(mailbox_id, PollOutcome.BUSY)
    async with lock:
        now = now or utcnow()
        async with db.transaction() as session:
            mailbox = await session.get(Mailbox, mailbox_id)
            if mailbox is None:
                raise NotFound(kind="mailbox", ident=mailbox_id)
            if mailbox.state == MailboxState.PAUSED:
                return PollResult(mailbox_id, PollOutcome.PAUSED)
            target = _target_of(mailbox)
            secret = read_secret(vault=vault, mailbox=mailbox)
        tally = _Tally()
        try:
            try:
                client = await connect(target.account, secret)
                try:
                    await _poll(db, store, target, client, tally, wake=wake, batch=batch)
                finally:
                    await client.close()
            except MailboxUnavailable as failure:
                return await _failed(db, target, failure, tally, now=now)
            return await _succeeded(db, target, tally, now=now)
        except _Superseded:
            return _result(target, PollOutcome.BUSY, tally)


def _target_of(mailbox: Mailbox) -> _Target:
    assert mailbox.id is not None
    return _Target(
        mailbox_id=mailbox.id,
        workspace_id=mailbox.workspace_id,
        account=Account(
            host=mailbox.host,
            port=mailbox.port,
            username=mailbox.username,
            auth=MailboxAuth(mailbox.auth),
        ),
        folder=mailbox.folder,
        # The columns are plain strings: the enums come back as str from the database.
        after=AfterProcessing(mailbox.after),
        move_to=mailbox.move_to,
        uidvalidity=mailbox.uidvalidity,
        last_uid=mailbox.last_uid,
        sealed=mailbox.secret_sealed,
    )


def _result(
    target: _Target,
    outcome: PollOutcome,
    tally: _Tally,
    *,
    error: FailureReason | None = None,
    next_poll_at: datetime | None = None,
) -> PollResult:
    return PollResult(
        mailbox_id=target.mailbox_id,
        outcome=outcome,
        recorded=tally.recorded,
        duplicates=tally.duplicates,
        reset=tally.reset,
        error=error,
        after_failures=tally.after_failures,
        next_poll_at=next_poll_at,
    )


async def _locked_mailbox(session: AsyncSession, mailbox_id: int) -> Mailbox:
    # FOR UPDATE serialises pollers of one mailbox across processes on PostgreSQL;
    # SQLite's BEGIN IMMEDIATE already does.
    mailbox = await session.get(Mailbox, mailbox_id, with_for_update=True)
    if mailbox is None:
        raise _Superseded()
    return mailbox


async def _poll(
    db: Database,
    store: DocumentStore,
    target: _Target,
    client: MailboxClient,
    tally: _Tally,
    *,
    wake: Callable[[], None],
    batch: int,
) -> None:
    status = await client.select(target.folder)
    last_uid = await _settle_uidvalidity(db, target, client, status, tally)
    # "N:*" matches the highest UID even below N; the adapter drops it, and so do we.
    uids = sorted(uid for uid in await client.uids_after(last_uid) if uid > last_uid)
    if not uids:
        return
    chunks = plan_batches(uids, await client.sizes(uids), batch=batch)
    # A pipeline: while one batch is stored, the next one is fetched; while it is
    # committed, the next one is stored. At most two batches are held in memory. The
    # connection serves one call at a time: fetch k, after-action k-1, fetch k+1.
    flight = Flight.launch(client, store, chunks[0])
    flying = [flight]
    recipient = Recipient(address=target.account.username, workspace_id=target.workspace_id)
    unbroken = True
    actionable: list[int] = []
    try:
        for index, chunk in enumerate(chunks):
            await flight.fetched()
            if flight.fetch.exception() is None:
                tally.after_failures += await after_action(
                    client, target.after, target.move_to, actionable, mailbox_id=target.mailbox_id
                )
                actionable = []
                if index + 1 < len(chunks):
                    flying.append(Flight.launch(client, store, chunks[index + 1]))
            fetched = await flight.stored
            flying.remove(flight)
            async with db.transaction() as session:
                mailbox = await _locked_mailbox(session, target.mailbox_id)
                if mailbox.uidvalidity != status.uidvalidity:
                    raise _Superseded()
                recorded = await record_batch(
                    session=session,
                    mailbox=mailbox,
                    recipient=recipient,
                    uidvalidity=status.uidvalidity,
                    chunk=chunk,
                    fetched=fetched,
                    unbroken=unbroken,
                )
            actionable, unbroken = recorded.durable, recorded.unbroken
            tally.recorded += recorded.added
            tally.duplicates += recorded.duplicates
            if recorded.added:
                _wake(wake, target.mailbox_id)
            if flying:
                flight = flying[0]
        tally.after_failures += await after_action(
            client, target.after, target.move_to, actionable, mailbox_id=target.mailbox_id
        )
    finally:
        for left in flying:
            await left.abandon()


async def _settle_uidvalidity(
    db: Database, target: _Target, client: MailboxClient, status: FolderStatus, tally: _Tally
) -> int:
    """Return the watermark to poll from. On a first poll, 0 if the mailbox takes the
    whole folder, else the folder's end. A new UIDVALIDITY renumbered the folder: taking
    it again would duplicate everything, so the watermark skips to its end, once."""
    if target.uidvalidity == status.uidvalidity:
        return target.last_uid
    whole = target.uidvalidity == WHOLE_FOLDER and target.last_uid == 0
    first_poll = whole or (target.uidvalidity is None and target.last_uid == 0)
    if whole:
        end = 0
    elif status.uidnext is not None:
        # Every message there when the folder was selected has a smaller UID; anything
        # that arrives during the poll gets UIDNEXT or more, and is taken.
        end = status.uidnext - 1
    else:
        end = max(await client.uids_after(0), default=0)
    async with db.transaction() as session:
        mailbox = await _locked_mailbox(session, target.mailbox_id)
        if mailbox.uidvalidity == status.uidvalidity:
            return mailbox.last_uid  # another process settled it first
        if mailbox.uidvalidity != target.uidvalidity:
            raise _Superseded()
        mailbox.uidvalidity = status.uidvalidity
        mailbox.last_uid = end
        if not first_poll:
            tally.reset = True
            await enqueue(
                session=session,
                kind="mailbox_reset",
                workspace_id=target.workspace_id,
                payload={
                    "mailbox_id": target.mailbox_id,
                    "username": target.account.username,
                    "folder": target.folder,
                },
                dedupe_key=f"mailbox:{target.mailbox_id}:reset:{status.uidvalidity}",
            )
    if tally.reset:
        logger.warning("mailbox %d: UIDVALIDITY changed, skipped to UID %d", target.mailbox_id, end)
    elif not whole:
        logger.info("mailbox %d: first poll, new mail only: after UID %d", target.mailbox_id, end)
    return end


def _wake(wake: Callable[[], None], mailbox_id: int) -> None:
    try:
        wake()
    except Exception:
        # The rows are committed: the worker finds them on its next round anyway.
        logger.exception("mailbox %d: wake() failed", mailbox_id)


async def _succeeded(db: Database, target: _Target, tally: _Tally, *, now: datetime) -> PollResult:
    async with db.transaction() as session:
        mailbox = await _locked_mailbox(session, target.mailbox_id)
        next_poll_at = await mark_polled(session=session, mailbox=mailbox, now=now)
    logger.info(
        "mailbox %d: %d new, %d already recorded%s",
        target.mailbox_id,
        tally.recorded,
        tally.duplicates,
        ", reset" if tally.reset else "",
    )
    return _result(target, PollOutcome.OK, tally, next_poll_at=next_poll_at)


async def _failed(
    db: Database, target: _Target, failure: MailboxUnavailable, tally: _Tally, *, now: datetime
) -> PollResult:
    reason = failure.reason
    async with db.transaction() as session:
        mailbox = await _locked_mailbox(session, target.mailbox_id)
        if reason in NEEDS_CREDENTIALS and mailbox.secret_sealed != target.sealed:
            # The credentials were replaced while this poll tried the old ones: the
            # refusal is not the new ones', which the next tick tries.
            logger.info("mailbox %d: old credentials refused, new ones given", target.mailbox_id)
            next_poll_at = mailbox.next_poll_at
        else:
            next_poll_at = await mark_unavailable(
                session=session, mailbox=mailbox, reason=reason, now=now
            )
            logger.warning(
                "mailbox %d unavailable: %s (%s)", target.mailbox_id, reason.value, failure.detail
            )
    return _result(target, PollOutcome.FAILED, tally, error=reason, next_poll_at=next_poll_at)


async def poll_due_mailboxes(
    *,
    db: Database,
    store: DocumentStore,
    vault: Vault,
    wake: Callable[[], None],
    now: datetime | None = None,
    connect: Connector = connect_imap,
    batch: int = DEFAULT_BATCH,
) -> list[PollResult]:
    """The scheduler's job. Run it at least every POLL_FAST for fast mode to work: a tick
    with nothing due is one cheap query.

    It lives here, not in schedule: it calls `poll_mailbox`, which has schedule set the
    next poll, and the two modules must not import each other."""
    async with db.transaction() as session:
        due = await claim_due_mailboxes(session=session, now=now or utcnow())
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(mailbox_id: int) -> PollResult:
        async with gate:
            try:
                # Without a fixed `now`, each poll reads the clock when it starts: the
                # last of a tick may start long after the tick did.
                return await poll_mailbox(
                    db=db,
                    store=store,
                    vault=vault,
                    mailbox_id=mailbox_id,
                    wake=wake,
                    batch=batch,
                    now=now,
                    connect=connect,
                )
            except Exception:
                # One mailbox's bug must not stop the others; its lease expires, and
                # the scheduler tries again then.
                logger.exception("mailbox %d: poll crashed", mailbox_id)
                return PollResult(mailbox_id, PollOutcome.FAILED)

    return list(await asyncio.gather(*(one(mailbox_id) for mailbox_id in due)))
