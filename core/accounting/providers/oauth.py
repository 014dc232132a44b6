"""What the HTTP accounting providers share: the OAuth2 app (Authlib's httpx client), a
limiter sized to each software's documented limits, and one `send` that maps HTTP to the
typed failures.

- `OAuthApp` builds the authorization URL and exchanges, refreshes and revokes tokens
  through Authlib. `invalid_grant` becomes `IntegrationExpired`; a 5xx, a timeout or an
  answer that is not JSON becomes `Unavailable`; a 429 becomes `RateLimited`.
- A `CallLimiter` (core/limits.py) per company keeps the calls under every window the
  software documents (60 a minute and 5,000 a day for Xero...) and under its
  concurrency, in every process sharing the registry's store, so that a 429 is rare;
  when one comes anyway, every caller of that company waits out its Retry-After.
- `ApiClient.send` goes through the limiter, retries a 429 after its Retry-After (up to a
  bound) and raises the typed failure for the rest. Nothing here logs a header, a body
  or a query string: tokens travel in headers and bodies only.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import httpx
from authlib.deprecate import AuthlibDeprecationWarning

from core.retry_after import parse_retry_after

with warnings.catch_warnings():
    # Authlib 1.9 prefers the `httpx2` fork and warns when it falls back to httpx, which
    # is what Courier uses everywhere; the fallback is the same client.
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError

from core.accounting.errors import IntegrationExpired, RateLimited, Rejected, Unavailable
from core.accounting.provider import Grant
from core.errors import ConfigInvalid
from core.limits import CallLimiter, LimitStore, MemoryLimits

TIMEOUT = httpx.Timeout(30.0, connect=10.0)


@dataclass(frozen=True, slots=True)
class ApiLimits:
    """A software's documented limits for one company, and how long a call may wait."""

    #: (calls, seconds): at most `calls` in any `seconds`.
    windows: tuple[tuple[int, float], ...]
    concurrent: int
    #: Share of each window kept spare, plus a fixed slack, for a server whose clock or
    #: counting differs from the documentation's; the limiter needs none for jitter.
    margin: float = 0.0
    slack: float = 0.0
    #: Longest Retry-After waited out inside one call; past it the caller gets RateLimited.
    max_wait: float = 90.0
    attempts: int = 8
    #: The wait after a 429 that names none.
    default_retry: float = 1.0

    def scaled(self, time_scale: float) -> ApiLimits:
        """The same limits `time_scale` times faster (the stand-ins' time scale)."""
        return replace(
            self,
            windows=tuple((calls, seconds / time_scale) for calls, seconds in self.windows),
            max_wait=self.max_wait / time_scale,
            default_retry=self.default_retry / time_scale,
        )


class ApiClient:
    """One httpx client and one limiter per company, for one provider."""

    def __init__(
        self,
        *,
        provider: str,
        limits: ApiLimits,
        http: httpx.AsyncClient | None = None,
        store: LimitStore | None = None,
    ) -> None:
        self.provider = provider
        self.limits = limits
        self._http = http or httpx.AsyncClient(timeout=TIMEOUT)
        self._store: LimitStore = store or MemoryLimits()
        self._limiters: dict[str, CallLimiter] = {}
        #: 429s met, and how many of them were waited out and sent again.
        self.rate_limited = 0
        self.retried = 0

    def use_limits(self, store: LimitStore) -> None:
        """Count in the process's store (the registry's), from now on."""
        self._store = store
        self._limiters.clear()

    def limiter(self, key: str) -> CallLimiter:
        if key not in self._limiters:
            self._limiters[key] = CallLimiter(
                f"{self.provider}:{key}",
                windows=self.limits.windows,
                concurrent=self.limits.concurrent,
                store=self._store,
                margin=self.limits.margin,
                slack=self.limits.slack,
            )
        return self._limiters[key]

    async def send(self, method: str, url: str, *, key: str, **kwargs: Any) -> httpx.Response:
        """The answer for a status below 500 other than 429; typed failures otherwise."""
        limiter = self.limiter(key)
        where = f"{method} {httpx.URL(url).path}"  # no query, no header: they may hold secrets
        for attempt in range(self.limits.attempts):
            async with limiter.slot():
                try:
                    response = await self._http.request(method, url, **kwargs)
                except httpx.TimeoutException as err:
                    raise Unavailable(provider=self.provider, reason=f"timeout on {where}") from err
                except httpx.TransportError as err:
                    reason = f"unreachable on {where}"
                    raise Unavailable(provider=self.provider, reason=reason) from err
            if response.status_code == 429:
                self.rate_limited += 1
                wait = parse_retry_after(response.headers.get("Retry-After"))
                wait = self.limits.default_retry if wait is None else wait
                if wait > self.limits.max_wait or attempt == self.limits.attempts - 1:
                    raise RateLimited(provider=self.provider, retry_after=wait)
                limiter.hold(wait)
                self.retried += 1
                continue
            if response.status_code >= 500:
                reason = f"server error ({response.status_code}) on {where}"
                raise Unavailable(provider=self.provider, reason=reason)
            return response
        raise AssertionError("unreachable")  # the loop returns or raises

    async def aclose(self) -> None:
        await self._http.aclose()


def json_of(response: httpx.Response, *, provider: str) -> Any:
    try:
        return response.json()
    except ValueError as err:
        where = f"{response.request.method} {response.request.url.path}"
        reason = f"malformed answer ({response.status_code}) on {where}"
        raise Unavailable(provider=provider, reason=reason) from err


@dataclass(frozen=True, slots=True)
class OAuthEndpoints:
    authorize_url: str
    token_url: str
    revoke_url: str
    client_id: str
    client_secret: str

    def __repr__(self) -> str:
        return f"OAuthEndpoints(authorize_url={self.authorize_url!r}, client_id=...)"


class OAuthApp:
    """The authorization-code grant against one identity server, through Authlib."""

    def __init__(
        self,
        *,
        provider: str,
        endpoints: OAuthEndpoints,
        scope: str,
        authorize_params: Mapping[str, str] | None = None,
    ) -> None:
        self.provider = provider
        self._endpoints = endpoints
        self._scope = scope
        #: Added to the consent address: Google hands out a refresh token only with
        #: `access_type=offline`, and again on a later consent only with `prompt=consent`.
        self._authorize_params = dict(authorize_params or {})

    def __repr__(self) -> str:
        return f"OAuthApp({self.provider!r})"

    def _client(self, redirect_uri: str | None = None) -> AsyncOAuth2Client:
        # A client per operation: Authlib's client keeps the last token in itself, and
        # one provider serves many companies at once.
        return AsyncOAuth2Client(
            client_id=self._endpoints.client_id,
            client_secret=self._endpoints.client_secret,
            scope=self._scope,
            redirect_uri=redirect_uri,
            timeout=TIMEOUT,
        )

    def _require_registration(self) -> None:
        # Without the app's id the software would show its own cryptic error page after the
        # person clicked; say what to set before any link is handed out.
        if not self._endpoints.client_id or not self._endpoints.client_secret:
            raise ConfigInvalid(
                setting=f"COURIER_{self.provider.upper()}_CLIENT_ID",
                reason="not set, nor its secret: register an app with the software first",
            )

    async def authorization_url(self, *, state: str, redirect_uri: str) -> str:
        self._require_registration()
        async with self._client(redirect_uri) as client:
            url, _ = client.create_authorization_url(
                self._endpoints.authorize_url, state=state, **self._authorize_params
            )
        return str(url)

    async def exchange(self, *, code: str, redirect_uri: str) -> dict[str, Any]:
        async with self._client(redirect_uri) as client:
            return await self._token_call(
                client.fetch_token(
                    self._endpoints.token_url, code=code, grant_type="authorization_code"
                )
            )

    async def refresh(self, *, refresh_token: str) -> dict[str, Any]:
        async with self._client() as client:
            return await self._token_call(
                client.refresh_token(self._endpoints.token_url, refresh_token=refresh_token)
            )

    async def revoke(self, *, token: str, as_json: bool = False) -> None:
        """Revoke where the server allows; Intuit wants `{"token": ...}` as JSON."""
        async with self._client() as client:
            try:
                if as_json:
                    response = await client.request(
                        "POST",
                        self._endpoints.revoke_url,
                        json={"token": token},
                        auth=(self._endpoints.client_id, self._endpoints.client_secret),
                        headers={"Accept": "application/json"},
                        withhold_token=True,
                    )
                else:
                    response = await client.revoke_token(
                        self._endpoints.revoke_url, token=token, token_type_hint="refresh_token"
                    )
            except httpx.HTTPError as err:
                raise Unavailable(provider=self.provider, reason="revocation failed") from err
        if response.status_code >= 500:
            raise Unavailable(provider=self.provider, reason="revocation failed")

    async def _token_call(self, call: Any) -> dict[str, Any]:
        try:
            token = await call
        except OAuthError as err:
            if err.error in {"invalid_grant", "access_denied"}:
                raise IntegrationExpired(provider=self.provider, reason=err.error) from err
            raise Rejected(provider=self.provider, reason=str(err.error)) from err
        except httpx.HTTPStatusError as err:
            status = err.response.status_code
            if status == 429:
                wait = parse_retry_after(err.response.headers.get("Retry-After")) or 1.0
                raise RateLimited(provider=self.provider, retry_after=wait) from err
            raise Unavailable(provider=self.provider, reason=f"token server ({status})") from err
        except httpx.TimeoutException as err:
            raise Unavailable(provider=self.provider, reason="token server timeout") from err
        except httpx.TransportError as err:
            raise Unavailable(provider=self.provider, reason="token server unreachable") from err
        except ValueError as err:  # a 4xx that is not JSON
            raise Unavailable(provider=self.provider, reason="token server answer") from err
        if not isinstance(token, Mapping) or not token.get("access_token"):
            raise Unavailable(provider=self.provider, reason="token server answer")
        return dict(token)


def grant_from_token(
    token: Mapping[str, Any],
    *,
    now: datetime,
    refresh_lifetime: timedelta | None,
    extra: Mapping[str, Any],
    previous_refresh: str | None = None,
) -> Grant:
    """A grant from a token answer. The newest refresh token always wins; the old one is
    kept only when the server sent none (it did not rotate)."""
    expires_in = token.get("expires_in")
    refresh_seconds = token.get("x_refresh_token_expires_in")
    if refresh_seconds is not None:
        refresh_expires: datetime | None = now + timedelta(seconds=float(refresh_seconds))
    else:
        refresh_expires = now + refresh_lifetime if refresh_lifetime else None
    return Grant(
        access_token=str(token["access_token"]),
        refresh_token=str(token.get("refresh_token") or previous_refresh or "") or None,
        access_expires_at=now + timedelta(seconds=float(expires_in)) if expires_in else None,
        refresh_expires_at=refresh_expires,
        extra=dict(extra),
    )
