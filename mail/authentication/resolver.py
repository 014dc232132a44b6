"""DNS as sender authentication needs it: the `DnsResolver` contract and two resolvers.

`DnspythonResolver` asks the real DNS through dnspython's asyncio resolver, with a short
lifetime per query; `StaticResolver` answers from a dict, for tests and offline runs.
Both give `[]` for a name or record that does not exist and raise `DnsTemporaryError` for
anything that might answer differently later (timeout, SERVFAIL, no server reachable), as
SPF, DKIM and DMARC tell "none" from "temperror".
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Protocol

import dns.asyncresolver
import dns.exception
import dns.rdata
import dns.resolver
from dns.rdtypes.ANY.MX import MX
from dns.rdtypes.ANY.TXT import TXT
from dns.rdtypes.IN.A import A
from dns.rdtypes.IN.AAAA import AAAA

DEFAULT_LOOKUP_TIMEOUT = 2.0


class DnsTemporaryError(Exception):
    """A lookup that failed for now: retrying later may succeed."""


class DnsResolver(Protocol):
    """The four record types that SPF, DKIM, ARC and DMARC read.

    Names come without the trailing dot. TXT strings of one record arrive joined.
    """

    async def txt(self, name: str) -> list[str]: ...

    async def a(self, name: str) -> list[str]: ...

    async def aaaa(self, name: str) -> list[str]: ...

    async def mx(self, name: str) -> list[tuple[int, str]]: ...


class DnspythonResolver:
    """The real DNS, through dnspython's asyncio resolver."""

    def __init__(
        self,
        resolver: dns.asyncresolver.Resolver | None = None,
        *,
        timeout: float = DEFAULT_LOOKUP_TIMEOUT,
    ) -> None:
        if resolver is None:
            resolver = dns.asyncresolver.Resolver()
            # Suppliers mail again and again: their SPF, DMARC and key records repeat.
            resolver.cache = dns.resolver.LRUCache()
        self._resolver = resolver
        self._timeout = timeout

    async def txt(self, name: str) -> list[str]:
        # Key and policy records are ASCII; a stray byte must not fail the whole lookup.
        return [
            b"".join(rdata.strings).decode("utf-8", "replace")
            for rdata in await self._resolve(name, "TXT")
            if isinstance(rdata, TXT)
        ]

    async def a(self, name: str) -> list[str]:
        return [str(r.address) for r in await self._resolve(name, "A") if isinstance(r, A)]

    async def aaaa(self, name: str) -> list[str]:
        return [str(r.address) for r in await self._resolve(name, "AAAA") if isinstance(r, AAAA)]

    async def mx(self, name: str) -> list[tuple[int, str]]:
        return [
            (int(rdata.preference), rdata.exchange.to_text(omit_final_dot=True))
            for rdata in await self._resolve(name, "MX")
            if isinstance(rdata, MX)
        ]

    async def _resolve(self, name: str, rdtype: str) -> list[dns.rdata.Rdata]:
        try:
            answer = await self._resolver.resolve(
                name,
                rdtype,
                lifetime=self._timeout,
                raise_on_no_answer=False,
                # A search domain appended to "_dmarc.edf.fr" would ask the wrong zone.
                search=False,
            )
        except (dns.resolver.NXDOMAIN, dns.resolver.YXDOMAIN):
            return []
        except (dns.exception.DNSException, OSError) as err:
            raise DnsTemporaryError(f"{rdtype} {name}: {err}") from err
        return list(answer)


class StaticResolver:
    """DNS from a dict: `{"edf.fr": {"TXT": ["v=spf1 -all"], "MX": ["10 mx.edf.fr"]}}`.

    Names listed in `failing` raise `DnsTemporaryError`, as a broken zone would.
    """

    def __init__(
        self,
        records: Mapping[str, Mapping[str, Sequence[str]]],
        *,
        failing: Collection[str] = (),
    ) -> None:
        self._records = {
            _key(name): {rtype.upper(): tuple(values) for rtype, values in types.items()}
            for name, types in records.items()
        }
        self._failing = frozenset(_key(name) for name in failing)

    async def txt(self, name: str) -> list[str]:
        return self._values(name, "TXT")

    async def a(self, name: str) -> list[str]:
        return self._values(name, "A")

    async def aaaa(self, name: str) -> list[str]:
        return self._values(name, "AAAA")

    async def mx(self, name: str) -> list[tuple[int, str]]:
        exchanges = []
        for value in self._values(name, "MX"):
            preference, _, exchange = value.partition(" ")
            exchanges.append((int(preference), exchange.strip().rstrip(".")))
        return exchanges

    def _values(self, name: str, rtype: str) -> list[str]:
        key = _key(name)
        if key in self._failing:
            raise DnsTemporaryError(f"{rtype} {name}: configured to fail")
        return list(self._records.get(key, {}).get(rtype, ()))


def _key(name: str) -> str:
    return name.strip().rstrip(".").lower()
