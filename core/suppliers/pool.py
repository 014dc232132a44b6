"""`HttpPool`: one process's connections to the suppliers' hosts, shared by every run.

Each run keeps its own httpx client: its own cookies, headers and redirects, so that two
accounts on one portal never share a session. Only the sockets are pooled: the client
sends through a transport leased from the pool (`lease`), and a run that ends returns its
connections for the next run to the same host instead of closing them.

The pool speaks HTTP/1.1 through aiohttp, whose parser is C and whose pool, unlike
httpcore's, does not look over every connection on each request (README, "Connections
to suppliers"). Cookies stay with httpx (aiohttp's jar is a dummy), redirects too (one
hop per `send`), and so does decoding: the body comes back as the site sent it.

aiohttp's failures become httpx's, each to the one that keeps its meaning for a retry: a
connection never made (`ConnectError`, `ConnectTimeout`) is safe to retry for any method,
a connection lost while the site answered (`RemoteProtocolError`, `ReadError`,
`ReadTimeout`) only for a request that changes nothing (core/suppliers/http.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import httpx
from multidict import CIMultiDict
from yarl import URL

from core.suppliers.http import tls_context

# What h11 (httpx's own parser) accepts for one header line, which some portals need for
# their cookies; aiohttp's default is half.
_MAX_HEADER_BYTES = 16 * 1024
_CHUNK = 64 * 1024


class HttpPool:
    """Connections kept alive across runs, at most `per_host` at once to one host. No cap
    overall: the runs at once bound the sockets, and the throttle the requests."""

    def __init__(self, *, per_host: int = 4, keepalive: float = 15.0) -> None:
        self._per_host, self._keepalive = per_host, keepalive
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"HttpPool(per_host={self._per_host})"

    def transport(self) -> httpx.AsyncBaseTransport:
        """A lease for one client: closing the client leaves the pool open."""
        return _Lease(self)

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _opened(self) -> aiohttp.ClientSession:
        # Made at the first request, inside the running loop that will own its sockets.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=0,
                    limit_per_host=self._per_host,
                    keepalive_timeout=self._keepalive,
                    ssl=tls_context(),
                ),
                cookie_jar=aiohttp.DummyCookieJar(),  # each run's cookies are its client's
                auto_decompress=False,
                trust_env=False,  # httpx's client mounts the proxies it finds itself
                max_line_size=_MAX_HEADER_BYTES,
                max_field_size=_MAX_HEADER_BYTES,
            )
            # aiohttp sends an idempotent request again, unseen, when the connection drops;
            # `request` in core/suppliers/http.py already retries what is worth retrying,
            # with a pause, and counts what a supplier was sent. (No public switch: 3.10+.)
            self._session._retry_connection = False
        return self._session

    async def send(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {})
        # Raw, to keep each name's case on the wire as httpx's own transport would.
        encoding = request.headers.encoding
        headers = CIMultiDict(
            (name.decode(encoding), value.decode(encoding)) for name, value in request.headers.raw
        )
        # The whole body is at hand (forms, JSON); aiohttp frames it with a length.
        headers.popall("Transfer-Encoding", None)
        body = await request.aread()
        try:
            response = await self._opened().request(
                request.method,
                URL(str(request.url), encoded=True),
                headers=headers,
                data=body or None,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=timeout.get("pool"),
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                ),
            )
        except (aiohttp.ClientError, TimeoutError) as err:
            failure = _as_httpx(err, request)
        else:
            return httpx.Response(
                status_code=response.status,
                headers=response.raw_headers,
                stream=_Body(response, request),
                request=request,
                extensions={
                    "http_version": b"HTTP/1.1",
                    "reason_phrase": (response.reason or "").encode("latin-1", "replace"),
                },
            )
        raise failure


def lease(pool: HttpPool | None) -> httpx.AsyncBaseTransport:
    """A transport from the process's `pool`; without one (a connector built alone, as
    in a test), from a pool of its own, which closing the client closes."""
    if pool is not None:
        return pool.transport()
    return _Lease(HttpPool(), owned=True)


class _Lease(httpx.AsyncBaseTransport):
    def __init__(self, pool: HttpPool, *, owned: bool = False) -> None:
        self._pool, self._owned = pool, owned

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._pool.send(request)

    async def aclose(self) -> None:
        # A shared pool is its owner's to close; a lease's own closes with its client.
        if self._owned:
            await self._pool.aclose()


class _Body(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response, self._request = response, request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunks = self._response.content.iter_chunked(_CHUNK)
        while chunk := await self._next(chunks):
            yield chunk

    async def _next(self, chunks: AsyncIterator[bytes]) -> bytes:
        """The next chunk, b"" at the end."""
        try:
            return await anext(chunks, b"")
        except (aiohttp.ClientError, TimeoutError) as err:
            failure = _as_httpx(err, self._request)
        raise failure

    async def aclose(self) -> None:
        # Read to the end, the connection goes back to the pool; otherwise it is closed.
        self._response.release()


def _as_httpx(err: Exception, request: httpx.Request) -> httpx.TransportError:
    """aiohttp's failure as the httpx exception that means the same for a retry.

    Raised outside the `except` that caught the original, so it carries no context: some
    of aiohttp's hold the URL, query string and all, and a traceback would print it. What
    went wrong is kept in words."""
    if isinstance(err, aiohttp.ClientError):
        kind, message = _mapped(err)
        return kind(message, request=request)
    return httpx.TimeoutException("timed out", request=request)


def _mapped(err: aiohttp.ClientError) -> tuple[type[httpx.TransportError], str]:
    if isinstance(err, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout, "connect timeout"
    if isinstance(err, aiohttp.ServerTimeoutError):
        return httpx.ReadTimeout, "read timeout"
    if isinstance(err, aiohttp.ClientConnectorError):
        # Host, port and the OS's or TLS's reason: no path, no query.
        return httpx.ConnectError, str(err)
    if isinstance(err, aiohttp.ServerDisconnectedError):
        return httpx.RemoteProtocolError, "the server closed the connection"
    if isinstance(err, aiohttp.ClientOSError):
        return httpx.ReadError, f"connection lost: {err.strerror or type(err).__name__}"
    if isinstance(err, aiohttp.ClientPayloadError):
        return httpx.ReadError, "the body was cut short"
    if isinstance(err, aiohttp.ClientResponseError):
        # A reply that is not HTTP: a header too long, a broken status line.
        return httpx.RemoteProtocolError, f"not an HTTP reply: {err.message}"
    if isinstance(err, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        return httpx.UnsupportedProtocol, "not an http(s) URL"
    return httpx.TransportError, type(err).__name__
