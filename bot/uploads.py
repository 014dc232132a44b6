"""Files sent to the bot are fetched from Telegram before the update's transaction opens,
so a long download never holds the database (on SQLite, its single writer).
`upload_refusal` says why one cannot go to the inbox, before anything is stored: too big
to fetch, not fetched, or of a kind Courier does not read (core/sniff.py ACCEPTED, the
same list as `courier inbox add` and mail)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from aiogram import Bot
from aiogram.dispatcher.middlewares.base import BaseMiddleware
from aiogram.exceptions import TelegramAPIError
from aiogram.types import Message, TelegramObject

from bot.context import Deps
from bot.i18n import Texts
from bot.outcomes import file_refused
from core.services.conversations import memberships
from core.sniff import is_document_type, sniff_content_type

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Upload:
    """A file the person sent, or why it was not taken."""

    content: bytes = b""
    filename: str = ""
    refused: Literal["too_big", "unreachable"] | None = None

    def __repr__(self) -> str:  # the bytes would flood a log line
        return (
            f"Upload(filename={self.filename!r}, size={len(self.content)}, refused={self.refused})"
        )


def describe(message: Message) -> tuple[str, str, int | None] | None:
    """(file id, file name, size) of the file a message carries, if any."""
    if message.document is not None:
        document = message.document
        return document.file_id, document.file_name or "document", document.file_size
    if message.photo:
        largest = max(message.photo, key=lambda p: p.width * p.height)
        stamp = datetime.fromtimestamp(message.date.timestamp(), UTC)
        return largest.file_id, f"photo-{stamp:%Y%m%d-%H%M%S}.jpg", largest.file_size
    return None


class FetchUploads(BaseMiddleware):
    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if not isinstance(event, Message) or event.from_user is None:
            return await handler(event, data)
        found = describe(event)
        if found is None:
            return await handler(event, data)
        deps: Deps = data["deps"]
        async with deps.db.read() as session:
            known = await memberships(session=session, telegram_user_id=event.from_user.id)
        if not known:  # a stranger's files are never fetched
            return await handler(event, data)
        file_id, filename, size = found
        if size is not None and size > deps.max_file_bytes:
            data["upload"] = Upload(filename=filename, refused="too_big")
            return await handler(event, data)
        bot: Bot = data["bot"]
        try:
            content = await bot.download(file_id)
        except (TelegramAPIError, OSError, TimeoutError) as err:
            log.warning("could not fetch a file from Telegram: %s", type(err).__name__)
            data["upload"] = Upload(filename=filename, refused="unreachable")
            return await handler(event, data)
        assert content is not None
        data["upload"] = Upload(content=content.read(), filename=filename)
        return await handler(event, data)


def upload_refusal(
    upload: Upload | None, *, texts: Texts, max_bytes: int, address: str
) -> str | None:
    """Why this file cannot go to the inbox, in the person's words; None when it can."""
    if upload is None or upload.refused == "unreachable":
        return texts("common.internal_error")
    if upload.refused == "too_big":
        return texts("inbox.too_big", limit=max_bytes // (1024 * 1024), address=address)
    if not is_document_type(sniff_content_type(upload.content, upload.filename)):
        return file_refused(texts, upload.filename)
    return None
