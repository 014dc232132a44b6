"""What a publish that sent a document to review asks the person, and the answers that set
it right, so that the document is then published.

- A VAT rate the software has no tax code for (`vat_rate_unmapped`), or a line the
  software wants a code on and Courier has none for (`tax_code_missing`): "Which tax code
  for 8.5 %?", with the software's purchase codes as buttons (those of that rate first).
  The answer is the supplier's, per rate (the rule's `tax_codes`; the rule's one code
  when the bill has no VAT line), so the next bill is not asked about. The person may
  also add the code in the software and have the tax list reloaded.
- A currency the company does not keep (`currency_not_enabled`, QuickBooks with
  multicurrency off): "I turned multicurrency on: try again", which reads the company's
  setup again before the retry.

Answering needs the rule-keeping role (Action.MANAGE_RULES): it changes the supplier's
rule. A code the software no longer lists is refused (`AnswerInvalid`, `code_gone`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.errors import AnswerInvalid
from core.models import Document, DocumentState, ListEntry, ListKind, Rule
from core.models.base import utcnow
from core.permissions import Action, Who, require
from core.services.documents import get_document, move_document
from core.services.integrations import current_integration
from core.services.publishing import document_vat_lines
from core.services.rules import usable_rule
from core.services.tax_codes import (
    UNMAPPED_REASON,
    Unmapped,
    assign_codes,
    load_tax_codes,
    rate_key,
    tax_code_of,
)

TAX_CODE_MISSING = "tax_code_missing"
CURRENCY_NOT_ENABLED = "currency_not_enabled"
TAX_REASONS: frozenset[str] = frozenset({UNMAPPED_REASON, TAX_CODE_MISSING})
#: The review reasons a publish gives that this module asks about.
ASKED: frozenset[str] = TAX_REASONS | {CURRENCY_NOT_ENABLED}
#: Buttons are few: the codes of the rate first, then the others, as the software lists them.
MAX_CHOICES = 12


@dataclass(frozen=True, slots=True)
class TaxChoice:
    code: str
    name: str
    rate: Decimal | None


@dataclass(frozen=True, slots=True)
class PublishQuestion:
    """One question: `kind` is "tax_code" or "currency"; for a tax code, `rate` is the
    rate to code (None: the bill's one code, it has no VAT line) and `choices` the
    software's purchase codes offered."""

    document_id: int
    reason: str
    kind: str
    rate: Decimal | None = None
    choices: tuple[TaxChoice, ...] = ()
    currency: str | None = None


async def publish_question(*, session: AsyncSession, document: Document) -> PublishQuestion | None:
    """What to ask about `document`, held by a publish for a reason a person can set
    right; None for any other document (or one whose link is gone)."""
    reason = document.state_reason or ""
    if document.state != DocumentState.NEEDS_REVIEW or reason not in ASKED or not document.id:
        return None
    if reason == CURRENCY_NOT_ENABLED:
        return PublishQuestion(document.id, reason, "currency", currency=document.currency)
    integration = await current_integration(session=session, workspace_id=document.workspace_id)
    rule = await usable_rule(session, document)
    if integration is None or integration.id is None or rule is None:
        return None
    codes = await load_tax_codes(session=session, integration_id=integration.id)
    lines = assign_codes(document_vat_lines(document), codes, rule.tax_rate_code, rule.tax_codes)
    if isinstance(lines, Unmapped):
        rate: Decimal | None = lines.rate
    else:
        uncoded = [line.rate for line in lines if not line.tax_rate_code]
        if lines and not uncoded:
            return None  # every line has its code now: nothing to ask, publish again
        rate = uncoded[0] if uncoded else None
    choices = await _choices(session, integration.id, rate)
    return PublishQuestion(document.id, reason, "tax_code", rate=rate, choices=choices)


async def _choices(
    session: AsyncSession, integration_id: int, rate: Decimal | None
) -> tuple[TaxChoice, ...]:
    entries = await _purchase_codes(session, integration_id)
    choices = [TaxChoice(e.code, e.name, tax_code_of(e.code, e.extra or {}).rate) for e in entries]
    # That rate's codes first (a code of the rate the software lists under another way
    # of counting), then the rest; a rate no code has leaves the person every code.
    choices.sort(key=lambda c: rate is None or c.rate != rate)
    return tuple(choices[:MAX_CHOICES])


async def _purchase_codes(session: AsyncSession, integration_id: int) -> list[ListEntry]:
    entries = (
        await session.exec(
            select(ListEntry)
            .where(
                ListEntry.integration_id == integration_id,
                ListEntry.kind == ListKind.TAX_RATES,
            )
            .order_by(ListEntry.id)  # type: ignore[arg-type]
        )
    ).all()
    return [e for e in entries if tax_code_of(e.code, e.extra or {}).purchases]


async def choose_tax_code(
    *,
    session: AsyncSession,
    workspace_id: int,
    document_id: int,
    rate: Decimal | None,
    code: str,
    by: Who,
) -> Rule:
    """Keep `code` as the supplier's code for `rate` (the rule's one code when None), and
    put the document back in the inbox, to be published again. Returns the rule."""
    require(by, Action.MANAGE_RULES, workspace_id=workspace_id)
    document = await get_document(
        session=session, workspace_id=workspace_id, document_id=document_id
    )
    if document.state != DocumentState.NEEDS_REVIEW or document.state_reason not in TAX_REASONS:
        raise AnswerInvalid(field="tax_code", reason="not_in_review")
    integration = await current_integration(session=session, workspace_id=workspace_id)
    rule = await usable_rule(session, document)
    if integration is None or integration.id is None or rule is None:
        raise AnswerInvalid(field="tax_code", reason="not_in_review")
    if code not in {e.code for e in await _purchase_codes(session, integration.id)}:
        # Deleted in the software since the question was asked (a reload dropped it).
        raise AnswerInvalid(field="tax_code", reason="code_gone")
    if rate is None:
        rule.tax_rate_code = code
    else:
        rule.tax_codes = {**(rule.tax_codes or {}), rate_key(rate): code}
    rule.updated_at = utcnow()
    session.add(rule)
    move_document(document, DocumentState.INBOX)
    session.add(document)
    await session.flush()
    return rule


async def retry_currency(
    *, session: AsyncSession, workspace_id: int, document_id: int, by: Who
) -> Document:
    """The person says the company keeps the currency now: the document goes back to the
    inbox; the caller reads the company's setup again, then publishes it."""
    require(by, Action.PUBLISH, workspace_id=workspace_id)
    document = await get_document(
        session=session, workspace_id=workspace_id, document_id=document_id
    )
    if document.state != DocumentState.NEEDS_REVIEW or (
        document.state_reason != CURRENCY_NOT_ENABLED
    ):
        raise AnswerInvalid(field="currency_enabled", reason="not_in_review")
    move_document(document, DocumentState.INBOX)
    session.add(document)
    await session.flush()
    return document
