"""What a document's state means, as a person should read it: a key and its parameters.

A bill the software refused says so, with the software's own reason (kept on its
Publication); a file that could not be read says why; the other states keep their plain
label (`inbox.state_<state>`). Lists read these labels, so /inbox never calls a refused
bill "unreadable".
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.flows.steps import Text
from core.models import Document, DocumentState, Publication
from core.models.document import READ_MARKER

#: A document the software refused is `failed` with this prefix and Courier's reason
#: (`publication_rejected`, `publication_duplicate`); the software's words are on its
#: Publication (`detail`).
REFUSED_PREFIX = "publication_"


async def state_labels(*, session: AsyncSession, documents: Sequence[Document]) -> dict[int, Text]:
    """Each document's state as a person should read it, as a key and its parameters: a
    bill the software refused says so, with the software's reason; a file that could not
    be read says why; the other states keep their plain label (`inbox.state_<state>`)."""
    refused = [
        d.id
        for d in documents
        if d.id is not None
        and d.state == DocumentState.FAILED
        and (d.state_reason or "").startswith(REFUSED_PREFIX)
    ]
    details: dict[int, str] = {}
    if refused:
        rows = await session.exec(
            select(Publication.document_id, Publication.detail)
            .where(col(Publication.document_id).in_(refused))
            .order_by(col(Publication.id))
        )
        details = {document_id: detail or "" for document_id, detail in rows.all()}
    return {d.id: state_label(d, details.get(d.id, "")) for d in documents if d.id is not None}


def state_label(document: Document, detail: str = "") -> Text:
    """One document's label (see `state_labels`); `detail` is the software's refusal."""
    state, reason = DocumentState(document.state), document.state_reason or ""
    if state == DocumentState.FAILED and reason.startswith(REFUSED_PREFIX):
        why = reason.removeprefix(REFUSED_PREFIX)
        return Text("outcomes.state_refused", {"reason": why, "detail": detail or why})
    marker = (document.fields or {}).get(READ_MARKER)
    unread = marker.get("error") if isinstance(marker, dict) else None
    if unread and state in (DocumentState.FAILED, DocumentState.INBOX):
        return Text("outcomes.state_unreadable", {"reason": str(unread)})
    if state == DocumentState.FAILED:
        return Text("outcomes.state_refused_by_you", {"reason": reason})
    if state == DocumentState.BLOCKED:
        return Text("outcomes.state_blocked", {"reason": reason})
    return Text(f"inbox.state_{state}")
