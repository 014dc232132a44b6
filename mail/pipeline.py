"""What happens to a message after the 250: a short, readable list of handlers.

As in Mailman 3, the pipeline is data: `PIPELINE` names each step in order. A step
either settles the message (returns its final state) or passes it on. Every step works in
the message's one transaction, opened by the worker.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from core.domains import DomainIndex
from core.errors import ChallengeClosed
from core.filenames import safe_filename
from core.models import (
    DocumentSource,
    DocumentState,
    InboundChannel,
    InboundMessage,
    InboundState,
    Supplier,
)
from core.services.challenges import challenges_for_sender, submit_code
from core.services.documents import IncomingDocument, ingest_document, move_document
from core.services.notifications import enqueue
from core.storage import DocumentStore
from core.vault import Vault
from mail.authentication import DnsResolver, authenticate, looks_spoofed
from mail.otp import find_code
from mail.parse import ParsedMessage, document_attachments, forwarding_confirmation

log = logging.getLogger(__name__)

#: Why a document is held: its sender posed as a known supplier, unauthenticated.
SPOOFED = "sender_unauthenticated"


@dataclass(frozen=True, slots=True)
class Context:
    session: AsyncSession
    store: DocumentStore
    vault: Vault
    domains: DomainIndex
    now: datetime
    #: DNS for sender authentication; None turns the check off (it is then "unknown").
    resolver: DnsResolver | None = None
    receiver: str = "courier"


@dataclass
class Job:
    """One message on its way through the pipeline; steps add what they found."""

    message: InboundMessage
    parsed: ParsedMessage
    raw: bytes
    added: list[int] = field(default_factory=list)
    already: list[int] = field(default_factory=list)
    #: Set when the sender claims to be a known supplier and nothing vouches for it.
    spoofed: bool = False

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


async def _supplier(ctx: Context, domain: str) -> Supplier | None:
    supplier_id = ctx.domains.supplier_for(domain)
    return await ctx.session.get(Supplier, supplier_id) if supplier_id is not None else None


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


class SenderAuthentication:
    """SPF, DKIM, ARC and DMARC, after the 250 and never a reason to refuse: forwarding
    breaks SPF, and a refused invoice is lost. A sender posing as a known supplier with
    nothing to vouch for it gets its documents held for review (bank-detail fraud)."""

    name = "sender_authentication"

    async def process(self, job: Job, ctx: Context) -> InboundState | None:
        if ctx.resolver is None or job.message.channel != InboundChannel.SMTP:
            return None  # a mailbox's own server has already judged what it delivered
        auth = await authenticate(
            job.raw,
            mail_from=job.message.mail_from,
            peer_ip=job.message.peer,
            helo=job.message.helo,
            resolver=ctx.resolver,
            receiver=ctx.receiver,
        )
        job.message.outcome = job.message.outcome | {"auth": auth.to_json()}
        supplier = await _supplier(ctx, auth.from_domain or job.parsed.from_domain)
        job.spoofed = supplier is not None and looks_spoofed(
            auth, supplier_domains=supplier.domains
        )
        return None


class Attachments:
    """Every invoice file, wherever it is nested, becomes a document once."""

    name = "attachments"

    async def process(self, job: Job, ctx: Context) -> InboundState | None:
        files = document_attachments(job.parsed)
        if not files:
            return None
        supplier = await _supplier(ctx, job.parsed.from_domain)
        for attachment in files:
            result = await ingest_document(
                session=ctx.session,
                store=ctx.store,
                incoming=IncomingDocument(
                    workspace_id=job.workspace_id,
                    source=job.source,
                    content=attachment.data,
                    filename=attachment.filename,
                    supplier_id=supplier.id if supplier else None,
                    supplier_name=supplier.name if supplier else None,
                ),
                now=ctx.now,
            )
            assert result.document.id is not None
            if result.created and job.spoofed:
                move_document(result.document, DocumentState.NEEDS_REVIEW, reason=SPOOFED)
            (job.added if result.created else job.already).append(result.document.id)
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
            job.added.append(document.id)
        else:
            job.already.append(document.id)
        return None


class Report:
    """Say what came of it, once: new documents, already there, or nothing usable."""

    name = "report"

    async def process(self, job: Job, ctx: Context) -> InboundState | None:
        job.message.outcome = job.message.outcome | {
            "added": job.added,
            "already": job.already,
            "links": list(job.parsed.links),
        }
        if job.added:
            await enqueue(
                session=ctx.session, **_notice(job, "documents_received", document_ids=job.added)
            )
            return InboundState.DELIVERED
        if job.already:
            await enqueue(
                session=ctx.session, **_notice(job, "already_in_inbox", document_ids=job.already)
            )
            return InboundState.DELIVERED
        await enqueue(
            session=ctx.session,
            **_notice(job, "mail_without_document", sender=job.parsed.from_address),
        )
        return InboundState.NO_DOCUMENT


PIPELINE: tuple[Step, ...] = (
    Postmaster(),
    ForwardingConfirmationStep(),
    OneTimeCode(),
    SenderAuthentication(),
    Attachments(),
    LinkOnly(),
    Report(),
)


async def run_pipeline(job: Job, ctx: Context) -> InboundState:
    for step in PIPELINE:
        state = await step.process(job, ctx)
        if state is not None:
            log.debug("inbound %s settled by %s as %s", job.message.id, step.name, state)
            return state
    raise AssertionError("the last step always settles the message")
