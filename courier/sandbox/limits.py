"""Telegram's flood limits as token buckets: about 30 messages a second overall and about
one a second in a chat, with short bursts allowed, as the Bot FAQ describes them."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class RateLimits:
    per_second: float = 30.0
    burst: int = 30
    per_chat_per_second: float = 1.0
    #: Telegram tolerates a short burst in one chat (a reply and its follow-up).
    per_chat_burst: int = 3


@dataclass(slots=True)
class TokenBucket:
    rate: float
    capacity: float
    tokens: float
    stamp: float

    def wait(self, now: float) -> float:
        """Seconds until a token is free (0 when one is free now)."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1.0


@dataclass(slots=True)
class RateLimiter:
    limits: RateLimits
    clock: Callable[[], float] = time.monotonic
    _overall: TokenBucket | None = None
    _chats: dict[int, TokenBucket] = field(default_factory=dict)

    def _bucket(self, rate: float, capacity: int, now: float) -> TokenBucket:
        return TokenBucket(rate=rate, capacity=capacity, tokens=capacity, stamp=now)

    def admit(self, chat_id: int) -> int | None:
        """None when a message to `chat_id` may go now; else Telegram's `retry_after`,
        whole seconds and at least one. A refused message uses no token."""
        now = self.clock()
        limits = self.limits
        if self._overall is None:
            self._overall = self._bucket(limits.per_second, limits.burst, now)
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = self._chats[chat_id] = self._bucket(
                limits.per_chat_per_second, limits.per_chat_burst, now
            )
        wait = max(self._overall.wait(now), chat.wait(now))
        if wait > 0:
            return max(1, math.ceil(wait))
        self._overall.take()
        chat.take()
        return None
