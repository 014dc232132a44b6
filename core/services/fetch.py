"""One run of one merchant connection: log in (with 2FA if asked), list, download, deliver.

Errors are mapped in ONE layer around the whole run (`run_connection`): a connector's
lazy iterator can raise long after a narrow `try` has closed. Each step that changes the
database is its own short transaction, so a run that waits minutes for a code holds no
lock, and a code typed in another process reaches it through the database.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from core.db import Database
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
from core.services.documents import IncomingDocument, ingest_document
from core.services.fetch_claims import release_claim
from core.services.notifications import enqueue
from core.storage import DocumentStore
from core.suppliers.connector import (
    ActionRequired,
    CodeRejected,
    CodeRequest,
    ConnectorError,
    Credentials,
    InvalidDownload,
    InvoiceRef,
    LayoutChanged,
    LoggedIn,
    LoginRefused,
    SupplierConnector,
    SupplierUnavailable,
)
from core.vault import Vault

log = logging.getLogger(__name__)
S = ConnectionState
ConnectorFactory = Callable[[Supplier], SupplierConnector]


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    interval: timedelta = timedelta(days=7)
    #: Invoices appear online late: each run looks this far behind the last success.
    lookback: timedelta = timedelta(days=10)
    full_sync_every: timedelta = timedelta(days=30)
    challenge_ttl: timedelta = timedelta(minutes=10)
    code_poll: float = 1.0
    backoff_base: timedelta = timedelta(minutes=5)
    backoff_cap: timedelta = timedelta(hours=12)
    #: A run lists first, then downloads within this budget; the next run goes on.
    time_budget: timedelta = timedelta(minutes=10)
    #: Weekly runs are spread by up to this much, so connections made together part.
    jitter: timedelta = timedelta(hours=6)
    #: Local hours [start, end) in which weekly runs start.
    waking_hours: tuple[int, int] = (8, 20)


@dataclass(frozen=True, slots=True)
class RunResult:
    outcome: RunOutcome
    state: ConnectionState
    found: int = 0
    new: int = 0
    error: str | None = None
    retry_after: float | None = None


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


def backoff(failures: int, policy: FetchPolicy, retry_after: float | None) -> timedelta:
    delay = min(policy.backoff_base * (1 << min(max(failures - 1, 0), 20)), policy.backoff_cap)
    return max(delay, timedelta(seconds=retry_after or 0))


async def _wait_for_code(
    db: Database, vault: Vault, challenge_id: int, policy: FetchPolicy
) -> str | None:
    """Wait for a code from any process; None when the challenge expires or is closed."""
    deadline = utcnow() + policy.challenge_ttl
    while utcnow() < deadline:
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
        await asyncio.sleep(policy.code_poll)
    return None


class ConnectionRunner:
    """Runs one connection from its claim to its settled state."""

    def __init__(
        self,
        *,
        db: Database,
        store: DocumentStore,
        vault: Vault,
        connector_for: ConnectorFactory,
        policy: FetchPolicy = FetchPolicy(),
    ) -> None:
        self.db, self.store, self.vault = db, store, vault
        self.connector_for = connector_for
        self.policy = policy

    async def run(self, connection_id: int) -> RunResult:
        now = utcnow()
        async with self.db.transaction() as session:
            connection = await session.get(Connection, connection_id)
            assert connection is not None
            supplier = await session.get(Supplier, connection.supplier_id)
            workspace = await session.get(Workspace, connection.workspace_id)
            assert supplier is not None
            assert workspace is not None
            if connection.state != S.SYNCING:
                move_connection(connection, S.SYNCING, now=now)
            interactive = bool(connection.interactive_until and connection.interactive_until > now)
            # A run left open by a scheduler that died is closed as such, for the record.
            await session.exec(
                update(ConnectionRun)
                .where(col(ConnectionRun.connection_id) == connection_id)
                .where(col(ConnectionRun.finished_at).is_(None))
                .values(finished_at=now, outcome=RunOutcome.ERROR, error_code="abandoned")
            )
            record = ConnectionRun(connection_id=connection_id, interactive=interactive)
            session.add(record)
            await session.flush()
            credentials = read_credentials(vault=self.vault, connection=connection)
            saved = (
                self.vault.open_json(connection.session_sealed)
                if connection.session_sealed
                else None
            )
        may_wait = interactive or workspace.relay_codes_from_mail
        connector: SupplierConnector | None = None
        try:
            connector = self.connector_for(supplier)
            result = await self._fetch(
                connection, supplier, connector, credentials, saved, may_wait, interactive
            )
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
                await connector.close()
        await self._settle(connection_id, record.id, supplier, result, now)
        return result

    async def _fetch(
        self,
        connection: Connection,
        supplier: Supplier,
        connector: SupplierConnector,
        credentials: Credentials,
        saved: dict[str, Any] | None,
        may_wait: bool,
        interactive: bool,
    ) -> RunResult:
        now = utcnow()
        if not (saved and await connector.restore(saved)):
            step = await connector.login(credentials)
            while isinstance(step, CodeRequest):
                step = await self._answer(connection, connector, step, may_wait, interactive)
        since = since_date(connection, policy=self.policy, now=now)
        invoices = [ref async for ref in connector.invoices(since)]  # list first, then download
        known = await self._known_refs(connection)
        deadline = utcnow() + self.policy.time_budget
        new = 0
        partial = False
        for invoice in invoices:
            if invoice.reference in known:
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
            new += await self._deliver(
                connection, supplier, invoice, download.content, download.filename
            )
        state = await connector.save()
        async with self.db.transaction() as session:
            row = await session.get(Connection, connection.id)
            assert row is not None
            row.session_sealed = self.vault.seal_json(state)
        outcome = (
            RunOutcome.PARTIAL
            if partial
            else (RunOutcome.SUCCESS if invoices else RunOutcome.EMPTY)
        )
        return RunResult(outcome, S.ACTIVE, found=len(invoices), new=new)

    async def _answer(
        self,
        connection: Connection,
        connector: SupplierConnector,
        request: CodeRequest,
        may_wait: bool,
        interactive: bool,
    ) -> LoggedIn | CodeRequest:
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
                async with self.db.transaction() as session:
                    stale = await session.get(Challenge, challenge.id)
                    if stale is not None and stale.state in (
                        ChallengeState.OPEN,
                        ChallengeState.ANSWERED,
                    ):
                        stale.state = ChallengeState.EXPIRED
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

    async def _known_refs(self, connection: Connection) -> set[str]:
        async with self.db.read() as session:
            query = select(Document.external_ref).where(
                Document.workspace_id == connection.workspace_id,
                Document.supplier_id == connection.supplier_id,
                col(Document.external_ref).is_not(None),
            )
            return {ref for ref in (await session.exec(query)).all() if ref}

    async def _deliver(
        self,
        connection: Connection,
        supplier: Supplier,
        invoice: InvoiceRef,
        content: bytes,
        filename: str,
    ) -> int:
        async with self.db.transaction() as session:
            result = await ingest_document(
                session=session,
                store=self.store,
                incoming=IncomingDocument(
                    workspace_id=connection.workspace_id,
                    source=DocumentSource.CONNECTOR,
                    content=content,
                    filename=filename,
                    supplier_id=supplier.id,
                    supplier_name=supplier.name,
                    external_ref=invoice.reference,
                    connection_id=connection.id,
                    owner_member_id=connection.owner_member_id,
                    issue_date=invoice.issued_on,
                    total_amount=invoice.amount,
                    currency=invoice.currency,
                ),
            )
        return int(result.created)

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

    async def _settle(
        self,
        connection_id: int,
        run_id: int | None,
        supplier: Supplier,
        result: RunResult,
        started: datetime,
    ) -> None:
        now = utcnow()
        async with self.db.transaction() as session:
            connection = await session.get(Connection, connection_id)
            record = await session.get(ConnectionRun, run_id)
            assert connection is not None
            assert record is not None
            if connection.state != result.state:
                move_connection(connection, result.state, error=result.error, now=now)
            connection.last_error = result.error
            connection.last_attempt_at = started
            connection.interactive_until = None
            release_claim(connection)
            record.finished_at, record.outcome = now, result.outcome
            record.documents_found = result.found
            record.documents_new = result.new
            record.error_code = result.error
            if result.state == S.ACTIVE and result.outcome != RunOutcome.PARTIAL:
                connection.last_success_at = now
                connection.failure_count = 0
                spread = random.uniform(0, self.policy.jitter.total_seconds())
                due = now + self.policy.interval + timedelta(seconds=spread)
                workspace = await session.get(Workspace, connection.workspace_id)
                zone = workspace.timezone if workspace is not None else "UTC"
                connection.next_fetch_at = within_waking_hours(due, zone, self.policy)
            elif result.state in (S.ACTIVE, S.TEMP_ERROR):
                connection.failure_count += 1
                delay = backoff(connection.failure_count, self.policy, result.retry_after)
                connection.next_try_at = now + delay
                connection.next_fetch_at = connection.next_try_at
            else:
                # It waits for the user: new credentials, a code, a fix on the site.
                connection.next_fetch_at = None
            await self._tell(session, connection, supplier, result)

    async def _tell(
        self, session: AsyncSession, connection: Connection, supplier: Supplier, result: RunResult
    ) -> None:
        payload = {
            "connection_id": connection.id,
            "supplier": supplier.name,
            "found": result.found,
            "new": result.new,
            "error": result.error,
        }
        if result.new:
            await enqueue(
                session=session,
                kind="documents_fetched",
                workspace_id=connection.workspace_id,
                recipient_member_id=connection.owner_member_id,
                payload=payload,
            )
        if result.state in (S.AUTH_FAILED, S.ACTION_REQUIRED, S.NEEDS_USER, S.BROKEN):
            # One message per episode: the state changed at this moment, once.
            await enqueue(
                session=session,
                kind=f"connection_{result.state}",
                workspace_id=connection.workspace_id,
                recipient_member_id=connection.owner_member_id,
                payload=payload,
                dedupe_key=f"connection:{connection.id}:{result.state}:{connection.state_changed_at.isoformat()}",
            )
        if result.outcome == RunOutcome.EMPTY:
            previous = await session.scalar(
                select(ConnectionRun.id)
                .where(
                    ConnectionRun.connection_id == connection.id,
                    col(ConnectionRun.documents_found) > 0,
                )
                .limit(1)
            )
            # Logging in fine and finding nothing, where runs used to find bills, is an
            # alert; never finding anything most often means the personal portal was
            # picked for a professional account (or the reverse).
            kind = "connection_suspicious_empty" if previous else "connection_check_portal"
            await enqueue(
                session=session,
                kind=kind,
                workspace_id=connection.workspace_id,
                recipient_member_id=connection.owner_member_id,
                payload=payload,
                dedupe_key=f"connection:{connection.id}:{kind}:{utcnow():%Y-%m}",
            )


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
