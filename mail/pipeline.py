"""What happens to a message after the 250: a short, readable list of handlers.

As in Mailman 3, the pipeline is data: `PIPELINE` names each step in order. A step
either settles the message (returns its final state) or passes it on. Every step works in
the message's one transaction, opened by the worker.

`run_batch` runs the same steps over a batch of messages, step after step, so that what
many messages write goes in one statement (their documents, their notices);
`run_pipeline` runs them for one message, which is how a batch is retried when one of its
messages fails.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from sqlmodel.ext.asyncio.session import AsyncSession

from core.db.database import upsert_insert
from core.domains import DomainIndex
from core.errors import ChallengeClosed
from core.extraction.errors import ExtractionError
from core.extraction.safexml import parse_xml
from core.filenames import safe_filename
from core.models import (
    Document,
    DocumentSource,
    DocumentState,
    InboundChannel,
    InboundMessage,
    InboundState,
    Notification,
    NotificationState,
    SetAsideImage,
    Supplier,
)
from core.services.challenges import (
    challenges_for_sender,
    logging_in_for_sender,
    submit_code,
)
from core.services.documents import (
    IncomingDocument,
    IngestResult,
    build_document,
    ingest_document,
    ingest_stored,
    move_document,
)
from core.services.inbound import early_code
from core.services.members import member_by_address
from core.services.notifications import enqueue
from core.services.provenance import VOUCHED, trusted_for, vouched
from core.sniff import einvoice_syntax, extension_for
from core.storage import DocumentStore, StoredFile
from core.vault import Vault
from mail.authentication import DnsResolver, SenderAuth, authenticate, vouched_by
from mail.links import FetchedFile, Reason
from mail.otp import find_code
from mail.parse import Attachment, ParsedMessage, document_attachments, forwarding_confirmation

log = logging.getLogger(__name__)

#: Why a document is held: its sender posed as a known supplier, unauthenticated.
SPOOFED = "sender_unauthenticated"
#: Why a message's state carries a note: parts of it were not read (see outcome["skipped"]).
SKIPPED = "content_skipped"
#: Why a message's state carries a note: an encrypted S/MIME part could not be read.
ENCRYPTED = "encrypted_smime"
#: Set-aside images named in a chat notice, at most (the record keeps them all, up to _NOTES).
NAMED_IN_NOTICE = 5
#: Forwarded originals whose signature is checked, at most: each costs DNS lookups.
MAX_ORIGINALS = 4
#: The reading marker (core/services/reading.py): a file refused here is never parsed there.
_READ = "_read"
#: Notes of what was skipped, at most, on one message.
_NOTES = 50


@dataclass(frozen=True, slots=True)
class LinkResult:
    """What came of one of the mail's links, fetched by the worker before the pipeline."""

    url: str
    file: FetchedFile | None = None
    refused: Reason | None = None
    #: The store's copy of `file`, made durable by the worker before the transaction.
    stored: StoredFile | None = None

    def to_json(self) -> dict[str, str]:
        return {"url": self.url, "outcome": self.refused or "fetched"}


@dataclass(frozen=True, slots=True)
class Context:
    session: AsyncSession
    store: DocumentStore
    vault: Vault
    domains: DomainIndex
    now: datetime
    #: The batch's notices, written together at its end (run_batch); None: one by one.
    outbox: list[dict[str, Any]] | None = None


@dataclass
class Job:
    """One message on its way through the pipeline; steps add what they found."""

    message: InboundMessage
    parsed: ParsedMessage
    raw: bytes
    added: list[int] = field(default_factory=list)
    already: list[int] = field(default_factory=list)
    #: What the mail's own authentication proves for its documents (provenance.vouched).
    vouch: dict[str, Any] | None = None
    #: The same for each forwarded original that a supplier's domain signed, by index.
    original_vouches: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: The message's state_reason, when it has one.
    reason: str | None = None
    #: The invoice links the worker tried to download, and what came of each.
    links: tuple[LinkResult, ...] = ()
    #: The message itself was filed, with its links, for want of a downloadable invoice.
    link_only: bool = False
    #: What the steps found, for the message's record: the worker writes it once, on settling.
    outcome: dict[str, Any] = field(default_factory=dict)
    #: The store's copy of each of `document_attachments(parsed)`, in order, made durable
    #: by the worker before the transaction opened (empty: the step stores them itself).
    files: tuple[StoredFile, ...] = ()
    #: What became of the attachments when the batch filed them together (run_batch).
    filed: list[IngestResult] | None = None
    #: The sender authentication, done before the transaction (None: it is off).
    auth: Authentication | None = None

    @property
    def workspace_id(self) -> int:
        assert self.message.workspace_id is not None
        return self.message.workspace_id

    @property
    def source(self) -> DocumentSource:
        if self.message.channel == InboundChannel.IMAP:
            return DocumentSource.IMAP
        return DocumentSource.EMAIL


class Step(Protocol):
    name: str

    async def process(self, job: Job, ctx: Context) -> InboundState | None: ...


def _notice(job: Job, kind: str, **payload: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "workspace_id": job.message.workspace_id,
        "payload": {"inbound_id": job.message.id, "subject": job.parsed.subject[:200], **payload},
        "dedupe_key": f"inbound:{job.message.id}:{kind}",
    }


async def _tell(ctx: Context, notice: dict[str, Any]) -> None:
    """The message's closing notice: kept for the batch's one INSERT when there is one."""
    if ctx.outbox is not None:
        ctx.outbox.append(notice)
    else:
        await enqueue(session=ctx.session, **notice)


async def _post(session: AsyncSession, notices: list[dict[str, Any]], now: datetime) -> None:
    """A batch's notices in one statement, as `enqueue` writes each: a dedupe key already
    used (the message was reported before a crash lost its settling) adds nothing."""
    if not notices:
        return
    statement = upsert_insert(session)(Notification).on_conflict_do_nothing(
        index_elements=["dedupe_key"]
    )
    common = {
        "recipient_member_id": None,
        "state": NotificationState.PENDING,
        "attempts": 0,
        "created_at": now,
    }
    await session.exec(statement, params=[common | notice for notice in notices])


async def _supplier(ctx: Context, domain: str) -> Supplier | None:
    supplier_id = ctx.domains.supplier_for(domain)
    return await ctx.session.get(Supplier, supplier_id) if supplier_id is not None else None


async def _claimed_suppliers(ctx: Context, domain: str) -> list[Supplier]:
    """Every known supplier the sender's domain names, a shared domain's several included."""
    found = [await ctx.session.get(Supplier, i) for i in sorted(ctx.domains.suppliers_for(domain))]
    return [supplier for supplier in found if supplier is not None]


def _vouch_for(job: Job, attachment: Attachment | None) -> dict[str, Any] | None:
    """What vouches for one file: the member who forwarded it, the supplier that signed
    the forwarded original holding it, or what authenticates the mail itself."""
    if job.vouch is not None and job.vouch["by"] == "member_forward":
        return job.vouch
    if attachment is not None and attachment.original in job.original_vouches:
        return job.original_vouches[attachment.original]
    return job.vouch


async def _judge(job: Job, ctx: Context, document: Document, attachment: Attachment | None) -> None:
    """Record what vouches for a new document, and hold it when its sender poses as a
    known supplier that nothing proves (bank-detail fraud). Reading checks the supplier
    again once the page names it (VAT number, SIREN, name)."""
    record = _vouch_for(job, attachment)
    if record is not None:
        document.fields = {**(document.fields or {}), VOUCHED: record}
    claimed = await _claimed_suppliers(ctx, job.parsed.from_domain)
    if claimed and not any(trusted_for(document, s.domains) for s in claimed):
        move_document(document, DocumentState.NEEDS_REVIEW, reason=SPOOFED)


class Postmaster:
    """postmaster@ is accepted for every domain (RFC 5321) and kept for the operator."""

    name = "postmaster"

    async def process(self, job: Job, ctx: Context) -> InboundState | None:
        return InboundState.NO_DOCUMENT if job.message.workspace_id is None else None


class ForwardingConfirmationStep:
    """Gmail and Outlook confirm a forwarding rule by mail: pass the code or link on."""

    name = "forwarding_confirmation"

    async def process(self, job: Job, ctx: Context) -> InboundState | None:
        found = forwarding_confirmation(job.parsed)
        if found is None:
            return None
        await enqueue(
            session=ctx.session,
            **_notice(
                job,
                "forwarding_confirmation",
                provider=found.provider,
                code=found.code,
                link=found.link,
                requested_by=found.requested_by,
            ),
        )
        return InboundState.CONFIRMATION


class CodeBeforeChallenge(Exception):
    """The code came before the login's challenge: the worker looks again shortly."""


class OneTimeCode:
    """A supplier's 2FA code goes to the one open challenge it fits, with no typing."""

    name = "one_time_code"

    async def process(self, job: Job, ctx: Context) -> InboundState | None:
        if document_attachments(job.parsed):
            return None  # an invoice that mentions a code is still an invoice
        code = find_code(job.parsed.subject, job.parsed.text)
        if code is None:
            return None
        waiting = await challenges_for_sender(
            session=ctx.session, workspace_id=job.workspace_id, sender_domain=job.parsed.from_domain
        )
        if not waiting:
            if early_code(job.message, now=ctx.now) and await logging_in_for_sender(
                session=ctx.session,
                workspace_id=job.workspace_id,
                sender_domain=job.parsed.from_domain,
            ):
                raise CodeBeforeChallenge  # the login is under way: its challenge is coming
            return None
        if len(waiting) > 1:
            # Several fetches wait on this supplier: ask, never guess. The code stays sealed.
            await enqueue(
                session=ctx.session,
                **_notice(
                    job,
                    "code_ambiguous",
                    challenge_ids=[c.id for c in waiting],
                    code_sealed=ctx.vault.seal(code),
                ),
            )
            return InboundState.CODE_RELAYED
        [challenge] = waiting
        assert challenge.id is not None
        try:
            await submit_code(
                session=ctx.session,
                vault=ctx.vault,
                challenge_id=challenge.id,
                code=code,
                via="mail",
                now=ctx.now,
            )
        except ChallengeClosed:
            return None
        await enqueue(
            session=ctx.session, **_notice(job, "code_relayed", challenge_id=challenge.id)
        )
        return InboundState.CODE_RELAYED


@dataclass(frozen=True, slots=True)
class Authentication:
    """What a message's sender authentication found: the mail's own, and that of each
    forwarded original whose documents it carries, by index."""

    mail: SenderAuth
    originals: tuple[tuple[int, SenderAuth], ...] = ()


async def authenticate_message(
    message: InboundMessage,
    parsed: ParsedMessage,
    raw: bytes,
    *,
    resolver: DnsResolver,
    receiver: str,
) -> Authentication:
    """SPF, DKIM, ARC and DMARC for one message. The worker runs it before the batch's
    transaction, for the whole batch at once: its DNS lookups must never hold the writer."""
    # A watched mailbox's message has no SMTP peer here: SPF says "none", and DKIM,
    # which survives delivery, still proves the signer.
    smtp = message.channel == InboundChannel.SMTP
    originals = {a.original for a in document_attachments(parsed) if a.original is not None}
    wanted = sorted(originals)[:MAX_ORIGINALS]  # each costs DNS lookups
    mail, *inner = await asyncio.gather(
        authenticate(
            raw,
            mail_from=message.mail_from if smtp else "",
            peer_ip=message.peer if smtp else None,
            helo=message.helo if smtp else None,
            resolver=resolver,
            receiver=receiver,
        ),
        *(
            authenticate(
                parsed.originals[index],
                mail_from="",
                peer_ip=None,
                helo=None,
                resolver=resolver,
                receiver=receiver,
            )
            for index in wanted
        ),
    )
    return Authentication(mail, tuple(zip(wanted, inner, strict=True)))


class SenderAuthentication:
    """SPF, DKIM, ARC and DMARC, after the 250 and never a reason to refuse: forwarding
    breaks SPF, and a refused invoice is lost. It records what vouches for the message's
    documents: the From domain authenticated (a supplier's, or a member's own address),
    and each forwarded original a domain signed. Nothing proven, nothing recorded."""

    name = "sender_authentication"

    async def process(self, job: Job, ctx: Context) -> InboundState | None:
        if job.auth is None:
            return None  # authentication is off: nothing can vouch for the mail
        auth = job.auth.mail
        job.outcome["auth"] = auth.to_json()
        if vouched_by(auth) is not None:
            job.vouch = await self._sender_vouch(job, ctx, auth)
        for index, inner in job.auth.originals:
            # Only a signature counts: SPF and ARC describe a delivery long past.
            if vouched_by(inner) == "dkim":
                job.original_vouches[index] = vouched("forwarded_original", inner.from_domain)
        return None

    @staticmethod
    async def _sender_vouch(job: Job, ctx: Context, auth: SenderAuth) -> dict[str, Any]:
        address = job.parsed.from_address
        member = await member_by_address(
            session=ctx.session, workspace_id=job.workspace_id, address=address
        )
        if member is not None and address.rpartition("@")[2].lower() == auth.from_domain:
            # The person vouches for what they forward from their own, proven, address.
            return vouched("member_forward", auth.from_domain)
        return vouched("supplier_domain", auth.from_domain)


class Attachments:
    """Every invoice file, wherever it is nested, becomes a document once."""

    name = "attachments"

    async def process(self, job: Job, ctx: Context) -> InboundState | None:
        if job.filed is not None:  # filed with the rest of its batch (file_batch)
            for result in job.filed:
                assert result.document.id is not None
                (job.added if result.created else job.already).append(result.document.id)
            return None
        files = document_attachments(job.parsed)
        if not files:
            return None
        supplier = await _supplier(ctx, job.parsed.from_domain)
        for attachment, stored in zip(files, _stored(job, len(files)), strict=True):
            result = await ingest_document(
                session=ctx.session,
                store=ctx.store,
                incoming=_incoming(job, attachment, supplier),
                now=ctx.now,
                stored=stored,
            )
            assert result.document.id is not None
            if result.created:
                refuse_hostile_xml(result.document, attachment)
                await _judge(job, ctx, result.document, attachment)
            (job.added if result.created else job.already).append(result.document.id)
        return None

    async def file_batch(self, jobs: Sequence[Job], ctx: Context) -> None:
        """File the documents of many messages at once, whose files the worker stored
        before the transaction: one SELECT finds duplicates and one INSERT adds the rest,
        per workspace, where filing them one by one costs four round trips each.

        A document is judged before its row is written, so its row is written once."""
        rows: dict[int, list[tuple[Job, Document]]] = {}
        for job in jobs:
            files = document_attachments(job.parsed)
            if len(job.files) != len(files):
                continue  # not stored ahead: `process` files it the slow way
            job.filed = []
            supplier = await _supplier(ctx, job.parsed.from_domain)
            for attachment, stored in zip(files, job.files, strict=True):
                document = build_document(_incoming(job, attachment, supplier), stored, now=ctx.now)
                # Only rows that turn out new are written: a duplicate's verdict is dropped.
                refuse_hostile_xml(document, attachment)
                await _judge(job, ctx, document, attachment)
                rows.setdefault(job.workspace_id, []).append((job, document))
        for pairs in rows.values():
            results = await ingest_stored(
                session=ctx.session, documents=[document for _, document in pairs]
            )
            for (job, _), result in zip(pairs, results, strict=True):
                assert job.filed is not None
                job.filed.append(result)


def _incoming(job: Job, attachment: Attachment, supplier: Supplier | None) -> IncomingDocument:
    return IncomingDocument(
        workspace_id=job.workspace_id,
        source=job.source,
        content=attachment.data,
        filename=attachment.filename,
        supplier_id=supplier.id if supplier else None,
        supplier_name=supplier.name if supplier else None,
    )


def _stored(job: Job, count: int) -> Sequence[StoredFile | None]:
    return job.files if len(job.files) == count else [None] * count


def refuse_hostile_xml(document: Document, attachment: Attachment) -> None:
    """An XML file that is no e-invoice (a DTD, entities: XXE, billion laughs) stays in
    the inbox with the parser's reason, and is never handed to the reader."""
    if not attachment.content_type.endswith("xml") or einvoice_syntax(attachment.data):
        return
    try:
        parse_xml(attachment.data)
    except ExtractionError as err:
        reason = err.reason
    else:
        reason = "unsupported_xml"
    document.fields = {**(document.fields or {}), _READ: {"error": reason}}


class LinkedInvoices:
    """An invoice behind a billing host's link, downloaded by the worker, is a document
    of source `link` that keeps the URL it came from. Mails with files skip this."""

    name = "linked_invoices"

    async def process(self, job: Job, ctx: Context) -> InboundState | None:
        fetched = [result for result in job.links if result.file is not None]
        if job.added or job.already or not fetched:
            return None
        supplier = await _supplier(ctx, job.parsed.from_domain)
        for result in fetched:
            assert result.file is not None
            stem = job.parsed.subject or "invoice"
            filename = f"{stem}{extension_for(result.file.content_type)}"
            created = await ingest_document(
                session=ctx.session,
                store=ctx.store,
                incoming=IncomingDocument(
                    workspace_id=job.workspace_id,
                    source=DocumentSource.LINK,
                    content=result.file.content,
                    filename=filename,
                    supplier_id=supplier.id if supplier else None,
                    supplier_name=supplier.name if supplier else None,
                    source_url=result.url[:2048],
                ),
                now=ctx.now,
                stored=result.stored,
            )
            document = created.document
            assert document.id is not None
            if created.created:
                # The mail carried the link: what vouches for the mail vouches for it.
                await _judge(job, ctx, document, None)
            (job.added if created.created else job.already).append(document.id)
        return None


class LinkOnly:
    """An invoice that is only a link: the message itself is kept, viewable, with its links."""

    name = "link_only"

    async def process(self, job: Job, ctx: Context) -> InboundState | None:
        if job.added or job.already or not job.parsed.links:
            return None
        supplier = await _supplier(ctx, job.parsed.from_domain)
        result = await ingest_document(
            session=ctx.session,
            store=ctx.store,
            incoming=IncomingDocument(
                workspace_id=job.workspace_id,
                source=job.source,
                content=job.raw,
                filename=safe_filename(f"{job.parsed.subject or 'message'}.eml"),
                supplier_id=supplier.id if supplier else None,
                supplier_name=supplier.name if supplier else None,
            ),
            now=ctx.now,
        )
        document = result.document
        assert document.id is not None
        if result.created:
            document.fields = document.fields | {
                "links": {"value": list(job.parsed.links), "source": "email", "confidence": 1.0}
            }
            await _judge(job, ctx, document, None)
            job.added.append(document.id)
            job.link_only = True
        else:
            job.already.append(document.id)
        return None


class Report:
    """Say what came of it, once: new documents, already there, or nothing usable."""

    name = "report"

    async def process(self, job: Job, ctx: Context) -> InboundState | None:
        job.outcome.update(added=job.added, already=job.already, links=list(job.parsed.links))
        if job.links:
            fetches = [result.to_json() for result in job.links]
            job.outcome["link_fetch"] = fetches
        if job.parsed.skipped:
            # What was not read, and why, stays with the message: nothing goes silently.
            skipped = list(job.parsed.skipped[:_NOTES])
            job.outcome["skipped"] = skipped
            job.reason = SKIPPED
        if job.parsed.encrypted:
            job.reason = ENCRYPTED
        aside = set_aside_record(job.parsed)
        if aside:
            # Decoration stays out of the inbox, but on record: the user may keep it.
            job.outcome["set_aside"] = [a.to_json() for a in aside]
        extra: dict[str, Any] = {}
        if aside:
            names = [a.filename for a in aside[:NAMED_IN_NOTICE]]
            extra = {"set_aside": names, "set_aside_count": len(aside)}
        if job.link_only:
            # The person must open the link: say so, rather than "a new document".
            hosts = sorted({urlsplit(url).hostname or "" for url in job.parsed.links} - {""})
            await _tell(
                ctx, _notice(job, "invoice_behind_link", document_ids=job.added, hosts=hosts[:3])
            )
            return InboundState.DELIVERED
        if job.added:
            await _tell(ctx, _notice(job, "documents_received", document_ids=job.added, **extra))
            return InboundState.DELIVERED
        if job.already:
            await _tell(ctx, _notice(job, "already_in_inbox", document_ids=job.already, **extra))
            return InboundState.DELIVERED
        await _tell(
            ctx, _notice(job, "mail_without_document", sender=job.parsed.from_address, **extra)
        )
        return InboundState.NO_DOCUMENT


def set_aside_record(parsed: ParsedMessage) -> list[SetAsideImage]:
    """What the decoration rule set aside, as the message records it (names, sizes, why)."""
    return [
        SetAsideImage(a.attachment.filename, a.attachment.size, a.reason)
        for a in parsed.set_aside[:_NOTES]
    ]


PIPELINE: tuple[Step, ...] = (
    Postmaster(),
    ForwardingConfirmationStep(),
    OneTimeCode(),
    SenderAuthentication(),
    Attachments(),
    LinkedInvoices(),
    LinkOnly(),
    Report(),
)


async def run_batch(jobs: Sequence[Job], ctx: Context) -> list[InboundState]:
    """The same pipeline for a batch of messages at once, step by step: each step sees
    every message still open, and the attachments of all of them are filed together.

    It takes no savepoints: a step that raises leaves its work half done in the session.
    The caller then throws the transaction away and runs each message on its own,
    through `run_pipeline`, within a savepoint."""
    states: dict[int, InboundState] = {}
    ctx = replace(ctx, outbox=[])
    for step in PIPELINE:
        waiting = [index for index in range(len(jobs)) if index not in states]
        if not waiting:
            break
        if isinstance(step, Attachments):
            await step.file_batch([jobs[index] for index in waiting], ctx)
        for index in waiting:
            job = jobs[index]
            state = await step.process(job, ctx)
            if state is not None:
                log.debug("inbound %s settled by %s as %s", job.message.id, step.name, state)
                states[index] = state
    if len(states) != len(jobs):
        raise AssertionError("the last step always settles the message")
    assert ctx.outbox is not None
    await _post(ctx.session, ctx.outbox, ctx.now)
    return [states[index] for index in range(len(jobs))]


async def run_pipeline(job: Job, ctx: Context) -> InboundState:
    for step in PIPELINE:
        state = await step.process(job, ctx)
        if state is not None:
            log.debug("inbound %s settled by %s as %s", job.message.id, step.name, state)
            return state
    raise AssertionError("the last step always settles the message")
