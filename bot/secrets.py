"""Messages that hold a secret are deleted from the chat as soon as they are read."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import Message

log = logging.getLogger(__name__)


async def delete_secret_message(bot: Bot, message: Message) -> bool:
    """True once the message is gone; False when Telegram refused (too old, no rights)."""
    try:
        return bool(await bot.delete_message(message.chat.id, message.message_id))
    except TelegramAPIError as err:
        # The error names the call, never the message's text.
        log.warning("could not delete a message holding a secret: %s", type(err).__name__)
        return False
