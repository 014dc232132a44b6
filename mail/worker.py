"""The worker that reads accepted mail: claims messages, parses them, runs the pipeline.

Each message is one inbound event, and its work one savepoint within the batch's
transaction (see `_process`). A failure is retried with back-off and, after a few tries,
left FAILED (kept, retryable by hand): one bad message never blocks the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from sqlmodel import func, select

from core.db import Database
from core.domains import DomainIndex
from core.models import Document, InboundMessage, InboundState
from core.models.base import utcnow
from core.services.catalog import load_domain_index
from core.services.inbound import (
    LEASE,
    claim_messages,
    reclaim,
    retry_later,
    settle_message,
    wait_for_challenge,
)
from core.storage import DocumentStore
from core.vault import Vault
from mail.authentication import DnsResolver
from mail.links import LinkFetcher, LinkRefused
from mail.parse import ParsedMessage, document_attachments, parse_message
from mail.pipeline import CodeBeforeChallenge, Context, Job, LinkResult, run_pipeline

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Prepared:
    claimed: InboundMessage
    raw: bytes | None = None
    parsed: ParsedMessage | None = None
    error: str | None = None
    links: tuple[LinkResult, ...] = ()


#: The pause between batches while the gateway has senders connected.
YIELD_SECONDS = 0.25
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
        batch: int = 5,
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
        self.busy = busy
        #: Runs for each document filed, once its batch committed (the auto-publish hook).
        self.on_filed = on_filed
        #: Downloads invoices behind billing hosts' links; None leaves every link a link.
        self.links = links
        self._wake = asyncio.Event()
        self._domains: tuple[float, DomainIndex] | None = None

    def wake(self) -> None:
        """Called by the gateway and the poller after they commit: there is work."""
        self._wake.set()

    async def _domain_index(self) -> DomainIndex:
        if self._domains is None or time.monotonic() - self._domains[0] > DOMAINS_TTL:
            async with self.db.read() as session:
                self._domains = (time.monotonic(), await load_domain_index(session=session))
        return self._domains[1]

    async def run_once(self) -> int:
        """Process one batch; returns how many messages were claimed."""
        async with self.db.transaction() as session:
            claimed = await claim_messages(session=session, limit=self.batch, lease=self.lease)
        if claimed:
            domains = await self._domain_index()
            prepared = await asyncio.gather(*(self._prepare(message) for message in claimed))
            await self._process(prepared, domains)
        return len(claimed)

    async def drain(self) -> int:
        """Process until nothing waits (for tests and benchmarks)."""
        total = 0
        while count := await self.run_once():
            total += count
        return total

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                count = await self.run_once()
            except Exception:
                log.exception("mail worker: a batch failed; retrying shortly")
                count = 0
            if count == 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.idle_seconds)
            elif self.busy():
                # Senders are connected: let the gateway answer them first. What it
                # accepts is durable, so reading it a little later loses nothing.
                await asyncio.sleep(YIELD_SECONDS)

    async def _prepare(self, claimed: InboundMessage) -> Prepared:
        """The slow, lock-free part, done for the whole batch at once: read and parse."""
        try:
            if claimed.sha256 is None:
                raise ValueError("the raw message is gone")
            raw = await self.store.get(claimed.sha256)
            parsed = await asyncio.to_thread(parse_message, raw)
        except Exception as err:
            log.exception("inbound message %s could not be read", claimed.id)
            return Prepared(claimed, error=type(err).__name__)
        links: tuple[LinkResult, ...] = ()
        if claimed.workspace_id is not None and not document_attachments(parsed):
            links = await self._fetch_links(claimed, parsed)
        return Prepared(claimed, raw=raw, parsed=parsed, links=links)

    async def _fetch_links(
        self, claimed: InboundMessage, parsed: ParsedMessage
    ) -> tuple[LinkResult, ...]:
        """Download what listed billing hosts' links lead to. Here, before the batch's
        transaction opens: a slow host must never hold the database's writer lock."""
        if self.links is None:
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
        """One transaction for the batch, and a savepoint per message: each message is
        still its own unit (a failure undoes only its work), for one commit's fsync."""
        now = utcnow()
        forget: list[str] = []
        filed: list[int] = []
        async with self.db.transaction() as session:
            context = Context(
                session=session,
                store=self.store,
                vault=self.vault,
                domains=domains,
                now=now,
                resolver=self.resolver,
                receiver=self.receiver,
            )
            for item in batch:
                message = await reclaim(session=session, claimed=item.claimed)
                if message is None:
                    continue  # our lease ran out and another worker has it
                error = item.error
                if error is None:
                    assert item.parsed is not None
                    assert item.raw is not None
                    try:
                        async with session.begin_nested():
                            job = Job(
                                message=message, parsed=item.parsed, raw=item.raw, links=item.links
                            )
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
                settle_message(message, state, reason=job.reason, now=now)
                filed.extend(job.added)
                if state == InboundState.CODE_RELAYED and message.sha256:
                    forget.append(message.sha256)
                    message.sha256 = None  # a code's message is not kept once relayed
        for sha256 in forget:
            await self._forget(sha256)
        if self.on_filed is not None:
            await _hand_over(self.on_filed, filed)

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


async def _hand_over(hook: Callable[[int], Awaitable[object]], document_ids: list[int]) -> None:
    for document_id in document_ids:
        try:
            await hook(document_id)
        except Exception:  # committed already: the scheduler's sweep retries it
            log.exception("document %s: the hook after filing failed", document_id)
