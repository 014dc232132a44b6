"""File the images an inbound message set aside as decoration, when the user says "keep them".

The images are not stored apart: the raw message is, so it is read again and what the
decoration rule set aside becomes documents, as if the sender had attached them plainly.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from core.errors import NotFound
from core.models import DocumentSource, InboundChannel, InboundMessage
from core.services.documents import IncomingDocument, ingest_document
from core.storage import DocumentStore
from mail.parse import parse_message

#: Where a message's outcome records the documents its set-aside images became.
KEPT = "set_aside_kept"


class NothingToKeep(Exception):
    """The message set nothing aside, or its raw bytes are gone."""


async def keep_set_aside(
    *, session: AsyncSession, store: DocumentStore, message: InboundMessage, now: datetime
) -> list[int]:
    """File every set-aside image of `message` as a document; return the documents' ids.

    Pressing twice files nothing twice: the inbox already holds the same bytes.
    """
    if not message.sha256 or not (message.outcome or {}).get("set_aside"):
        raise NothingToKeep
    assert message.workspace_id is not None
    try:
        raw = await store.get(message.sha256)
    except NotFound as err:
        raise NothingToKeep from err
    parsed = await asyncio.to_thread(parse_message, raw)
    source = DocumentSource.IMAP if message.channel == InboundChannel.IMAP else DocumentSource.EMAIL
    kept: list[int] = []
    for aside in parsed.set_aside:
        result = await ingest_document(
            session=session,
            store=store,
            incoming=IncomingDocument(
                workspace_id=message.workspace_id,
                source=source,
                content=aside.attachment.data,
                filename=aside.attachment.filename,
            ),
            now=now,
        )
        assert result.document.id is not None
        kept.append(result.document.id)
    if not kept:
        raise NothingToKeep
    message.outcome = message.outcome | {KEPT: kept}
    return kept
