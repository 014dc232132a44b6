"""Messages sent on the bot's behalf (by the notifier) that the bot must recognise later.

A 2FA prompt carries its challenge's id in a button, so a reply to the prompt names the
challenge it answers, whichever process sent the prompt and however long ago.
"""

from __future__ import annotations

from typing import Any

from aiogram.types import InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import ChallengePick, ConnectionAction
from bot.i18n import Texts


def code_prompt(
    *, challenge_id: int, connection_id: int, supplier: str, destination: str | None, texts: Texts
) -> tuple[str, InlineKeyboardMarkup]:
    """The text and buttons asking for a code; reply to it with the code."""
    if destination:
        text = texts("codes.asked", supplier=supplier, destination=destination)
    else:
        text = texts("codes.asked_nowhere", supplier=supplier)
    builder = InlineKeyboardBuilder()
    builder.button(text=texts("codes.answer_here"), callback_data=ChallengePick(id=challenge_id))
    builder.button(
        text=texts("connections.show"), callback_data=ConnectionAction(do="show", id=connection_id)
    )
    builder.adjust(1)
    return text, builder.as_markup()


def challenge_of_prompt(message: Message | None) -> int | None:
    """The challenge a message of ours asked a code for, from its button; None otherwise."""
    markup = message.reply_markup if message is not None else None
    if markup is None:
        return None
    for row in markup.inline_keyboard:
        for button in row:
            data = button.callback_data or ""
            if data.startswith(f"{ChallengePick.__prefix__}:"):
                return ChallengePick.unpack(data).id
    return None


def render_verified(payload: dict[str, Any], texts: Texts) -> str:
    """The outcome of a new account's check (outbox kind `connection_verified`)."""
    supplier = str(payload.get("supplier") or "")
    if payload.get("state") == "active":
        return texts(
            "connect.verified",
            supplier=supplier,
            count=int(payload.get("found") or 0),
            new=texts("connect.verified_new", count=int(payload.get("new") or 0)),
        )
    key = f"connections.help_{payload.get('state')}"
    reason = texts(key) if texts.has(key) else texts("errors.error")
    return texts("connect.verify_failed", supplier=supplier, reason=reason)
