"""Download the invoice behind a billing host's link, within limits, or say why not.

`LinkFetcher` is the contract the mail worker uses; `HttpsLinkFetcher` is the real one
(httpx over `GuardedBackend`). Every URL it touches, the link, each redirect and the
PDF link found on a page, is checked the same way: https, a listed host and path, and a
public address. The body is read in chunks up to a size limit, under one deadline for
the whole download, and its type is taken from its bytes, never from its headers.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from core.config import Settings
from core.sniff import is_document_type, sniff_content_type
from mail.links.errors import LinkRefused, Reason
from mail.links.guard import AddressPolicy, GuardedBackend, LoopResolver, Resolver
from mail.links.hosts import BillingHost, BillingHosts, billing_hosts
from mail.parse.links import all_urls

#: A hosted page is read only to find its PDF link; no real one is this big.
MAX_PAGE_BYTES = 1024 * 1024
_USER_AGENT = "Courier invoice fetcher (+https://courier.invalid/links)"


@dataclass(frozen=True, slots=True)
class FetchedFile:
    """An invoice downloaded from `url` (the mail's link), found at `final_url`."""

    url: str
    final_url: str
    content: bytes
    content_type: str

    def __repr__(self) -> str:  # the bytes would flood a log line
        return f"FetchedFile(content_type={self.content_type!r}, size={len(self.content)})"


@dataclass(frozen=True, slots=True)
class FetchLimits:
    max_bytes: int = 20 * 1024 * 1024
    #: For one link, from the first connection to the last byte, redirects included.
    seconds: float = 30.0
    redirects: int = 5


class LinkFetcher(Protocol):
    def refusal(self, url: str) -> Reason | None:
        """Why `url` is not even tried (not https, not a listed host), or None."""
        ...

    async def fetch(self, url: str) -> FetchedFile:
        """The invoice behind `url`; raises LinkRefused."""
        ...


class _GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with its pool dialling through `GuardedBackend`.

    httpx takes no network backend, so the pool it builds is replaced by the same pool
    given ours; request and response mapping, and error mapping, stay httpx's own.
    """

    def __init__(self, backend: GuardedBackend, tls: ssl.SSLContext) -> None:
        super().__init__(verify=tls, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=tls, network_backend=backend, max_connections=4
        )


class HttpsLinkFetcher:
    def __init__(
        self,
        *,
        hosts: BillingHosts | None = None,
        limits: FetchLimits | None = None,
        policy: AddressPolicy | None = None,
        resolver: Resolver | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.hosts = hosts or billing_hosts()
        self.limits = limits or FetchLimits()
        self.policy = policy or AddressPolicy()
        self.resolver = resolver or LoopResolver()
        self.tls = tls or ssl.create_default_context()

    def refusal(self, url: str) -> Reason | None:
        try:
            self._entry(url)
        except LinkRefused as err:
            return err.reason
        return None

    async def fetch(self, url: str) -> FetchedFile:
        backend = GuardedBackend(resolver=self.resolver, policy=self.policy)
        timeout = httpx.Timeout(self.limits.seconds)
        try:
            async with (
                asyncio.timeout(self.limits.seconds),
                httpx.AsyncClient(
                    transport=_GuardedTransport(backend, self.tls),
                    timeout=timeout,
                    follow_redirects=False,
                    trust_env=False,
                    headers={"User-Agent": _USER_AGENT},
                ) as client,
            ):
                return await self._fetch(client, url)
        except TimeoutError as err:
            raise LinkRefused("too_slow") from err
        except httpx.TimeoutException as err:
            raise LinkRefused("too_slow") from err
        except httpx.HTTPError as err:
            raise LinkRefused("unreachable") from err

    async def _fetch(self, client: httpx.AsyncClient, url: str) -> FetchedFile:
        entry = self._entry(url)
        if entry.how == "rewrite":
            target = entry.rewritten(url)
            if target is None:
                raise LinkRefused("no_pdf_link")
            return await self._file(client, url, target)
        if entry.how == "page":
            page_url, page = await self._get(client, url, MAX_PAGE_BYTES)
            if sniff_content_type(page) != "text/html":
                raise LinkRefused("not_a_document")
            target = _pdf_link(entry, page_url, page.decode("utf-8", errors="replace"))
            return await self._file(client, url, target)
        return await self._file(client, url, url)

    async def _file(self, client: httpx.AsyncClient, url: str, target: str) -> FetchedFile:
        final_url, content = await self._get(client, target, self.limits.max_bytes)
        content_type = sniff_content_type(content)
        if not is_document_type(content_type):
            raise LinkRefused("not_a_document")
        return FetchedFile(url, final_url, content, content_type)

    def _entry(self, url: str) -> BillingHost:
        if urlsplit(url).scheme.lower() != "https":
            raise LinkRefused("not_https")
        entry = self.hosts.find(url)
        if entry is None:
            raise LinkRefused("host_not_listed")
        return entry

    async def _get(self, client: httpx.AsyncClient, url: str, limit: int) -> tuple[str, bytes]:
        """GET `url`, following redirects to listed hosts only; returns where it ended."""
        for _ in range(self.limits.redirects + 1):
            self._entry(url)
            async with client.stream("GET", url) as response:
                if response.is_redirect:
                    url = urljoin(url, response.headers.get("location", ""))
                    continue
                if response.status_code != 200:
                    raise LinkRefused("http_status")
                return url, await _body(response, limit)
        raise LinkRefused("too_many_redirects")


async def _body(response: httpx.Response, limit: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise LinkRefused("too_large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise LinkRefused("too_large")  # the stream is closed unread: no more is taken
        chunks.append(chunk)
    return b"".join(chunks)


def _pdf_link(entry: BillingHost, page_url: str, page: str) -> str:
    assert entry.pdf_link is not None
    for found in all_urls("", page):
        candidate = urljoin(page_url, found)
        if entry.pdf_link.search(candidate):
            return candidate
    raise LinkRefused("no_pdf_link")


def link_fetcher(settings: Settings) -> HttpsLinkFetcher | None:
    """The fetcher the settings ask for, or None when links are left to the person."""
    if not settings.link_fetch:
        return None
    return HttpsLinkFetcher(
        limits=FetchLimits(
            max_bytes=settings.link_fetch_max_bytes, seconds=settings.link_fetch_seconds
        ),
        policy=AddressPolicy.allowing(settings.link_fetch_allow_networks),
    )
