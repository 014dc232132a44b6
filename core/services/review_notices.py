"""Telling people that a document waits for their review (outbox kind
`document_needs_review`), once per document and reason, in the transaction that held it;
and, once a review made it ready, what publishing it did (`document_reviewed`)."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from core.models import Document, DocumentState, Notification
from core.services.notifications import enqueue

KIND = "document_needs_review"
#: Held for a confirmation only owners and admins may give (core/permissions.py,
#: CONFIRM_TRUST; core.services.review.CONFIRMATIONS), or for a tax code or a currency
#: setting of the books (core/services/publish_questions.py: MANAGE_RULES, PUBLISH):
#: they are asked, not the sender.
FOR_MANAGERS: frozenset[str] = frozenset(
    {
        "new_iban",
        "sender_unauthenticated",
        "vat_rate_unmapped",
        "tax_code_missing",
        "currency_not_enabled",
    }
)


def review_dedupe_key(document: Document) -> str:
    return f"document:{document.id}:needs_review:{document.state_reason or ''}"


async def announce_review(*, session: AsyncSession, document: Document) -> Notification | None:
    """The person who sent the document (else, and for a confirmation of trust, the owners
    and admins) is asked to review it; held again for the same reason, it is not
    announced twice."""
    if document.state != DocumentState.NEEDS_REVIEW or document.id is None:
        return None
    return await enqueue(
        session=session,
        kind=KIND,
        workspace_id=document.workspace_id,
        recipient_member_id=(
            None if document.state_reason in FOR_MANAGERS else document.owner_member_id
        ),
        payload={
            "document_id": document.id,
            "filename": document.filename,
            "reason": document.state_reason,
        },
        dedupe_key=review_dedupe_key(document),
    )


#: What became of a document once its review made it ready (published, or why not).
OUTCOME_KIND = "document_reviewed"


async def announce_review_outcome(
    *,
    session: AsyncSession,
    workspace_id: int,
    member_id: int | None,
    document_id: int,
    filename: str,
    state: str,
    reason: str | None,
) -> Notification:
    """Tell the person who answered a review what publishing the document then did:
    "published", or the state it is left in and why (failed, blocked, waiting...)."""
    return await enqueue(
        session=session,
        kind=OUTCOME_KIND,
        workspace_id=workspace_id,
        recipient_member_id=member_id,
        payload={
            "document_id": document_id,
            "filename": filename,
            "state": state,
            "reason": reason,
        },
    )
