"""Telling people what became of their documents: the outbox kinds of issue #14's
"every outcome is told".

- `document_unreadable`: a document the reader could not read, to the person who sent it
  (else the owners and admins), with the reason as a key the bot words with what to do;
- `publication_refused`: the accounting software refused a bill, to the owners and admins,
  with the software's own reason and a Retry button;
- `publish_report`: what a publish someone asked for did (bills written, refused, waiting,
  held), to that person, with Retry for the refused ones.

Each notice is written in the transaction that decided the outcome, so it is told once if
that commits and never if it rolls back. Payloads are typed values here (`load` reads them
back for the bot), never dicts passed around by convention.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from core.models import Document, Notification
from core.services.notifications import enqueue

UNREADABLE = "document_unreadable"
REFUSED = "publication_refused"
REPORT = "publish_report"


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _str(value: Any) -> str:
    return "" if value is None else str(value)


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A document the reader gave up on, and the reader's reason (`unreadable_pdf`...)."""

    document_id: int
    filename: str
    reason: str

    def payload(self) -> dict[str, Any]:
        return {"document_id": self.document_id, "filename": self.filename, "reason": self.reason}

    @classmethod
    def load(cls, payload: Mapping[str, Any]) -> Unreadable:
        return cls(
            _int(payload.get("document_id")),
            _str(payload.get("filename")),
            _str(payload.get("reason")),
        )


@dataclass(frozen=True, slots=True)
class Refusal:
    """A bill the software refused: `reason` is Courier's key (`rejected`, `duplicate`),
    `detail` the software's own words ("inactive account Liabilities:AccountsPayable")."""

    document_id: int
    filename: str
    supplier: str
    reason: str
    detail: str

    def payload(self) -> dict[str, Any]:
        return {
            "document_id": self.document_id,
            "filename": self.filename,
            "supplier": self.supplier,
            "reason": self.reason,
            "detail": self.detail,
        }

    @classmethod
    def load(cls, payload: Mapping[str, Any]) -> Refusal:
        return cls(
            _int(payload.get("document_id")),
            _str(payload.get("filename")),
            _str(payload.get("supplier")),
            _str(payload.get("reason")),
            _str(payload.get("detail")),
        )


@dataclass(frozen=True, slots=True)
class Report:
    """What one publish did, document by document, counted for a person."""

    written: int = 0
    refused: tuple[Refusal, ...] = ()
    #: The software did not answer (429, outage): retried by the scheduler.
    waiting: int = 0
    #: Sent to review by the publish (an amount, a date, an account is missing).
    review: int = 0
    #: Held: the link expired, or the supplier's rule cannot be applied.
    held: int = 0
    #: Already in the books (published before, or by another process meanwhile).
    already: int = 0
    #: Could not be tried at all: the link is gone or not ready (`errors.<key>`).
    failed_key: str | None = None
    failed: int = 0
    #: Why this publish ran: "asked" (/publish, Retry) or "rule" (a rule just saved).
    occasion: str = "asked"
    supplier: str = ""

    def payload(self) -> dict[str, Any]:
        return {
            "written": self.written,
            "refused": [r.payload() for r in self.refused],
            "waiting": self.waiting,
            "review": self.review,
            "held": self.held,
            "already": self.already,
            "failed_key": self.failed_key,
            "failed": self.failed,
            "occasion": self.occasion,
            "supplier": self.supplier,
        }

    @classmethod
    def load(cls, payload: Mapping[str, Any]) -> Report:
        refused = payload.get("refused") or ()
        return cls(
            written=_int(payload.get("written")),
            refused=tuple(Refusal.load(r) for r in refused if isinstance(r, Mapping)),
            waiting=_int(payload.get("waiting")),
            review=_int(payload.get("review")),
            held=_int(payload.get("held")),
            already=_int(payload.get("already")),
            failed_key=payload.get("failed_key") or None,
            failed=_int(payload.get("failed")),
            occasion=_str(payload.get("occasion")) or "asked",
            supplier=_str(payload.get("supplier")),
        )

    @property
    def tried(self) -> int:
        return (
            self.written
            + len(self.refused)
            + self.waiting
            + self.review
            + self.held
            + self.already
            + self.failed
        )


async def announce_unreadable(
    *, session: AsyncSession, document: Document, reason: str
) -> Notification:
    """The person who sent the document (else the owners and admins) learns it cannot be
    read, and why; once per document."""
    assert document.id is not None
    notice = Unreadable(document.id, document.filename, reason)
    return await enqueue(
        session=session,
        kind=UNREADABLE,
        workspace_id=document.workspace_id,
        recipient_member_id=document.owner_member_id,
        payload=notice.payload(),
        dedupe_key=f"document:{document.id}:unreadable",
    )


async def announce_refusal(
    *, session: AsyncSession, document: Document, refusal: Refusal, attempt: int
) -> Notification:
    """The owners and admins learn the software refused a bill; once per attempt, so a
    Retry that is refused again is told again."""
    return await enqueue(
        session=session,
        kind=REFUSED,
        workspace_id=document.workspace_id,
        payload=refusal.payload(),
        dedupe_key=f"document:{refusal.document_id}:refused:{attempt}",
    )


async def send_report(
    *, session: AsyncSession, workspace_id: int, recipient_member_id: int | None, report: Report
) -> Notification:
    """What a publish did, to the person who asked for it (or the owners and admins)."""
    return await enqueue(
        session=session,
        kind=REPORT,
        workspace_id=workspace_id,
        recipient_member_id=recipient_member_id,
        payload=report.payload(),
    )
