"""Messages that hold a secret are deleted from the chat as soon as they are read."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import Message

from bot.context import Replies
from bot.i18n import Texts

log = logging.getLogger(__name__)


async def delete_secret_message(bot: Bot, message: Message) -> bool:
    """True once the message is gone; False when Telegram refused (too old, no rights)."""
    try:
        return bool(await bot.delete_message(message.chat.id, message.message_id))
    except TelegramAPIError as err:
        # The error names the call, never the message's text.
        log.warning("could not delete a message holding a secret: %s", type(err).__name__)
        return False


@dataclass(frozen=True, slots=True)
class SecretWords:
    """The keys that tell the person what became of the message holding their secret."""

    deleted: str
    not_deleted: str
    empty: str


async def take_secret(
    message: Message, bot: Bot, texts: Texts, say: Replies, words: SecretWords
) -> str | None:
    """Read a secret, delete its message at once and say so. None, said as such, when the
    message held nothing to use."""
    secret = message.text or ""
    deleted = await delete_secret_message(bot, message)
    say(message.answer(texts(words.deleted if deleted else words.not_deleted)))
    if not secret.strip():
        say(message.answer(texts(words.empty)))
        return None
    return secret


PASSWORD = SecretWords(
    "connect.password_deleted", "connect.password_not_deleted", "connect.empty_password"
)
MAILBOX_SECRET = SecretWords(
    "mail.secret_deleted", "connect.password_not_deleted", "connect.empty_password"
)
TOKEN = SecretWords(
    "integration.token_deleted", "integration.token_not_deleted", "integration.empty_token"
)
