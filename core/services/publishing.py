"""Publishing documents as purchase bills, once each, whatever fails on the way.

Each (document, integration) has one Publication row carrying an idempotency key derived
from the document and the company. A publish runs in three steps: claim (committed: the
row is `pending` with a lease), call the software with the key, record the outcome. A
crash between the call and the record is retried with the same key, and the software
(or the ledger) answers with the bill it already has.

Each VAT line carries the software's own code for its rate (core/services/tax_codes.py);
a rate the software has no code for sends the document to review (`vat_rate_unmapped`,
the rate as its detail) rather than posting it under another rate's code. A credit note
(its e-invoice or page says so, or its total is negative) goes as a credit note, with
positive amounts: each provider knows its own form.

Outcomes: `published`; `needs_review` when the document lacks what a bill needs (the
missing field is the reason); `blocked` when the integration expired or the supplier's
rule cannot be applied (its account or tax rate was deleted), released later, never
dropped; `waiting` on a 429 or an unavailable software, retried by the scheduler with
back-off; `failed` when the software refuses the bill, `needs_review` when it cannot take
it as the document stands and a person can set that right (`NeedsReview`: a currency the
company does not keep...). When the bill was made but its
file did not follow, the publication waits with `attachment_failed` and the bill's id, and
its retry sends the file alone.

`on_document_ready` is the auto-publish hook for the paths that make a document ready.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.accounting.errors import (
    AttachmentFailed,
    AttachmentTooLarge,
    IntegrationExpired,
    IntegrationNotUsable,
    NeedsReview,
    NoIntegration,
    RateLimited,
    Rejected,
    Unavailable,
)
from core.accounting.provider import Bill, BillFile, Published, VatLine, idempotency_key
from core.backoff import PUBLISHING
from core.catalog.index import fold
from core.errors import NotFound
from core.models import (
    Document,
    DocumentState,
    Integration,
    IntegrationState,
    ListEntry,
    ListKind,
    ListLoad,
    Publication,
    PublicationState,
    Rule,
)
from core.models.base import utcnow
from core.models.document import READ_MARKER
from core.services.accounting import Accounting, Link, call_with_link
from core.services.document_labels import REFUSED_PREFIX
from core.services.documents import move_document
from core.services.integrations import (
    EXPIRED_REASON,
    FLAG_ACCOUNT_DELETED,
    FLAG_TAX_RATE_DELETED,
    current_integration,
    refresh_expiry_alert,
)
from core.services.outcome_notices import Refusal, announce_refusal
from core.services.review_notices import announce_review
from core.services.rules import held_by_rule, usable_rule
from core.services.tax_codes import UNMAPPED_REASON, Unmapped, assign_codes, load_tax_codes

log = logging.getLogger(__name__)

PS = PublicationState
CLAIM = timedelta(minutes=5)
DEFAULT_CURRENCY = "EUR"
#: Review reasons a publish gives; answering them is all the document waits for.
REVIEW_REASONS = frozenset({"missing_total", "missing_supplier", "missing_date"})
#: The bill is at the software without its file; `external_id` holds the bill's id.
ATTACHMENT_FAILED = "attachment_failed"
CREDIT_NOTE = "credit_note"


@dataclass(frozen=True, slots=True)
class PublishOutcome:
    document_id: int
    #: published, needs_review, blocked, waiting, failed, in_progress.
    state: str
    reason: str | None = None
    external_id: str | None = None
    location: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class _Claim:
    publication_id: int
    integration_id: int
    bill: Bill


async def publish_document(
    acc: Accounting,
    *,
    workspace_id: int,
    document_id: int,
    force: bool = True,
    announce: bool = True,
) -> PublishOutcome:
    """Publish one document. Sweeps pass `force=False` so a publication waiting out a 429
    or an outage keeps its back-off; a person asking for this document gets a try now.
    A bill the software refuses is told to the owners and admins, with its reason, in the
    transaction that records it; a caller that tells the outcome itself (a publish asked
    for in the chat, core/services/publish_reports.py) passes `announce=False`."""
    async with acc.db.transaction() as session:
        prepared = await _claim(acc, session, workspace_id, document_id, force)
    if isinstance(prepared, PublishOutcome):
        return prepared
    bill = prepared.bill
    try:
        published = await call_with_link(
            acc,
            integration_id=prepared.integration_id,
            call=lambda link: _publish(link, bill),
        )
    except IntegrationExpired:
        return await _settle(acc, prepared, PS.BLOCKED, reason=EXPIRED_REASON)
    except AttachmentFailed as err:
        return await _settle(
            acc,
            prepared,
            PS.WAITING,
            reason=ATTACHMENT_FAILED,
            detail=str(err.params.get("reason")),
            external_id=err.external_id,
        )
    except RateLimited as err:
        return await _settle(
            acc, prepared, PS.WAITING, reason="rate_limited", retry_after=err.retry_after
        )
    except Unavailable as err:
        return await _settle(
            acc, prepared, PS.WAITING, reason="unavailable", detail=str(err.params.get("reason"))
        )
    except NeedsReview as err:  # nothing was posted; a person sets the document right
        return await _settle(
            acc, prepared, PS.FAILED, reason=err.review_reason, detail=err.reason, review=True
        )
    except Rejected as err:
        reason = "duplicate" if err.duplicate else "rejected"
        if isinstance(err, AttachmentTooLarge):
            reason = "attachment_too_large"
        return await _settle(
            acc, prepared, PS.FAILED, reason=reason, detail=err.reason, announce=announce
        )
    return await _settle(acc, prepared, PS.PUBLISHED, published=published)


async def _publish(link: Link, bill: Bill) -> Published:
    return await link.provider.publish_bill(grant=link.grant, company=link.company, bill=bill)


async def _claim(
    acc: Accounting, session: AsyncSession, workspace_id: int, document_id: int, force: bool
) -> _Claim | PublishOutcome:
    document = await session.get(Document, document_id)
    if document is None or document.workspace_id != workspace_id:
        raise NotFound(kind="document", ident=document_id)
    integration = await current_integration(session=session, workspace_id=workspace_id)
    if integration is None:
        raise NoIntegration()
    assert integration.id is not None
    if integration.state == IntegrationState.PENDING:
        raise IntegrationNotUsable(provider=integration.provider, state=str(integration.state))
    publication = (
        await session.exec(
            select(Publication)
            .where(
                Publication.integration_id == integration.id,
                Publication.document_id == document_id,
            )
            .with_for_update()
        )
    ).first()
    now = utcnow()
    if publication is not None and publication.state == PS.PUBLISHED:
        return _outcome(publication)
    if document.state == DocumentState.PUBLISHED:
        return PublishOutcome(document_id, "published", reason="published_elsewhere")
    if (
        publication is not None
        and publication.state == PS.PENDING
        and publication.claimed_until is not None
        and publication.claimed_until > now
    ):
        return PublishOutcome(document_id, "in_progress")
    if (
        not force
        and publication is not None
        and publication.state == PS.WAITING
        and (publication.next_try_at is None or publication.next_try_at > now)
    ):
        return _outcome(publication)
    if document.state == DocumentState.FAILED:
        move_document(document, DocumentState.INBOX)  # asked again: a person fixed it

    missing = _missing_field(document)
    if missing is not None:
        _move(document, DocumentState.NEEDS_REVIEW, missing)
        session.add(document)
        return PublishOutcome(document_id, "needs_review", reason=missing)
    assert document.supplier_name is not None
    rule = await _rule_for(session, document)
    if rule is None or not rule.account_code:
        _move(document, DocumentState.NEEDS_REVIEW, "missing_account")
        session.add(document)
        return PublishOutcome(document_id, "needs_review", reason="missing_account")
    read = _vat_lines(document)
    gross = rule.tax_rate_code is None and getattr(
        acc.providers.get(integration.provider), "gross_without_tax_code", False
    )
    lines = (
        read
        if gross
        else assign_codes(
            read,
            await load_tax_codes(session=session, integration_id=integration.id),
            rule.tax_rate_code,
            rule.tax_codes,
        )
    )
    if isinstance(lines, Unmapped):
        # Never another rate's code: a person adds the code in the software (then reloads
        # the lists) or corrects the rate read, and publishes again.
        _move(document, DocumentState.NEEDS_REVIEW, UNMAPPED_REASON)
        session.add(document)
        await session.flush()
        await announce_review(session=session, document=document)
        return PublishOutcome(
            document_id, "needs_review", reason=UNMAPPED_REASON, detail=_percent(lines.rate)
        )
    if publication is None:
        publication = Publication(
            workspace_id=workspace_id,
            integration_id=integration.id,
            document_id=document_id,
            idempotency_key=idempotency_key(
                document_sha256=document.sha256,
                document_id=document_id,
                company_id=integration.company_id or "",
            ),
        )
    flag = rule.flagged or await _deleted_code(session, integration.id, rule)
    if flag is not None:
        rule.flagged = flag
        session.add(rule)
        return await _hold(session, document, publication, reason=f"rule_{flag}")
    if integration.state == IntegrationState.EXPIRED:
        outcome = await _hold(session, document, publication, reason=EXPIRED_REASON)
        await refresh_expiry_alert(session=session, integration=integration)
        return outcome
    # An unpublished publication holds a bill's id only when its file failed to follow
    # (whatever happened since, e.g. an expiry): the software has the bill, send the file.
    existing = publication.external_id
    publication.state = PS.PENDING
    publication.reason = None
    publication.detail = None
    publication.claimed_until = now + CLAIM
    publication.next_try_at = None
    publication.attempts += 1
    session.add(publication)
    await session.flush()
    assert publication.id is not None
    content = await acc.store.get(document.sha256)
    contact = rule.contact_code or await _contact_code(session, integration.id, rule.party_name)
    bill = _bill(document, rule, publication.idempotency_key, contact, content, lines)
    if existing:
        bill = replace(bill, existing_id=existing)
    return _Claim(publication.id, integration.id, bill)


async def _hold(
    session: AsyncSession, document: Document, publication: Publication, *, reason: str
) -> PublishOutcome:
    publication.state = PS.BLOCKED
    publication.reason = reason
    publication.claimed_until = None
    session.add(publication)
    _move(document, DocumentState.BLOCKED, reason)
    session.add(document)
    await session.flush()
    return PublishOutcome(document.id or 0, "blocked", reason=reason)


async def _settle(
    acc: Accounting,
    claim: _Claim,
    state: PublicationState,
    *,
    reason: str | None = None,
    detail: str | None = None,
    #: Seconds the software asked to wait (a 429's Retry-After), instead of the back-off.
    retry_after: float | None = None,
    published: Published | None = None,
    announce: bool = False,
    external_id: str | None = None,
    review: bool = False,
) -> PublishOutcome:
    now = utcnow()
    async with acc.db.transaction() as session:
        publication = await session.get(Publication, claim.publication_id)
        assert publication is not None
        document = await session.get(Document, publication.document_id)
        assert document is not None
        publication.state = state
        publication.reason = reason
        publication.detail = detail[:500] if detail else None
        publication.claimed_until = None
        if state == PS.PUBLISHED:
            assert published is not None
            publication.external_id = published.external_id[:200]
            publication.location = (published.location or "")[:500] or None
            publication.published_at = now
            _move(document, DocumentState.PUBLISHED, None)
        elif state == PS.WAITING:
            publication.next_try_at = now + PUBLISHING.wait(publication.attempts, retry_after)
            if external_id:
                publication.external_id = external_id[:200]
        elif state == PS.BLOCKED:
            _move(document, DocumentState.BLOCKED, reason)
        elif state == PS.FAILED and review:
            _move(document, DocumentState.NEEDS_REVIEW, reason)
        elif state == PS.FAILED:
            _move(document, DocumentState.FAILED, f"{REFUSED_PREFIX}{reason}")
        session.add(publication)
        session.add(document)
        await session.flush()
        if review:
            await announce_review(session=session, document=document)
            return replace(_outcome(publication), state="needs_review")
        if state == PS.FAILED and announce:
            assert document.id is not None
            refusal = Refusal(
                document.id,
                document.filename,
                document.supplier_name or "",
                reason or "",
                publication.detail or "",
            )
            await announce_refusal(
                session=session, document=document, refusal=refusal, attempt=publication.attempts
            )
        if state == PS.BLOCKED and reason == EXPIRED_REASON:
            integration = await session.get(Integration, claim.integration_id)
            assert integration is not None
            await refresh_expiry_alert(session=session, integration=integration)
        return _outcome(publication)


def _outcome(publication: Publication) -> PublishOutcome:
    return PublishOutcome(
        publication.document_id,
        str(publication.state),
        reason=publication.reason,
        external_id=publication.external_id,
        location=publication.location,
        detail=publication.detail,
    )


def _move(document: Document, target: DocumentState, reason: str | None) -> None:
    if document.state != target:
        move_document(document, target, reason=reason)
    document.state_reason = reason


def _missing_field(document: Document) -> str | None:
    if document.total_amount is None:
        return "missing_total"
    if not document.supplier_name:
        return "missing_supplier"
    if _issue_date(document) is None:
        return "missing_date"
    return None


async def _rule_for(session: AsyncSession, document: Document) -> Rule | None:
    assert document.supplier_name is not None
    rules = (
        await session.exec(select(Rule).where(Rule.workspace_id == document.workspace_id))
    ).all()
    key = fold(document.supplier_name)
    by_name = next((r for r in rules if r.party_key == key), None)
    if by_name is not None or document.supplier_id is None:
        return by_name
    return next((r for r in rules if r.supplier_id == document.supplier_id), None)


async def _deleted_code(session: AsyncSession, integration_id: int, rule: Rule) -> str | None:
    """A code the loaded lists no longer hold: the rule would publish to a ghost account."""
    for kind, code, flag in (
        (ListKind.ACCOUNTS, rule.account_code, FLAG_ACCOUNT_DELETED),
        (ListKind.TAX_RATES, rule.tax_rate_code, FLAG_TAX_RATE_DELETED),
    ):
        if not code:
            continue
        loaded = (
            await session.exec(
                select(ListLoad.id).where(
                    ListLoad.integration_id == integration_id, ListLoad.kind == kind
                )
            )
        ).first()
        if loaded is None:
            continue  # never loaded: nothing to judge by
        found = (
            await session.exec(
                select(ListEntry.id).where(
                    ListEntry.integration_id == integration_id,
                    ListEntry.kind == kind,
                    ListEntry.code == code,
                )
            )
        ).first()
        if found is None:
            return flag
    return None


async def _contact_code(session: AsyncSession, integration_id: int, name: str) -> str | None:
    entries = (
        await session.exec(
            select(ListEntry).where(
                ListEntry.integration_id == integration_id,
                ListEntry.kind == ListKind.SUPPLIERS,
            )
        )
    ).all()
    key = fold(name)
    return next((e.code for e in entries if fold(e.name) == key), None)


def _field(document: Document, name: str) -> Any:
    item = (document.fields or {}).get(name)
    return item.get("value") if isinstance(item, dict) else None


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None else None
    except InvalidOperation:
        return None


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _issue_date(document: Document) -> date | None:
    return document.issue_date or _date(_field(document, "issue_date"))


def document_vat_lines(document: Document) -> tuple[VatLine, ...]:
    """The VAT lines a bill of `document` would carry, before their codes."""
    return _vat_lines(document)


def _vat_lines(document: Document) -> tuple[VatLine, ...]:
    """The VAT lines read, as positive amounts (a credit note's page often prints them
    negative; `_is_credit_note` keeps the direction)."""
    raw = _field(document, "vat_lines")
    lines: list[VatLine] = []
    for item in raw if isinstance(raw, list) else []:
        rate, tax = _decimal(item.get("rate")), _decimal(item.get("amount"))
        if rate is None or tax is None:
            continue
        base = _decimal(item.get("base"))
        if base is None:
            base = (tax * 100 / rate).quantize(Decimal("0.01")) if rate else Decimal(0)
        lines.append(VatLine(rate=abs(rate), base=abs(base), tax=abs(tax)))
    return tuple(lines)


def _is_credit_note(document: Document) -> bool:
    """An e-invoice's type (UBL CreditNote, CII 381...), a page titled "Avoir", or a
    negative total (a supplier's API gives a refund so) make it a credit note."""
    if _field(document, "document_type") == CREDIT_NOTE:
        return True
    return document.total_amount is not None and document.total_amount < 0


def _totals(document: Document, lines: tuple[VatLine, ...]) -> tuple[Decimal, Decimal]:
    """Excl. and tax that add up to the total (all positive, a credit note's too); with no
    VAT read, none is invented."""
    assert document.total_amount is not None
    incl = abs(document.total_amount)
    excl, tax = (
        _decimal(_field(document, "total_excl_tax")),
        _decimal(_field(document, "total_tax")),
    )
    excl = abs(excl) if excl is not None else None
    tax = abs(tax) if tax is not None else None
    if excl is not None and tax is not None and excl + tax == incl:
        return excl, tax
    if lines and sum(line.tax for line in lines) + sum(line.base for line in lines) == incl:
        return sum((line.base for line in lines), Decimal(0)), sum(
            (line.tax for line in lines), Decimal(0)
        )
    if tax is not None and tax <= incl:
        return incl - tax, tax
    return incl, Decimal(0)


def _percent(rate: Decimal) -> str:
    text = f"{rate.normalize():f}"
    return f"{text} %"


def _bill(
    document: Document,
    rule: Rule,
    key: str,
    contact: str | None,
    content: bytes,
    lines: tuple[VatLine, ...],
) -> Bill:
    """`lines` carry each rate's code (`assign_codes`); the rule gives the account, and its
    tax code is the bill's only when no VAT line was read."""
    assert document.id is not None
    assert rule.account_code is not None
    assert document.supplier_name is not None
    assert document.total_amount is not None
    issue = _issue_date(document)
    assert issue is not None
    excl, tax = _totals(document, lines)
    number = _field(document, "invoice_number") or document.external_ref
    return Bill(
        document_id=document.id,
        idempotency_key=key,
        supplier_name=document.supplier_name,
        supplier_code=contact,
        number=str(number) if number else None,
        issue_date=issue,
        due_date=_date(_field(document, "due_date")),
        currency=(document.currency or DEFAULT_CURRENCY).upper(),
        total_excl=excl,
        total_tax=tax,
        total_incl=abs(document.total_amount),
        vat_lines=lines,
        account_code=rule.account_code,
        tax_rate_code=rule.tax_rate_code,
        file=BillFile(
            content=content, filename=document.filename, content_type=document.content_type
        ),
        credit_note=_is_credit_note(document),
    )


# --- Many at once ---------------------------------------------------------------------------


async def publish_ready(acc: Accounting, *, workspace_id: int) -> list[PublishOutcome]:
    """Every document ready to go (`ready_documents`), oldest first."""
    async with acc.db.read() as session:
        if await current_integration(session=session, workspace_id=workspace_id) is None:
            raise NoIntegration()
        ids = [
            d.id
            for d in await ready_documents(session=session, workspace_id=workspace_id)
            if d.id is not None
        ]
    return [
        await publish_document(acc, workspace_id=workspace_id, document_id=i, force=False)
        for i in ids
    ]


async def ready_documents(
    *, session: AsyncSession, workspace_id: int, party_key: str | None = None
) -> list[Document]:
    """The documents a publish would send now, oldest first: in the inbox and read (or
    given their amount and supplier by hand), and those held for want of a usable rule
    (no account, or a flagged rule) that their supplier's rule now gives. With
    `party_key` (a folded supplier name), that supplier's only."""
    documents = (
        await session.exec(
            select(Document)
            .where(
                Document.workspace_id == workspace_id,
                col(Document.state).in_(
                    (DocumentState.INBOX, DocumentState.BLOCKED, DocumentState.NEEDS_REVIEW)
                ),
            )
            .order_by(col(Document.received_at), col(Document.id))
        )
    ).all()
    ready: list[Document] = []
    for document in documents:
        if document.state == DocumentState.INBOX:
            if not _is_ready(document):
                continue
        elif document.state_reason == UNMAPPED_REASON:
            if not await _codes_now(session, document):
                continue
        elif not held_by_rule(document) or await usable_rule(session, document) is None:
            continue
        if party_key is not None:
            rule = await _rule_for(session, document) if document.supplier_name else None
            if rule is None or rule.party_key != party_key:
                continue
        ready.append(document)
    return ready


async def _codes_now(session: AsyncSession, document: Document) -> bool:
    """Held for a rate without a tax code: whether the lists loaded since have one for
    every rate (the person added it in the software and pressed "Refresh all data")."""
    rule = await usable_rule(session, document)
    integration = await current_integration(session=session, workspace_id=document.workspace_id)
    if rule is None or integration is None or integration.id is None:
        return False
    codes = await load_tax_codes(session=session, integration_id=integration.id)
    lines = assign_codes(_vat_lines(document), codes, rule.tax_rate_code, rule.tax_codes)
    return not isinstance(lines, Unmapped)


def _is_ready(document: Document) -> bool:
    """Read (a reading that failed does not count), or given its amount and supplier."""
    marker = (document.fields or {}).get(READ_MARKER)
    read = isinstance(marker, dict) and "error" not in marker
    return read or (document.total_amount is not None and bool(document.supplier_name))


async def publish_blocked(acc: Accounting, *, integration_id: int) -> list[PublishOutcome]:
    """After a reconnect: what the expiry blocked goes out, in the order it was blocked."""
    async with acc.db.read() as session:
        rows = (
            await session.exec(
                select(Publication.document_id, Publication.workspace_id)
                .where(
                    Publication.integration_id == integration_id,
                    Publication.state == PS.BLOCKED,
                    Publication.reason == EXPIRED_REASON,
                )
                .order_by(col(Publication.id))
            )
        ).all()
    return [
        await publish_document(acc, workspace_id=workspace, document_id=document)
        for document, workspace in rows
    ]


async def retry_due(
    acc: Accounting, *, now: datetime | None = None, limit: int = 50
) -> list[PublishOutcome]:
    """Publications waiting out a 429 or an outage whose time has come, and claims a dead
    process left behind (their key makes the retry safe)."""
    now = now or utcnow()
    async with acc.db.read() as session:
        rows = (
            await session.exec(
                select(Publication.document_id, Publication.workspace_id)
                .where(
                    ((col(Publication.state) == PS.WAITING) & (col(Publication.next_try_at) <= now))
                    | (
                        (col(Publication.state) == PS.PENDING)
                        & (col(Publication.claimed_until) <= now)
                    )
                )
                .order_by(col(Publication.next_try_at), col(Publication.id))
                .limit(limit)
            )
        ).all()
    outcomes: list[PublishOutcome] = []
    for document, workspace in rows:
        try:
            outcomes.append(
                await publish_document(acc, workspace_id=workspace, document_id=document)
            )
        except (NoIntegration, IntegrationNotUsable, NotFound):
            continue  # disconnected meanwhile: the documents went back to the inbox
    return outcomes


async def on_document_ready(acc: Accounting, *, document_id: int) -> PublishOutcome | None:
    """The auto-publish hook: publish now if the supplier's rule says so (or a publish
    already asked for it and sent it to review) and a link is live. Call it after the
    transaction that made the document ready has committed (reading done, a review
    answered, a hand upload with its amount)."""
    async with acc.db.read() as session:
        document = await session.get(Document, document_id)
        if document is None or document.state not in (
            DocumentState.INBOX,
            DocumentState.NEEDS_REVIEW,
        ):
            return None
        if not document.supplier_name or not _is_ready(document):
            return None
        rule = await _rule_for(session, document)
        integration = await current_integration(session=session, workspace_id=document.workspace_id)
        # A document a publish already sent to review goes as soon as the answer makes it
        # whole; any other needs its rule to say "auto-publish".
        asked = document.state == DocumentState.NEEDS_REVIEW and (
            document.state_reason in REVIEW_REASONS
        )
        if rule is None or integration is None or not (rule.auto_publish or asked):
            return None
        if integration.state == IntegrationState.PENDING:
            return None
        workspace_id = document.workspace_id
    return await publish_document(
        acc, workspace_id=workspace_id, document_id=document_id, force=False
    )


async def publish_auto_ready(acc: Accounting, *, limit: int = 50) -> list[PublishOutcome]:
    """The scheduler's sweep for the same hook, whichever path brought the documents in:
    ready documents whose rule auto-publishes, and documents a publish sent to review
    whose missing field has since been given."""
    async with acc.db.read() as session:
        rules = (await session.exec(select(Rule).where(col(Rule.auto_publish).is_(True)))).all()
        wanted = {(r.workspace_id, r.party_key) for r in rules if not r.flagged}
        documents = (
            await session.exec(
                select(Document)
                .where(
                    (col(Document.state) == DocumentState.INBOX)
                    | (
                        (col(Document.state) == DocumentState.NEEDS_REVIEW)
                        & col(Document.state_reason).in_(REVIEW_REASONS)
                    )
                )
                .order_by(col(Document.received_at), col(Document.id))
            )
        ).all()
        candidates = [
            d.id
            for d in documents
            if d.id is not None
            and d.supplier_name
            and _is_ready(d)
            and (
                (d.workspace_id, fold(d.supplier_name)) in wanted
                if d.state == DocumentState.INBOX
                else _missing_field(d) is None
            )
        ][:limit]
    outcomes: list[PublishOutcome] = []
    for document_id in candidates:
        try:
            outcome = await on_document_ready(acc, document_id=document_id)
        except (NoIntegration, IntegrationNotUsable):
            continue
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes
