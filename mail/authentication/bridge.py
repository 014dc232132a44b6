"""One message's view of DNS: a shared deadline, a cache, and a door for blocking code.

`BoundedResolver` wraps a `DnsResolver` for one authentication: every lookup ends by a
single deadline (a hanging resolver yields `DnsTemporaryError`, never a hang), repeated
names are asked once (DKIM and ARC often share a key), and invalid names are answered
`[]` without asking. `BlockingLookups` lets pyspf and dkimpy, which are synchronous and run
in a worker thread, put their questions to it on the event loop.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from mail.authentication.resolver import DnsResolver, DnsTemporaryError

T = TypeVar("T")

_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
# Beyond the deadline, the time a worker thread still waits for the loop to say so.
_GRACE = 0.5


def valid_dns_name(name: str) -> bool:
    """Whether `name` (lower case, no trailing dot) can be asked of the DNS at all."""
    labels = name.split(".")
    return 0 < len(name) <= 253 and len(labels) >= 2 and all(map(_LABEL.match, labels))


class BoundedResolver:
    """A `DnsResolver` with a deadline and a cache; make one per message, inside the loop."""

    def __init__(self, resolver: DnsResolver, *, timeout: float) -> None:
        self._resolver = resolver
        self._deadline = time.monotonic() + timeout
        self._txt: dict[str, list[str] | None] = {}
        self._a: dict[str, list[str] | None] = {}
        self._aaaa: dict[str, list[str] | None] = {}
        self._mx: dict[str, list[tuple[int, str]] | None] = {}

    def remaining(self) -> float:
        return max(0.0, self._deadline - time.monotonic())

    async def txt(self, name: str) -> list[str]:
        return await self._ask(self._txt, name, self._resolver.txt)

    async def a(self, name: str) -> list[str]:
        return await self._ask(self._a, name, self._resolver.a)

    async def aaaa(self, name: str) -> list[str]:
        return await self._ask(self._aaaa, name, self._resolver.aaaa)

    async def mx(self, name: str) -> list[tuple[int, str]]:
        return await self._ask(self._mx, name, self._resolver.mx)

    async def _ask(
        self,
        cache: dict[str, list[T] | None],
        name: str,
        lookup: Callable[[str], Awaitable[list[T]]],
    ) -> list[T]:
        key = name.strip().rstrip(".").lower()
        if not valid_dns_name(key):
            return []
        if key in cache:
            cached = cache[key]
            if cached is None:
                raise DnsTemporaryError(f"{key}: failed earlier")
            return list(cached)
        try:
            remaining = self.remaining()
            if remaining <= 0:
                raise TimeoutError
            answer = list(await asyncio.wait_for(lookup(key), remaining))
        except TimeoutError as err:
            cache[key] = None
            raise DnsTemporaryError(f"{key}: no answer in time") from err
        except DnsTemporaryError:
            cache[key] = None
            raise
        except Exception as err:
            # A resolver's own bug must not turn into a verdict about the sender.
            cache[key] = None
            raise DnsTemporaryError(f"{key}: {err!r}") from err
        cache[key] = answer
        return list(answer)


class BlockingLookups:
    """Synchronous lookups for a worker thread, answered by the loop's `BoundedResolver`."""

    def __init__(self, resolver: BoundedResolver, loop: asyncio.AbstractEventLoop) -> None:
        self._resolver = resolver
        self._loop = loop

    def txt(self, name: str) -> list[str]:
        return self._call(self._resolver.txt(name))

    def a(self, name: str) -> list[str]:
        return self._call(self._resolver.a(name))

    def aaaa(self, name: str) -> list[str]:
        return self._call(self._resolver.aaaa(name))

    def mx(self, name: str) -> list[tuple[int, str]]:
        return self._call(self._resolver.mx(name))

    def _call(self, lookup: Coroutine[Any, Any, T]) -> T:
        try:
            future = asyncio.run_coroutine_threadsafe(lookup, self._loop)
        except RuntimeError as err:  # the loop is closing: nothing will answer
            lookup.close()
            raise DnsTemporaryError("event loop closed") from err
        try:
            return future.result(timeout=self._resolver.remaining() + _GRACE)
        except TimeoutError as err:
            future.cancel()
            raise DnsTemporaryError("no answer in time") from err
