"""The notifier: delivers the core outbox to Telegram, within Telegram's limits.

One loop claims due rows (a lease, so several bot processes share the outbox and a dead
one's rows go out later), works out who gets what in which language, sends at about 30
messages a second overall and one a second per chat, and settles every row:

- delivered to every recipient → `sent`;
- a recipient who blocked the bot (403) or has no chat with it → not retried for them;
  when nobody could be reached, the row is `undeliverable`. A 403 marks the person's chat
  (`Member.chat_blocked_at`): their later rows go straight to `undeliverable` without a
  call to Telegram, until they write to the bot again (bot/chat_marks.py);
- a 429 → that chat waits `retry_after`, then the message is sent again;
- Telegram unreachable (network, 5xx) → the batch stops, its rows wait with back-off and
  go later: nothing is lost;
- a message Telegram refuses (400, a bug of ours) → retried a few times, then
  `undeliverable`, and logged.

A row for several recipients remembers who already has it (`_sent_to` in its payload),
so a retry never sends twice to the same chat. New documents for one chat claimed
together go in one message.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.i18n import Texts, texts_for
from bot.notify_pacing import ChatQueues, Pace, Pacer
from bot.notify_render import (
    MERGEABLE,
    RENDERERS,
    DocumentFact,
    Facts,
    Outgoing,
    render,
    render_batch,
)
from core.backoff import OUTBOX
from core.db import Database
from core.jobs.loop import ChannelBell, work_until
from core.jobs.wakeups import OUTBOX as OUTBOX_CHANNEL
from core.models import Member, Notification, Workspace
from core.models.base import utcnow
from core.services.notifications import (
    block_chats,
    claim_due_notifications,
    mark_failed,
    mark_sent,
    notice_context,
    notifications_by_id,
    postpone,
    recipients_of,
    release,
    workspace_of,
)

log = logging.getLogger(__name__)

SENT_TO = "_sent_to"
#: A message Telegram refuses this many times is given up (it would never pass).
REFUSALS_ALLOWED = 4
#: A batch of new documents in one message stays well under Telegram's 4,096 characters.
MERGE_AT_MOST = 20
#: A message that meets this many 429s in a row waits with its row instead.
RETRY_AFTER_ALLOWED = 5


class Outcome(StrEnum):
    SENT = "sent"
    BLOCKED = "blocked"  # for good: blocked the bot, or never started it
    RETRY = "retry"  # Telegram away, or 429s without end: later, with back-off
    REFUSED = "refused"  # a 400 on our message
    POSTPONED = "postponed"  # not tried: the batch stopped


@dataclass(frozen=True, slots=True)
class Envelope:
    chat_id: int
    row_ids: tuple[int, ...]
    outgoing: Outgoing


@dataclass(slots=True)
class Plan:
    envelopes: list[Envelope] = field(default_factory=list)
    #: Rows with nobody left to tell, and rows of a kind not known yet.
    nobody: list[int] = field(default_factory=list)
    unknown: list[int] = field(default_factory=list)
    #: Chats that answered 403 in this batch: marked blocked when the batch settles.
    forbidden: set[int] = field(default_factory=set)


@dataclass(slots=True)
class DeliveryStats:
    sent: int = 0
    blocked: int = 0
    retry_after: int = 0
    refused: int = 0
    network_errors: int = 0


class Notifier:
    def __init__(
        self,
        *,
        bot: Bot,
        db: Database,
        pace: Pace | None = None,
        lease: timedelta = timedelta(minutes=5),
        batch: int = 60,
        idle_seconds: float = 1.0,
        concurrency: int = 30,
    ) -> None:
        self.bot = bot
        self.db = db
        self.pacer = Pacer(pace or Pace())
        self.lease = lease
        self.batch = batch
        self.idle_seconds = idle_seconds
        self.concurrency = concurrency
        self.stats = DeliveryStats()
        self.name = f"{socket.gethostname()}:{os.getpid()}"

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop`. A row enqueued anywhere wakes the loop as its transaction
        commits (core/jobs/wakeups.py: in this process, and on PostgreSQL in any other);
        `idle_seconds` is the fallback poll, for retries falling due and for SQLite's
        other processes."""

        async def step() -> bool:
            return bool(await self.deliver_due())

        bell = ChannelBell(self.db.wakeups, OUTBOX_CHANNEL)
        await work_until(stop, step, name="the notifier", idle_seconds=self.idle_seconds, bell=bell)

    async def deliver_due(self) -> int:
        """Claim one batch, send it, settle it; returns how many rows were claimed."""
        async with self.db.transaction() as session:
            rows = await claim_due_notifications(
                session=session, lease=self.lease, limit=self.batch
            )
            if not rows:
                return 0
            plan = await self._plan(session, rows)
        outcomes = await self._send(plan.envelopes, plan.forbidden)
        async with self.db.transaction() as session:
            await self._settle(session, plan, outcomes)
        return len(rows)

    # -- planning -----------------------------------------------------------------------

    async def _plan(self, session: AsyncSession, rows: list[Notification]) -> Plan:
        plan = Plan()
        facts = await _facts(session, rows)
        per_chat: dict[int, list[tuple[Notification, Member]]] = defaultdict(list)
        places: dict[int, Workspace | None] = {}  # each workspace's language and time zone
        for row in rows:
            assert row.id is not None
            if row.kind not in RENDERERS:
                plan.unknown.append(row.id)
                continue
            already = set(row.payload.get(SENT_TO) or ())
            recipients = [
                m
                for m in await recipients_of(session=session, notification=row)
                if m.telegram_user_id not in already and m.chat_blocked_at is None
            ]
            if not recipients:
                plan.nobody.append(row.id)
                continue
            if row.workspace_id is not None and row.workspace_id not in places:
                places[row.workspace_id] = await workspace_of(session=session, notification=row)
            for member in recipients:
                per_chat[member.telegram_user_id].append((row, member))
        for chat_id, items in per_chat.items():
            plan.envelopes.extend(_envelopes(chat_id, items, facts, places))
        plan.envelopes.sort(key=lambda e: e.row_ids[0])
        return plan

    # -- sending ------------------------------------------------------------------------

    async def _send(self, envelopes: list[Envelope], forbidden: set[int]) -> dict[int, Outcome]:
        outcomes: dict[int, Outcome] = {}
        queues = ChatQueues(self.pacer)
        for index, envelope in enumerate(envelopes):
            queues.add(envelope.chat_id, index)
        refusals: dict[int, int] = defaultdict(int)
        blocked: set[int] = set()
        away = asyncio.Event()
        gate = asyncio.Semaphore(self.concurrency)
        running: set[asyncio.Task[None]] = set()

        async def one(index: int) -> None:
            envelope = envelopes[index]
            try:
                outcomes[index] = await self._deliver(envelope, forbidden)
            except TelegramRetryAfter as err:
                self.stats.retry_after += 1
                refusals[index] += 1
                if refusals[index] >= RETRY_AFTER_ALLOWED:
                    outcomes[index] = Outcome.RETRY
                else:
                    self.pacer.hold(envelope.chat_id, err.retry_after)
                    queues.push_front(envelope.chat_id, index)
            except (TelegramNetworkError, TelegramServerError) as err:
                self.stats.network_errors += 1
                log.warning("Telegram is unreachable (%s); the outbox waits", type(err).__name__)
                outcomes[index] = Outcome.RETRY
                away.set()
            except Exception:
                log.exception("notification %s: sending failed", envelope.row_ids)
                outcomes[index] = Outcome.RETRY
            finally:
                gate.release()
            if outcomes.get(index) is Outcome.BLOCKED:
                blocked.add(envelope.chat_id)

        while queues or running:
            if not queues or away.is_set():
                if away.is_set():
                    for index in queues.drain():
                        outcomes.setdefault(index, Outcome.POSTPONED)
                if running:
                    await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                continue
            chat_id, index = queues.pop()
            if chat_id in blocked:
                outcomes[index] = Outcome.BLOCKED
                continue
            await gate.acquire()
            await self.pacer.turn(chat_id)
            task = asyncio.create_task(one(index))
            running.add(task)
            task.add_done_callback(running.discard)
        return outcomes

    async def _deliver(self, envelope: Envelope, forbidden: set[int]) -> Outcome:
        try:
            await self.bot.send_message(
                envelope.chat_id, envelope.outgoing.text, reply_markup=envelope.outgoing.markup
            )
        except TelegramForbiddenError:
            self.stats.blocked += 1
            forbidden.add(envelope.chat_id)
            return Outcome.BLOCKED
        except TelegramBadRequest as err:
            if "chat not found" in err.message:
                self.stats.blocked += 1
                return Outcome.BLOCKED
            self.stats.refused += 1
            log.error("Telegram refused notification %s: %s", envelope.row_ids, err.message)
            return Outcome.REFUSED
        except (TelegramRetryAfter, TelegramNetworkError, TelegramServerError):
            raise
        except TelegramAPIError as err:
            self.stats.refused += 1
            log.error("Telegram refused notification %s: %s", envelope.row_ids, err.message)
            return Outcome.REFUSED
        self.stats.sent += 1
        return Outcome.SENT

    # -- settling -----------------------------------------------------------------------

    async def _settle(
        self, session: AsyncSession, plan: Plan, outcomes: dict[int, Outcome]
    ) -> None:
        now = utcnow()
        await block_chats(session=session, telegram_user_ids=plan.forbidden, now=now)
        per_row: dict[int, list[tuple[int, Outcome]]] = defaultdict(list)
        for index, envelope in enumerate(plan.envelopes):
            outcome = outcomes.get(index, Outcome.POSTPONED)
            for row_id in envelope.row_ids:
                per_row[row_id].append((envelope.chat_id, outcome))
        rows = await notifications_by_id(
            session=session, ids=[*plan.nobody, *plan.unknown, *per_row]
        )
        for row_id in plan.nobody:
            row = rows.get(row_id)
            if row is not None:
                if row.payload.get(SENT_TO):
                    mark_sent(row, now=now)
                else:
                    mark_failed(row, retry_in=None, now=now)
        for row_id in plan.unknown:
            row = rows.get(row_id)
            if row is not None:
                log.error("notification %s: no words for kind %r yet; it waits", row_id, row.kind)
                postpone(row, until=now + timedelta(hours=1))
        for row_id, results in per_row.items():
            row = rows.get(row_id)
            if row is not None:
                _settle_row(row, results, now)


def _settle_row(row: Notification, results: list[tuple[int, Outcome]], now: Any) -> None:
    sent = [chat for chat, outcome in results if outcome is Outcome.SENT]
    if sent:
        row.payload = {**row.payload, SENT_TO: sorted({*row.payload.get(SENT_TO, ()), *sent})}
    outcomes = {outcome for _, outcome in results}
    if Outcome.REFUSED in outcomes:
        give_up = row.attempts + 1 >= REFUSALS_ALLOWED
        mark_failed(row, retry_in=None if give_up else OUTBOX.wait(row.attempts + 1), now=now)
    elif Outcome.RETRY in outcomes:
        mark_failed(row, retry_in=OUTBOX.wait(row.attempts + 1), now=now)
    elif Outcome.POSTPONED in outcomes:
        release(row, now=now)
    elif sent or row.payload.get(SENT_TO):
        mark_sent(row, now=now)
    else:
        mark_failed(row, retry_in=None, now=now)  # everyone blocked the bot


def _envelopes(
    chat_id: int,
    items: list[tuple[Notification, Member]],
    facts: Facts,
    places: dict[int, Workspace | None],
) -> Iterable[Envelope]:
    merged: list[Notification] = []
    member = items[0][1]
    for row, member in items:
        assert row.id is not None
        texts = _texts(places.get(row.workspace_id or 0), member)
        if row.kind in MERGEABLE:
            merged.append(row)
            continue
        outgoing = render(row.kind, row.payload, texts=texts, facts=facts)
        assert outgoing is not None
        yield Envelope(chat_id, (row.id,), outgoing)
    for start in range(0, len(merged), MERGE_AT_MOST):
        group = merged[start : start + MERGE_AT_MOST]
        first = group[0]
        texts = _texts(places.get(first.workspace_id or 0), member)
        outgoing = render_batch([(r.kind, r.payload) for r in group], texts=texts, facts=facts)
        yield Envelope(chat_id, tuple(r.id for r in group if r.id is not None), outgoing)


def _texts(workspace: Workspace | None, member: Member) -> Texts:
    """The member's words, with the workspace's language and clock."""
    return texts_for(
        workspace_locale=workspace.locale if workspace else None,
        language_code=member.language_code,
        timezone=workspace.timezone if workspace else None,
    )


async def _facts(session: AsyncSession, rows: list[Notification]) -> Facts:
    """Core's names for the claimed rows, in the renderers' shape."""
    context = await notice_context(session=session, notifications=rows)
    return Facts(
        suppliers=context.suppliers,
        challenges=context.challenges,
        documents={
            document_id: DocumentFact(document.filename, document.day)
            for document_id, document in context.documents.items()
        },
    )
