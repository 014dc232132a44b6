"""One Bot API call as a method handler sees it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from courier.sandbox.limits import RateLimiter
from courier.sandbox.params import ApiError, Params
from courier.sandbox.world import BotWorld, PrivateChat


@dataclass(slots=True)
class Stats:
    """What the stand-in served, for tests and benchmarks."""

    calls: Counter[str] = field(default_factory=Counter)
    messages_sent: int = 0
    too_many_requests: int = 0
    forbidden: int = 0


@dataclass(slots=True)
class Call:
    world: BotWorld
    params: Params
    stats: Stats
    limiter: RateLimiter | None

    def chat(self) -> PrivateChat:
        chat = self.world.chats.get(self.params.chat_id())
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        return chat

    def writable_chat(self) -> PrivateChat:
        """A chat the bot may post to now: not blocked, and within the flood limits."""
        chat = self.chat()
        if chat.user.blocked_bot:
            self.stats.forbidden += 1
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if self.limiter is not None:
            retry_after = self.limiter.admit(chat.user.id)
            if retry_after is not None:
                self.stats.too_many_requests += 1
                raise ApiError(
                    429,
                    f"Too Many Requests: retry after {retry_after}",
                    {"retry_after": retry_after},
                )
        return chat


Handler = Callable[[Call], Awaitable[Any]]
