"""Where a link may lead: public addresses only, checked on the address actually dialled.

Each name is resolved here, every address it gives is checked, and the connection is
made to a checked address; TLS still verifies the certificate against the name. A name
that answers a public address to the check and a private one to the connection (DNS
rebinding) therefore never reaches the private one: there is no second lookup.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import httpcore
from httpcore import AnyIOBackend, AsyncNetworkBackend, AsyncNetworkStream

from mail.links.errors import LinkRefused

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Resolver(Protocol):
    async def resolve(self, host: str, port: int) -> list[tuple[str, int]]:
        """The (address, port) pairs to dial for a name, as getaddrinfo gives them."""
        ...


class LoopResolver:
    """The event loop's getaddrinfo: the system's resolver, without blocking the loop."""

    async def resolve(self, host: str, port: int) -> list[tuple[str, int]]:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
        return [(str(info[4][0]), int(info[4][1])) for info in infos]


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """Public addresses only, but for `allowed` networks (a setting only tests turn on)."""

    allowed: tuple[Network, ...] = ()

    @classmethod
    def allowing(cls, networks: Iterable[str]) -> AddressPolicy:
        return cls(tuple(ipaddress.ip_network(n, strict=False) for n in networks))

    def permits(self, address: str) -> bool:
        ip: Address = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is loopback too
        if any(ip in network for network in self.allowed):
            return True
        # is_global is False for loopback, private (RFC 1918, ULA), link-local (the cloud
        # metadata address 169.254.169.254), shared (CGNAT), reserved and documentation ranges.
        return ip.is_global and not ip.is_multicast


@dataclass(frozen=True, slots=True)
class GuardedBackend(AsyncNetworkBackend):
    """httpcore's network backend, dialling only addresses the policy permits."""

    resolver: Resolver
    policy: AddressPolicy
    inner: AsyncNetworkBackend = field(default_factory=AnyIOBackend)

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> AsyncNetworkStream:
        try:
            addresses = await self._addresses(host, port)
        except OSError as err:
            raise LinkRefused("unreachable") from err
        # One refused address refuses the name: which one a client would pick is not ours
        # to guess, and a billing host has no reason to publish a private one.
        if not addresses or not all(self.policy.permits(a) for a, _ in addresses):
            raise LinkRefused("address_refused")
        last: Exception | None = None
        for address, address_port in addresses:
            try:
                return await self.inner.connect_tcp(
                    address,
                    address_port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as err:
                last = err
        assert last is not None
        raise last

    async def _addresses(self, host: str, port: int) -> list[tuple[str, int]]:
        try:
            return [(str(ipaddress.ip_address(host)), port)]
        except ValueError:
            return list(dict.fromkeys(await self.resolver.resolve(host, port)))

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> AsyncNetworkStream:
        raise LinkRefused("address_refused")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)
