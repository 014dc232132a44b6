"""The words and buttons of each outbox kind, in the recipient's language.

A row's payload carries ids; the names shown (the supplier of a connection or of a 2FA
challenge) come from `Facts`, loaded with the rows. Buttons are the bot's own callback
data (bot/callbacks.py), so a press on a notification is checked like any other press.
New documents from several rows for one chat become one message (`render_batch`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import (
    ChallengePick,
    ConnectionAction,
    ConnectionVerb,
    DocumentAction,
    InboundAction,
)
from bot.flow_render import needs_review, reconnect_button, review_outcome
from bot.i18n import Texts
from bot.outcomes import refused, report, unreadable
from bot.prompts import code_prompt, render_verified
from core.services.supplier_sign_in import CONSENT_ERRORS

#: Rows of these kinds for one chat, claimed together, are told in one message.
MERGEABLE = frozenset({"documents_fetched", "documents_received"})
#: A connection's state and the button that gets it out of that state.
FIX_BUTTON: dict[str, tuple[str, ConnectionVerb]] = {
    "auth_failed": ("connections.update", "update"),
    "action_required": ("connections.reconnect", "reconnect"),
    "needs_user": ("connections.fetch", "fetch"),
    "temp_error": ("connections.fetch", "fetch"),
}
MAILBOX_REASONS = (
    "auth_failed",
    "token_expired",
    "unreachable",
    "folder_missing",
    "server_error",
    "host_refused",
)
SOURCES = ("connector", "email", "imap", "telegram", "upload", "link")
#: The documents of one fetch listed by name, each with its Open button; the rest via /inbox.
LISTED_AT_MOST = 10


@dataclass(frozen=True, slots=True)
class DocumentFact:
    filename: str
    #: Its issue date, else the instant it arrived (shown as that day in the workspace's zone).
    day: date | datetime


@dataclass(frozen=True, slots=True)
class Facts:
    """Names the texts show, loaded from the database with the claimed rows."""

    suppliers: Mapping[int, str] = field(default_factory=dict)  # connection id → supplier
    challenges: Mapping[int, int] = field(default_factory=dict)  # challenge id → connection id
    documents: Mapping[int, DocumentFact] = field(default_factory=dict)  # document id → its name

    def supplier(self, connection_id: Any) -> str:
        return self.suppliers.get(_int(connection_id), "")

    def challenge_supplier(self, challenge_id: Any) -> str:
        return self.supplier(self.challenges.get(_int(challenge_id), 0))


@dataclass(frozen=True, slots=True)
class Outgoing:
    text: str
    markup: InlineKeyboardMarkup | None = None


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _day(value: Any, texts: Texts) -> str:
    """A payload's ISO day or instant, written in a sentence as the person reads a date
    ("1 avril 2026"); an instant is the day it is in the workspace's zone. Anything else
    is shown as it came."""
    text = str(value or "")
    try:
        when = datetime.fromisoformat(text) if len(text) > 10 else date.fromisoformat(text)
    except ValueError:
        return text
    return texts.day(when, style="long")


def _buttons(*buttons: InlineKeyboardButton | None) -> InlineKeyboardMarkup | None:
    shown = [button for button in buttons if button is not None]
    if not shown:
        return None
    builder = InlineKeyboardBuilder()
    for button in shown:
        builder.add(button)
    builder.adjust(1)
    return builder.as_markup()


def _connection_button(
    texts: Texts, label: str, verb: ConnectionVerb, connection_id: Any
) -> InlineKeyboardButton | None:
    ident = _int(connection_id)
    if not ident:
        return None
    data = ConnectionAction(do=verb, id=ident).pack()
    return InlineKeyboardButton(text=texts(label), callback_data=data)


def _fix_button(texts: Texts, state: str, connection_id: Any) -> InlineKeyboardButton | None:
    fix = FIX_BUTTON.get(state)
    return _connection_button(texts, fix[0], fix[1], connection_id) if fix else None


def _code_button(challenge_id: Any, label: str) -> InlineKeyboardButton:
    data = ChallengePick(id=_int(challenge_id)).pack()
    return InlineKeyboardButton(text=label, callback_data=data)


def _fetched(p: Mapping[str, Any], texts: Texts, facts: Facts) -> Outgoing:
    supplier = p.get("supplier") or facts.supplier(p.get("connection_id"))
    lines = [texts("notify.fetched", supplier=supplier, count=_int(p.get("new")))]
    known = [
        (ident, facts.documents[ident])
        for ident in (_int(i) for i in p.get("document_ids") or ())
        if ident in facts.documents
    ]
    buttons: list[InlineKeyboardButton] = []
    for number, (ident, document) in enumerate(known[:LISTED_AT_MOST], start=1):
        day = texts.day(document.day)
        lines.append(texts("fetched.line", number=number, filename=document.filename, date=day))
        buttons.append(
            InlineKeyboardButton(
                text=texts("inbox.open", number=number),
                callback_data=DocumentAction(do="open", id=ident).pack(),
            )
        )
    if len(known) > LISTED_AT_MOST:
        lines.append(texts("fetched.more", count=len(known) - LISTED_AT_MOST))
    markup = None
    if buttons:
        builder = InlineKeyboardBuilder()
        builder.add(*buttons)
        builder.adjust(3)
        markup = builder.as_markup()
    return Outgoing("\n".join(lines), markup)


def _received(p: Mapping[str, Any], texts: Texts, facts: Facts) -> Outgoing:
    count = len(p.get("document_ids") or ())
    text = texts("notify.received", subject=p.get("subject") or "", count=count)
    return _with_set_aside(text, p, texts)


def _with_set_aside(text: str, p: Mapping[str, Any], texts: Texts) -> Outgoing:
    """A mail's notice, with what was set aside as decoration and a button to keep it."""
    offer = _set_aside_offer(p, texts)
    if offer is None:
        return Outgoing(text)
    line, count = offer
    return Outgoing(
        f"{text}\n{line}", _buttons(_keep_button(p, texts("notify.keep_button", count=count)))
    )


def _set_aside_offer(p: Mapping[str, Any], texts: Texts) -> tuple[str, int] | None:
    """The line that names a mail's images set aside as decoration, and their count."""
    names = [str(name) for name in p.get("set_aside") or ()]
    if not names:
        return None
    count = _int(p.get("set_aside_count")) or len(names)
    shown = ", ".join(names) + (", …" if count > len(names) else "")
    return texts("notify.set_aside", count=count, names=shown), count


def _keep_button(p: Mapping[str, Any], label: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text=label, callback_data=InboundAction(do="keep", id=_int(p.get("inbound_id"))).pack()
    )


def _code_requested(p: Mapping[str, Any], texts: Texts, facts: Facts) -> Outgoing:
    # The bot's own prompt: its ChallengePick button lets a reply name the challenge.
    text, markup = code_prompt(
        challenge_id=_int(p.get("challenge_id")),
        connection_id=_int(p.get("connection_id")),
        supplier=facts.supplier(p.get("connection_id")),
        destination=p.get("destination") or None,
        texts=texts,
    )
    return Outgoing(text, markup)


def _code_wrong(p: Mapping[str, Any], texts: Texts, facts: Facts) -> Outgoing:
    supplier = facts.supplier(p.get("connection_id"))
    if p.get("last"):
        fetch = _connection_button(texts, "connections.fetch", "fetch", p.get("connection_id"))
        return Outgoing(texts("notify.code_wrong_last", supplier=supplier), _buttons(fetch))
    _, markup = code_prompt(
        challenge_id=_int(p.get("challenge_id")),
        connection_id=_int(p.get("connection_id")),
        supplier=supplier,
        destination=None,
        texts=texts,
    )
    # Or the code is lost, or expired: log in again, and the site sends a new one.
    again = _connection_button(
        texts, "flows.reconnect.option.new_code", "reconnect", p.get("connection_id")
    )
    if again is not None:
        markup.inline_keyboard.insert(1, [again])
    return Outgoing(texts("notify.code_wrong", supplier=supplier), markup)


def _code_relayed(p: Mapping[str, Any], texts: Texts, facts: Facts) -> Outgoing:
    return Outgoing(
        texts("codes.relayed", supplier=facts.challenge_supplier(p.get("challenge_id")))
    )


def _code_ambiguous(p: Mapping[str, Any], texts: Texts, facts: Facts) -> Outgoing:
    buttons = [
        _code_button(ident, facts.challenge_supplier(ident) or str(ident))
        for ident in p.get("challenge_ids") or ()
    ]
    return Outgoing(texts("notify.code_ambiguous"), _buttons(*buttons))


def _forwarding(p: Mapping[str, Any], texts: Texts, facts: Facts) -> Outgoing:
    lines = [
        texts(
            "notify.forwarding",
            provider=p.get("provider") or "Gmail",
            requested_by=p.get("requested_by") or texts("notify.someone"),
        )
    ]
    if p.get("code"):
        lines.append(texts("notify.forwarding_code", code=p["code"]))
    link = str(p.get("link") or "")
    button = None
    if link.startswith(("https://", "http://")):
        button = InlineKeyboardButton(text=texts("notify.forwarding_link"), url=link)
    return Outgoing("\n".join(lines), _buttons(button))


def _state_alert(state: str) -> Callable[[Mapping[str, Any], Texts, Facts], Outgoing]:
    def render(p: Mapping[str, Any], texts: Texts, facts: Facts) -> Outgoing:
        supplier = p.get("supplier") or facts.supplier(p.get("connection_id"))
        error = str(p.get("error") or "")
        key = f"connections.help_{error if error in CONSENT_ERRORS else state}"
        text = texts("notify.needs_you", supplier=supplier, help=texts(key))
        return Outgoing(text, _buttons(_fix_button(texts, state, p.get("connection_id"))))

    return render


def _verified(p: Mapping[str, Any], texts: Texts, facts: Facts) -> Outgoing:
    payload = dict(p)
    payload["supplier"] = p.get("supplier") or facts.supplier(p.get("connection_id"))
    fix = _fix_button(texts, str(p.get("state") or ""), p.get("connection_id"))
    return Outgoing(render_verified(payload, texts), _buttons(fix))


def _suspicious_empty(p: Mapping[str, Any], texts: Texts, facts: Facts) -> Outgoing:
    supplier = p.get("supplier") or facts.supplier(p.get("connection_id"))
    fetch = _connection_button(texts, "connections.fetch", "fetch", p.get("connection_id"))
    return Outgoing(texts("notify.suspicious_empty", supplier=supplier), _buttons(fetch))


def _nothing_new(p: Mapping[str, Any], texts: Texts, facts: Facts) -> Outgoing:
    """The answer to "Fetch now" when nothing new came, within the supplier's rhythm."""
    supplier = p.get("supplier") or facts.supplier(p.get("connection_id"))
    last, every = p.get("last"), _int(p.get("every_days"))
    if last and every:
        key = "fetch_outcome.nothing_new_usually"
    else:
        key = "fetch_outcome.nothing_new_since" if last else "fetch_outcome.nothing_new"
    return Outgoing(texts(key, supplier=supplier, date=last or "", days=every))


def _overdue(p: Mapping[str, Any], texts: Texts, facts: Facts) -> Outgoing:
    supplier = p.get("supplier") or facts.supplier(p.get("connection_id"))
    fetch = _connection_button(texts, "connections.fetch", "fetch", p.get("connection_id"))
    text = texts(
        "fetch_outcome.overdue",
        supplier=supplier,
        date=p.get("last") or "",
        days=_int(p.get("every_days")),
    )
    return Outgoing(text, _buttons(fetch))


def _check_portal(p: Mapping[str, Any], texts: Texts, facts: Facts) -> Outgoing:
    supplier = p.get("supplier") or facts.supplier(p.get("connection_id"))
    reconnect = _connection_button(
        texts, "connections.reconnect", "reconnect", p.get("connection_id")
    )
    help_text = texts("connections.help_check_portal")
    return Outgoing(
        texts("notify.check_portal", supplier=supplier, help=help_text), _buttons(reconnect)
    )


def _mailbox_error(p: Mapping[str, Any], texts: Texts, facts: Facts) -> Outgoing:
    reason = str(p.get("reason") or "server_error")
    if reason not in MAILBOX_REASONS:
        reason = "server_error"
    why = texts(f"notify.mailbox_{reason}", folder=p.get("folder") or "INBOX")
    return Outgoing(texts("notify.mailbox_error", username=p.get("username") or "", reason=why))


def _mailbox_reset(p: Mapping[str, Any], texts: Texts, facts: Facts) -> Outgoing:
    text = texts(
        "notify.mailbox_reset", username=p.get("username") or "", folder=p.get("folder") or ""
    )
    return Outgoing(text)


def _already(p: Mapping[str, Any], texts: Texts, facts: Facts) -> Outgoing:
    return _with_set_aside(texts("notify.already", subject=p.get("subject") or ""), p, texts)


def _no_document(p: Mapping[str, Any], texts: Texts, facts: Facts) -> Outgoing:
    text = texts("notify.no_document", subject=p.get("subject") or "", sender=p.get("sender") or "")
    return _with_set_aside(text, p, texts)


def _behind_link(p: Mapping[str, Any], texts: Texts, facts: Facts) -> Outgoing:
    hosts = ", ".join(str(host) for host in p.get("hosts") or ())
    return Outgoing(texts("notify.behind_link", subject=p.get("subject") or "", hosts=hosts))


def _approval(p: Mapping[str, Any], texts: Texts, facts: Facts) -> Outgoing:
    supplier = facts.supplier(p.get("connection_id"))
    destination = p.get("destination") or texts("codes.somewhere")
    show = _connection_button(texts, "connections.show", "show", p.get("connection_id"))
    return Outgoing(
        texts("notify.approval", supplier=supplier, destination=destination), _buttons(show)
    )


def _integration_expiring(p: Mapping[str, Any], texts: Texts, facts: Facts) -> Outgoing:
    text = texts(
        "notify.integration_expiring",
        provider=p.get("provider") or "",
        company=p.get("company") or "",
        date=_day(p.get("expires_at"), texts),
    )
    return Outgoing(text, _buttons(reconnect_button(p, texts)))


def _integration_expired(p: Mapping[str, Any], texts: Texts, facts: Facts) -> Outgoing:
    text = texts(
        "notify.integration_expired",
        provider=p.get("provider") or "",
        company=p.get("company") or "",
        count=_int(p.get("documents_waiting")),
    )
    return Outgoing(text, _buttons(reconnect_button(p, texts)))


def _digest(p: Mapping[str, Any], texts: Texts, facts: Facts) -> Outgoing:
    lines = [
        texts(
            "digest.header",
            first_day=_day(p.get("first_day"), texts),
            last_day=_day(p.get("last_day"), texts),
        )
    ]
    received = p.get("received") or {}
    if received:
        sources = ", ".join(
            texts("digest.source", source=texts(f"inbox.source_{source}"), count=_int(count))
            for source, count in received.items()
            if source in SOURCES
        )
        total = sum(_int(count) for count in received.values())
        lines.append(texts("digest.received", count=total, sources=sources))
    else:
        lines.append(texts("digest.nothing_received"))
    if _int(p.get("review")):
        lines.append(texts("digest.review", count=_int(p.get("review"))))
    if _int(p.get("published")):
        lines.append(texts("digest.published", count=_int(p.get("published"))))
    buttons = []
    for stuck in p.get("needs_action") or ():
        state = str(stuck.get("state") or "")
        lines.append(texts("digest.needs_action", supplier=stuck.get("supplier") or ""))
        buttons.append(_fix_button(texts, state, stuck.get("connection_id")))
    lines.append(texts("digest.footer"))
    return Outgoing("\n".join(lines), _buttons(*buttons))


Renderer = Callable[[Mapping[str, Any], Texts, Facts], Outgoing]
RENDERERS: dict[str, Renderer] = {
    "documents_fetched": _fetched,
    "documents_received": _received,
    "already_in_inbox": _already,
    "mail_without_document": _no_document,
    "invoice_behind_link": _behind_link,
    "forwarding_confirmation": _forwarding,
    "code_requested": _code_requested,
    "code_wrong": _code_wrong,
    "code_relayed": _code_relayed,
    "code_ambiguous": _code_ambiguous,
    "approval_requested": _approval,
    "integration_expiring": _integration_expiring,
    "integration_expired": _integration_expired,
    "document_needs_review": lambda p, texts, facts: Outgoing(*needs_review(p, texts)),
    "document_reviewed": lambda p, texts, facts: Outgoing(*review_outcome(p, texts)),
    "connection_verified": _verified,
    "connection_auth_failed": _state_alert("auth_failed"),
    "connection_action_required": _state_alert("action_required"),
    "connection_needs_user": _state_alert("needs_user"),
    "connection_broken": _state_alert("broken"),
    "connection_suspicious_empty": _suspicious_empty,
    "connection_check_portal": _check_portal,
    "connection_nothing_new": _nothing_new,
    "connection_overdue": _overdue,
    "mailbox_error": _mailbox_error,
    "mailbox_reset": _mailbox_reset,
    "weekly_digest": _digest,
    # What became of documents (core/services/outcome_notices.py).
    "document_unreadable": lambda p, texts, facts: Outgoing(*unreadable(p, texts)),
    "publication_refused": lambda p, texts, facts: Outgoing(*refused(p, texts)),
    "publish_report": lambda p, texts, facts: Outgoing(*report(p, texts)),
}


def render(kind: str, payload: Mapping[str, Any], *, texts: Texts, facts: Facts) -> Outgoing | None:
    """The message for one row; None for a kind the notifier does not know yet."""
    renderer = RENDERERS.get(kind)
    return renderer(payload, texts, facts) if renderer else None


#: A batched notice's keep button names its mail's subject, cut to fit on a phone.
KEEP_SUBJECT = 30


def render_batch(
    rows: Sequence[tuple[str, Mapping[str, Any]]], *, texts: Texts, facts: Facts
) -> Outgoing:
    """New documents from several rows, one line each, in one message."""
    if len(rows) == 1:
        kind, payload = rows[0]
        single = render(kind, payload, texts=texts, facts=facts)
        assert single is not None
        return single
    lines = [texts("notify.batch_header")]
    keep: list[InlineKeyboardButton | None] = []
    for kind, p in rows:
        if kind == "documents_fetched":
            supplier = p.get("supplier") or facts.supplier(p.get("connection_id"))
            lines.append(texts("notify.batch_fetched", supplier=supplier, new=_int(p.get("new"))))
            continue
        subject = str(p.get("subject") or "")
        count = len(p.get("document_ids") or ())
        lines.append(texts("notify.batch_received", subject=subject, count=count))
        # Each mail's set-aside images keep their offer, and their own button to keep them.
        offer = _set_aside_offer(p, texts)
        if offer is not None:
            lines.append(f"  {offer[0]}")
            label = texts("notify.batch_keep_button", subject=_short(subject, KEEP_SUBJECT))
            keep.append(_keep_button(p, label))
    return Outgoing("\n".join(lines), _buttons(*keep))


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
