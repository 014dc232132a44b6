"""What the accounting stand-ins (Xero, QuickBooks, Pennylane) share: a clock that tests
can move and a time scale, sliding-window limits, fault knobs and issued OAuth tokens.

`time_scale=100` makes every documented duration (token lifetimes, rate-limit windows)
100 times shorter, so the benchmark runs "60 calls a minute" in 0.6 s windows. A test
that needs a token to age does not sleep: it calls `clock.advance(seconds)` in the
provider's own seconds (already scaled).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum

from aiohttp import web


class Clock:
    """Monotonic seconds plus an offset a test moves forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.monotonic() + self.offset

    def wall(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


class Fault(StrEnum):
    SERVER_ERROR = "server_error"  # 500 on the next API calls
    MALFORMED_JSON = "malformed_json"  # a 200 whose JSON is cut in the middle
    RATE_LIMITED = "rate_limited"  # 429 with Retry-After on the next API calls


@dataclass
class Knobs:
    """Mutable on purpose: a test flips them between two calls of the provider."""

    fault: Fault | None = None
    #: How many API calls the fault hits before the stand-in answers normally again.
    fault_times: int = 1_000_000
    retry_after: float = 2.0
    #: Seconds each API call takes, to make "calls in flight" real.
    latency: float = 0.0
    #: (method, path with query) of every request, for assertions.
    requests: list[tuple[str, str]] = field(default_factory=list)
    #: Every 429 the stand-in answered.
    rate_limited: int = 0

    def take_fault(self) -> Fault | None:
        if self.fault is None or self.fault_times <= 0:
            return None
        self.fault_times -= 1
        fault = self.fault
        if self.fault_times == 0:
            self.fault = None
        return fault


class SlidingWindow:
    """At most `limit` calls in any `period` seconds, as the providers count them."""

    def __init__(self, limit: int, period: float) -> None:
        self.limit, self.period = limit, period
        self._stamps: deque[float] = deque()

    def admit(self, now: float) -> float | None:
        """None when the call is admitted (and counted); else seconds until it would be."""
        while self._stamps and self._stamps[0] <= now - self.period:
            self._stamps.popleft()
        if len(self._stamps) >= self.limit:
            return self._stamps[0] + self.period - now
        self._stamps.append(now)
        return None

    def remaining(self, now: float) -> int:
        while self._stamps and self._stamps[0] <= now - self.period:
            self._stamps.popleft()
        return self.limit - len(self._stamps)


def retry_after_value(seconds: float, time_scale: float) -> str:
    """Whole seconds, as the providers send them; in a scaled run a decimal, since a
    whole second would be a hundred of the stand-in's seconds."""
    if time_scale == 1:
        return str(max(1, int(seconds + 0.999)))
    return f"{max(seconds, 0.001):.3f}"


def new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(24)


def truncated_json() -> web.Response:
    return web.Response(text='{"items": [{"id": ', content_type="application/json")


async def delay(knobs: Knobs) -> None:
    if knobs.latency:
        await asyncio.sleep(knobs.latency)


@dataclass
class RefreshToken:
    """One refresh token of a grant. `grant` ties the rotating tokens of one consent."""

    grant: str
    expires_at: float
    #: When it was used: still accepted (answering the same pair) until the grace ends.
    used_at: float | None = None
    successor: str | None = None


@dataclass
class AccessToken:
    grant: str
    expires_at: float


@dataclass
class TokenBook:
    """The identity server's memory: codes, access and refresh tokens, revoked grants."""

    codes: dict[str, tuple[str, str]] = field(default_factory=dict)  # code → (grant, redirect)
    access: dict[str, AccessToken] = field(default_factory=dict)
    refresh: dict[str, RefreshToken] = field(default_factory=dict)
    revoked: set[str] = field(default_factory=set)

    def grant_of_access(self, token: str, now: float) -> str | None:
        entry = self.access.get(token)
        if entry is None or entry.expires_at <= now or entry.grant in self.revoked:
            return None
        return entry.grant

    def revoke_grant(self, grant: str) -> None:
        self.revoked.add(grant)

    def expire_now(self) -> None:
        """Every access token dies now (the next call needs a refresh)."""
        for entry in self.access.values():
            entry.expires_at = float("-inf")

    def kill_refresh_tokens(self) -> None:
        """Every refresh token dies now, as after 60 unused days."""
        for entry in self.refresh.values():
            entry.expires_at = float("-inf")


def bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None
