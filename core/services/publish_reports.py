"""Publishing what a person asks for, and telling them what it did.

A publish asked for in the chat (`/publish`, a Retry button, a rule saved with
auto-publish) first makes a plan in the update's transaction (`plan_publish`: what is
ready, what was refused, what stands in the way), then publishes once that committed
(`publish_and_report`: the software is called outside any transaction, as
core/services/publishing.py requires) and writes one report to the outbox for the person
who asked: bills written, refused with the software's own reason, waiting, held. Nothing
goes out silently, and nothing is told twice: the refusals of such a publish are in the
report, not in a second notice to the same people.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.errors import CourierError, NotFound
from core.models import (
    Document,
    DocumentState,
    IntegrationState,
)
from core.permissions import Action, Who, require
from core.services.accounting import Accounting
from core.services.document_labels import REFUSED_PREFIX
from core.services.integrations import current_integration
from core.services.outcome_notices import Refusal, Report, send_report
from core.services.publishing import (
    PublishOutcome,
    publish_document,
    ready_documents,
)

log = logging.getLogger(__name__)

#: Suppliers named in a plan, at most; the rest are counted.
NAMED_SUPPLIERS = 5


@dataclass(frozen=True, slots=True)
class Plan:
    """What a publish would do now, for a person to confirm."""

    ready: tuple[int, ...] = ()
    #: The ready documents' suppliers, the first few, by name.
    suppliers: tuple[str, ...] = ()
    #: Documents the software refused, which a Retry sends again.
    refused: tuple[int, ...] = ()
    #: Documents waiting for someone's review before they can go.
    review: int = 0
    #: Why nothing can go now: no_integration, link_pending, link_expired.
    blocked: str | None = None


async def link_problem(*, session: AsyncSession, workspace_id: int) -> str | None:
    """Why the workspace's accounting link cannot take a bill now, as a key, or None."""
    integration = await current_integration(session=session, workspace_id=workspace_id)
    if integration is None:
        return "no_integration"
    if integration.state == IntegrationState.PENDING:
        return "link_pending"
    if integration.state == IntegrationState.EXPIRED:
        return "link_expired"
    return None


async def refused_documents(*, session: AsyncSession, workspace_id: int) -> list[Document]:
    """The documents the software refused, oldest first: a person may send them again."""
    query = (
        select(Document)
        .where(
            Document.workspace_id == workspace_id,
            Document.state == DocumentState.FAILED,
            col(Document.state_reason).startswith(REFUSED_PREFIX),
        )
        .order_by(col(Document.received_at), col(Document.id))
    )
    return list((await session.exec(query)).all())


async def plan_publish(*, session: AsyncSession, by: Who, workspace_id: int) -> Plan:
    """What is ready to publish, what was refused, and what is in the way (PUBLISH)."""
    require(by, Action.PUBLISH, workspace_id=workspace_id)
    problem = await link_problem(session=session, workspace_id=workspace_id)
    if problem is not None:
        return Plan(blocked=problem)
    ready = await ready_documents(session=session, workspace_id=workspace_id)
    refused = await refused_documents(session=session, workspace_id=workspace_id)
    review = (
        await session.exec(
            select(func.count())
            .select_from(Document)
            .where(
                Document.workspace_id == workspace_id,
                Document.state == DocumentState.NEEDS_REVIEW,
            )
        )
    ).one()
    names = list(dict.fromkeys(d.supplier_name for d in ready if d.supplier_name))
    return Plan(
        ready=tuple(d.id for d in ready if d.id is not None),
        suppliers=tuple(names),
        refused=tuple(d.id for d in refused if d.id is not None),
        review=int(review),
    )


async def plan_retry(
    *, session: AsyncSession, by: Who, workspace_id: int, document_id: int
) -> tuple[int, ...]:
    """The one document a Retry names, if it is this workspace's and the books refused it
    (or it is ready now). Nothing else: a document failed for another reason, such as bank
    details a person refused, is never sent by a press."""
    require(by, Action.PUBLISH, workspace_id=workspace_id)
    document = await session.get(Document, document_id)
    if document is None or document.workspace_id != workspace_id:
        raise NotFound(kind="document", ident=document_id)
    refused = document.state == DocumentState.FAILED and (document.state_reason or "").startswith(
        REFUSED_PREFIX
    )
    if refused:
        return (document_id,)
    ready = await ready_documents(session=session, workspace_id=workspace_id)
    return (document_id,) if any(d.id == document_id for d in ready) else ()


async def publish_and_report(
    acc: Accounting,
    *,
    workspace_id: int,
    document_ids: Sequence[int],
    recipient_member_id: int | None,
    occasion: str = "asked",
    supplier: str = "",
) -> Report:
    """Publish these documents now, in order, then write one report to the outbox for
    the person who asked. Run it after the transaction that planned it committed: each
    publish opens its own. A failure of one document never stops the others, and the
    report is written whatever happened."""
    outcomes: list[PublishOutcome] = []
    failed_key: str | None = None
    failed = 0
    for document_id in document_ids:
        if failed_key in ("integration_missing", "integration_not_usable"):
            failed += 1  # the link is gone: the next ones would fail the same way
            continue
        try:
            outcomes.append(
                await publish_document(
                    acc, workspace_id=workspace_id, document_id=document_id, announce=False
                )
            )
        except NotFound:
            continue  # deleted meanwhile
        except CourierError as err:
            failed_key, failed = failed_key or err.key, failed + 1
        except Exception:
            log.exception("publishing document %s failed", document_id)
            failed_key, failed = failed_key or "error", failed + 1
    async with acc.db.transaction() as session:
        report = replace(
            await _report(session, outcomes, occasion=occasion, supplier=supplier),
            failed_key=failed_key,
            failed=failed,
        )
        await send_report(
            session=session,
            workspace_id=workspace_id,
            recipient_member_id=recipient_member_id,
            report=report,
        )
    return report


async def _report(
    session: AsyncSession, outcomes: Sequence[PublishOutcome], *, occasion: str, supplier: str
) -> Report:
    counts = {"written": 0, "waiting": 0, "review": 0, "held": 0, "already": 0}
    refused: list[Refusal] = []
    for outcome in outcomes:
        if outcome.state == "published":
            key = "already" if outcome.reason == "published_elsewhere" else "written"
            counts[key] += 1
        elif outcome.state == "failed":
            document = await session.get(Document, outcome.document_id)
            refused.append(
                Refusal(
                    outcome.document_id,
                    document.filename if document else "",
                    (document.supplier_name or "") if document else "",
                    outcome.reason or "",
                    outcome.detail or "",
                )
            )
        elif outcome.state in ("waiting", "in_progress"):
            counts["waiting"] += 1
        elif outcome.state == "needs_review":
            counts["review"] += 1
        else:
            counts["held"] += 1
    return Report(
        written=counts["written"],
        refused=tuple(refused),
        waiting=counts["waiting"],
        review=counts["review"],
        held=counts["held"],
        already=counts["already"],
        occasion=occasion,
        supplier=supplier,
    )
