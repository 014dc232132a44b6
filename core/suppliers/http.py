"""HTTP plumbing shared by the supplier connectors: clients, limits, retries and cookies.

- `build_client` makes an httpx client that looks like a browser (User-Agent, language),
  follows redirects, has bounded timeouts, and starts from saved cookies. Its connections
  are the process's `HttpPool`'s (core/suppliers/pool.py), leased for the run.
- `export_cookies` / `import_cookies` turn its cookie jar into a plain JSON-able dict for a
  connector's `save()` / `restore()`, so "remember this device" survives between runs.
- `Throttle` caps the requests in flight (overall and per supplier) and their rate (a
  token bucket per supplier, core/limits.py): one per process, passed to the connectors
  that share it.
- `request` sends one request through the throttle and retries what is worth retrying
  (timeouts, 5xx, 429) with back-off, honouring Retry-After up to a bound. When it gives
  up it raises `SupplierUnavailable`; its message names the supplier, the method and the
  host and path, never a query string, a header or a body, so no secret can leak.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from http.cookiejar import Cookie
from typing import Any

import httpx

from core.backoff import SUPPLIER_HTTP
from core.limits import Buckets
from core.retry_after import parse_retry_after
from core.suppliers.connector import SupplierUnavailable

# A current desktop browser: some portals serve a "browser not supported" page otherwise.
USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
DEFAULT_HEADERS = {
    "User-Agent": USER_AGENT,
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language": "fr-FR,fr;q=0.9,en;q=0.8",
}
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})
COOKIES_VERSION = 1


@dataclass(frozen=True, slots=True)
class HttpLimits:
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    max_redirects: int = 10
    retries: int = 2
    backoff: float = SUPPLIER_HTTP.base  # first pause between attempts; doubles each time
    max_wait: float = 30.0  # longest pause (or Retry-After) worth taking inside one run


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One verifying TLS context per process: loading the CA bundle costs ~20 ms of CPU,
    which a client per run would pay on every run."""
    return ssl.create_default_context()


def build_client(
    *,
    limits: HttpLimits,
    transport: httpx.AsyncBaseTransport,
    cookies: dict[str, Any] | None = None,
) -> httpx.AsyncClient:
    client = httpx.AsyncClient(
        verify=tls_context(),  # for a proxy httpx mounts from the environment, if any
        headers=DEFAULT_HEADERS,
        timeout=httpx.Timeout(limits.read_timeout, connect=limits.connect_timeout),
        follow_redirects=True,
        max_redirects=limits.max_redirects,
        transport=transport,
    )
    if cookies:
        import_cookies(client.cookies, cookies)
    return client


def export_cookies(jar: httpx.Cookies) -> dict[str, Any]:
    """The jar's live cookies as plain data, session cookies included: reusing the session
    is the point, and the saved state is sealed at rest by the caller."""
    jar.jar.clear_expired_cookies()
    return {
        "version": COOKIES_VERSION,
        "cookies": [
            {
                "name": cookie.name,
                "value": cookie.value or "",
                "domain": cookie.domain,
                "path": cookie.path,
                "secure": cookie.secure,
                "expires": cookie.expires,
            }
            for cookie in jar.jar
        ],
    }


def import_cookies(jar: httpx.Cookies, data: dict[str, Any]) -> int:
    """Put saved cookies back; expired or malformed entries are skipped. Returns the count."""
    now = time.time()
    count = 0
    for item in data.get("cookies", []) if data.get("version") == COOKIES_VERSION else []:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        expires = item.get("expires")
        if isinstance(expires, int | float) and expires <= now:
            continue
        domain = str(item.get("domain", ""))
        jar.jar.set_cookie(
            Cookie(
                version=0,
                name=item["name"],
                value=str(item.get("value", "")),
                port=None,
                port_specified=False,
                domain=domain,
                domain_specified=domain.startswith("."),
                domain_initial_dot=domain.startswith("."),
                path=str(item.get("path", "/")),
                path_specified=True,
                secure=bool(item.get("secure", False)),
                expires=int(expires) if isinstance(expires, int | float) else None,
                discard=expires is None,
                comment=None,
                comment_url=None,
                rest={},
            )
        )
        count += 1
    return count


class Throttle:
    """Limits shared by every connector of a process: requests in flight overall and per
    supplier key, and each supplier's request rate."""

    def __init__(
        self, *, overall: int = 16, per_supplier: int = 2, rate: float = 2.0, burst: int = 5
    ) -> None:
        self._overall = asyncio.Semaphore(overall)
        self._per_supplier = per_supplier
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self._rates = Buckets(rate, burst)

    @asynccontextmanager
    async def slot(self, supplier: str) -> AsyncIterator[None]:
        semaphore = self._semaphores.setdefault(supplier, asyncio.Semaphore(self._per_supplier))
        async with self._overall, semaphore:
            await self._rates.take(supplier)
            yield


def _where(method: str, url: httpx.URL | str) -> str:
    parsed = httpx.URL(url)
    return f"{method} {parsed.host}{parsed.path}"  # no userinfo, no query: they may hold secrets


async def request(
    client: httpx.AsyncClient,
    method: str,
    url: httpx.URL | str,
    *,
    supplier: str,
    retries: int = 2,
    backoff: float = SUPPLIER_HTTP.base,
    max_wait: float = 30.0,
    throttle: Throttle | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """Send a request; retry timeouts, 5xx and 429; raise SupplierUnavailable at the end.

    A POST is retried only when the site surely did not act on it (no connection, 429 or
    503): retrying a login after a read timeout could count as a second failed attempt.
    """
    method = method.upper()
    idempotent = method in IDEMPOTENT
    strategy = replace(SUPPLIER_HTTP, base=backoff)
    for attempt in range(retries + 1):
        retry_after: float | None = None
        cause: Exception | None = None
        try:
            async with throttle.slot(supplier) if throttle else _no_slot():
                response = await client.request(method, url, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as err:
            reason, retryable, cause = "unreachable", True, err
        except httpx.TimeoutException as err:
            reason, retryable, cause = "timeout", idempotent, err
        except httpx.TooManyRedirects as err:
            raise SupplierUnavailable(
                f"{supplier}: too many redirects on {_where(method, url)}"
            ) from err
        except httpx.TransportError as err:
            reason, retryable, cause = "connection failed", idempotent, err
        else:
            status = response.status_code
            if status != 429 and status < 500:
                return response
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            reason = "rate limited (429)" if status == 429 else f"server error ({status})"
            retryable = idempotent or status in {429, 503}
        wait = strategy.delay(attempt + 1, retry_after)
        if not retryable or attempt == retries or wait > max_wait:
            # Parsed only here: parsing every URL up front costs more than a failure.
            where = _where(method, url)
            message = f"{supplier}: {reason} on {where} after {attempt + 1} attempt(s)"
            raise SupplierUnavailable(message, retry_after=retry_after) from cause
        await asyncio.sleep(wait)
    raise AssertionError("unreachable")  # the loop always returns or raises


@asynccontextmanager
async def _no_slot() -> AsyncIterator[None]:
    yield
