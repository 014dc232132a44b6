"""One run of one merchant connection: log in (with 2FA if asked), list, download, deliver.

Errors are mapped in ONE layer around the whole run (`ConnectionRunner.run`): a
connector's lazy iterator can raise long after a narrow `try` has closed. A run is two
short transactions, none held across the network: the start (state, run record, known
references) and the settling (inbox rows for the files already made durable, the session,
the record, the next date, what to tell). A run that waits for a code or an app approval
adds a few more, so it holds no lock meanwhile, and a code typed in another process
reaches it through the database.

A run that brings nothing new is a plain success unless the site lists no invoice at all
where it used to, or the supplier is overdue by its own rhythm (`core.suppliers.rhythm`):
only those are recorded as `empty` and told as an alarm.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from sqlalchemy import bindparam
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from core.backoff import FETCH, RetryStrategy
from core.db import Database
from core.errors import StorageFailed
from core.extraction.fields import invoice_to_dict
from core.jobs.wakeups import CHALLENGES
from core.models import (
    Challenge,
    ChallengeChannel,
    ChallengeState,
    Connection,
    ConnectionRun,
    ConnectionState,
    Document,
    DocumentSource,
    RunOutcome,
    Supplier,
    Workspace,
)
from core.models.base import utcnow
from core.services.challenges import open_challenge, settle_code, take_code
from core.services.connections import move_connection, read_credentials
from core.services.documents import IncomingDocument, build_document, ingest_stored
from core.services.fetch_claims import IN_FLIGHT, release_claim
from core.services.fetch_notices import RunHistory, run_history, tell_outcome
from core.services.notifications import enqueue
from core.storage import DocumentStore, StoredFile, digest
from core.suppliers.connector import (
    ActionRequired,
    ApprovalDenied,
    ApprovalRequest,
    Attended,
    CodeRejected,
    CodeRequest,
    ConnectorError,
    Credentials,
    Download,
    InvalidDownload,
    InvoiceRef,
    LayoutChanged,
    LoggedIn,
    LoginRefused,
    SignInStep,
    SupplierConnector,
    SupplierUnavailable,
)
from core.suppliers.given_fields import connector_reading
from core.suppliers.rhythm import MIN_HISTORY, OVERDUE_FACTOR, Quiet, judge_quiet
from core.vault import Vault

log = logging.getLogger(__name__)
S = ConnectionState
ConnectorFactory = Callable[[Supplier], SupplierConnector]
Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    interval: timedelta = timedelta(days=7)
    #: Invoices appear online late: each run looks this far behind the last success.
    lookback: timedelta = timedelta(days=10)
    full_sync_every: timedelta = timedelta(days=30)
    challenge_ttl: timedelta = timedelta(minutes=10)
    code_poll: float = 1.0
    #: How often the site is asked whether the owner approved the login in the app.
    approval_poll: float = 2.0
    retry: RetryStrategy = FETCH
    #: A run lists first, then downloads within this budget; the next run goes on.
    time_budget: timedelta = timedelta(minutes=10)
    #: Weekly runs are spread by up to this much, so connections made together part.
    jitter: timedelta = timedelta(hours=6)
    #: Local hours [start, end) in which weekly runs start.
    waking_hours: tuple[int, int] = (8, 20)
    #: Nothing new for longer than this many of the supplier's intervals is an alarm.
    overdue_factor: float = OVERDUE_FACTOR
    #: Invoice days of history needed before a supplier's silence is judged.
    min_history: int = MIN_HISTORY
    #: The newest invoice days the rhythm is learned from: a supplier's recent habit.
    rhythm_window: int = 25
    #: Downloads are made durable together, one sync for many files, once this many
    #: bytes wait, and when the downloads end, whichever way they end.
    store_batch_bytes: int = 16 * 1024 * 1024


@dataclass(slots=True)
class _Run:
    """What one run knows from its start, and what it gathers on the way."""

    connection: Connection
    supplier: Supplier
    zone: str
    record_id: int
    started: datetime
    interactive: bool
    may_wait: bool
    credentials: Credentials
    saved: dict[str, Any] | None
    known: set[str]
    signed_in: bool = False
    session_state: dict[str, Any] | None = None
    #: Files already durable in the store, whose inbox rows the settling adds.
    fetched: list[Document] = field(default_factory=list)
    #: Downloads not yet in the store: stored together (`ConnectionRunner._store`).
    downloaded: list[tuple[InvoiceRef, Download]] = field(default_factory=list)
    #: What the site's list showed, whatever the dates; None when it cannot be told.
    listed: int | None = None


@dataclass(frozen=True, slots=True)
class RunResult:
    outcome: RunOutcome
    state: ConnectionState
    found: int = 0
    new: int = 0
    error: str | None = None
    retry_after: float | None = None
    #: The documents this run added, for the owner's one message about them.
    new_document_ids: tuple[int, ...] = ()
    #: Invoices the site's list showed, whatever their date; None: unknown.
    listed: int | None = None
    #: For a run that logged in and brought nothing new: what that means.
    quiet: Quiet | None = None


#: A run's error when its code was given up for a new one: no alert, a new run follows.
SUPERSEDED = "code_superseded"


class _Stop(Exception):
    """A run that ends early on purpose (no one to answer a code), with its state."""

    def __init__(self, state: ConnectionState, error: str) -> None:
        super().__init__(error)
        self.state = state
        self.error = error


def is_document(content: bytes) -> bool:
    """An HTML error page served as invoice.pdf with status 200 is not a document."""
    head = content[:1024]
    return b"%PDF-" in head or head.startswith((b"\x89PNG", b"\xff\xd8\xff"))


def since_date(connection: Connection, *, policy: FetchPolicy, now: datetime) -> date | None:
    """Full history (or the chosen start) on the first run, after a failure and every 30
    days; otherwise the last success minus the look-back."""
    last = connection.last_success_at
    if last is None or connection.failure_count > 0 or now - last > policy.full_sync_every:
        return connection.fetch_from
    since = (last - policy.lookback).date()
    return max(since, connection.fetch_from) if connection.fetch_from else since


def within_waking_hours(due: datetime, zone: str, policy: FetchPolicy) -> datetime:
    """Move a weekly run into the owner's waking hours, in the workspace's time zone, so
    that someone can answer if the supplier asks for a code. The minute within the hour is
    kept, which keeps connections made together apart."""
    try:
        local = due.astimezone(ZoneInfo(zone))
    except (ZoneInfoNotFoundError, ValueError):
        local = due.astimezone(UTC)
    start, end = policy.waking_hours
    if local.hour < start:
        local = local.replace(hour=start)
    elif local.hour >= end:
        local = (local + timedelta(days=1)).replace(hour=start)
    return local.astimezone(UTC)


async def _wait_for_code(
    db: Database, vault: Vault, challenge_id: int, policy: FetchPolicy
) -> str | None:
    """Wait for a code from any process; None when the challenge expires or is closed.

    Woken by the commit that answers it (core/jobs/wakeups.py): at once in this process,
    and on PostgreSQL in any other; `code_poll` is the fallback, for SQLite across
    processes."""
    deadline = utcnow() + policy.challenge_ttl
    while utcnow() < deadline:
        watch = await db.wakeups.watch(CHALLENGES)
        async with db.transaction() as session:
            challenge = await session.get(Challenge, challenge_id)
            if challenge is None or challenge.state not in (
                ChallengeState.OPEN,
                ChallengeState.ANSWERED,
            ):
                return None
            code = take_code(vault=vault, challenge=challenge)
            if code is not None:
                return code
        await db.wakeups.wait(watch, seconds=policy.code_poll)
    return None


# Built once: every run runs them, and building the three (their coercions) cost 153 µs
# a run, before their cache keys were made.
_RUN_START: Any = (
    select(Connection, Supplier, Workspace)
    .join(Supplier, col(Supplier.id) == col(Connection.supplier_id))
    .join(Workspace, col(Workspace.id) == col(Connection.workspace_id))
    .where(col(Connection.id) == bindparam("connection_id"))
)
_KNOWN_REFERENCES: Any = select(Document.external_ref).where(
    col(Document.workspace_id) == bindparam("workspace_id"),
    col(Document.supplier_id) == bindparam("supplier_id"),
    col(Document.external_ref).is_not(None),
)
_RUN_SETTLE: Any = (
    select(Connection, ConnectionRun)
    .join(ConnectionRun, col(ConnectionRun.connection_id) == col(Connection.id))
    .where(col(ConnectionRun.id) == bindparam("run_id"))
)


class ConnectionRunner:
    """Runs one connection from its claim to its settled state."""

    def __init__(
        self,
        *,
        db: Database,
        store: DocumentStore,
        vault: Vault,
        connector_for: ConnectorFactory,
        gives: Callable[[str], Collection[str]] = lambda key: (),
        policy: FetchPolicy = FetchPolicy(),
        clock: Clock = utcnow,
    ) -> None:
        self.db, self.store, self.vault = db, store, vault
        self.connector_for = connector_for
        #: The invoice fields each supplier's connector gives (the registry's `gives`).
        self.gives = gives
        self.policy = policy
        #: The day a run believes it is: dates, windows and rhythms. Waits and budgets
        #: stay on the wall clock.
        self.clock = clock

    async def run(self, connection_id: int) -> RunResult:
        async with self.db.transaction() as session:
            run = await self._start(session, connection_id, self.clock())
        connector: SupplierConnector | None = None
        try:
            connector = self.connector_for(run.supplier)
            result = await self._fetch(run, connector)
        except _Stop as stop:
            result = RunResult(RunOutcome.ERROR, stop.state, error=stop.error)
        except ConnectorError as err:
            result = self._failure(err)
        except (httpx.HTTPError, TimeoutError, OSError) as err:
            result = self._failure(SupplierUnavailable(type(err).__name__))
        except Exception:
            # A bug must not leave the connection "syncing" until its lease runs out.
            log.exception("connection %s: the run failed unexpectedly", connection_id)
            result = RunResult(RunOutcome.ERROR, S.TEMP_ERROR, error="internal")
        finally:
            if connector is not None:
                await self._finish(run, connector)
        try:
            # What came down before a failure is kept too, so the next run need not
            # download it again.
            await self._store(run)
        except StorageFailed:
            log.exception("connection %s: the downloads could not be stored", connection_id)
            result = RunResult(RunOutcome.ERROR, S.TEMP_ERROR, error="internal")
        return await self._settle(run, result)

    async def _start(self, session: AsyncSession, connection_id: int, now: datetime) -> _Run:
        """One transaction: the connection, its supplier and workspace in one SELECT, the
        run record, and the references already in the inbox (dedup before downloading)."""
        params = {"connection_id": connection_id}
        connection, supplier, workspace = (await session.exec(_RUN_START, params=params)).one()
        if connection.state in IN_FLIGHT:
            # A run left open by a scheduler that died is closed as such, for the record.
            await session.exec(
                update(ConnectionRun)
                .where(col(ConnectionRun.connection_id) == connection_id)
                .where(col(ConnectionRun.finished_at).is_(None))
                .values(finished_at=now, outcome=RunOutcome.ERROR, error_code="abandoned")
            )
        if connection.state != S.SYNCING:
            move_connection(connection, S.SYNCING, now=now)
        interactive = bool(connection.interactive_until and connection.interactive_until > now)
        record = ConnectionRun(connection_id=connection_id, interactive=interactive, started_at=now)
        session.add(record)
        await session.flush()
        known = await session.exec(
            _KNOWN_REFERENCES,
            params={
                "workspace_id": connection.workspace_id,
                "supplier_id": connection.supplier_id,
            },
        )
        assert record.id is not None
        return _Run(
            connection=connection,
            supplier=supplier,
            zone=workspace.timezone,
            record_id=record.id,
            started=now,
            interactive=interactive,
            may_wait=interactive or workspace.relay_codes_from_mail,
            credentials=read_credentials(vault=self.vault, connection=connection),
            saved=(
                self.vault.open_json(connection.session_sealed)
                if connection.session_sealed
                else None
            ),
            known={ref for ref in known.all() if ref},
        )

    async def _fetch(self, run: _Run, connector: SupplierConnector) -> RunResult:
        connection = run.connection
        if isinstance(connector, Attended):
            connector.attended(run.interactive)
        if not (run.saved and await connector.restore(run.saved)):
            step: SignInStep = await connector.login(run.credentials)
            asked = False
            while not isinstance(step, LoggedIn):
                asked = True
                if isinstance(step, ApprovalRequest):
                    step = await self._await_approval(connection, connector, step, run.interactive)
                else:
                    step = await self._answer(
                        connection, connector, step, run.may_wait, run.interactive
                    )
            if asked:
                # Kept at once: a crash later in the run must not cost the owner a new code.
                await self._keep_session(connection, await connector.save())
        run.signed_in = True
        since = since_date(connection, policy=self.policy, now=run.started)
        invoices = [ref async for ref in connector.invoices(since)]  # list first, then download
        # A connector older than `listed` has no such attribute: unknown, unless the whole
        # list was asked for, which then is what came back.
        listed: int | None = getattr(connector, "listed", None)
        if listed is not None:
            run.listed = max(listed, len(invoices))
        elif since is None:
            run.listed = len(invoices)
        deadline = utcnow() + self.policy.time_budget
        partial = False
        for invoice in invoices:
            if invoice.reference in run.known:
                continue
            if utcnow() > deadline:
                partial = True  # the next run continues where this one stopped
                break
            try:
                download = await connector.download(invoice)
                if not is_document(download.content):
                    raise InvalidDownload(invoice.reference)
            except InvalidDownload:
                log.warning(
                    "connection %s: invoice %s was not a document", connection.id, invoice.reference
                )
                partial = True
                continue
            run.downloaded.append((invoice, download))
            if sum(len(d.content) for _, d in run.downloaded) >= self.policy.store_batch_bytes:
                await self._store(run)
        # Whether finding nothing new is an alarm is judged when the run settles, against
        # the connection's history.
        outcome = RunOutcome.PARTIAL if partial else RunOutcome.SUCCESS
        return RunResult(outcome, S.ACTIVE, found=len(invoices), listed=run.listed)

    async def _store(self, run: _Run) -> None:
        """The downloads waiting are made durable now, in one batch (one sync, one trip to
        a thread); their inbox rows are added when the run settles."""
        waiting, run.downloaded = run.downloaded, []
        if not waiting:
            return
        contents = [download.content for _, download in waiting]
        stored = await self.store.put_many(contents, sha256s=[digest(c) for c in contents])
        run.fetched.extend(
            self._document(run, invoice, download, file)
            for (invoice, download), file in zip(waiting, stored, strict=True)
        )

    def _document(
        self, run: _Run, invoice: InvoiceRef, download: Download, stored: StoredFile
    ) -> Document:
        incoming = IncomingDocument(
            workspace_id=run.connection.workspace_id,
            source=DocumentSource.CONNECTOR,
            content=download.content,
            filename=download.filename,
            supplier_id=run.supplier.id,
            supplier_name=run.supplier.name,
            external_ref=invoice.reference,
            connection_id=run.connection.id,
            owner_member_id=run.connection.owner_member_id,
            issue_date=invoice.issued_on,
            total_amount=invoice.amount,
            currency=invoice.currency,
        )
        document = build_document(incoming, stored, now=self.clock())
        # What the supplier's own records say, kept as fields for the reading to merge:
        # they outrank the PDF's text and yield to an e-invoice's XML and to a person.
        given = invoice_to_dict(connector_reading(invoice, self.gives(run.supplier.key)))
        document.fields = {
            name: item for name, item in given.items() if name != "warnings" and item is not None
        }
        return document

    async def _finish(self, run: _Run, connector: SupplierConnector) -> None:
        """Keep the session of a run that got in, whatever came after, then close."""
        try:
            if run.signed_in:
                run.session_state = await connector.save()
        except Exception:
            log.exception("connection %s: the session could not be saved", run.connection.id)
        finally:
            await connector.close()

    async def _keep_session(self, connection: Connection, state: dict[str, Any]) -> None:
        async with self.db.transaction() as session:
            row = await session.get(Connection, connection.id)
            assert row is not None
            row.session_sealed = self.vault.seal_json(state)

    async def _answer(
        self,
        connection: Connection,
        connector: SupplierConnector,
        request: CodeRequest,
        may_wait: bool,
        interactive: bool,
    ) -> SignInStep:
        """Open a challenge, tell the owner, wait for the code from chat or mail."""
        email = request.channel in (ChallengeChannel.EMAIL, ChallengeChannel.EMAIL_LINK)
        if not (interactive or (may_wait and email)):
            # Nobody is there to read an SMS: never make a site send one in the background.
            raise _Stop(S.NEEDS_USER, "code_needed")
        async with self.db.transaction() as session:
            row = await session.get(Connection, connection.id)
            assert row is not None
            challenge = await open_challenge(
                session=session,
                connection=row,
                channel=request.channel,
                masked_destination=request.masked_destination,
                prompt=request.prompt,
                ttl=self.policy.challenge_ttl,
            )
            move_connection(row, S.AWAITING_CODE)
            await enqueue(
                session=session,
                kind="code_requested",
                workspace_id=row.workspace_id,
                recipient_member_id=row.owner_member_id,
                payload={
                    "connection_id": row.id,
                    "challenge_id": challenge.id,
                    "channel": str(request.channel),
                    "destination": request.masked_destination,
                },
                dedupe_key=f"challenge:{challenge.id}:requested",
            )
        assert challenge.id is not None
        while True:
            code = await _wait_for_code(self.db, self.vault, challenge.id, self.policy)
            if code is None:
                if await self._challenge_state(challenge.id) == ChallengeState.CANCELLED:
                    # Given up for a new code ("Send a new code"): the next run logs in
                    # again at once, so there is nothing to tell the owner.
                    raise _Stop(S.NEEDS_USER, SUPERSEDED)
                await self._close_challenge(challenge.id, ChallengeState.EXPIRED)
                raise _Stop(S.NEEDS_USER, "code_timeout")
            try:
                step = await connector.submit_code(code)
            except CodeRejected:
                async with self.db.transaction() as session:
                    again = await session.get(Challenge, challenge.id)
                    assert again is not None
                    settle_code(again, accepted=False)
                    failed = again.state == ChallengeState.FAILED
                    await enqueue(
                        session=session,
                        kind="code_wrong",
                        workspace_id=connection.workspace_id,
                        recipient_member_id=connection.owner_member_id,
                        payload={
                            "connection_id": connection.id,
                            "challenge_id": challenge.id,
                            "attempts": again.attempts,
                            "last": failed,
                        },
                        dedupe_key=f"challenge:{challenge.id}:wrong:{again.attempts}",
                    )
                if failed:  # stop at 3: sites lock accounts at 5
                    raise _Stop(S.NEEDS_USER, "code_attempts_exhausted") from None
                continue
            async with self.db.transaction() as session:
                done = await session.get(Challenge, challenge.id)
                row = await session.get(Connection, connection.id)
                assert done is not None
                assert row is not None
                settle_code(done, accepted=True)
                move_connection(row, S.SYNCING)
            return step

    async def _await_approval(
        self,
        connection: Connection,
        connector: SupplierConnector,
        request: ApprovalRequest,
        interactive: bool,
    ) -> SignInStep:
        """ "Approve in your app": tell the owner, then ask the site until it says yes,
        says no, or the challenge expires. Nothing is typed, so nothing can be wrong."""
        if not interactive:
            # Nobody is there to take the phone: the owner syncs by hand later.
            raise _Stop(S.NEEDS_USER, "approval_needed")
        ttl = self.policy.challenge_ttl
        if request.expires_in is not None:
            ttl = min(ttl, request.expires_in)
        async with self.db.transaction() as session:
            row = await session.get(Connection, connection.id)
            assert row is not None
            challenge = await open_challenge(
                session=session,
                connection=row,
                channel=ChallengeChannel.APP,
                masked_destination=request.masked_destination,
                prompt=request.prompt,
                ttl=ttl,
            )
            move_connection(row, S.AWAITING_APPROVAL)
            await enqueue(
                session=session,
                kind="approval_requested",
                workspace_id=row.workspace_id,
                recipient_member_id=row.owner_member_id,
                payload={
                    "connection_id": row.id,
                    "challenge_id": challenge.id,
                    "destination": request.masked_destination,
                    "expires_at": challenge.expires_at.isoformat(),
                },
                dedupe_key=f"challenge:{challenge.id}:requested",
            )
        challenge_id, deadline = challenge.id, challenge.expires_at
        assert challenge_id is not None
        while utcnow() < deadline:
            try:
                step = await connector.poll_approval()
            except ApprovalDenied:
                await self._close_challenge(challenge_id, ChallengeState.FAILED)
                raise _Stop(S.NEEDS_USER, "approval_denied") from None
            if step is not None:
                async with self.db.transaction() as session:
                    done = await session.get(Challenge, challenge_id)
                    row = await session.get(Connection, connection.id)
                    assert done is not None
                    assert row is not None
                    done.state = ChallengeState.ACCEPTED
                    move_connection(row, S.SYNCING)
                return step
            async with self.db.read() as session:
                state = await session.scalar(
                    select(Challenge.state).where(Challenge.id == challenge_id)
                )
            if state != ChallengeState.OPEN:
                break  # expired by the scheduler's job, or cancelled by a newer challenge
            await asyncio.sleep(self.policy.approval_poll)
        await self._close_challenge(challenge_id, ChallengeState.EXPIRED)
        raise _Stop(S.NEEDS_USER, "approval_timeout")

    async def _challenge_state(self, challenge_id: int) -> ChallengeState | None:
        async with self.db.read() as session:
            challenge = await session.get(Challenge, challenge_id)
            return challenge.state if challenge is not None else None

    async def _close_challenge(self, challenge_id: int, state: ChallengeState) -> None:
        async with self.db.transaction() as session:
            challenge = await session.get(Challenge, challenge_id)
            if challenge is not None and challenge.state in (
                ChallengeState.OPEN,
                ChallengeState.ANSWERED,
            ):
                challenge.state = state
                challenge.code_sealed = None

    @staticmethod
    def _failure(err: ConnectorError) -> RunResult:
        if isinstance(err, LoginRefused):
            return RunResult(RunOutcome.ERROR, S.AUTH_FAILED, error=err.key)
        if isinstance(err, ActionRequired):
            return RunResult(RunOutcome.ERROR, S.ACTION_REQUIRED, error=f"action_{err.reason}"[:60])
        if isinstance(err, LayoutChanged):
            log.error("supplier site changed (operator alert): %s", err.key)
            return RunResult(RunOutcome.ERROR, S.BROKEN, error=err.key)
        retry_after = err.retry_after if isinstance(err, SupplierUnavailable) else None
        return RunResult(RunOutcome.ERROR, S.TEMP_ERROR, error=err.key, retry_after=retry_after)

    async def _settle(self, run: _Run, result: RunResult) -> RunResult:
        """One transaction: the files fetched become inbox rows, the session is kept, the
        run is recorded and the connection moves on."""
        now = self.clock()
        async with self.db.transaction() as session:
            params = {"run_id": run.record_id}
            connection, record = (await session.exec(_RUN_SETTLE, params=params)).one()
            delivered = await ingest_stored(session=session, documents=run.fetched)
            created = tuple(d.document.id for d in delivered if d.created and d.document.id)
            result = replace(result, new=len(created), new_document_ids=created)
            history = RunHistory()
            if result.outcome == RunOutcome.SUCCESS and not created:
                history = await run_history(
                    session=session,
                    connection_id=record.connection_id,
                    run_id=run.record_id,
                    window=self.policy.rhythm_window,
                    min_history=self.policy.min_history,
                )
                quiet = judge_quiet(
                    listed=result.listed,
                    listed_before=history.listing_run is not None,
                    rhythm=history.rhythm,
                    today=now.date(),
                    factor=self.policy.overdue_factor,
                )
                outcome = RunOutcome.EMPTY if quiet.alarming else RunOutcome.SUCCESS
                result = replace(result, outcome=outcome, quiet=quiet)
            if run.session_state is not None:
                connection.session_sealed = self.vault.seal_json(run.session_state)
            if connection.state != result.state:
                move_connection(connection, result.state, error=result.error, now=now)
            connection.last_error = result.error
            connection.last_attempt_at = run.started
            connection.interactive_until = None
            release_claim(connection)
            record.finished_at, record.outcome = now, result.outcome
            record.documents_found = result.found
            record.documents_new = result.new
            record.documents_listed = result.listed
            record.error_code = result.error
            if result.state == S.ACTIVE and result.outcome != RunOutcome.PARTIAL:
                connection.last_success_at = now
                connection.failure_count = 0
                spread = random.uniform(0, self.policy.jitter.total_seconds())
                due = now + self.policy.interval + timedelta(seconds=spread)
                connection.next_fetch_at = within_waking_hours(due, run.zone, self.policy)
            elif result.state in (S.ACTIVE, S.TEMP_ERROR):
                connection.failure_count += 1
                delay = self.policy.retry.wait(connection.failure_count, result.retry_after)
                connection.next_try_at = now + delay
                connection.next_fetch_at = connection.next_try_at
            else:
                # It waits for the user: new credentials, a code, a fix on the site.
                connection.next_fetch_at = None
            await tell_outcome(
                session=session,
                connection=connection,
                supplier=run.supplier.name,
                result=result,
                history=history,
                asked=run.interactive,
                now=now,
            )
        return result


async def run_claimed(
    runner: ConnectionRunner, connection_ids: list[int], *, concurrency: int
) -> list[RunResult]:
    """Run claimed connections side by side; one failing run never stops the others."""
    gate = asyncio.Semaphore(concurrency)

    async def one(connection_id: int) -> RunResult:
        async with gate:
            try:
                return await runner.run(connection_id)
            except Exception:
                log.exception("connection %s: the run failed unexpectedly", connection_id)
                return RunResult(RunOutcome.ERROR, S.TEMP_ERROR, error="internal")

    return list(await asyncio.gather(*(one(c) for c in connection_ids)))
