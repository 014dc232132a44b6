"""Connectors for suppliers that publish an invoice API, and the plumbing they share.

AWS, Azure, DigitalOcean, Meta, Mollie, OVHcloud, Qonto and Scaleway each take a long-lived key
instead of a password (Azure's client secret buys hour-long tokens, held in memory for one
run), so there is no 2FA and no session to keep: `ApiConnector` answers
`restore`, `submit_code`, `save` and `close` the same way for all of them. Microsoft
Advertising acts for a person through an OAuth grant, whose newest refresh token it keeps
with `save`. The helpers
below turn HTTP statuses into the typed errors of `core.suppliers.connector`, read JSON
strictly (a missing field is `LayoutChanged`, never a KeyError) and refuse a download
that is not a PDF.

No message built here holds a key, a token or a URL with a password in it: exception
messages reach logs and the database's `error_code`.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from core.retry_after import parse_retry_after
from core.suppliers.connector import (
    ApprovalDenied,
    CodeRejected,
    Download,
    InvalidDownload,
    LayoutChanged,
    LoginRefused,
    SignInStep,
    SupplierUnavailable,
)
from core.suppliers.http import tls_context
from core.suppliers.pool import HttpPool, lease

__all__ = [
    "KEY_SCOPE",
    "ApiConnector",
    "CredentialsExpired",
    "datetime_field",
    "decimal_field",
    "json_body",
    "list_field",
    "object_field",
    "optional_text",
    "pdf_download",
    "raise_if_transient",
    "retry_after",
    "text_field",
]

DEFAULT_TIMEOUT = 30.0
PDF_MAGIC = b"%PDF-"
#: ActionRequired's reason, the same for every API so that bot/ words it once: the key is
#: valid but its scope, policy or rules do not let it read invoices.
KEY_SCOPE = "api_key_scope"


class CredentialsExpired(LoginRefused):
    """The key or token was valid once and has expired or been revoked: the same way out
    as a refused login (new credentials, or sign in again), named apart so that the run's
    record says which."""

    key = "credentials_expired"


class ApiConnector:
    """The parts of `SupplierConnector` that every key-based API does the same way."""

    #: The supplier's own hosts, beside the base URL's, that may see its token.
    TOKEN_HOSTS: tuple[str, ...] = ()

    def __init__(
        self,
        *,
        base_url: str,
        client: httpx.AsyncClient | None = None,
        pool: HttpPool | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        """`pool`: the process's connections to the suppliers' hosts; without it the
        connector keeps a pool of its own, closed with it. A caller's `client` (a test's)
        stays the caller's to close."""
        self._base_url = base_url.rstrip("/")
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(
            timeout=timeout, verify=tls_context(), transport=lease(pool)
        )
        #: Invoices the API listed in the last `invoices()`, whatever their date.
        self.listed: int | None = None

    def __repr__(self) -> str:
        # Spelled out so that no subclass attribute (a key) ever ends up in a log line.
        return f"{type(self).__name__}(base_url={self._base_url!r})"

    async def restore(self, state: dict[str, Any]) -> bool:
        # The key goes with every call; there is no session that could still be valid.
        return False

    async def submit_code(self, code: str) -> SignInStep:
        raise CodeRejected("this supplier's API never asks for a code")

    async def poll_approval(self) -> SignInStep | None:
        raise ApprovalDenied("this supplier's API never asks for an approval")

    async def save(self) -> dict[str, Any]:
        return {}

    async def close(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    def _trusted(self, url: str) -> bool:
        """Whether `url` may see the token: the base URL's host, or over https one of the
        supplier's own `TOKEN_HOSTS` or a subdomain of one. A download link elsewhere (a
        CDN, a signed storage link) is fetched without it."""
        target = httpx.URL(url)
        if target.host == httpx.URL(self._base_url).host:
            return True
        return target.scheme == "https" and any(
            target.host == suffix or target.host.endswith("." + suffix)
            for suffix in self.TOKEN_HOSTS
        )

    async def _send(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        params: dict[str, str | int] | None = None,
        content: bytes | None = None,
        follow_redirects: bool = False,
    ) -> httpx.Response:
        """One request; a network failure becomes `SupplierUnavailable`, retried later."""
        try:
            return await self._client.request(
                method,
                url,
                headers=headers,
                params=params,
                content=content,
                follow_redirects=follow_redirects,
            )
        except httpx.TimeoutException as err:
            raise SupplierUnavailable("the supplier's API timed out") from err
        except httpx.HTTPError as err:
            # The class name says enough; the message may quote the URL.
            raise SupplierUnavailable(f"network error ({type(err).__name__})") from err


def retry_after(
    response: httpx.Response, *, reset_header: str | None = None, now: float | None = None
) -> float | None:
    """Seconds to wait, from `Retry-After` (seconds or HTTP date) or an epoch reset header."""
    clock = time.time() if now is None else now
    value = response.headers.get("retry-after")
    if value:
        seconds = parse_retry_after(value, now=datetime.fromtimestamp(clock, UTC))
        if seconds is not None:
            return seconds
    if reset_header:
        reset = response.headers.get(reset_header)
        if reset:
            try:
                return max(0.0, float(reset) - clock)
            except ValueError:
                return None
    return None


def raise_if_transient(response: httpx.Response, *, reset_header: str | None = None) -> None:
    """429 and 5xx are the supplier's trouble, not ours: retried later with back-off."""
    if response.status_code == 429:
        raise SupplierUnavailable(
            "rate limited by the supplier's API",
            retry_after=retry_after(response, reset_header=reset_header),
        )
    if response.status_code >= 500:
        raise SupplierUnavailable(f"the supplier's API answered HTTP {response.status_code}")


def json_body(response: httpx.Response) -> Any:
    """The decoded JSON; amounts stay exact because floats are read as Decimal."""
    try:
        return json.loads(response.content, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as err:
        raise LayoutChanged("the API answer is not JSON") from err


def object_field(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise LayoutChanged(f"{what} is not a JSON object")
    return value


def list_field(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise LayoutChanged(f"{what} is not a JSON list")
    return value


def text_field(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise LayoutChanged(f"field {key!r} is missing or not text")
    return value


def optional_text(obj: dict[str, Any], key: str) -> str | None:
    """Text, or an integer id written as text; None when absent or null."""
    value = obj.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise LayoutChanged(f"field {key!r} is not text")
    return str(value)


def decimal_field(value: Any, what: str) -> Decimal:
    """A money amount given as a JSON number or as text ("12.34")."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise LayoutChanged(f"{what} is not an amount")
    try:
        amount = Decimal(value)
    except InvalidOperation as err:
        raise LayoutChanged(f"{what} is not an amount") from err
    if not amount.is_finite():
        raise LayoutChanged(f"{what} is not an amount")
    return amount


def datetime_field(obj: dict[str, Any], key: str) -> datetime:
    """An RFC 3339 / ISO 8601 timestamp, as the three APIs write them."""
    raw = text_field(obj, key)
    try:
        return datetime.fromisoformat(raw)
    except ValueError as err:
        raise LayoutChanged(f"field {key!r} is not a date") from err


def pdf_download(content: bytes, filename: str) -> Download:
    """The document, or `InvalidDownload` when the bytes are not a PDF (an HTML page)."""
    if not content.startswith(PDF_MAGIC):
        raise InvalidDownload("the supplier sent something that is not a PDF")
    return Download(content=content, filename=filename)
