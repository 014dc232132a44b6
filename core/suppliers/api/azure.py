"""Microsoft Azure invoices through the Billing API (Azure Resource Manager, 2024-04-01).

Credentials: a Microsoft Entra service principal with a client secret, Microsoft's
documented way for a program to call Azure with no browser sign-in (App registrations,
New registration, Certificates & secrets, New client secret; then, in Cost Management +
Billing, Access control (IAM), give the app the "Billing account reader" or "Invoice
manager" role on the billing account). The login is `TENANT/CLIENT_ID`, optionally
followed by `/BILLING_ACCOUNT`:

- TENANT is the directory (tenant) ID, a GUID, or its domain (`contoso.onmicrosoft.com`);
- CLIENT_ID is the application (client) ID, a GUID;
- BILLING_ACCOUNT is the billing account's name (Cost Management + Billing, Properties,
  "ID": `<guid>:<guid>_2019-05-31` for a Microsoft Customer Agreement). Without it,
  every billing account the app can read is fetched.

The password is the client secret's value (not its ID). "/" separates the parts because
it is the one character none of them can hold (a billing account name holds ":").

- The token comes from Microsoft Entra's v2.0 endpoint, client credentials grant:
  `POST https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token` with `client_id`,
  `client_secret`, `grant_type=client_credentials` and
  `scope=https://management.azure.com/.default`; it answers `access_token` and
  `expires_in` (about an hour). Errors are `{"error", "error_description",
  "error_codes": [...]}`: AADSTS7000222 is an expired secret, AADSTS7000215 a wrong
  one, AADSTS700016 an application unknown in the tenant, AADSTS90002 an unknown tenant.
- Every Resource Manager call carries `Authorization: Bearer <token>` and
  `api-version=2024-04-01`. A token that expires during a run (401
  ExpiredAuthenticationToken) is replaced once from the secret and the call made again.
- `GET /providers/Microsoft.Billing/billingAccounts[/{name}]` names the accounts.
- `GET /providers/Microsoft.Billing/billingAccounts/{name}/invoices?periodStartDate=
  &periodEndDate=` (YYYY-MM-DD) lists invoices as `{"value": [...], "nextLink"}`; the
  next page is `nextLink`, followed as given (it carries its own `$skipToken`) but only
  on the Resource Manager host. An invoice's `name` is its number; its `properties` hold
  `invoiceDate`, `documentType` (Invoice, CreditNote, VoidNote, ...), `totalAmount`
  (`{"currency", "value"}`, the amount due when it was issued: the PDF's total),
  `billedAmount` and `documents` (`{"name", "kind"}`).
- `POST .../invoices/{name}/download?documentName=` is a long-running operation: 202
  with `Location` (and `Retry-After` seconds), polled with GET until 200 answers
  `{"url", "expiryTime"}`, a link to Azure Storage signed with a SAS that is fetched at
  once without our token. The operation supports Microsoft Customer Agreement, Microsoft
  Partner Agreement and Enterprise Agreement accounts; the listing, MCA, MPA and MOSP.
- Errors are `{"error": {"code", "message"}}`: 401 ExpiredAuthenticationToken,
  InvalidAuthenticationToken, InvalidAuthenticationTokenTenant (the billing account is
  in another tenant) or AuthenticationFailed; 403 AuthorizationFailed (no billing role);
  429 with `Retry-After`; 5xx are temporary.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote

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
    retry_after,
    text_field,
)
from core.suppliers.api.entra import DEFAULT_LOGIN_URL, read_token, token_request, token_url
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

DEFAULT_BASE_URL = "https://management.azure.com"
API_VERSION = "2024-04-01"
SCOPE = "https://management.azure.com/.default"
BILLING = "/providers/Microsoft.Billing/billingAccounts"
#: The full history; periods are asked a little before `since`, because an invoice issued
#: on a day bills the month before it.
HISTORY_DAYS = 3 * 365
PERIOD_MARGIN_DAYS = 62
INVOICE_TYPES = frozenset({"Invoice", "CreditNote"})  # a void note or tax receipt is not
#: Polls of a download before giving up for this run; the wait between two is the 202's
#: Retry-After, capped so that one invoice cannot hold the run for long.
MAX_POLLS = 10
DEFAULT_POLL_WAIT = 5.0
MAX_POLL_WAIT = 30.0
#: A token this close to its end is replaced before a call rather than after a 401.
TOKEN_MARGIN = 120.0

_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_TENANT = re.compile(rf"{_GUID}|[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
_CLIENT_ID = re.compile(_GUID)
_ACCOUNT = re.compile(r"[A-Za-z0-9][A-Za-z0-9:_.-]{0,199}")

_EXPIRED_TOKEN = "ExpiredAuthenticationToken"
_REFUSED_TOKEN = frozenset(
    {"InvalidAuthenticationToken", "InvalidAuthenticationTokenTenant", "AuthenticationFailed"}
)

Sleep = Callable[[float], Awaitable[None]]


class _TokenExpired(Exception):
    """Resource Manager said the access token ran out: get another from the secret."""


class AzureConnector(ApiConnector):
    """One Azure tenant's invoices, read by a service principal with a client secret."""

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BASE_URL,
        login_url: str = DEFAULT_LOGIN_URL,
        client: httpx.AsyncClient | None = None,
        pool: HttpPool | None = None,
        today: date | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        super().__init__(base_url=base_url, client=client, pool=pool)
        self._login_url = login_url.rstrip("/")
        self._today = today
        self._sleep = sleep
        self._tenant = ""
        self._client_id = ""
        self._secret: SecretStr | None = None
        self._token: SecretStr | None = None
        self._token_until = 0.0
        #: Billing account names the invoices are read from.
        self.accounts: tuple[str, ...] = ()

    async def login(self, credentials: Credentials) -> LoggedIn:
        tenant, client_id, account = _parse_login(credentials.login)
        if not credentials.password.get_secret_value().strip():
            raise LoginRefused("no Azure client secret was given")
        self._tenant, self._client_id, self._secret = tenant, client_id, credentials.password
        self._token = None
        try:
            if account is not None:
                body = await self._get(f"{BILLING}/{quote(account, safe=':')}", not_found=True)
                self.accounts = (text_field(body, "name"),)
                return LoggedIn(account_label=_display_name(body))
            found = [
                object_field(item, "a billing account") async for item in self._pages(BILLING, {})
            ]
            if not found:
                # The app signs in but holds no billing role anywhere.
                raise ActionRequired(KEY_SCOPE)
            self.accounts = tuple(text_field(item, "name") for item in found)
            return LoggedIn(account_label=", ".join(_display_name(item) for item in found))
        except BaseException:
            self._secret = self._token = None
            raise

    async def invoices(self, since: date | None) -> AsyncIterator[InvoiceRef]:
        self.listed = None
        today = self._today or datetime.now(UTC).date()
        start = (since or today - timedelta(days=HISTORY_DAYS)) - timedelta(days=PERIOD_MARGIN_DAYS)
        params: dict[str, str | int] = {
            "periodStartDate": start.isoformat(),
            "periodEndDate": today.isoformat(),
        }
        listed = 0
        refs: list[InvoiceRef] = []
        for account in self.accounts:
            path = f"{BILLING}/{quote(account, safe=':')}/invoices"
            async for item in self._pages(path, params):
                ref = _invoice_ref(object_field(item, "an invoice"), account)
                if ref is None:
                    continue
                listed += 1
                if since is None or ref.issued_on >= since:
                    refs.append(ref)
        # Newest first, like the other connectors, whatever the accounts' order.
        for ref in sorted(refs, key=lambda r: r.issued_on, reverse=True):
            yield ref
        self.listed = listed

    async def download(self, invoice: InvoiceRef) -> Download:
        account = invoice.extra.get("billing_account")
        if not isinstance(account, str) or not account:
            raise LayoutChanged("the invoice names no billing account")
        path = f"{BILLING}/{quote(account, safe=':')}/invoices/{quote(invoice.reference)}/download"
        params: dict[str, str | int] = {}
        document = invoice.extra.get("document_name")
        if isinstance(document, str) and document:
            params["documentName"] = document
        response = await self._arm("POST", self._base_url + path, params)
        for _ in range(MAX_POLLS):
            if response.status_code != 202:
                break
            location = response.headers.get("location")
            if not location or not self._on_arm(location):
                raise LayoutChanged("the invoice download gave no Resource Manager Location")
            wait = retry_after(response)
            await self._sleep(min(DEFAULT_POLL_WAIT if wait is None else wait, MAX_POLL_WAIT))
            response = await self._arm("GET", location, None)
        else:
            raise SupplierUnavailable("the invoice download is still being prepared")
        if response.status_code != 200:
            raise LayoutChanged(f"the invoice download answered HTTP {response.status_code}")
        url = text_field(object_field(json_body(response), "the download result"), "url")
        return await self._fetch_blob(url, invoice.reference)

    # --- calls -------------------------------------------------------------------------

    async def _fetch_blob(self, url: str, reference: str) -> Download:
        if httpx.URL(url).scheme != "https" and httpx.URL(self._base_url).scheme == "https":
            raise LayoutChanged("the invoice's download URL is not HTTPS")
        # A SAS link carries its own authorisation: no token of ours goes with it, and no
        # failure message quotes it (its query is a credential).
        response = await self._send("GET", url, follow_redirects=True)
        if response.status_code == 429 or response.status_code >= 500:
            raise SupplierUnavailable(
                f"the invoice download answered HTTP {response.status_code}",
                retry_after=retry_after(response),
            )
        if response.status_code == 403:
            # The SAS ran out between the two calls (a slow queue): the next run asks anew.
            raise SupplierUnavailable("the invoice's download link expired")
        if response.status_code != 200:
            raise LayoutChanged(f"the invoice download answered HTTP {response.status_code}")
        safe = re.sub(r"[^A-Za-z0-9-]", "_", reference)[:60]
        return pdf_download(response.content, f"azure-{safe}.pdf")

    async def _pages(self, path: str, params: dict[str, str | int]) -> AsyncIterator[Any]:
        """The items of a Resource Manager list, page after page along `nextLink`."""
        url: str | None = self._base_url + path
        query: dict[str, str | int] | None = params
        while url is not None:
            body = await self._get_url(url, query)
            for item in list_field(body.get("value"), "value"):
                yield item
            url = optional_text(body, "nextLink")
            if url is not None and not self._on_arm(url):
                raise LayoutChanged("nextLink leaves the Resource Manager host")
            query = None  # the link carries the query, api-version included

    async def _get(self, path: str, *, not_found: bool = False) -> dict[str, Any]:
        return await self._get_url(self._base_url + path, {}, not_found=not_found)

    async def _get_url(
        self, url: str, params: dict[str, str | int] | None, *, not_found: bool = False
    ) -> dict[str, Any]:
        response = await self._arm("GET", url, params, not_found=not_found)
        return object_field(json_body(response), "the Resource Manager answer")

    async def _arm(
        self,
        method: str,
        url: str,
        params: dict[str, str | int] | None,
        *,
        not_found: bool = False,
    ) -> httpx.Response:
        """One Resource Manager call, made again once with a new token if ours expired.
        `params` None means the URL already holds its query (a nextLink, a Location)."""
        query = None if params is None else {**params, "api-version": API_VERSION}
        for attempt in (1, 2):
            headers = {**await self._auth(), "Accept": "application/json"}
            # An empty body is still a body: Resource Manager answers 411 to a POST
            # without Content-Length.
            content = b"" if method == "POST" else None
            response = await self._send(method, url, headers=headers, params=query, content=content)
            try:
                _raise_for_status(response, not_found=not_found)
            except _TokenExpired as err:
                self._token = None
                if attempt == 2:
                    raise CredentialsExpired("Azure refused a fresh access token") from err
                continue
            return response
        raise AssertionError("unreachable")

    async def _auth(self) -> dict[str, str]:
        token = self._token
        if token is None or time.monotonic() >= self._token_until - TOKEN_MARGIN:
            token = await self._new_token()
        return {"Authorization": f"Bearer {token.get_secret_value()}"}

    async def _new_token(self) -> SecretStr:
        if self._secret is None:
            raise RuntimeError("log in before calling the Azure API")
        headers, content = token_request(
            {
                "client_id": self._client_id,
                "client_secret": self._secret.get_secret_value(),
                "grant_type": "client_credentials",
                "scope": SCOPE,
            }
        )
        url = token_url(self._login_url, self._tenant)
        token = read_token(await self._send("POST", url, headers=headers, content=content))
        self._token, self._token_until = token.access_token, time.monotonic() + token.expires_in
        return self._token

    def _on_arm(self, url: str) -> bool:
        """Only the Resource Manager host (the base URL's) ever sees the token."""
        given, base = httpx.URL(url), httpx.URL(self._base_url)
        return (given.scheme, given.host, given.port) == (base.scheme, base.host, base.port)


# --- answers -----------------------------------------------------------------------------


def _parse_login(login: str) -> tuple[str, str, str | None]:
    """TENANT/CLIENT_ID[/BILLING_ACCOUNT], checked before any call."""
    parts = [part.strip() for part in login.strip().split("/")]
    if len(parts) not in (2, 3):
        raise LoginRefused("the Azure login is not TENANT/CLIENT_ID[/BILLING_ACCOUNT]")
    tenant, client_id = parts[0], parts[1]
    account = parts[2] if len(parts) == 3 else None
    if not _TENANT.fullmatch(tenant):
        raise LoginRefused("the Azure tenant is neither a GUID nor a domain")
    if not _CLIENT_ID.fullmatch(client_id):
        raise LoginRefused("the Azure client ID is not a GUID")
    if account is not None and not _ACCOUNT.fullmatch(account):
        raise LoginRefused("the Azure billing account name is not one")
    return tenant, client_id, account


def _arm_error(response: httpx.Response) -> str:
    """The `error.code` of a Resource Manager error body, or "" when there is none."""
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else ""


def _raise_for_status(response: httpx.Response, *, not_found: bool = False) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    code = _arm_error(response)
    if status == 429 or code == "TooManyRequests":
        raise SupplierUnavailable(
            "rate limited by Azure Resource Manager", retry_after=retry_after(response)
        )
    if status >= 500:
        raise SupplierUnavailable(
            f"Azure Resource Manager answered HTTP {status}", retry_after=retry_after(response)
        )
    if status == 401 and code == _EXPIRED_TOKEN:
        raise _TokenExpired
    if status == 401 or code in _REFUSED_TOKEN:
        raise LoginRefused("Azure refused the access token")
    if status == 403:
        raise ActionRequired(KEY_SCOPE)
    if status == 404 and not_found:
        # The login named a billing account the app cannot see: a wrong name.
        raise LoginRefused("Azure knows no such billing account")
    raise LayoutChanged(f"Azure Resource Manager answered HTTP {status} ({code or 'no code'})")


def _display_name(account: dict[str, Any]) -> str:
    properties = account.get("properties")
    if isinstance(properties, dict):
        name = optional_text(properties, "displayName")
        if name:
            return name
    return text_field(account, "name")


def _invoice_ref(item: dict[str, Any], account: str) -> InvoiceRef | None:
    properties = object_field(item.get("properties"), "the invoice's properties")
    kind = optional_text(properties, "documentType") or "Invoice"
    if kind not in INVOICE_TYPES:
        return None
    name = text_field(item, "name")
    total = properties.get("totalAmount")
    billed = properties.get("billedAmount")
    # totalAmount is the PDF's total (after credits, taxes included); without it (an
    # account that is not a Microsoft Customer Agreement) no total is given rather than
    # billedAmount, which is before credits and may be before tax.
    amount = None
    currency = None
    if isinstance(total, dict) and total.get("value") is not None:
        amount = decimal_field(total.get("value"), "totalAmount.value")
        currency = optional_text(total, "currency")
    elif isinstance(billed, dict):
        currency = optional_text(billed, "currency")
    extra: dict[str, Any] = {"billing_account": account, "document_type": kind}
    documents = properties.get("documents")
    for document in documents if isinstance(documents, list) else []:
        if isinstance(document, dict) and document.get("kind") == kind:
            doc_name = optional_text(document, "name")
            if doc_name:
                extra["document_name"] = doc_name
                break
    for key, label in (
        ("invoicePeriodStartDate", "period_start"),
        ("invoicePeriodEndDate", "period_end"),
    ):
        if properties.get(key):
            extra[label] = datetime_field(properties, key).date().isoformat()
    status = optional_text(properties, "status")
    if status:
        extra["status"] = status
    return InvoiceRef(
        reference=name,
        issued_on=datetime_field(properties, "invoiceDate").date(),
        amount=amount,
        currency=currency,
        number=name,
        extra=extra,
    )
