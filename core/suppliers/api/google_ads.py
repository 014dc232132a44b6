"""Google Ads invoices through the Google Ads API's InvoiceService, for accounts on
monthly invoicing.

Sign-in is the person's consent (OAuth 2.0, scope `adwords`, offline access): the chat
shows Google's consent address and the callback keeps the refresh token, sealed, as the
connection's password (core/suppliers/oauth.py). The login is the Google Ads customer ID
(`123-456-7890`), followed by `/` and the manager account's ID when the person reaches
the account through a manager account (`123-456-7890/987-654-3210`). Every call carries
`Authorization: Bearer <access token>`, Courier's `developer-token` and, through a
manager, `login-customer-id`.

- `POST /{version}/customers/{id}/googleAds:search` with the GAQL query on
  `billing_setup` lists the account's billing setups (pages follow `nextPageToken`).
- `GET /{version}/customers/{id}/invoices?billingSetup=customers/{id}/billingSetups/{bs}
  &issueYear=YYYY&issueMonth=JANUARY` lists one month's invoices of one billing setup:
  `id`, `type` (INVOICE or CREDIT_MEMO), `issueDate`, `dueDate`, `currencyCode`,
  `subtotalAmountMicros`, `taxAmountMicros`, `totalAmountMicros` (int64 as text, in
  millionths), `pdfUrl`. Invoices go back to 2019.
- The PDF is at `pdfUrl`, fetched with the same bearer (only on Google's own hosts).
- Errors are google.rpc Status: `{"error": {"code", "message", "status", "details":
  [{"@type": "…GoogleAdsFailure", "errors": [{"errorCode": {"quotaError": …}, "details":
  {"quotaErrorDetails": {"retryDelay": "30s"}}}]}]}}`. 401 UNAUTHENTICATED; 403
  PERMISSION_DENIED (no access to the account, or a developer token not approved); 429
  RESOURCE_EXHAUSTED with its retry delay; `invoiceError` NOT_INVOICED_CUSTOMER or
  BILLING_SETUP_NOT_ON_MONTHLY_INVOICING for an account that is not invoiced monthly.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
from pydantic import SecretStr

from core.accounting.providers.oauth import OAuthEndpoints
from core.suppliers.api import (
    KEY_SCOPE,
    ApiConnector,
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
from core.suppliers.oauth import OAuthSignIn, SignInExpired
from core.suppliers.pool import HttpPool

KEY = "google-ads"
DEFAULT_BASE_URL = "https://googleads.googleapis.com"
API_VERSION = "v22"
AUTHORIZE_URL = "https://accounts.google.com/o/oauth2/v2/auth"
TOKEN_URL = "https://oauth2.googleapis.com/token"
REVOKE_URL = "https://oauth2.googleapis.com/revoke"
SCOPE = "https://www.googleapis.com/auth/adwords"
#: A refresh token comes only with offline access; `prompt=consent` asks for one again
#: when the person had already agreed once (a reconnect).
CONSENT_PARAMS = {"access_type": "offline", "prompt": "consent"}
BILLING_SETUPS = (
    "SELECT billing_setup.id, billing_setup.status, "
    "billing_setup.payments_account_info.payments_account_name FROM billing_setup"
)
MONTHS = (
    "JANUARY",
    "FEBRUARY",
    "MARCH",
    "APRIL",
    "MAY",
    "JUNE",
    "JULY",
    "AUGUST",
    "SEPTEMBER",
    "OCTOBER",
    "NOVEMBER",
    "DECEMBER",
)
#: The full history: the API gives nothing before 2019, and three years are what the
#: other ads APIs go back.
HISTORY_MONTHS = 36
FIRST_YEAR = 2019
INVOICE_TYPES = frozenset({"INVOICE", "CREDIT_MEMO"})
MICROS = Decimal(1_000_000)
#: Why a listing was refused: an account not on monthly invoicing has no invoices here.
NOT_INVOICED = "monthly_invoicing_only"
_NOT_INVOICED = frozenset(
    {"NOT_INVOICED_CUSTOMER", "BILLING_SETUP_NOT_ON_MONTHLY_INVOICING", "NON_SERVING_CUSTOMER"}
)
_CUSTOMER_ID = re.compile(r"\d{10}")
_AUTH_KINDS = ("authenticationError", "authorizationError")
_GOOGLE_HOSTS = ("google.com", "googleapis.com", "googleusercontent.com")
_DELAY = re.compile(r"(\d+(?:\.\d+)?)s")


@dataclass(frozen=True, slots=True)
class GoogleAdsConfig:
    """Courier's own Google Ads app: its OAuth client and its developer token (settings)."""

    client_id: str = ""
    client_secret: SecretStr = field(default_factory=lambda: SecretStr(""))
    developer_token: SecretStr = field(default_factory=lambda: SecretStr(""))
    api_url: str = DEFAULT_BASE_URL
    authorize_url: str = AUTHORIZE_URL
    token_url: str = TOKEN_URL
    revoke_url: str = REVOKE_URL

    def __repr__(self) -> str:
        return f"GoogleAdsConfig(api_url={self.api_url!r}, client_id=...)"

    def sign_in(self) -> OAuthSignIn:
        endpoints = OAuthEndpoints(
            authorize_url=self.authorize_url,
            token_url=self.token_url,
            revoke_url=self.revoke_url,
            client_id=self.client_id,
            client_secret=self.client_secret.get_secret_value(),
        )
        return OAuthSignIn(
            supplier=KEY, endpoints=endpoints, scope=SCOPE, authorize_params=CONSENT_PARAMS
        )


@dataclass(frozen=True, slots=True)
class Account:
    customer_id: str
    manager_id: str | None = None

    @property
    def label(self) -> str:
        c = self.customer_id
        return f"{c[:3]}-{c[3:6]}-{c[6:]}"


def parse_login(login: str) -> Account:
    """`123-456-7890`, or `123-456-7890/987-654-3210` through a manager account."""
    parts = [re.sub(r"[\s-]", "", part) for part in login.split("/")]
    if not 1 <= len(parts) <= 2 or not all(_CUSTOMER_ID.fullmatch(part) for part in parts):
        raise LoginRefused("the Google Ads customer ID is not 10 digits")
    return Account(parts[0], parts[1] if len(parts) == 2 else None)


class GoogleAdsConnector(ApiConnector):
    """One Google Ads account's monthly invoices, read with the owner's consent."""

    TOKEN_HOSTS = _GOOGLE_HOSTS

    def __init__(
        self,
        *,
        sign_in: OAuthSignIn,
        developer_token: SecretStr,
        base_url: str = DEFAULT_BASE_URL,
        client: httpx.AsyncClient | None = None,
        pool: HttpPool | None = None,
        today: date | None = None,
    ) -> None:
        super().__init__(base_url=base_url, client=client, pool=pool)
        self._sign_in = sign_in
        self._developer_token = developer_token
        self._today = today
        self._account = Account("")
        self._access: SecretStr | None = None
        #: Resource names of the account's approved billing setups, read at login.
        self._setups: list[str] = []

    async def login(self, credentials: Credentials) -> LoggedIn:
        account = parse_login(credentials.login)
        if not self._developer_token.get_secret_value():
            # Courier's own setting, not the owner's: retried once the operator sets it.
            raise SupplierUnavailable("no Google Ads developer token is set")
        if not credentials.password.get_secret_value():
            # Created while its owner consents at Google, and the consent never came back.
            raise SignInExpired("the owner has not allowed Courier's access yet")
        self._account = account
        self._access = await self._sign_in.access_token(credentials.password)
        try:
            self._setups, name = await self._billing_setups()
        except BaseException:
            self._access = None
            raise
        return LoggedIn(account_label=f"{name} ({account.label})" if name else account.label)

    async def _billing_setups(self) -> tuple[list[str], str | None]:
        path = f"/{API_VERSION}/customers/{self._account.customer_id}/googleAds:search"
        body: dict[str, str] = {"query": BILLING_SETUPS}
        setups: list[str] = []
        name: str | None = None
        while True:
            page = await self._call("POST", path, body=body)
            for row in list_field(page.get("results", []), "results"):
                setup = object_field(object_field(row, "a row").get("billingSetup"), "billingSetup")
                if optional_text(setup, "status") != "APPROVED":
                    continue  # only an approved setup has invoices (BILLING_SETUP_NOT_APPROVED)
                setups.append(text_field(setup, "resourceName"))
                info = setup.get("paymentsAccountInfo")
                if isinstance(info, dict):
                    name = name or optional_text(info, "paymentsAccountName")
            token = optional_text(page, "nextPageToken")
            if token is None:
                return setups, name
            body = {"query": BILLING_SETUPS, "pageToken": token}

    async def invoices(self, since: date | None) -> AsyncIterator[InvoiceRef]:
        self.listed = None
        listed = 0
        path = f"/{API_VERSION}/customers/{self._account.customer_id}/invoices"
        for year, month in self._months(since):
            for setup in self._setups:
                params: dict[str, str | int] = {
                    "billingSetup": setup,
                    "issueYear": str(year),
                    "issueMonth": MONTHS[month - 1],
                }
                page = await self._call("GET", path, params=params)
                for item in list_field(page.get("invoices", []), "invoices"):
                    ref = _invoice_ref(object_field(item, "an invoice"))
                    if ref is not None:
                        listed += 1
                        yield ref
        self.listed = listed

    def _months(self, since: date | None) -> list[tuple[int, int]]:
        """Newest first, from this month back to `since`'s (or the full history)."""
        today = self._today or datetime.now(UTC).date()
        year, month = today.year, today.month
        months: list[tuple[int, int]] = []
        while len(months) < HISTORY_MONTHS and year >= FIRST_YEAR:
            months.append((year, month))
            if since is not None and (year, month) <= (since.year, since.month):
                break
            year, month = (year, month - 1) if month > 1 else (year - 1, 12)
        return months

    async def download(self, invoice: InvoiceRef) -> Download:
        url = invoice.extra.get("pdf_url")
        if not isinstance(url, str) or not url:
            raise LayoutChanged("the invoice has no pdfUrl")
        headers = self._headers() if self._trusted(url) else {}
        response = await self._send("GET", url, headers=headers, follow_redirects=True)
        _raise_for_status(response)
        return pdf_download(response.content, f"google-ads-{_safe(invoice.reference)}.pdf")

    def _headers(self) -> dict[str, str]:
        if self._access is None:
            raise RuntimeError("log in before calling the Google Ads API")
        headers = {
            "Authorization": f"Bearer {self._access.get_secret_value()}",
            "developer-token": self._developer_token.get_secret_value(),
        }
        if self._account.manager_id:
            headers["login-customer-id"] = self._account.manager_id
        return headers

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str | int] | None = None,
        body: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        headers = {**self._headers(), "Accept": "application/json"}
        content = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            content = json.dumps(body).encode()
        response = await self._send(
            method, self._base_url + path, headers=headers, params=params, content=content
        )
        _raise_for_status(response)
        return object_field(json_body(response), "the Google Ads API answer")


def _raise_for_status(response: httpx.Response) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    error = _status_error(response)
    codes = _error_codes(error)
    rpc_status = error.get("status")
    if status == 429 or rpc_status == "RESOURCE_EXHAUSTED":
        raise SupplierUnavailable(
            "rate limited by the Google Ads API", retry_after=_retry_delay(error)
        )
    if status >= 500:
        raise SupplierUnavailable(f"the Google Ads API answered HTTP {status}")
    if codes.get("invoiceError") in _NOT_INVOICED:
        raise ActionRequired(NOT_INVOICED)
    if status == 401 or rpc_status == "UNAUTHENTICATED":
        raise LoginRefused("Google refused the access token")
    if codes.get("authorizationError", "").startswith("DEVELOPER_TOKEN"):
        # Courier's developer token is not (yet) approved: the operator's to fix.
        raise SupplierUnavailable("the Google Ads developer token is not approved")
    if status == 403 or rpc_status == "PERMISSION_DENIED":
        raise ActionRequired(KEY_SCOPE)
    raise LayoutChanged(f"the Google Ads API answered HTTP {status} ({rpc_status})")


def _status_error(response: httpx.Response) -> dict[str, Any]:
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _failures(error: dict[str, Any]) -> list[dict[str, Any]]:
    """The GoogleAdsFailure's errors, from the Status's details."""
    found: list[dict[str, Any]] = []
    for detail in error.get("details") or []:
        if not isinstance(detail, dict):
            continue
        if str(detail.get("@type", "")).endswith("GoogleAdsFailure"):
            found += [e for e in detail.get("errors") or [] if isinstance(e, dict)]
    return found


def _error_codes(error: dict[str, Any]) -> dict[str, str]:
    """{"quotaError": "RESOURCE_EXHAUSTED", ...}: each error's kind and code."""
    codes: dict[str, str] = {}
    for failure in _failures(error):
        code = failure.get("errorCode")
        if isinstance(code, dict):
            codes.update({k: str(v) for k, v in code.items() if isinstance(v, str)})
    return codes


def _retry_delay(error: dict[str, Any]) -> float | None:
    """The longest `retryDelay` ("30s") the failure gives, in quota details or RetryInfo."""
    delays: list[str] = []
    for failure in _failures(error):
        details = failure.get("details")
        quota = details.get("quotaErrorDetails") if isinstance(details, dict) else None
        if isinstance(quota, dict) and isinstance(quota.get("retryDelay"), str):
            delays.append(quota["retryDelay"])
    for detail in error.get("details") or []:
        if (
            isinstance(detail, dict)
            and str(detail.get("@type", "")).endswith("RetryInfo")
            and isinstance(detail.get("retryDelay"), str)
        ):
            delays.append(detail["retryDelay"])
    seconds = [float(m.group(1)) for d in delays if (m := _DELAY.fullmatch(d.strip()))]
    return max(seconds) if seconds else None


def _micros(item: dict[str, Any], key: str) -> Decimal:
    raw = item.get(key)
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise LayoutChanged(f"field {key!r} is not an amount")
    try:
        return Decimal(int(raw)) / MICROS
    except ValueError as err:
        raise LayoutChanged(f"field {key!r} is not an amount") from err


def _day(item: dict[str, Any], key: str) -> date:
    try:
        return date.fromisoformat(text_field(item, key))
    except ValueError as err:
        raise LayoutChanged(f"field {key!r} is not a date") from err


def _invoice_ref(item: dict[str, Any]) -> InvoiceRef | None:
    kind = optional_text(item, "type") or "INVOICE"
    if kind not in INVOICE_TYPES:
        return None
    number = text_field(item, "id")
    extra: dict[str, Any] = {
        "type": kind,
        "pdf_url": text_field(item, "pdfUrl"),
        "subtotal": str(_micros(item, "subtotalAmountMicros")),
        "tax": str(_micros(item, "taxAmountMicros")),
    }
    due = optional_text(item, "dueDate")
    if due:
        extra["due_date"] = due
    return InvoiceRef(
        reference=number,
        issued_on=_day(item, "issueDate"),
        amount=_micros(item, "totalAmountMicros"),
        currency=text_field(item, "currencyCode"),
        number=number,
        extra=extra,
    )


def _safe(reference: str) -> str:
    return re.sub(r"[^A-Za-z0-9-]", "_", reference)[:60]
