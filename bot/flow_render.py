"""The notifier's words and buttons for the accounting link and review conversations
(bot/notify_render.py lists them with the other outbox kinds)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.flow_callbacks import SHOW, IntegrationAction, ReviewAction
from bot.i18n import Texts


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def reconnect_button(payload: Mapping[str, Any], texts: Texts) -> InlineKeyboardButton | None:
    """Into /integration's reconnect, checked like any press (the link must still be the
    workspace's and live)."""
    ident = _int(payload.get("integration_id"))
    if not ident:
        return None
    data = IntegrationAction(do="reconnect", id=ident).pack()
    return InlineKeyboardButton(text=texts("integration.reconnect"), callback_data=data)


def needs_review(
    payload: Mapping[str, Any], texts: Texts
) -> tuple[str, InlineKeyboardMarkup | None]:
    """Outbox kind `document_needs_review`: which document, why, and a Review button that
    starts the review flow (core/flows/review.py) on it."""
    reason = str(payload.get("reason") or "")
    key = f"review.reason_{reason}"
    text = texts(
        "review.notify",
        filename=payload.get("filename") or "",
        reason=texts(key) if texts.has(key) else texts("review.reason_other"),
    )
    ident = _int(payload.get("document_id"))
    if not ident:
        return text, None
    button = InlineKeyboardButton(
        text=texts("review.start"), callback_data=ReviewAction(id=ident, c=SHOW).pack()
    )
    return text, InlineKeyboardMarkup(inline_keyboard=[[button]])


def review_button(document_id: int, number: int, texts: Texts) -> InlineKeyboardButton:
    """/inbox's one button on a document held for review: it starts the review flow (the
    id only; the flow checks in core that the document is the presser's workspace's)."""
    data = ReviewAction(id=document_id, c=SHOW).pack()
    return InlineKeyboardButton(text=texts("flows.inbox.review", number=number), callback_data=data)


def state_label(state: str, reason: str | None, texts: Texts) -> str:
    """What became of a document, in words: its reason's own label when there is one
    ("refused by your books", "unreadable PDF"), else its state's."""
    if reason:
        key = f"flows.inbox.reason.{reason}"
        if texts.has(key):
            return texts(key)
    key = f"flows.inbox.state.{state}"
    return texts(key) if texts.has(key) else state


def review_outcome(
    payload: Mapping[str, Any], texts: Texts
) -> tuple[str, InlineKeyboardMarkup | None]:
    """Outbox kind `document_reviewed`: what publishing a reviewed document did."""
    filename = payload.get("filename") or ""
    state = str(payload.get("state") or "")
    if state == "published":
        return texts("flows.review.published", filename=filename), None
    reason = payload.get("reason")
    label = state_label(state, str(reason) if reason else None, texts)
    return texts("flows.review.not_published", filename=filename, state=label), None
