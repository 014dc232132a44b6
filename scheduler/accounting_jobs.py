"""The accounting jobs, each a thin call into core: tokens kept fresh, owners warned before
a link expires, publications waiting out a 429 or an outage retried, auto-publish swept."""

from __future__ import annotations

import logging
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from core.errors import CourierError
from core.services.accounting import Accounting
from core.services.publishing import on_document_ready, publish_auto_ready, retry_due
from core.services.upkeep import keep_tokens_fresh, warn_expiring

log = logging.getLogger(__name__)

TOKEN_TICK_SECONDS = 60
EXPIRY_TICK_SECONDS = 3600
RETRY_TICK_SECONDS = 15
AUTO_PUBLISH_TICK_SECONDS = 30


class AccountingJobs:
    def __init__(self, acc: Accounting) -> None:
        self.acc = acc

    async def keep_tokens_fresh(self) -> int:
        return await keep_tokens_fresh(self.acc)

    async def warn_expiring(self) -> int:
        return await warn_expiring(self.acc)

    async def retry_publications(self) -> int:
        return len(await retry_due(self.acc))

    async def document_ready(self, document_id: int) -> None:
        """The auto-publish hook, after a document's reading committed."""
        try:
            await on_document_ready(self.acc, document_id=document_id)
        except CourierError as err:  # no link, or not usable: the document waits in the inbox
            log.info("document %s not published after reading: %s", document_id, err.key)

    async def auto_publish(self) -> int:
        return len(await publish_auto_ready(self.acc))

    def register(self, scheduler: AsyncIOScheduler, options: dict[str, Any]) -> None:
        for job, seconds in (
            (self.keep_tokens_fresh, TOKEN_TICK_SECONDS),
            (self.warn_expiring, EXPIRY_TICK_SECONDS),
            (self.retry_publications, RETRY_TICK_SECONDS),
            (self.auto_publish, AUTO_PUBLISH_TICK_SECONDS),
        ):
            scheduler.add_job(job, "interval", seconds=seconds, id=job.__name__, **options)
