"""The words and buttons of what became of documents (core/services/outcome_notices.py):
a file that could not be read, a bill the books refused, what a publish did, and the
state labels that say so in lists. Wording lives in the `[outcomes]` locale table.

A reason from core (`unreadable_pdf`, `integration_expired`...) is worded through
`outcomes.why.<reason>`, a few reasons sharing one text; a reason with no words yet
gets the generic one, never a blank or a key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import Texts
from core.flows.steps import Text
from core.services.outcome_notices import Refusal, Report, Unreadable
from core.sniff import accepted_names


class PublishAction(CallbackData, prefix="pb"):
    """Into the publish flow (core/flows/publish.py): `start` shows what is ready;
    `retry` sends document `id` again; `refused` sends every refused one again. The
    flow checks the presser's right and workspace; ids only, as every button."""

    do: Literal["start", "retry", "refused"]
    id: int = 0


#: Reasons worded alike: the XML attacks, and the reader's "too big" of any kind.
_SAME_WORDS = {
    "xml_entities_forbidden": "xml_dtd_forbidden",
    "xml_external_reference_forbidden": "xml_dtd_forbidden",
    "xml_unsafe": "xml_dtd_forbidden",
    "xml_too_large": "malformed_xml",
}


def why(texts: Texts, reason: str) -> str:
    """The words for a reason key of core's."""
    key = f"outcomes.why.{_SAME_WORDS.get(reason, reason)}"
    return texts(key) if texts.has(key) else texts("outcomes.why.other")


def word(texts: Texts, text: Text) -> str:
    """A core `Text`; a `reason` parameter is also given to the wording as `why`."""
    params = dict(text.params)
    if "reason" in params:
        params["why"] = why(texts, str(params["reason"]))
    return texts(text.key, **params)


def _todo(texts: Texts, reason: str) -> str:
    key = f"outcomes.todo.{_SAME_WORDS.get(reason, reason)}"
    return texts(key) if texts.has(key) else texts("outcomes.todo.other")


def _markup(*buttons: InlineKeyboardButton) -> InlineKeyboardMarkup | None:
    return InlineKeyboardMarkup(inline_keyboard=[[b] for b in buttons]) if buttons else None


def publish_button(texts: Texts) -> InlineKeyboardButton:
    """Where a rule or the inbox says "published when you ask": ask here."""
    data = PublishAction(do="start").pack()
    return InlineKeyboardButton(text=texts("outcomes.publish_button"), callback_data=data)


def retry_button(texts: Texts, document_id: int = 0) -> InlineKeyboardButton:
    """Send one refused document again, or (0) every refused one."""
    data = PublishAction(do="retry", id=document_id) if document_id else PublishAction(do="refused")
    return InlineKeyboardButton(text=texts("outcomes.retry"), callback_data=data.pack())


def file_refused(texts: Texts, filename: str) -> str:
    """A file of a kind Courier does not read, refused before it is stored."""
    return texts("outcomes.file_refused", filename=filename, formats=accepted_names())


def unreadable(payload: Mapping[str, Any], texts: Texts) -> tuple[str, InlineKeyboardMarkup | None]:
    """Outbox kind `document_unreadable`: which file, why, and what to do."""
    notice = Unreadable.load(payload)
    text = texts(
        "outcomes.unreadable",
        filename=notice.filename,
        why=why(texts, notice.reason),
        todo=_todo(texts, notice.reason),
    )
    return text, None


def refused(payload: Mapping[str, Any], texts: Texts) -> tuple[str, InlineKeyboardMarkup | None]:
    """Outbox kind `publication_refused`, to the owners and admins: which bill, the
    software's reason in its own words, and Retry once they fixed it there."""
    refusal = Refusal.load(payload)
    key = "outcomes.refused_duplicate" if refusal.reason == "duplicate" else "outcomes.refused"
    text = texts(
        key,
        filename=refusal.filename,
        supplier=refusal.supplier or texts("inbox.unknown_supplier"),
        detail=refusal.detail or why(texts, refusal.reason),
    )
    return text, _markup(retry_button(texts, refusal.document_id))


def report(payload: Mapping[str, Any], texts: Texts) -> tuple[str, InlineKeyboardMarkup | None]:
    """Outbox kind `publish_report`: what a publish asked for did, with Retry for what the
    books refused ("Written to your books: 11. Refused by your books: 1 …")."""
    done = Report.load(payload)
    lines: list[str] = []
    if done.occasion == "rule" and done.supplier:
        lines.append(texts("outcomes.report_rule", supplier=done.supplier))
    counts = (
        ("outcomes.report_written", done.written),
        ("outcomes.report_already", done.already),
        ("outcomes.report_refused", len(done.refused)),
    )
    lines += [texts(key, count=count) for key, count in counts if count]
    for refusal in done.refused:
        lines.append(
            texts(
                "outcomes.report_refused_line",
                filename=refusal.filename,
                detail=refusal.detail or why(texts, refusal.reason),
            )
        )
    for key, count in (
        ("outcomes.report_waiting", done.waiting),
        ("outcomes.report_review", done.review),
        ("outcomes.report_held", done.held),
    ):
        if count:
            lines.append(texts(key, count=count))
    if done.failed:
        reason = done.failed_key or "error"
        lines.append(texts("outcomes.report_failed", count=done.failed, why=why(texts, reason)))
    if not lines or (done.occasion == "rule" and len(lines) == 1 and not done.tried):
        lines.append(texts("outcomes.report_nothing"))
    if done.refused:
        return "\n".join(lines), _markup(retry_button(texts))
    return "\n".join(lines), None
