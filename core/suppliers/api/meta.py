"""Meta (Facebook, Instagram) ads invoices through the Graph API's business invoices.

For businesses on monthly invoicing. Credentials: the login is the Business Manager ID,
the password a system user's access token with the `business_management` permission
(Business Settings, Users, System users, Generate token): Meta's documented way for a
business's own server to call the API, with no browser sign-in. Calls carry
`Authorization: Bearer <token>`, never the token in a URL.

- `GET /{version}/{business-id}/business_invoices?issue_start_date=&issue_end_date=
  &fields=…&limit=` (dates YYYY-MM-DD, end exclusive) lists OmegaCustomerTrx nodes:
  `id`, `invoice_id` (the invoice number), `invoice_date`, `type` (INV, CM, DM,
  PRO_FORMA), `amount_due` as a CurrencyAmount (`amount` as text, `currency`),
  `billing_period` and `download_uri`. Pages follow `paging.cursors.after` while
  `paging.next` is there.
- The PDF is at `download_uri`; the token goes with it only to Meta's own hosts.
- Errors are `{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}`:
  code 190 is a token that expired (subcode 463), was revoked or is invalid; 4, 17, 32,
  613 and 80004 are rate limits, whose `X-Business-Use-Case-Usage` header says in
  `estimated_time_to_regain_access` how many minutes to wait; 10 and 200-299 are a
  missing permission; 1 and 2 are temporary.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from pydantic import SecretStr

from core.suppliers.api import (
    KEY_SCOPE,
    ApiConnector,
    CredentialsExpired,
    datetime_field,
    decimal_field,
    json_body,
    list_field,
    object_field,
    optional_text,
    pdf_download,
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

DEFAULT_BASE_URL = "https://graph.facebook.com"
GRAPH_VERSION = "v25.0"
FIELDS = "id,invoice_id,invoice_date,type,amount_due,billing_period,download_uri"
PAGE_LIMIT = 100
#: The full history: business invoices go back to the start of monthly invoicing.
HISTORY_DAYS = 3 * 365
INVOICE_TYPES = frozenset({"INV", "CM", "DM"})  # a pro forma is not an invoice
_RATE_LIMITED = frozenset({4, 17, 32, 613, 80004})
_PERMISSION = frozenset({3, 10, *range(200, 300)})
_TEMPORARY = frozenset({1, 2})
_EXPIRED_SUBCODE = 463
_BUSINESS_ID = re.compile(r"\d{5,20}")
_META_HOSTS = ("facebook.com", "fbcdn.net", "fbsbx.com")


class MetaAdsConnector(ApiConnector):
    """One Meta business's monthly invoices, read with a system user's token."""

    TOKEN_HOSTS = _META_HOSTS

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BASE_URL,
        client: httpx.AsyncClient | None = None,
        pool: HttpPool | None = None,
        limit: int = PAGE_LIMIT,
        today: date | None = None,
    ) -> None:
        super().__init__(base_url=base_url, client=client, pool=pool)
        self._limit = max(1, min(limit, PAGE_LIMIT))
        self._today = today
        self._business_id = ""
        self._token: SecretStr | None = None

    async def login(self, credentials: Credentials) -> LoggedIn:
        business_id = credentials.login.strip()
        if not _BUSINESS_ID.fullmatch(business_id):
            raise LoginRefused("the Meta Business ID is not a number")
        if not credentials.password.get_secret_value().strip():
            raise LoginRefused("no Meta access token was given")
        self._business_id, self._token = business_id, credentials.password
        try:
            body = await self._get(f"/{GRAPH_VERSION}/{business_id}", {"fields": "id,name"})
        except BaseException:
            self._token = None
            raise
        return LoggedIn(account_label=optional_text(body, "name") or business_id)

    async def invoices(self, since: date | None) -> AsyncIterator[InvoiceRef]:
        self.listed = None
        today = self._today or datetime.now(UTC).date()
        params: dict[str, str | int] = {
            "issue_start_date": (since or today - timedelta(days=HISTORY_DAYS)).isoformat(),
            "issue_end_date": (today + timedelta(days=1)).isoformat(),
            "fields": FIELDS,
            "limit": self._limit,
        }
        path = f"/{GRAPH_VERSION}/{self._business_id}/business_invoices"
        listed = 0
        while True:
            body = await self._get(path, params)
            for item in list_field(body.get("data"), "data"):
                ref = _invoice_ref(object_field(item, "an invoice"))
                if ref is not None:
                    listed += 1
                    yield ref
            after = _after_cursor(body)
            if after is None:
                self.listed = listed
                return
            params = {**params, "after": after}

    async def download(self, invoice: InvoiceRef) -> Download:
        url = invoice.extra.get("download_uri")
        if not isinstance(url, str) or not url:
            raise LayoutChanged("the invoice has no download_uri")
        headers = self._auth() if self._trusted(url) else {}
        response = await self._send("GET", url, headers=headers, follow_redirects=True)
        _raise_for_status(response)
        return pdf_download(response.content, f"meta-{_safe(invoice.reference)}.pdf")

    def _auth(self) -> dict[str, str]:
        if self._token is None:
            raise RuntimeError("log in before calling the Graph API")
        return {"Authorization": f"Bearer {self._token.get_secret_value()}"}

    async def _get(self, path: str, params: dict[str, str | int]) -> dict[str, Any]:
        headers = {**self._auth(), "Accept": "application/json"}
        response = await self._send("GET", self._base_url + path, headers=headers, params=params)
        _raise_for_status(response)
        return object_field(json_body(response), "the Graph API answer")


def _raise_for_status(response: httpx.Response) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    error = _graph_error(response)
    code, subcode = error.get("code"), error.get("error_subcode")
    if status == 429 or code in _RATE_LIMITED:
        raise SupplierUnavailable(
            "rate limited by the Graph API", retry_after=_regain_access(response)
        )
    if status >= 500 or code in _TEMPORARY:
        raise SupplierUnavailable(f"the Graph API answered HTTP {status}")
    if code == 190 and subcode == _EXPIRED_SUBCODE:
        raise CredentialsExpired("the Meta access token has expired")
    if code == 190 or status == 401:
        raise LoginRefused("Meta refused the access token")
    if code in _PERMISSION or status == 403:
        raise ActionRequired(KEY_SCOPE)
    raise LayoutChanged(f"the Graph API answered HTTP {status} (code {code})")


def _graph_error(response: httpx.Response) -> dict[str, Any]:
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _regain_access(response: httpx.Response) -> float | None:
    """The longest `estimated_time_to_regain_access` (minutes) in the usage header."""
    raw = response.headers.get("x-business-use-case-usage")
    if not raw:
        return None
    try:
        usage = json.loads(raw)
    except ValueError:
        return None
    minutes = [
        entry.get("estimated_time_to_regain_access", 0)
        for entries in (usage.values() if isinstance(usage, dict) else [])
        if isinstance(entries, list)
        for entry in entries
        if isinstance(entry, dict)
    ]
    waits = [m for m in minutes if isinstance(m, int | float) and not isinstance(m, bool)]
    return max(waits) * 60.0 if waits and max(waits) > 0 else None


def _invoice_ref(item: dict[str, Any]) -> InvoiceRef | None:
    kind = optional_text(item, "type") or "INV"
    if kind not in INVOICE_TYPES:
        return None
    node_id = text_field(item, "id")
    amount = object_field(item.get("amount_due"), "amount_due")
    extra: dict[str, Any] = {"type": kind, "download_uri": text_field(item, "download_uri")}
    period = optional_text(item, "billing_period")
    if period:
        extra["billing_period"] = period
    return InvoiceRef(
        reference=node_id,
        issued_on=datetime_field(item, "invoice_date").date(),
        amount=decimal_field(amount.get("amount"), "amount_due.amount"),
        currency=text_field(amount, "currency"),
        number=optional_text(item, "invoice_id"),
        extra=extra,
    )


def _after_cursor(body: dict[str, Any]) -> str | None:
    """The next page's cursor, or None on the last page. The `next` link itself is not
    followed: the cursor is sent to the base URL, with the token in its header."""
    paging = body.get("paging")
    if not isinstance(paging, dict) or not paging.get("next"):
        return None
    cursors = object_field(paging.get("cursors"), "paging.cursors")
    return text_field(cursors, "after")


def _safe(reference: str) -> str:
    return re.sub(r"[^A-Za-z0-9-]", "_", reference)[:60]
