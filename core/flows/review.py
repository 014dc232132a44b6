"""Review: a person settles what Courier could not read with confidence about a document.

One step per question (the step's id is the field asked: `total_incl_tax`, `currency`,
or `iban`/`sender` for a confirmation). core/services/review.py decides what to ask: only
what is doubtful, never a total that follows from the others. Each question offers what
was read and the likely answers as one-press buttons (option `c<i>`); the person may also
type the value. Each answer is saved with its step, so "Later" and /cancel say what was
kept. When nothing is left to ask, the document is ready: once the step committed, it is
published if its supplier's rule and a live link allow, and the outcome is told through
the outbox (core/services/review_notices.py).

A document a publish sent back for what the software lacks (a tax code, multicurrency)
gets its one fixing question first (core/flows/review_publish.py).

Started with `{"document_id": id}` (a notice's or /inbox's button): the document must be
the actor's workspace's, else the flow aborts with `errors.not_found`.
"""

from __future__ import annotations

import logging
from typing import Any

from core.errors import AnswerInvalid, CourierError, NotFound
from core.flows.accounting import accounting
from core.flows.flow import Field, Input
from core.flows.review_publish import PublishQuestions
from core.flows.steps import Abort, FieldKind, Option, Step, Text
from core.models import Document, DocumentState
from core.permissions import Action
from core.services.documents import archive_document
from core.services.publish_questions import publish_question
from core.services.publishing import on_document_ready
from core.services.review import CONFIRMATIONS, NO, YES, Question, answer_question, open_review
from core.services.review_notices import announce_review_outcome

log = logging.getLogger(__name__)

#: How each asked field is typed in.
KINDS: dict[str, FieldKind] = {
    "total_incl_tax": "amount",
    "total_excl_tax": "amount",
    "total_tax": "amount",
    "issue_date": "date",
    "due_date": "date",
    "vat_rate": "number",
}
#: Why a document is held, as the flow words it (`flows.review.why.<reason>`); any
#: other reason is worded `why.other`.
REASONS: frozenset[str] = frozenset(
    {
        "new_iban",
        "sender_unauthenticated",
        "missing_total",
        "missing_supplier",
        "missing_currency",
        "missing_date",
        "missing_account",
        "invalid_date",
        "totals_mismatch",
        "source_conflict",
        "low_confidence",
        "vat_rate_unmapped",
        "currency_not_enabled",
        "tax_code_missing",
    }
)
#: Said when /cancel stops a review that already saved answers (bot/routers/common.py
#: words the flow's "_on_cancel" instead of "nothing was changed").
ON_CANCEL = "_on_cancel"


class Review(PublishQuestions):
    name = "review"
    first = "start"

    # -- the steps ------------------------------------------------------------------------

    async def step_start(self, user_input: Input | None = None) -> Step:
        try:
            document_id = int((user_input or {})["document_id"])
        except (KeyError, TypeError, ValueError) as err:
            raise NotFound(kind="document") from err
        opened = await open_review(
            session=self.context.session,
            workspace_id=self.context.workspace_id,
            document_id=document_id,
        )
        document, question = opened.document, opened.question
        assert document.id is not None
        self.data.update(
            document_id=document.id,
            filename=document.filename,
            saved=0,
            # Archiving instead of answering is offered while nothing is answered.
            archivable=self.context.actor.may(
                Action.ARCHIVE_DOCUMENT, resource_owner_id=document.owner_member_id
            ),
        )
        if opened.released:  # the totals settled it: nothing was left to ask
            return self._finished(document, publish=True)
        # Held by a publish for what the software lacks: the document was whole enough to
        # be sent, so the one question that fixes it comes before any reading doubt.
        asked = await publish_question(session=self.context.session, document=document)
        if asked is not None:
            return self.ask_publish_question(asked, document)
        if question is None or document.state not in (
            DocumentState.NEEDS_REVIEW,
            DocumentState.INBOX,
        ):
            return self.done("nothing", filename=document.filename)
        return self._ask(question, note=_summary(document))

    # One method per question: the step's id is the field it asks about.
    async def step_iban(self, user_input: Input | None = None) -> Step:
        return await self._answer("iban", user_input)

    async def step_sender(self, user_input: Input | None = None) -> Step:
        return await self._answer("sender", user_input)

    async def step_supplier_name(self, user_input: Input | None = None) -> Step:
        return await self._answer("supplier_name", user_input)

    async def step_total_incl_tax(self, user_input: Input | None = None) -> Step:
        return await self._answer("total_incl_tax", user_input)

    async def step_issue_date(self, user_input: Input | None = None) -> Step:
        return await self._answer("issue_date", user_input)

    async def step_currency(self, user_input: Input | None = None) -> Step:
        return await self._answer("currency", user_input)

    async def step_vat_rate(self, user_input: Input | None = None) -> Step:
        return await self._answer("vat_rate", user_input)

    async def step_invoice_number(self, user_input: Input | None = None) -> Step:
        return await self._answer("invoice_number", user_input)

    async def step_total_excl_tax(self, user_input: Input | None = None) -> Step:
        return await self._answer("total_excl_tax", user_input)

    async def step_total_tax(self, user_input: Input | None = None) -> Step:
        return await self._answer("total_tax", user_input)

    async def step_due_date(self, user_input: Input | None = None) -> Step:
        return await self._answer("due_date", user_input)

    async def step_supplier_vat(self, user_input: Input | None = None) -> Step:
        return await self._answer("supplier_vat", user_input)

    # -- answering ------------------------------------------------------------------------

    async def _answer(self, field: str, user_input: Input | None) -> Step:
        session = self.context.session
        document_id = int(self.data["document_id"])
        opened = await open_review(
            session=session, workspace_id=self.context.workspace_id, document_id=document_id
        )
        document, current = opened.document, opened.question
        if current is None or current.field != field:
            # Answered meanwhile (from another chat, the CLI): go on from where it is now.
            if current is None:
                return self._finished(document, publish=opened.released)
            return self._ask(current, note=self.text("moved_on"))
        if user_input is None:
            return self._ask(current)
        option = user_input.get("option")
        if option == "later":
            return self._later()
        if option == "archive" and self.data.get("archivable") and not self.data.get("saved"):
            await archive_document(
                session=session,
                by=self.context.member,
                workspace_id=self.context.workspace_id,
                document_id=document_id,
            )
            return self.done("archived", filename=self.data["filename"])
        answer = self._chosen(current, option, user_input)
        if answer is None:
            return self._ask(current, error=self.error("pick_or_type"))
        try:
            # Its own savepoint: a refused answer leaves nothing of itself behind.
            async with session.begin_nested():
                upcoming = await answer_question(
                    session=session,
                    workspace_id=self.context.workspace_id,
                    document_id=document_id,
                    field=field,
                    answer=answer,
                    by=self.context.member,
                )
        except AnswerInvalid as err:
            reason = str(err.params.get("reason") or "other")
            return self._ask(current, error=self.error(reason))
        saved = int(self.data.get("saved", 0)) + 1
        self.data["saved"] = saved
        self.data[ON_CANCEL] = {
            "key": self.key("cancelled_saved"),
            "params": {"filename": self.data["filename"], "count": saved},
        }
        if upcoming is not None:
            return self._ask(upcoming)
        return self._finished(document, publish=True)

    def _chosen(self, question: Question, option: Any, user_input: Input) -> str | None:
        """The answer a button or a typed text gives, or None when it gives none."""
        confirming = question.field in CONFIRMATIONS.values()
        if option is not None:
            if confirming:
                return str(option) if option in (YES, NO) else None
            choices: list[str] = list(self.data.get("choices", []))
            index = str(option).removeprefix("c")
            if not index.isdigit() or int(index) >= len(choices):
                return None
            return choices[int(index)]
        if confirming:
            return None  # a trust is confirmed by its button, never by a typed word
        typed = user_input.get(question.field, user_input.get("text"))
        text = str(typed or "").strip()
        return text or None

    # -- what is shown --------------------------------------------------------------------

    def _ask(
        self, question: Question, *, note: Text | None = None, error: Text | None = None
    ) -> Step:
        field = question.field
        later = self.option("later")
        if field in CONFIRMATIONS.values():
            if not self.context.actor.may(Action.CONFIRM_TRUST):
                # Not asked at all: its buttons would only be refused.
                return Abort(self.name, Text(f"permissions.{Action.CONFIRM_TRUST}"), note)
            self.data["choices"] = []
            options = (self.option(YES), self.option(NO), later)
            return self.choice(
                field, options, error=error, note=note, columns=2, read=question.read or ""
            )
        self.data["choices"] = list(question.choices)
        buttons = tuple(
            Option(
                f"c{index}",
                self.text(
                    "option.read" if choice == question.read else "option.value", value=choice
                ),
            )
            for index, choice in enumerate(question.choices)
        )
        extra: tuple[Option, ...] = (later,)
        if self.data.get("archivable") and not self.data.get("saved"):
            extra = (*extra, self.option("archive"))
        return self.form(
            field,
            Field(field, KINDS.get(field, "text")),
            options=(*buttons, *extra),
            error=error,
            note=note,
        )

    def _later(self) -> Step:
        saved = int(self.data.get("saved", 0))
        filename = self.data["filename"]
        if saved:
            return self.done("later_saved", filename=filename, count=saved)
        return self.done("later_nothing", filename=filename)

    def _finished(self, document: Document, *, publish: bool) -> Step:
        """Nothing is left to ask: say how the document ends, and (when this review made it
        ready) publish it once the step committed."""
        if document.state == DocumentState.FAILED:
            return self.done("refused", filename=document.filename)
        if document.state != DocumentState.INBOX:
            return self.done("nothing", filename=document.filename)
        if publish:
            self._publish_when_ready(document)
        return self.done("complete", filename=document.filename)

    def _publish_when_ready(self, document: Document) -> None:
        """Once the answers committed: the auto-publish hook, and its outcome told to the
        person who answered, through the outbox."""
        assert document.id is not None
        # Built now, so an interface lacking a part fails this step, not the work after.
        acc = accounting(self.context.services)
        document_id, filename = document.id, document.filename
        workspace_id, member_id = self.context.workspace_id, self.context.member.id

        async def publish() -> None:
            try:
                outcome = await on_document_ready(acc, document_id=document_id)
            except CourierError as err:  # no link, or not usable: it waits in the inbox
                log.info("reviewed document %s not published: %s", document_id, err.key)
                return
            if outcome is None:
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


def _summary(document: Document) -> Text:
    """What the document is and why it is held: said before the first question. The known
    parts only, joined language-neutrally; the reason is worded by its own key."""
    fields = document.fields or {}
    supplier = document.supplier_name or _read(fields, "supplier_name")
    amount = (
        str(document.total_amount)
        if document.total_amount is not None
        else _read(fields, "total_incl_tax")
    )
    currency = document.currency or _read(fields, "currency")
    total = f"{amount} {currency or ''}".strip() if amount else None
    day = document.issue_date.isoformat() if document.issue_date else _read(fields, "issue_date")
    parts = [document.filename, supplier, total, day]
    reason = document.state_reason if document.state_reason in REASONS else "other"
    return Text(f"flows.review.why.{reason}", {"document": " · ".join(p for p in parts if p)})


def _read(fields: dict[str, Any], name: str) -> str | None:
    item = fields.get(name)
    value = item.get("value") if isinstance(item, dict) else None
    return None if value is None else str(value)
