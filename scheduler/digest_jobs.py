"""The weekly digest job: a thin call into core (core/services/digests.py) on its tick.

The tick is short next to an hour, so a digest goes early in its Monday morning hour in
every time zone; the outbox's dedupe key keeps it once per member and week, however many
schedulers run.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from core.db import Database
from core.models.base import utcnow
from core.services.digests import DigestPolicy, enqueue_due_digests

DIGEST_TICK_SECONDS = 900


class DigestJobs:
    def __init__(
        self,
        *,
        db: Database,
        policy: DigestPolicy | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.policy = policy or DigestPolicy()
        self.clock = clock

    async def enqueue_digests(self) -> int:
        async with self.db.transaction() as session:
            return await enqueue_due_digests(session=session, now=self.clock(), policy=self.policy)

    def register(self, scheduler: AsyncIOScheduler, options: dict[str, Any]) -> None:
        scheduler.add_job(
            self.enqueue_digests,
            "interval",
            seconds=DIGEST_TICK_SECONDS,
            id="enqueue_digests",
            **options,
        )
