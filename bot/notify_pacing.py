"""Pacing for the notifier: Telegram's limits kept on our side, so a 429 stays rare.

At most `per_second` messages start per second overall (a token bucket, core/limits.py:
after a pause, up to `burst` may start at once, fewer than Telegram's own tolerance), and
one chat gets a message at most every `chat_interval` seconds. Messages for one chat keep
their order. A 429 puts its chat (or, when `retry_after` names no chat, everyone) on hold
for that long.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from dataclasses import dataclass

from core.limits import token_bucket


@dataclass(frozen=True, slots=True)
class Pace:
    per_second: float = 30.0
    burst: int = 10
    chat_interval: float = 1.0


class Pacer:
    """Hands out send times; kept for the life of the notifier, so a new batch does not
    start with a burst right after the last one."""

    def __init__(self, pace: Pace) -> None:
        self.pace = pace
        self._bucket = token_bucket(pace.per_second, pace.burst)
        self._held_until = 0.0
        self._next_chat: dict[int, float] = {}

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def chat_ready_at(self, chat_id: int) -> float:
        return self._next_chat.get(chat_id, 0.0)

    async def turn(self, chat_id: int) -> None:
        """Wait for this chat's turn and an overall token, and take both."""
        while True:
            now = self._now()
            start = max(self._held_until, self.chat_ready_at(chat_id))
            if start > now:
                await asyncio.sleep(start - now)  # a deadline, not an event
                continue
            await self._bucket.acquire()
            # A 429 may have put everyone on hold while this waited for its token.
            if max(self._held_until, self.chat_ready_at(chat_id)) <= self._now():
                self._next_chat[chat_id] = self._now() + self.pace.chat_interval
                return

    def hold(self, chat_id: int | None, seconds: float) -> None:
        """After a 429: that chat (or every chat) waits `seconds`."""
        until = self._now() + seconds
        if chat_id is None:
            self._held_until = max(self._held_until, until)
        else:
            self._next_chat[chat_id] = max(self.chat_ready_at(chat_id), until)


class ChatQueues:
    """Messages grouped by chat; `next_ready()` yields the chat whose turn comes first,
    so one busy chat never holds the others back."""

    def __init__(self, pacer: Pacer) -> None:
        self.pacer = pacer
        self._queues: dict[int, list[int]] = {}
        self._heap: list[tuple[float, int, int]] = []
        self._order = itertools.count()

    def add(self, chat_id: int, item: int) -> None:
        queue = self._queues.setdefault(chat_id, [])
        queue.append(item)
        if len(queue) == 1:
            self._schedule(chat_id)

    def push_front(self, chat_id: int, item: int) -> None:
        queue = self._queues.setdefault(chat_id, [])
        queue.insert(0, item)
        if len(queue) == 1:
            self._schedule(chat_id)

    def _schedule(self, chat_id: int) -> None:
        heapq.heappush(self._heap, (self.pacer.chat_ready_at(chat_id), next(self._order), chat_id))

    def __bool__(self) -> bool:
        return bool(self._heap)

    def pop(self) -> tuple[int, int]:
        """The chat whose turn is first, and its first item; the chat is rescheduled when
        it has more."""
        _, _, chat_id = heapq.heappop(self._heap)
        queue = self._queues[chat_id]
        item = queue.pop(0)
        if queue:
            # Its next message comes a chat interval later at the earliest.
            ready = self.pacer.chat_ready_at(chat_id) + self.pacer.pace.chat_interval
            heapq.heappush(self._heap, (ready, next(self._order), chat_id))
        return chat_id, item

    def drain(self) -> list[int]:
        items = [item for queue in self._queues.values() for item in queue]
        self._queues.clear()
        self._heap.clear()
        return items
