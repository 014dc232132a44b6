"""Mollie's invoices for its own fees, through the Invoices API v2.

Credentials: the login is any label (the organization ID, `org_…`, reads well); the
password an organization access token (`access_…`, Dashboard, Developers, Organization
access tokens) with the `invoices.read` permission. A website profile's API key
(`live_…`, `test_…`) cannot read invoices, so it is refused before it leaves. Calls carry
`Authorization: Bearer <token>`, never the token in a URL. An OAuth access token works
the same way but lives an hour, too short for scheduled fetches.

- `GET /v2/invoices?limit=N&from=ID` answers HAL JSON: `count`, `_embedded.invoices[]`
  (newest first) and `_links.next` (`{"href", "type"}`, null on the last page); `limit`
  is 1 to 250; `from` is the ID of the first invoice of the page, itself included.
- An invoice: `id` (`inv_…`), `reference` (its number, e.g. `2016.10000`), `vatNumber`,
  `status` (open, paid, overdue), `issuedAt`, `paidAt`, `dueAt` (YYYY-MM-DD),
  `netAmount`, `vatAmount` (only for merchants registered in the Netherlands) and
  `grossAmount` as `{"value": "45.00", "currency": "EUR"}`, `lines`, and `_links.pdf`.
- The PDF link (on www.mollie.com) expires after 60 minutes, so `download` asks
  `GET /v2/invoices/{id}` for a fresh one rather than trusting the one listed earlier.
  The token goes with it only to Mollie's own hosts (or the base URL's).
- Errors are `application/hal+json` `{"status", "title", "detail", "_links"}`: 401 for a
  missing, wrong, revoked or expired token; 403 for a token without `invoices.read`;
  429 with `Retry-After`; 5xx temporary.

Where the reference is silent, this follows its conventions and says so: it documents no
error code for an expired token, so a 401 whose `detail` speaks of expiry is taken as
`CredentialsExpired` and any other 401 as a refused token (both leave the connection in
`auth_failed`). It does not say how the PDF link answers once stale; a refusal there is
taken as temporary, to be tried again with a fresh link. The list is read whole and
filtered by `since` here: invoices are monthly, and `year` would only save a page or two.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
from pydantic import SecretStr

from core.suppliers.api import (
    KEY_SCOPE,
    ApiConnector,
    CredentialsExpired,
    decimal_field,
    json_body,
    list_field,
    object_field,
    optional_text,
    pdf_download,
    raise_if_transient,
    text_field,
)
from core.suppliers.connector import (
    ActionRequired,
    Credentials,
    Download,
    InvoiceRef,
    LayoutChanged,
    LoggedIn,
    LoginRefused,
    SupplierUnavailable,
)
from core.suppliers.pool import HttpPool

DEFAULT_BASE_URL = "https://api.mollie.com"
INVOICES_PATH = "/v2/invoices"
MAX_LIMIT = 250  # the reference's ceiling for `limit`
_MOLLIE_HOSTS = ("mollie.com",)
#: Website profile API keys: refused by the Invoices API, which wants an access token.
_API_KEY_PREFIXES = ("live_", "test_")


class MollieConnector(ApiConnector):
    """One Mollie organization's invoices, read with an organization access token."""

    TOKEN_HOSTS = _MOLLIE_HOSTS

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BASE_URL,
        client: httpx.AsyncClient | None = None,
        pool: HttpPool | None = None,
        limit: int = MAX_LIMIT,
    ) -> None:
        super().__init__(base_url=base_url, client=client, pool=pool)
        self._limit = max(1, min(limit, MAX_LIMIT))
        self._token: SecretStr | None = None

    async def login(self, credentials: Credentials) -> LoggedIn:
        token = credentials.password.get_secret_value().strip()
        if not token:
            raise LoginRefused("no Mollie access token was given")
        if token.startswith(_API_KEY_PREFIXES):
            raise LoginRefused(
                "a Mollie website API key cannot read invoices: give an organization access token"
            )
        self._token = SecretStr(token)
        try:
            # The call we need anyway, one invoice long: it proves the token and its permission.
            await self._get(INVOICES_PATH, params={"limit": 1})
        except BaseException:
            self._token = None
            raise
        return LoggedIn(account_label=credentials.login.strip() or None)

    async def invoices(self, since: date | None) -> AsyncIterator[InvoiceRef]:
        self.listed = None
        listed, cursor = 0, None
        seen: set[str] = set()
        while True:
            params: dict[str, str | int] = {"limit": self._limit}
            if cursor is not None:
                params["from"] = cursor
            body = object_field(json_body(await self._get(INVOICES_PATH, params)), "the list")
            embedded = object_field(body.get("_embedded") or {}, "_embedded")
            items = list_field(embedded.get("invoices") or [], "_embedded.invoices")
            listed += len(items)  # every page is read: the count is exact
            for item in items:
                ref = _invoice_ref(object_field(item, "an invoice"))
                if since is None or ref.issued_on >= since:
                    yield ref
            seen.add(cursor or "")
            cursor = _next_cursor(body)
            if cursor is None:
                self.listed = listed
                return
            if cursor in seen:
                raise LayoutChanged("the invoice list's next page goes round in a circle")

    async def download(self, invoice: InvoiceRef) -> Download:
        # The listed PDF link may be past its hour: the invoice itself gives a fresh one.
        path = f"{INVOICES_PATH}/{quote(invoice.reference, safe='')}"
        body = object_field(json_body(await self._get(path)), "the invoice")
        links = object_field(body.get("_links"), "_links")
        url = text_field(object_field(links.get("pdf"), "_links.pdf"), "href")
        if httpx.URL(url).scheme != "https" and httpx.URL(self._base_url).scheme == "https":
            raise LayoutChanged("the invoice's PDF link is not HTTPS")
        headers = self._auth() if self._trusted(url) else {}
        response = await self._send("GET", url, headers=headers, follow_redirects=True)
        raise_if_transient(response)
        if response.status_code in (401, 403, 404, 410):
            # A signed link refused: stale or revoked. A new one comes with the next try.
            raise SupplierUnavailable("Mollie refused the invoice's PDF link")
        if response.status_code != 200:
            raise LayoutChanged(f"the PDF link answered HTTP {response.status_code}")
        name = _safe(invoice.number or invoice.reference)
        return pdf_download(response.content, f"mollie-{name}.pdf")

    def _auth(self) -> dict[str, str]:
        if self._token is None:
            raise RuntimeError("log in before calling the Mollie API")
        return {"Authorization": f"Bearer {self._token.get_secret_value()}"}

    async def _get(self, path: str, params: dict[str, str | int] | None = None) -> httpx.Response:
        # What Mollie's own SDKs send; the answer is HAL JSON either way.
        headers = {**self._auth(), "Accept": "application/json"}
        response = await self._send("GET", self._base_url + path, headers=headers, params=params)
        _raise_for_status(response)
        return response


def _raise_for_status(response: httpx.Response) -> None:
    raise_if_transient(response)  # 429 with its Retry-After, and 5xx
    status = response.status_code
    if status == 401:
        if "expire" in _detail(response).lower():
            raise CredentialsExpired("the Mollie access token has expired")
        raise LoginRefused("Mollie refused the access token")
    if status == 403:
        raise ActionRequired(KEY_SCOPE)
    if not 200 <= status < 300:
        raise LayoutChanged(f"Mollie answered HTTP {status}")


def _detail(response: httpx.Response) -> str:
    """The error's `detail`, read only to tell an expired token from a wrong one."""
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return ""
    detail = body.get("detail") if isinstance(body, dict) else None
    return detail if isinstance(detail, str) else ""


def _invoice_ref(item: dict[str, Any]) -> InvoiceRef:
    invoice_id = text_field(item, "id")
    issued = text_field(item, "issuedAt")
    try:
        issued_on = date.fromisoformat(issued)
    except ValueError as err:
        raise LayoutChanged("issuedAt is not YYYY-MM-DD") from err
    gross = _amount(item, "grossAmount")
    net = _amount(item, "netAmount")
    vat = _amount(item, "vatAmount")
    extra: dict[str, Any] = {}
    for key, value in (
        ("status", optional_text(item, "status")),
        ("vat_number", optional_text(item, "vatNumber")),
        ("due_on", optional_text(item, "dueAt")),
        ("paid_on", optional_text(item, "paidAt")),
        ("net_amount", str(net[0]) if net else None),
        ("vat_amount", str(vat[0]) if vat else None),
    ):
        if value is not None:
            extra[key] = value
    # The total is the gross amount; without one (never seen), none rather than a guess.
    currency = gross[1] if gross else (net[1] if net else None)
    return InvoiceRef(
        reference=invoice_id,
        issued_on=issued_on,
        amount=gross[0] if gross else None,
        currency=currency,
        number=optional_text(item, "reference"),
        extra=extra,
    )


def _amount(item: dict[str, Any], key: str) -> tuple[Decimal, str] | None:
    """`{"value": "45.00", "currency": "EUR"}` as (Decimal, currency), or None if absent."""
    raw = item.get(key)
    if raw is None:
        return None
    amount = object_field(raw, key)
    return decimal_field(amount.get("value"), f"{key}.value"), text_field(amount, "currency")


def _next_cursor(body: dict[str, Any]) -> str | None:
    """The `from` of `_links.next`, or None on the last page.

    Only the ID is taken: the link itself is never followed, so the token only ever goes
    to the base URL the connector was given.
    """
    links = object_field(body.get("_links") or {}, "_links")
    following = links.get("next")
    if not following:
        return None
    href = text_field(object_field(following, "_links.next"), "href")
    values = parse_qs(urlsplit(href).query).get("from") or [""]
    if not values[0]:
        raise LayoutChanged("_links.next has no `from`")
    return values[0]


def _safe(reference: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]", "_", reference)[:60]
