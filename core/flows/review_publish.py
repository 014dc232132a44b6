"""Review's questions for a document a publish sent back (core/services/publish_questions.py):
a VAT rate the software has no tax code for, a bill it wants a code on, a currency the
company does not keep. One question with the buttons that fix it; the answer is kept
(the supplier's code for that rate), and once the step committed the document is
published again and the outcome told to the person who answered.

A press is checked against what is true now, not what was shown: a code the software
dropped since is refused with `code_gone`, a document answered meanwhile moves on.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from core.errors import AnswerInvalid, CourierError
from core.flows.accounting import accounting
from core.flows.flow import Flow, Input
from core.flows.steps import Abort, Option, Step, Text
from core.models import Document, ListKind
from core.permissions import Action
from core.services.accounting import Accounting, refresh_link
from core.services.authorisations import refresh_lists
from core.services.documents import get_document
from core.services.integrations import current_integration
from core.services.publish_questions import (
    PublishQuestion,
    choose_tax_code,
    publish_question,
    retry_currency,
)
from core.services.publishing import publish_document
from core.services.review_notices import announce_review_outcome
from core.services.tax_codes import rate_key

log = logging.getLogger(__name__)

RELOAD, RETRY = "reload", "retry"
#: What runs before the publish, once the answer committed: (acc, workspace, member).
Before = Callable[[Accounting, int, int | None], Awaitable[Any]]


async def _reload_tax_codes(acc: Accounting, workspace_id: int, member_id: int | None) -> None:
    """The person added the code in the software: its tax list is read again first."""
    await refresh_lists(acc, workspace_id=workspace_id, actor=member_id, kind=ListKind.TAX_RATES)


async def _reread_setup(acc: Accounting, workspace_id: int, member_id: int | None) -> None:
    """Multicurrency turned on: a forced refresh reads the company's setup again (the
    QuickBooks grant keeps it, read at each refresh)."""
    async with acc.db.read() as session:
        integration = await current_integration(session=session, workspace_id=workspace_id)
    if integration is not None and integration.id is not None:
        await refresh_link(acc, integration_id=integration.id, only_if_due=False)


class PublishQuestions(Flow):
    """Steps `tax_code` and `currency_enabled` of the review flow."""

    def ask_publish_question(
        self,
        question: PublishQuestion,
        document: Document,
        *,
        error: str | None = None,
        note: Text | None = None,
    ) -> Step:
        action = Action.MANAGE_RULES if question.kind == "tax_code" else Action.PUBLISH
        if not self.context.actor.may(action):
            # Not asked at all: its buttons would only be refused.
            return Abort(self.name, Text(f"permissions.{action}"))
        summary = _summary(document)
        later = self.option("later")
        if question.kind == "currency":
            return self.choice(
                "currency_enabled",
                (self.option(RETRY), later),
                error=error,
                note=note,
                document=summary,
                currency=question.currency or "",
            )
        self.data["tax_rate"] = rate_key(question.rate) if question.rate is not None else None
        self.data["tax_codes"] = [c.code for c in question.choices]
        buttons = tuple(
            Option(
                f"c{i}",
                # A name that already shows its code (a ledger's account) is shown alone.
                self.text("option.value", value=c.name)
                if c.name == c.code or c.name.startswith(f"{c.code} ")
                else self.text("option.code", name=c.name, code=c.code),
            )
            for i, c in enumerate(question.choices)
        )
        supplier = document.supplier_name or ""
        if question.rate is None:
            return self.choice(
                "tax_code_one",
                (*buttons, later),
                error=error,
                note=note,
                document=summary,
                supplier=supplier,
            )
        return self.choice(
            "tax_code",
            (*buttons, self.option(RELOAD), later),
            error=error,
            note=note,
            document=summary,
            supplier=supplier,
            rate=f"{rate_key(question.rate)} %",
        )

    async def _current(self) -> tuple[Document, PublishQuestion | None]:
        document = await get_document(
            session=self.context.session,
            workspace_id=self.context.workspace_id,
            document_id=int(self.data["document_id"]),
        )
        return document, await publish_question(session=self.context.session, document=document)

    async def step_tax_code(self, user_input: Input | None = None) -> Step:
        document, question = await self._current()
        rate = self.data.get("tax_rate")
        if question is None or question.kind != "tax_code":
            return self.done("nothing", filename=document.filename)
        if user_input is None:
            return self.ask_publish_question(question, document)
        current_rate = rate_key(question.rate) if question.rate is not None else None
        if current_rate != rate:
            # Another rate is asked now (answered meanwhile from another chat).
            return self.ask_publish_question(question, document, note=self.text("moved_on"))
        option = str(user_input.get("option") or "")
        if option == "later":
            return self.done("later_nothing", filename=document.filename)
        if option == RELOAD and rate is not None:
            self._publish_after(document, _reload_tax_codes)
            return self.done("reloading", filename=document.filename)
        codes: list[str] = list(self.data.get("tax_codes") or [])
        index = option.removeprefix("c")
        if not option.startswith("c") or not index.isdigit() or int(index) >= len(codes):
            return self.ask_publish_question(question, document, error="pick_or_type")
        try:
            async with self.context.session.begin_nested():
                await choose_tax_code(
                    session=self.context.session,
                    workspace_id=self.context.workspace_id,
                    document_id=int(self.data["document_id"]),
                    rate=Decimal(rate) if rate is not None else None,
                    code=codes[int(index)],
                    by=self.context.member,
                )
        except AnswerInvalid as err:
            reason = str(err.params.get("reason") or "other")
            _, fresh = await self._current()
            if fresh is None:
                return self.done("nothing", filename=document.filename)
            return self.ask_publish_question(fresh, document, error=reason)
        self._publish_after(document, None)
        return self.done("publishing", filename=document.filename)

    async def step_tax_code_one(self, user_input: Input | None = None) -> Step:
        """The bill's one code (it has no VAT line): the same question, worded for it."""
        return await self.step_tax_code(user_input)

    async def step_currency_enabled(self, user_input: Input | None = None) -> Step:
        document, question = await self._current()
        if question is None or question.kind != "currency":
            return self.done("nothing", filename=document.filename)
        if user_input is None:
            return self.ask_publish_question(question, document)
        option = user_input.get("option")
        if option == "later":
            return self.done("later_nothing", filename=document.filename)
        if option != RETRY:
            return self.ask_publish_question(question, document, error="pick_or_type")
        await retry_currency(
            session=self.context.session,
            workspace_id=self.context.workspace_id,
            document_id=int(self.data["document_id"]),
            by=self.context.member,
        )
        self._publish_after(document, _reread_setup)
        return self.done("rechecking", filename=document.filename)

    # -- after the commit ---------------------------------------------------------------

    def _publish_after(self, document: Document, first: Before | None) -> None:
        """Once the answer committed: `first` (a reload), then the publish the person
        asked for by answering, and its outcome told to them through the outbox."""
        assert document.id is not None
        acc = accounting(self.context.services)  # built now: a missing part fails the step
        document_id, filename = document.id, document.filename
        workspace_id, member_id = self.context.workspace_id, self.context.member.id

        async def publish() -> None:
            try:
                if first is not None:
                    await first(acc, workspace_id, member_id)
                outcome = await publish_document(
                    acc, workspace_id=workspace_id, document_id=document_id, announce=False
                )
            except CourierError as err:  # no link, or not usable: it waits in the inbox
                log.info("answered document %s not published: %s", document_id, err.key)
                return
            async with acc.db.transaction() as session:
                await announce_review_outcome(
                    session=session,
                    workspace_id=workspace_id,
                    member_id=member_id,
                    document_id=document_id,
                    filename=filename,
                    state=outcome.state,
                    reason=outcome.reason,
                )

        self.later(publish)


def _summary(document: Document) -> str:
    parts = [
        document.filename,
        document.supplier_name,
        f"{document.total_amount} {document.currency or ''}".strip()
        if document.total_amount is not None
        else None,
        document.issue_date.isoformat() if document.issue_date else None,
    ]
    return " · ".join(p for p in parts if p)
