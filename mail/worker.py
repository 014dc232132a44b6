"""The worker that reads accepted mail: claims messages, parses them, runs the pipeline.

A batch of claimed messages is read outside any transaction (parsed, in worker
processes when the batch is large, and its files made durable), then settled in one
transaction: the pipeline runs over the whole batch at once, one INSERT for its documents
and one UPDATE per message. Should a message fail there, the batch runs again, each
message in its own savepoint (see `_process`): each message stays one inbound event. A
failure is retried with back-off and, after a few tries, left FAILED (kept, retryable by
hand): one bad message never blocks the queue.

The worker sleeps only when nothing waits: the gateway and the poller wake it as they
commit, and its idle timeout is a fallback poll.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from multiprocessing import get_context
from urllib.parse import urlsplit

from sqlmodel import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.db import Database
from core.domains import DomainIndex
from core.jobs.loop import EventBell, work_until
from core.models import Document, InboundMessage, InboundState
from core.models.base import utcnow
from core.services.catalog import load_domain_index
from core.services.inbound import (
    LEASE,
    claim_messages,
    reclaim_all,
    retry_later,
    settle_message,
    wait_for_challenge,
)
from core.storage import DocumentStore, StoredFile
from core.vault import Vault
from mail.authentication import DnsResolver
from mail.links import LinkFetcher, LinkRefused
from mail.parse import ParsedMessage, document_attachments, parse_message
from mail.pipeline import (
    Authentication,
    CodeBeforeChallenge,
    Context,
    Job,
    LinkResult,
    authenticate_message,
    run_batch,
    run_pipeline,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Prepared:
    claimed: InboundMessage
    raw: bytes | None = None
    parsed: ParsedMessage | None = None
    error: str | None = None
    links: tuple[LinkResult, ...] = ()
    #: The store's copy of each of the message's documents, durable before the transaction.
    files: tuple[StoredFile, ...] = ()
    #: What authenticating the sender found, before the transaction (None: it is off).
    auth: Authentication | None = None

    def job(self, message: InboundMessage) -> Job:
        assert self.parsed is not None
        assert self.raw is not None
        return Job(
            message=message,
            parsed=self.parsed,
            raw=self.raw,
            links=self.links,
            files=self.files,
            auth=self.auth,
        )


#: Messages claimed at once, at most. The worker claims what is waiting, so a burst makes
#: batches large (one commit, one INSERT of documents for many) and a trickle small.
BATCH = 50
#: From this many messages in a batch, MIME parsing (about a millisecond of CPU for an
#: invoice mail, all of it holding the GIL) goes to a pool of processes, where it cannot
#: hold up the event loop that answers the gateway's senders.
POOL_FROM = 8
#: The parsing processes: one core is left to this process, whose loop runs the gateway.
#: (A parser on every core at a lower priority was measured too: it slowed the 250s, with
#: smtp_ratio down to 0.62-0.77 from 0.85, and brought no clear gain in the inbox.)
PARSERS = max(1, (os.cpu_count() or 1) - 1)
#: How much lower the parsing processes run than this one. On a busy machine the kernel
#: then gives the gateway's 250s the CPU first, and the parsing catches up once senders
#: leave: 2,000 messages from 20 senders were answered in 7.7 s instead of 10.4, and were
#: in the inbox sooner too (10.4 s instead of 11.0; `python -m bench.smtp_gateway`).
PARSER_NICENESS = 10
#: How long the catalog's domains are trusted before they are read again.
DOMAINS_TTL = 600.0
#: Links of one message downloaded, at most: a mail with more is a list, not an invoice.
MAX_LINKS_FETCHED = 5


class MailWorker:
    def __init__(
        self,
        *,
        db: Database,
        store: DocumentStore,
        vault: Vault,
        batch: int = BATCH,
        lease: timedelta = LEASE,
        idle_seconds: float = 5.0,
        resolver: DnsResolver | None = None,
        receiver: str = "courier",
        busy: Callable[[], bool] = lambda: False,
        on_filed: Callable[[int], Awaitable[object]] | None = None,
        links: LinkFetcher | None = None,
    ) -> None:
        self.db = db
        self.store = store
        self.vault = vault
        self.batch = batch
        self.lease = lease
        self.idle_seconds = idle_seconds
        self.resolver = resolver
        self.receiver = receiver
        #: True while the gateway has senders connected (its loop is this one).
        self.busy = busy
        #: Runs for each document filed, once its batch committed (the auto-publish hook).
        self.on_filed = on_filed
        #: Downloads invoices behind billing hosts' links; None leaves every link a link.
        self.links = links
        self._wake = asyncio.Event()
        self._domains: tuple[float, DomainIndex] | None = None
        self._pool: ProcessPoolExecutor | None = None

    def wake(self) -> None:
        """Called by the gateway and the poller after they commit: there is work."""
        self._wake.set()

    def close(self) -> None:
        """Stop the parsing processes, if a large batch started them."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    async def _domain_index(self) -> DomainIndex:
        if self._domains is None or time.monotonic() - self._domains[0] > DOMAINS_TTL:
            async with self.db.read() as session:
                self._domains = (time.monotonic(), await load_domain_index(session=session))
        return self._domains[1]

    async def run_once(self) -> int:
        """Process one batch; returns how many messages were claimed."""
        batch = await self._take()
        if batch:
            await self._process(batch, await self._domain_index())
        return len(batch)

    async def _take(self) -> list[Prepared]:
        """Claim a batch and read it: everything done before its transaction."""
        return await self._read(await self._claim())

    async def _claim(self) -> list[InboundMessage]:
        async with self.db.transaction() as session:
            return list(await claim_messages(session=session, limit=self.batch, lease=self.lease))

    async def _read(self, claimed: list[InboundMessage]) -> list[Prepared]:
        # While senders are connected their loop comes first: parsing goes aside for any
        # batch of more than one message, not only for large ones.
        pooled = len(claimed) >= POOL_FROM or (len(claimed) > 1 and self.busy())
        prepared = list(await asyncio.gather(*(self._prepare(m, pooled) for m in claimed)))
        return await self._store_files(prepared)

    async def _store_files(self, batch: list[Prepared]) -> list[Prepared]:
        """Make the batch's documents, attached or fetched from links, durable in one
        `put_many`: one sync for the whole batch rather than an fsync per file, before
        the pipeline decides. A file no row names is harmless (content-addressed, reused
        by the next delivery of the same bytes); should the store fail, each message's
        files are stored with its row."""
        wanted = [
            (index, document_attachments(item.parsed))
            for index, item in enumerate(batch)
            if item.parsed is not None and item.claimed.workspace_id is not None
        ]
        datas = [attachment.data for _, documents in wanted for attachment in documents]
        datas += [link.file.content for item in batch for link in item.links if link.file]
        if not datas:
            return batch
        try:
            stored = iter(await self.store.put_many(datas))
        except Exception:
            log.exception("mail worker: a batch's files are stored with their messages")
            return batch
        for index, documents in wanted:
            files = tuple(next(stored) for _ in documents)
            batch[index] = dataclasses.replace(batch[index], files=files)
        for index, item in enumerate(batch):
            if any(link.file for link in item.links):
                links = tuple(
                    dataclasses.replace(link, stored=next(stored)) if link.file else link
                    for link in item.links
                )
                batch[index] = dataclasses.replace(item, links=links)
        return batch

    async def drain(self) -> int:
        """Process until nothing waits (for tests and benchmarks)."""
        total = 0
        try:
            while count := await self.run_once():
                total += count
        finally:
            self.close()
        return total

    async def run(self, stop: asyncio.Event) -> None:
        """Process batches until `stop`. Before a full batch is settled, the next one is
        claimed, then read (parsed aside, its files stored) while the first settles: the
        database and the parsing processes work at the same time. A batch read ahead is
        settled before stopping.

        When all that waited is done, the loop sleeps until the gateway or the poller
        commits more; the idle timeout is the fallback, for retries that fall due and for
        mail that another process accepted."""
        ahead: asyncio.Task[list[Prepared]] | None = None
        warming = asyncio.create_task(self._start_parsers(), name="mail-parsers-start")

        async def step() -> bool:
            nonlocal ahead
            task, ahead = ahead, None
            batch = await task if task is not None else await self._take()
            full = len(batch) >= self.batch
            if full and not stop.is_set():
                # Claimed now, before this batch's transaction takes the writer: claimed
                # after it, the next batch would be parsed only once this one settled,
                # and parsing and the database would take turns. While senders wait, the
                # writer's gaps are theirs (their 250s wait on a commit), so the claim
                # then queues behind this batch.
                ahead = asyncio.create_task(
                    self._take() if self.busy() else self._read(await self._claim()),
                    name="mail-worker-ahead",
                )
            if batch:
                await self._process(batch, await self._domain_index())
            return full

        try:
            await work_until(
                stop,
                step,
                name="mail worker",
                idle_seconds=self.idle_seconds,
                bell=EventBell(self._wake),
            )
            if ahead is not None:
                try:
                    await step()
                except Exception:
                    log.exception("mail worker: the batch read ahead failed; its leases run out")
        finally:
            if ahead is not None:  # only when cancelled: its messages' leases run out
                ahead.cancel()
            warming.cancel()
            self.close()

    async def _start_parsers(self) -> None:
        """Start the parsing processes with the worker: spawning one and importing the
        parser takes most of a second, which the first burst would otherwise wait for."""
        try:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._parsers(), parse_message, b"")
        except BrokenProcessPool:
            self._pool = None  # started again by the first batch that needs it

    async def _prepare(self, claimed: InboundMessage, pooled: bool = False) -> Prepared:
        """The slow, lock-free part, done for the whole batch at once: read and parse,
        authenticate the sender and fetch what links lead to, so that neither the DNS
        nor a billing host ever holds the writer."""
        try:
            if claimed.sha256 is None:
                raise ValueError("the raw message is gone")
            raw = await self.store.get(claimed.sha256)
            parsed = await self._parse(raw, pooled)
        except Exception as err:
            log.exception("inbound message %s could not be read", claimed.id)
            return Prepared(claimed, error=type(err).__name__)
        if claimed.workspace_id is None:
            return Prepared(claimed, raw=raw, parsed=parsed)  # postmaster's: kept as it is
        auth, links = await asyncio.gather(
            self._authenticate(claimed, parsed, raw), self._fetch_links(claimed, parsed)
        )
        return Prepared(claimed, raw=raw, parsed=parsed, links=links, auth=auth)

    async def _authenticate(
        self, claimed: InboundMessage, parsed: ParsedMessage, raw: bytes
    ) -> Authentication | None:
        if self.resolver is None:
            return None
        return await authenticate_message(
            claimed, parsed, raw, resolver=self.resolver, receiver=self.receiver
        )

    async def _parse(self, raw: bytes, pooled: bool) -> ParsedMessage:
        if pooled:
            try:
                loop = asyncio.get_running_loop()
                return await loop.run_in_executor(self._parsers(), parse_message, raw)
            except BrokenProcessPool:
                # A parser process died (killed, out of memory): start afresh next time,
                # and parse this one here. parse_message never raises, so the pool can
                # only fail this way.
                log.warning("mail worker: a parsing process died; parsing in a thread")
                self._pool = None
        return await asyncio.to_thread(parse_message, raw)

    def _parsers(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn: a forked child would inherit the loop's threads and the database's
            # connections mid-use; these processes only ever run parse_message.
            self._pool = ProcessPoolExecutor(
                max_workers=PARSERS,
                mp_context=get_context("spawn"),
                initializer=os.nice,
                initargs=(PARSER_NICENESS,),
            )
        return self._pool

    async def _fetch_links(
        self, claimed: InboundMessage, parsed: ParsedMessage
    ) -> tuple[LinkResult, ...]:
        """Download what listed billing hosts' links lead to, for a message that carries
        no document itself. Here, before the batch's transaction opens: a slow host must
        never hold the database's writer lock."""
        if self.links is None or document_attachments(parsed):
            return ()
        fetcher = self.links
        wanted = [url for url in parsed.links if fetcher.refusal(url) is None][:MAX_LINKS_FETCHED]

        async def _one(url: str) -> LinkResult:
            try:
                return LinkResult(url, file=await fetcher.fetch(url))
            except LinkRefused as err:
                # The host only: a link's path and query are the invoice's bearer key.
                log.info(
                    "inbound %s: a link to %s was not fetched (%s)",
                    claimed.id,
                    urlsplit(url).hostname,
                    err.reason,
                )
                return LinkResult(url, refused=err.reason)

        fetched = {result.url: result for result in await asyncio.gather(*map(_one, wanted))}

        def _result(url: str) -> LinkResult:
            if url in fetched:
                return fetched[url]
            return LinkResult(url, refused=fetcher.refusal(url) or "too_many_links")

        return tuple(_result(url) for url in parsed.links)

    async def _process(self, batch: list[Prepared], domains: DomainIndex) -> None:
        """One transaction for the batch, so one commit's fsync for many messages.

        The usual case runs the whole batch through the pipeline at once (`run_batch`):
        one INSERT files every message's documents. Should any message fail there, that
        transaction is thrown away and the batch runs again message by message, each in
        a savepoint: each message stays its own unit, and a failure undoes only its work."""
        now = utcnow()
        settled = _Settled()
        try:
            async with self.db.transaction() as session:
                await self._together(session, batch, domains, now, settled)
        except _OneByOne as err:
            log.info(
                "mail worker: a batch runs message by message (%s)", type(err.__cause__).__name__
            )
            settled = _Settled()
            async with self.db.transaction() as session:
                await self._one_by_one(session, batch, domains, now, settled)
        for sha256 in settled.forget:
            await self._forget(sha256)
        if self.on_filed is not None:
            await _hand_over(self.on_filed, settled.filed)

    def _context(self, session: AsyncSession, domains: DomainIndex, now: datetime) -> Context:
        return Context(
            session=session,
            store=self.store,
            vault=self.vault,
            domains=domains,
            now=now,
        )

    async def _together(
        self,
        session: AsyncSession,
        batch: list[Prepared],
        domains: DomainIndex,
        now: datetime,
        settled: _Settled,
    ) -> None:
        held = await reclaim_all(session=session, claimed=[item.claimed for item in batch])
        jobs: list[Job] = []
        for item in batch:
            message = held.get(item.claimed.id or 0)
            if message is None:
                continue  # our lease ran out and another worker has it
            if item.error is not None:
                retry_later(message, reason=item.error, now=now)
            else:
                jobs.append(item.job(message))
        try:
            states = await run_batch(jobs, self._context(session, domains, now))
        except Exception as err:
            # Unexpected, or a code early for its challenge: each message on its own.
            raise _OneByOne from err
        for job, state in zip(jobs, states, strict=True):
            settled.settle(job, state, now)

    async def _one_by_one(
        self,
        session: AsyncSession,
        batch: list[Prepared],
        domains: DomainIndex,
        now: datetime,
        settled: _Settled,
    ) -> None:
        context = self._context(session, domains, now)
        held = await reclaim_all(session=session, claimed=[item.claimed for item in batch])
        for item in batch:
            message = held.get(item.claimed.id or 0)
            if message is None:
                continue  # our lease ran out and another worker has it
            error = item.error
            if error is None:
                job = item.job(message)
                try:
                    async with session.begin_nested():
                        state = await run_pipeline(job, context)
                except CodeBeforeChallenge:
                    wait_for_challenge(message, now=now)
                    continue
                except Exception as err:
                    log.exception("inbound message %s could not be processed", message.id)
                    error = type(err).__name__
            if error is not None:
                retry_later(message, reason=error, now=now)
                continue
            settled.settle(job, state, now)

    async def _forget(self, sha256: str) -> None:
        """Delete the raw file unless another row (another workspace, a document) uses it."""
        async with self.db.read() as session:
            used = await session.scalar(
                select(func.count())
                .select_from(InboundMessage)
                .where(InboundMessage.sha256 == sha256)
            )
            used = int(used or 0) + int(
                await session.scalar(
                    select(func.count()).select_from(Document).where(Document.sha256 == sha256)
                )
                or 0
            )
        if not used:
            await self.store.delete(sha256)


class _OneByOne(Exception):
    """The batch could not run as one: run it again, each message in its savepoint."""


@dataclass
class _Settled:
    """What a batch's transaction settled, for after its commit."""

    #: Documents filed, for the hook after filing.
    filed: list[int] = field(default_factory=list)
    #: Raw files of relayed codes, let go once the commit is durable.
    forget: list[str] = field(default_factory=list)

    def settle(self, job: Job, state: InboundState, now: datetime) -> None:
        message = job.message
        settle_message(message, state, reason=job.reason, now=now, outcome=job.outcome)
        self.filed.extend(job.added)
        if state == InboundState.CODE_RELAYED and message.sha256:
            self.forget.append(message.sha256)
            message.sha256 = None  # a code's message is not kept once relayed


async def _hand_over(hook: Callable[[int], Awaitable[object]], document_ids: list[int]) -> None:
    for document_id in document_ids:
        try:
            await hook(document_id)
        except Exception:  # committed already: the scheduler's sweep retries it
            log.exception("document %s: the hook after filing failed", document_id)
