"""Pacing for the notifier: Telegram's limits kept on our side, so a 429 stays rare.

At most `per_second` messages start per second overall (a token bucket: after a pause,
up to `burst` may start at once, fewer than Telegram's own tolerance), and one chat gets
a message at most every `chat_interval` seconds. Messages for one chat keep their order. A 429 puts
its chat (or, when `retry_after` names no chat, everyone) on hold for that long.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from dataclasses import dataclass


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
        self._tokens = float(pace.burst)
        self._stamp: float | None = None
        self._held_until = 0.0
        self._next_chat: dict[int, float] = {}

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def chat_ready_at(self, chat_id: int) -> float:
        return self._next_chat.get(chat_id, 0.0)

    def _refill(self, now: float) -> None:
        if self._stamp is not None:
            earned = (now - self._stamp) * self.pace.per_second
            self._tokens = min(float(self.pace.burst), self._tokens + earned)
        self._stamp = now

    async def turn(self, chat_id: int) -> None:
        """Wait for this chat's turn and an overall token, and take both."""
        while True:
            now = self._now()
            self._refill(now)
            token_at = now if self._tokens >= 1 else now + (1 - self._tokens) / self.pace.per_second
            start = max(token_at, self._held_until, self.chat_ready_at(chat_id))
            if start <= now:
                self._tokens -= 1
                self._next_chat[chat_id] = now + self.pace.chat_interval
                return
            await asyncio.sleep(start - now)

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
