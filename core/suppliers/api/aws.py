"""Amazon Web Services invoices through the AWS Invoicing API (2024-12-01).

Credentials: the login is an IAM access key ID, the password its secret access key. The
key's policy must allow `sts:GetCallerIdentity` (always allowed), `invoicing:
ListInvoiceSummaries` and `invoicing:GetInvoicePDF`. Every call is signed with AWS
Signature Version 4 by botocore (`SigV4Auth` on an `AWSRequest`), never by hand.

- STS `GetCallerIdentity` (query protocol, XML answer) names the key's account: the
  invoices are listed for it, and the call proves the key before anything else.
- Invoicing speaks JSON 1.0: `POST /` with `X-Amz-Target: Invoicing.<Operation>` and
  `Content-Type: application/x-amz-json-1.0`, signing name `invoicing`, region
  us-east-1 (`https://invoicing.us-east-1.api.aws`).
- `ListInvoiceSummaries` takes `Selector {ResourceType: ACCOUNT_ID, Value}` and
  `Filter.TimeInterval {StartDate, EndDate}` (epoch seconds; end exclusive), which the
  reference limits to one month without a `ReceiverRole`; so the list is read month by
  month, each month paged with `NextToken` (`MaxResults` at most 100). An
  `InvoiceSummary` has `InvoiceId`, `IssuedDate` (epoch seconds), `InvoiceType`
  (INVOICE, CREDIT_MEMO, PAYMENT_RECEIPT) and amounts as text with their currency in
  `PaymentCurrencyAmount` (the customer's currency) and `BaseCurrencyAmount`.
- `GetInvoicePDF {InvoiceId}` answers `InvoicePDF.DocumentUrl`, a presigned URL that
  expires (`DocumentUrlExpirationDate`); it is fetched at once, without our signature.
- Errors are `{"__type": "...#Name", "message"}` with the name also in
  `x-amzn-ErrorType`: ThrottlingException (400) and InternalServerException (500, with
  `retryAfterSeconds`) are retried later; UnrecognizedClientException,
  InvalidClientTokenId and InvalidSignatureException (403) refuse the key;
  ExpiredTokenException says it expired; AccessDeniedException means the policy lacks a
  right. STS answers the same names in its XML `ErrorResponse`.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import httpx
from defusedxml.ElementTree import fromstring
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
    retry_after,
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

DEFAULT_INVOICING_URL = "https://invoicing.us-east-1.api.aws"
DEFAULT_STS_URL = "https://sts.amazonaws.com"
REGION = "us-east-1"  # the Invoicing API's only region, and where global STS signs
JSON_1_0 = "application/x-amz-json-1.0"
MAX_RESULTS = 100
#: How far back "the full history" goes: the list is read one month per call.
HISTORY_MONTHS = 24
INVOICE_TYPES = frozenset({"INVOICE", "CREDIT_MEMO"})  # a payment receipt is no invoice
_ACCESS_KEY_ID = re.compile(r"(AKIA|ASIA)[A-Z0-9]{12,124}")
_ACCOUNT_ID = re.compile(r"\d{12}")
_STS_NS = "{https://sts.amazonaws.com/doc/2011-06-15/}"

_REFUSED = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "MissingAuthenticationToken",
    }
)
_EXPIRED = frozenset({"ExpiredTokenException", "ExpiredToken", "RequestExpired"})
_THROTTLED = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException"})
_DENIED = frozenset({"AccessDeniedException", "AccessDenied"})


class AwsConnector(ApiConnector):
    """One AWS account's invoices, read with an IAM access key."""

    def __init__(
        self,
        *,
        invoicing_url: str = DEFAULT_INVOICING_URL,
        sts_url: str = DEFAULT_STS_URL,
        client: httpx.AsyncClient | None = None,
        pool: HttpPool | None = None,
        max_results: int = MAX_RESULTS,
        today: date | None = None,
    ) -> None:
        super().__init__(base_url=invoicing_url, client=client, pool=pool)
        self._sts_url = sts_url.rstrip("/")
        self._max_results = max(1, min(max_results, MAX_RESULTS))
        self._today = today
        self._key_id = ""
        self._secret: SecretStr | None = None
        self._account_id = ""

    async def login(self, credentials: Credentials) -> LoggedIn:
        key_id = credentials.login.strip()
        if not _ACCESS_KEY_ID.fullmatch(key_id):
            # Caught before any call: an account ID or a user name pasted as the key ID.
            raise LoginRefused("the AWS access key ID is not one")
        if not credentials.password.get_secret_value().strip():
            raise LoginRefused("no AWS secret access key was given")
        self._key_id, self._secret = key_id, credentials.password
        try:
            self._account_id = await self._caller_account()
            # One summary of this month: proves the policy allows the Invoicing API.
            month = _month_start(self._now())
            await self._list_page(month, _next_month(month), None, max_results=1)
        except BaseException:
            self._secret = None
            raise
        return LoggedIn(account_label=self._account_id)

    async def invoices(self, since: date | None) -> AsyncIterator[InvoiceRef]:
        self.listed = None
        end = _next_month(_month_start(self._now()))
        month = _month_start(since) if since else _months_before(end, HISTORY_MONTHS)
        listed = 0
        refs: list[InvoiceRef] = []
        while month < end:
            following = _next_month(month)
            token: str | None = None
            while True:
                body = await self._list_page(month, following, token)
                for item in list_field(body.get("InvoiceSummaries"), "InvoiceSummaries"):
                    ref = _invoice_ref(object_field(item, "an invoice summary"))
                    if ref is None:
                        continue
                    listed += 1
                    if since is None or ref.issued_on >= since:
                        refs.append(ref)
                token = optional_text(body, "NextToken")
                if token is None:
                    break
            month = following
        # Newest first, like the other connectors; months were read oldest first.
        for ref in sorted(refs, key=lambda r: r.issued_on, reverse=True):
            yield ref
        self.listed = listed

    async def download(self, invoice: InvoiceRef) -> Download:
        body = await self._call("GetInvoicePDF", {"InvoiceId": invoice.reference})
        pdf = object_field(body.get("InvoicePDF"), "InvoicePDF")
        url = text_field(pdf, "DocumentUrl")
        if httpx.URL(url).scheme != "https" and httpx.URL(self._base_url).scheme == "https":
            raise LayoutChanged("the invoice's download URL is not HTTPS")
        # Presigned: the URL carries its own authorisation, so no header of ours goes with
        # it, and a failure message never quotes it (its query is a credential).
        response = await self._send("GET", url, follow_redirects=True)
        if response.status_code in (429, 503) or response.status_code >= 500:
            raise SupplierUnavailable(
                f"the invoice download answered HTTP {response.status_code}",
                retry_after=retry_after(response),
            )
        if response.status_code == 403:
            # Expired between the two calls (a slow queue): asking again gives a new one.
            raise SupplierUnavailable("the invoice's download link expired")
        if response.status_code != 200:
            raise LayoutChanged(f"the invoice download answered HTTP {response.status_code}")
        safe = re.sub(r"[^A-Za-z0-9-]", "_", invoice.reference)[:60]
        return pdf_download(response.content, f"aws-{safe}.pdf")

    # --- calls -------------------------------------------------------------------------

    def _now(self) -> date:
        return self._today or datetime.now(UTC).date()

    async def _caller_account(self) -> str:
        form = b"Action=GetCallerIdentity&Version=2011-06-15"
        response = await self._signed(
            self._sts_url + "/",
            "sts",
            form,
            {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        )
        if response.status_code != 200:
            _raise_for_error(response.status_code, _sts_error(response.content), response)
        root = _xml(response.content)
        if root is None:
            raise LayoutChanged("STS answered something that is not XML")
        account = root.findtext(f"{_STS_NS}GetCallerIdentityResult/{_STS_NS}Account")
        if not account or not _ACCOUNT_ID.fullmatch(account.strip()):
            raise LayoutChanged("STS named no account")
        return account.strip()

    async def _list_page(
        self, start: date, end: date, token: str | None, *, max_results: int | None = None
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "Selector": {"ResourceType": "ACCOUNT_ID", "Value": self._account_id},
            "Filter": {"TimeInterval": {"StartDate": _epoch(start), "EndDate": _epoch(end)}},
            "MaxResults": max_results or self._max_results,
        }
        if token is not None:
            payload["NextToken"] = token
        return await self._call("ListInvoiceSummaries", payload)

    async def _call(self, operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        content = json.dumps(payload, separators=(",", ":")).encode()
        headers = {"Content-Type": JSON_1_0, "X-Amz-Target": f"Invoicing.{operation}"}
        response = await self._signed(self._base_url + "/", "invoicing", content, headers)
        if response.status_code != 200:
            _raise_for_error(response.status_code, _json_error(response), response)
        return object_field(json_body(response), f"the {operation} answer")

    async def _signed(
        self, url: str, service: str, content: bytes, headers: dict[str, str]
    ) -> httpx.Response:
        if self._secret is None:
            raise RuntimeError("log in before calling the AWS API")
        # Imported here: botocore costs ~7 MB and 0.1 s to import, which every scheduler
        # would pay at start for a connector most workspaces never use.
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials as AwsCredentials

        request = AWSRequest(method="POST", url=url, data=content, headers=headers)
        credentials = AwsCredentials(self._key_id, self._secret.get_secret_value())
        SigV4Auth(credentials, service, REGION).add_auth(request)
        # Only what was signed goes out (httpx adds its own transport headers).
        signed = {name: str(value) for name, value in request.headers.items()}
        return await self._send("POST", url, headers=signed, content=content)


# --- answers -----------------------------------------------------------------------------


def _json_error(response: httpx.Response) -> tuple[str, dict[str, Any]]:
    """The error's short name (`x-amzn-ErrorType` or `__type`, without namespace or
    trailing detail) and its body."""
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        body = {}
    body = body if isinstance(body, dict) else {}
    raw = response.headers.get("x-amzn-ErrorType") or str(body.get("__type") or "")
    return raw.split(":")[0].rsplit("#", 1)[-1], body


def _xml(content: bytes) -> Element | None:
    """STS's answer, parsed with no DTD or entity: None when it is not XML."""
    try:
        root: Element = fromstring(content, forbid_dtd=True)
    except (ParseError, defusedxml.DefusedXmlException):
        return None
    return root


def _sts_error(content: bytes) -> tuple[str, dict[str, Any]]:
    root = _xml(content)
    if root is None:
        return "", {}
    code = root.findtext(f"{_STS_NS}Error/{_STS_NS}Code") or root.findtext("Error/Code") or ""
    return code.strip(), {}


def _raise_for_error(
    status: int, error: tuple[str, dict[str, Any]], response: httpx.Response
) -> None:
    name, body = error
    if name in _THROTTLED or status == 429:
        raise SupplierUnavailable("rate limited by the AWS API", retry_after=retry_after(response))
    if status >= 500 or name == "InternalServerException":
        wait = body.get("retryAfterSeconds")
        seconds = float(wait) if isinstance(wait, int) and not isinstance(wait, bool) else None
        raise SupplierUnavailable(
            f"the AWS API answered HTTP {status}", retry_after=seconds or retry_after(response)
        )
    if name in _EXPIRED:
        raise CredentialsExpired("the AWS key has expired")
    if name in _REFUSED:
        raise LoginRefused("AWS refused the access key")
    if name in _DENIED:
        raise ActionRequired(KEY_SCOPE)
    raise LayoutChanged(f"the AWS API answered HTTP {status} ({name or 'no error name'})")


def _invoice_ref(item: dict[str, Any]) -> InvoiceRef | None:
    invoice_type = optional_text(item, "InvoiceType") or "INVOICE"
    if invoice_type not in INVOICE_TYPES:
        return None
    invoice_id = text_field(item, "InvoiceId")
    issued = item.get("IssuedDate")
    if isinstance(issued, bool) or not isinstance(issued, int | Decimal):
        raise LayoutChanged("IssuedDate is not a timestamp")
    amount = item.get("PaymentCurrencyAmount") or item.get("BaseCurrencyAmount")
    money = object_field(amount, "the invoice amount")
    extra: dict[str, Any] = {"invoice_type": invoice_type}
    period = item.get("BillingPeriod")
    if isinstance(period, dict) and {"Month", "Year"} <= period.keys():
        extra["billing_period"] = f"{period['Year']:04d}-{period['Month']:02d}"
    entity = item.get("Entity")
    if isinstance(entity, dict) and isinstance(entity.get("InvoicingEntity"), str):
        extra["invoicing_entity"] = entity["InvoicingEntity"]
    return InvoiceRef(
        reference=invoice_id,
        issued_on=datetime.fromtimestamp(float(issued), UTC).date(),
        amount=decimal_field(money.get("TotalAmount"), "TotalAmount"),
        currency=text_field(money, "CurrencyCode"),
        number=invoice_id,
        extra=extra,
    )


def _epoch(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _next_month(month: date) -> date:
    return date(month.year + 1, 1, 1) if month.month == 12 else date(month.year, month.month + 1, 1)


def _months_before(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 - count
    return date(index // 12, index % 12 + 1, 1)
