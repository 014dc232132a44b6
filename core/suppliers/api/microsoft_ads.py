"""Microsoft Advertising invoices through the Customer Billing service (Bing Ads API v13, REST).

The API acts for a person: it needs a developer token (Microsoft Advertising, Developer
Portal, Account, Request token) and a user's OAuth grant on an app registered in
Microsoft Entra as a public client ("Mobile and desktop applications", redirect
`https://login.microsoftonline.com/common/oauth2/nativeclient`). The grant comes from
one browser consent with scope `https://ads.microsoft.com/msads.manage offline_access`,
as Microsoft's "Authentication with OAuth" guide walks through; what Courier keeps is
its refresh token. Credentials:

- login `CLIENT_ID/CUSTOMER_ID/ACCOUNT_ID`: the app's client ID (a GUID), then the
  customer and the account IDs as Microsoft Advertising shows them (numbers; several
  accounts of one customer as `ACCOUNT_ID,ACCOUNT_ID`);
- password `DEVELOPER_TOKEN:REFRESH_TOKEN` (a developer token has no ":").

Each run trades the refresh token for an hour-long access token at Entra's v2.0 endpoint
(tenant `common`, `grant_type=refresh_token`). Entra answers with a new refresh token
each time and a refresh token lives 90 days: the newest is kept in the connection's
sealed session (`save`), tied to the one typed, so the grant outlives the one pasted.
An expired grant (AADSTS700082 or 70008) is `credentials_expired`.

- `POST https://clientcenter.api.bingads.microsoft.com/CustomerBilling/v13/
  BillingDocumentsInfo/Query` with `{"AccountIds": ["…"], "StartDate", "EndDate",
  "ReturnInvoiceNumber": true}` answers `{"BillingDocumentsInfo": [{"AccountId",
  "AccountName", "AccountNumber", "Amount", "CurrencyCode", "DocumentDate",
  "DocumentId", "CustomerId", "DocumentNumber"}]}`: the whole date range at once, with
  no paging. The range is read in windows of `WINDOW_DAYS`, so that no answer is huge.
- `POST …/CustomerBilling/v13/BillingDocuments/Query` with `{"BillingDocumentsInfo":
  [{"CustomerId", "DocumentId"}], "Type": "Pdf"}` answers `{"BillingDocuments": [{"Data"
  (base64), "Id", "Type", "Number"}]}`.
- Calls carry `Authorization: Bearer <access token>`, `DeveloperToken`, `CustomerId` and
  `CustomerAccountId` headers. Errors are `{"TrackingId", "Type": "AdApiFaultDetail",
  "Errors": [{"Code", "ErrorCode", "Message"}]}` (or `ApiFault` with
  `OperationErrors`): 105 InvalidCredentials (a wrong developer token or token), 106
  UserIsNotAuthorized, 109 AuthenticationTokenExpired (the access token: replaced once
  from the refresh token), 117 CallRateExceeded (retried after a minute, or the
  `Retry-After` given), 0 InternalError.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import time
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

DEFAULT_BASE_URL = "https://clientcenter.api.bingads.microsoft.com"
SCOPE = "https://ads.microsoft.com/msads.manage offline_access"
TENANT = "common"
INFO_PATH = "/CustomerBilling/v13/BillingDocumentsInfo/Query"
DOCUMENTS_PATH = "/CustomerBilling/v13/BillingDocuments/Query"
HISTORY_DAYS = 3 * 365
WINDOW_DAYS = 366
#: CallRateExceeded gives no wait of its own; the limit is per minute.
RATE_LIMIT_WAIT = 60.0
TOKEN_MARGIN = 120.0

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_ID = re.compile(r"\d{1,19}")
_DEVELOPER_TOKEN = re.compile(r"[A-Za-z0-9]{6,64}")

_REFUSED = frozenset({105})
_NOT_ALLOWED = frozenset({106})
_TOKEN_EXPIRED = frozenset({109})
_THROTTLED = frozenset({117})
_TEMPORARY = frozenset({0})


class _TokenExpired(Exception):
    """The API said the access token ran out: get another from the refresh token."""


class MicrosoftAdsConnector(ApiConnector):
    """One Microsoft Advertising customer's invoices, read with a user's OAuth grant."""

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BASE_URL,
        login_url: str = DEFAULT_LOGIN_URL,
        client: httpx.AsyncClient | None = None,
        pool: HttpPool | None = None,
        today: date | None = None,
    ) -> None:
        super().__init__(base_url=base_url, client=client, pool=pool)
        self._login_url = login_url.rstrip("/")
        self._today = today
        self._client_id = ""
        self._customer_id = ""
        self._account_ids: tuple[str, ...] = ()
        self._developer_token: SecretStr | None = None
        #: The refresh token typed by the owner, and the newest Entra gave for it.
        self._given: SecretStr | None = None
        self._refresh: SecretStr | None = None
        self._saved: dict[str, str] = {}
        self._token: SecretStr | None = None
        self._token_until = 0.0

    async def restore(self, state: dict[str, Any]) -> bool:
        # The newest refresh token is kept, but every run still signs in with it: there
        # is no session to resume, only a grant to use.
        token, origin = state.get("refresh_token"), state.get("given")
        if isinstance(token, str) and isinstance(origin, str):
            self._saved = {"refresh_token": token, "given": origin}
        return False

    async def save(self) -> dict[str, Any]:
        if self._refresh is None or self._given is None:
            return {}
        return {
            "refresh_token": self._refresh.get_secret_value(),
            "given": _fingerprint(self._given),
        }

    async def login(self, credentials: Credentials) -> LoggedIn:
        client_id, customer_id, account_ids = _parse_login(credentials.login)
        developer_token, refresh_token = _parse_password(credentials.password)
        self._client_id, self._customer_id, self._account_ids = client_id, customer_id, account_ids
        self._developer_token, self._given = developer_token, refresh_token
        self._token = None
        saved = self._saved.get("refresh_token")
        # The grant kept from the last run, if it grew from the refresh token typed now.
        if saved and self._saved.get("given") == _fingerprint(refresh_token):
            self._refresh = SecretStr(saved)
        else:
            self._refresh = refresh_token
        try:
            # A one-day window proves the developer token, the grant and the accounts.
            today = self._now()
            await self._info(account_ids, today - timedelta(days=1), today)
        except BaseException:
            self._developer_token = self._refresh = self._given = self._token = None
            raise
        return LoggedIn(account_label=f"Microsoft Advertising {', '.join(account_ids)}")

    async def invoices(self, since: date | None) -> AsyncIterator[InvoiceRef]:
        self.listed = None
        today = self._now()
        start = since or today - timedelta(days=HISTORY_DAYS)
        refs: list[InvoiceRef] = []
        while start <= today:
            end = min(start + timedelta(days=WINDOW_DAYS - 1), today)
            for item in await self._info(self._account_ids, start, end):
                refs.append(
                    _invoice_ref(object_field(item, "a billing document"), self._customer_id)
                )
            start = end + timedelta(days=1)
        # Newest first, like the other connectors; windows were read oldest first.
        unique = {ref.reference: ref for ref in refs}
        for ref in sorted(unique.values(), key=lambda r: r.issued_on, reverse=True):
            yield ref
        self.listed = len(unique)

    async def download(self, invoice: InvoiceRef) -> Download:
        customer = str(invoice.extra.get("customer_id") or self._customer_id)
        if not _ID.fullmatch(customer):
            raise LayoutChanged("the billing document names no customer")
        payload = {
            "BillingDocumentsInfo": [
                {"CustomerId": int(customer), "DocumentId": invoice.reference}
            ],
            "Type": "Pdf",
        }
        body = await self._post(DOCUMENTS_PATH, payload)
        documents = list_field(body.get("BillingDocuments"), "BillingDocuments")
        document = next(
            (
                object_field(d, "a billing document")
                for d in documents
                if isinstance(d, dict) and optional_text(d, "Id") == invoice.reference
            ),
            None,
        )
        if document is None:
            raise LayoutChanged("the billing document was not in the answer")
        try:
            content = base64.b64decode(text_field(document, "Data"), validate=True)
        except (binascii.Error, ValueError) as err:
            raise LayoutChanged("the billing document's Data is not base64") from err
        safe = re.sub(r"[^A-Za-z0-9-]", "_", invoice.number or invoice.reference)[:60]
        return pdf_download(content, f"microsoft-ads-{safe}.pdf")

    # --- calls -------------------------------------------------------------------------

    def _now(self) -> date:
        return self._today or datetime.now(UTC).date()

    async def _info(self, accounts: tuple[str, ...], start: date, end: date) -> list[Any]:
        payload = {
            "AccountIds": list(accounts),
            "StartDate": f"{start.isoformat()}T00:00:00Z",
            "EndDate": f"{end.isoformat()}T23:59:59Z",
            "ReturnInvoiceNumber": True,
        }
        body = await self._post(INFO_PATH, payload)
        info = body.get("BillingDocumentsInfo")
        # A range with no document answers null, as the SOAP service always did.
        return [] if info is None else list_field(info, "BillingDocumentsInfo")

    async def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        content = json.dumps(payload, separators=(",", ":")).encode()
        for attempt in (1, 2):
            headers = {
                **await self._auth(),
                "Content-Type": "application/json",
                "Accept": "application/json",
            }
            response = await self._send(
                "POST", self._base_url + path, headers=headers, content=content
            )
            try:
                _raise_for_status(response)
            except _TokenExpired as err:
                self._token = None
                if attempt == 2:
                    raise CredentialsExpired("a fresh access token was refused as expired") from err
                continue
            return object_field(json_body(response), "the Customer Billing answer")
        raise AssertionError("unreachable")

    async def _auth(self) -> dict[str, str]:
        if self._developer_token is None:
            raise RuntimeError("log in before calling the Microsoft Advertising API")
        token = self._token
        if token is None or time.monotonic() >= self._token_until - TOKEN_MARGIN:
            token = await self._new_token()
        return {
            "Authorization": f"Bearer {token.get_secret_value()}",
            "DeveloperToken": self._developer_token.get_secret_value(),
            "CustomerId": self._customer_id,
            "CustomerAccountId": self._account_ids[0],
        }

    async def _new_token(self) -> SecretStr:
        if self._refresh is None:
            raise RuntimeError("log in before calling the Microsoft Advertising API")
        headers, content = token_request(
            {
                "client_id": self._client_id,
                "grant_type": "refresh_token",
                "refresh_token": self._refresh.get_secret_value(),
                "scope": SCOPE,
            }
        )
        url = token_url(self._login_url, TENANT)
        try:
            token = read_token(await self._send("POST", url, headers=headers, content=content))
        except LoginRefused:
            if self._given is None or self._refresh == self._given:
                raise
            # The kept grant was refused (revoked since): the one typed may still hold.
            self._refresh = self._given
            return await self._new_token()
        if token.refresh_token is not None:
            self._refresh = token.refresh_token
        self._token, self._token_until = token.access_token, time.monotonic() + token.expires_in
        return self._token


# --- answers -----------------------------------------------------------------------------


def _parse_login(login: str) -> tuple[str, str, tuple[str, ...]]:
    parts = [part.strip() for part in login.strip().split("/")]
    if len(parts) != 3:
        raise LoginRefused("the login is not CLIENT_ID/CUSTOMER_ID/ACCOUNT_ID")
    client_id, customer_id, accounts = parts
    account_ids = tuple(a.strip() for a in accounts.split(",") if a.strip())
    if not _GUID.fullmatch(client_id):
        raise LoginRefused("the app's client ID is not a GUID")
    if not _ID.fullmatch(customer_id) or not account_ids:
        raise LoginRefused("the customer or account ID is missing")
    if not all(_ID.fullmatch(a) for a in account_ids):
        raise LoginRefused("an account ID is not a number")
    return client_id, customer_id, account_ids


def _parse_password(password: SecretStr) -> tuple[SecretStr, SecretStr]:
    developer, sep, refresh = password.get_secret_value().strip().partition(":")
    if not sep or not _DEVELOPER_TOKEN.fullmatch(developer) or not refresh.strip():
        raise LoginRefused("the password is not DEVELOPER_TOKEN:REFRESH_TOKEN")
    return SecretStr(developer), SecretStr(refresh.strip())


def _fingerprint(token: SecretStr) -> str:
    """Which typed refresh token a kept one grew from, without keeping it twice."""
    return hashlib.sha256(token.get_secret_value().encode()).hexdigest()[:32]


def _fault_codes(response: httpx.Response) -> frozenset[int]:
    """The numeric codes of an AdApiFaultDetail's `Errors` or an ApiFault's
    `OperationErrors`, whatever the HTTP status."""
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return frozenset()
    if not isinstance(body, dict):
        return frozenset()
    errors: list[Any] = []
    for key in ("Errors", "OperationErrors", "BatchErrors"):
        value = body.get(key)
        if isinstance(value, list):
            errors += value
    return frozenset(
        e["Code"]
        for e in errors
        if isinstance(e, dict)
        and isinstance(e.get("Code"), int)
        and not isinstance(e["Code"], bool)
    )


def _raise_for_status(response: httpx.Response) -> None:
    status = response.status_code
    if status == 200:
        return
    codes = _fault_codes(response)
    if status == 429 or codes & _THROTTLED:
        wait = retry_after(response)
        raise SupplierUnavailable(
            "rate limited by the Microsoft Advertising API",
            retry_after=RATE_LIMIT_WAIT if wait is None else wait,
        )
    if status >= 500 or codes & _TEMPORARY:
        raise SupplierUnavailable(f"the Microsoft Advertising API answered HTTP {status}")
    if codes & _TOKEN_EXPIRED:
        raise _TokenExpired
    if codes & _REFUSED or status == 401:
        raise LoginRefused("Microsoft Advertising refused the developer token or the grant")
    if codes & _NOT_ALLOWED or status == 403:
        raise ActionRequired(KEY_SCOPE)
    shown = ",".join(str(c) for c in sorted(codes)) or "none"
    raise LayoutChanged(f"the Microsoft Advertising API answered HTTP {status} (codes {shown})")


def _invoice_ref(item: dict[str, Any], customer_id: str) -> InvoiceRef:
    document_id = optional_text(item, "DocumentId")
    if document_id is None:
        raise LayoutChanged("a billing document has no DocumentId")
    extra: dict[str, Any] = {"customer_id": optional_text(item, "CustomerId") or customer_id}
    account = optional_text(item, "AccountId")
    if account:
        extra["account_id"] = account
    account_number = optional_text(item, "AccountNumber")
    if account_number:
        extra["account_number"] = account_number
    return InvoiceRef(
        reference=document_id,
        # DocumentDate is written with or without a zone ("2026-11-30T00:00:00").
        issued_on=datetime_field(item, "DocumentDate").date(),
        amount=decimal_field(item.get("Amount"), "Amount"),
        currency=optional_text(item, "CurrencyCode"),
        number=optional_text(item, "DocumentNumber"),
        extra=extra,
    )
