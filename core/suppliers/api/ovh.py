"""OVHcloud's invoices ("bills") through the /1.0 API, with signed requests.

Credentials: the login is the application key (AK). The password holds the application
secret (AS) and the consumer key (CK) as `AS:CK`, the two values OVHcloud shows when the
application and its token are created (neither contains a colon). The CK needs `GET` on
`/me/bill` and `/me/bill/*`.

The API lives in the account's region, and keys made in one region are unknown in the
others. The region is python-ovh's endpoint name written before the key in the login,
`ovh-ca:AK` (or `ca:AK`), else the connector's own setting, else Europe: `ovh-eu`
https://eu.api.ovh.com/1.0, `ovh-ca` https://ca.api.ovh.com/1.0, `ovh-us`
https://api.us.ovhcloud.com/1.0 (python-ovh's `ENDPOINTS`).

Every call but `GET /auth/time` is signed. Headers: `X-Ovh-Application: AK`,
`X-Ovh-Consumer: CK`, `X-Ovh-Timestamp: T` and `X-Ovh-Signature: "$1$" +
sha1_hex(AS+"+"+CK+"+"+METHOD+"+"+URL+"+"+BODY+"+"+T)`, where URL is the full URL with its
query string and T the server's clock: `GET /auth/time` gives it once per login, and the
offset from ours is kept, so a drifting local clock does not break the signature.

- `GET /me/bill?date.from=YYYY-MM-DD` lists bill ids (all of them: no pagination). The
  list without `date.from` is read too, for `listed`: how many bills the account has.
- `GET /me/bill/{billId}` gives `billId`, `date` (ISO 8601 with offset),
  `priceWithTax {value, currencyCode}`, `pdfUrl` and `url` (the HTML view).
- `pdfUrl` carries its own password in its query string and is fetched without the
  signature headers: the keys are only ever sent to the API's base URL.
- Refusals come as `{"errorCode", "httpCode", "message"}`: 400 `INVALID_SIGNATURE`,
  403 `INVALID_CREDENTIAL` ("This credential does not exist"), `NOT_CREDENTIAL`,
  `INVALID_KEY`, and 403 `NOT_GRANTED_CALL` when the CK's rules miss the route.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator, Mapping
from datetime import date
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx
from pydantic import SecretStr

from core.suppliers.api import (
    KEY_SCOPE,
    ApiConnector,
    datetime_field,
    decimal_field,
    json_body,
    list_field,
    object_field,
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
)
from core.suppliers.pool import HttpPool

#: python-ovh's endpoint table, for the regions whose accounts have bills at OVHcloud.
ENDPOINTS: Mapping[str, str] = {
    "ovh-eu": "https://eu.api.ovh.com/1.0",
    "ovh-ca": "https://ca.api.ovh.com/1.0",
    "ovh-us": "https://api.us.ovhcloud.com/1.0",
}
DEFAULT_REGION = "ovh-eu"
DEFAULT_BASE_URL = ENDPOINTS[DEFAULT_REGION]

# What OVHcloud says when the keys themselves are wrong, revoked or not yet validated.
_REFUSED_CODES = frozenset(
    {"INVALID_SIGNATURE", "INVALID_CREDENTIAL", "NOT_CREDENTIAL", "INVALID_KEY"}
)
_REFUSED_MESSAGES = frozenset(
    {
        "Invalid signature",
        "This credential does not exist",
        "This credential is not valid",
        "Invalid application key",
    }
)


class OvhConnector(ApiConnector):
    """One OVHcloud account, reached with an application's keys and a consumer key."""

    def __init__(
        self,
        *,
        base_url: str | None = None,
        region: str = DEFAULT_REGION,
        endpoints: Mapping[str, str] = ENDPOINTS,
        client: httpx.AsyncClient | None = None,
        pool: HttpPool | None = None,
    ) -> None:
        # `base_url` pins one endpoint whatever the login says (a test's single stand-in);
        # otherwise the login's region, or `region`, picks from `endpoints`.
        self._pinned = base_url is not None
        self._region = region_of(region)
        self._endpoints = endpoints
        super().__init__(base_url=base_url or endpoints[self._region], client=client, pool=pool)
        self._application_key = ""
        self._secret: SecretStr | None = None
        self._consumer_key: SecretStr | None = None
        self._time_delta = 0
        # billId -> pdfUrl, read while listing; it embeds a password, so it stays here
        # and out of InvoiceRef.extra, which is stored.
        self._pdf_urls: dict[str, str] = {}

    async def login(self, credentials: Credentials) -> LoggedIn:
        region, application_key = split_login(credentials.login, self._region)
        if not self._pinned:
            self._base_url = self._endpoints[region].rstrip("/")
        secret, separator, consumer_key = credentials.password.get_secret_value().partition(":")
        if not application_key or not separator or not secret.strip() or not consumer_key.strip():
            raise LoginRefused("OVHcloud keys must be the application key, then AS:CK")
        self._application_key = application_key
        self._secret = SecretStr(secret.strip())
        self._consumer_key = SecretStr(consumer_key.strip())
        try:
            await self._sync_clock()
            # The route we need, for today only: proves the keys and the CK's rights.
            await self._signed_get("/me/bill", {"date.from": date.today().isoformat()})
        except BaseException:
            self._secret = self._consumer_key = None
            raise
        return LoggedIn(account_label=None)

    async def invoices(self, since: date | None) -> AsyncIterator[InvoiceRef]:
        self.listed = None
        every = await self._bill_ids({})
        # The list is ids only, one light call: the whole of it says whether the account
        # still has any bill, the filtered one which bills to read one by one.
        ids = every if since is None else await self._bill_ids({"date.from": since.isoformat()})
        self.listed = len(every)
        for bill_id in ids:
            if not isinstance(bill_id, str) or not bill_id:
                raise LayoutChanged("a bill id is not text")
            bill = object_field(
                json_body(await self._signed_get(f"/me/bill/{quote(bill_id, safe='')}")), "a bill"
            )
            ref = self._remember(bill)
            # date.from is applied by OVHcloud in its own time zone; check the day again.
            if since is None or ref.issued_on >= since:
                yield ref

    async def download(self, invoice: InvoiceRef) -> Download:
        pdf_url = self._pdf_urls.get(invoice.reference)
        if pdf_url is None:
            path = f"/me/bill/{quote(invoice.reference, safe='')}"
            self._remember(object_field(json_body(await self._signed_get(path)), "a bill"))
            pdf_url = self._pdf_urls.get(invoice.reference)
            if pdf_url is None:
                raise LayoutChanged("the bill came back under another billId")
        # The document may be served from another host, hence the redirects; no key
        # travels with this request, so following them gives nothing away.
        response = await self._send("GET", pdf_url, follow_redirects=True)
        raise_if_transient(response)
        if not 200 <= response.status_code < 300:
            raise LayoutChanged(f"the bill's pdfUrl answered HTTP {response.status_code}")
        return pdf_download(response.content, f"ovhcloud-{invoice.reference}.pdf")

    async def _bill_ids(self, query: dict[str, str]) -> list[Any]:
        return list_field(json_body(await self._signed_get("/me/bill", query)), "the bill list")

    def _remember(self, bill: dict[str, Any]) -> InvoiceRef:
        bill_id = text_field(bill, "billId")
        pdf_url = text_field(bill, "pdfUrl")
        if urlsplit(pdf_url).scheme not in {"http", "https"}:
            raise LayoutChanged("pdfUrl is not a web address")
        self._pdf_urls[bill_id] = pdf_url
        price = object_field(bill.get("priceWithTax"), "priceWithTax")
        return InvoiceRef(
            reference=bill_id,
            issued_on=datetime_field(bill, "date").date(),
            amount=decimal_field(price.get("value"), "priceWithTax.value"),
            currency=text_field(price, "currencyCode"),
            number=bill_id,
        )

    async def _sync_clock(self) -> None:
        response = await self._send("GET", f"{self._base_url}/auth/time")
        _raise_for_status(response)
        server_time = json_body(response)
        if isinstance(server_time, bool) or not isinstance(server_time, int):
            raise LayoutChanged("/auth/time is not an integer")
        self._time_delta = server_time - int(time.time())

    async def _signed_get(self, path: str, query: dict[str, str] | None = None) -> httpx.Response:
        if self._secret is None or self._consumer_key is None:
            raise RuntimeError("log in before calling the OVHcloud API")
        # The URL is built once and sent as is: the signature covers its exact text.
        url = self._base_url + path + (f"?{urlencode(query)}" if query else "")
        timestamp = str(int(time.time()) + self._time_delta)
        consumer_key = self._consumer_key.get_secret_value()
        headers = {
            "Accept": "application/json",
            "X-Ovh-Application": self._application_key,
            "X-Ovh-Consumer": consumer_key,
            "X-Ovh-Timestamp": timestamp,
            "X-Ovh-Signature": signature(
                self._secret.get_secret_value(), consumer_key, "GET", url, "", timestamp
            ),
        }
        response = await self._send("GET", url, headers=headers)
        _raise_for_status(response)
        return response


def region_of(name: str) -> str:
    """python-ovh's endpoint name for `name` ("ca", "OVH-CA"...); LoginRefused if unknown."""
    key = name.strip().lower()
    key = key if key.startswith("ovh-") else f"ovh-{key}"
    if key not in ENDPOINTS:
        # Not echoed: a login pasted in the wrong field may hold the secret.
        raise LoginRefused("unknown OVHcloud region before the key (ovh-eu, ovh-ca or ovh-us)")
    return key


def split_login(login: str, default: str) -> tuple[str, str]:
    """The region and the application key of a login, `ovh-ca:AK` or `AK` alone (an
    application key never holds a colon)."""
    prefix, separator, key = login.strip().rpartition(":")
    if not separator:
        return default, key.strip()
    return region_of(prefix), key.strip()


def signature(secret: str, consumer_key: str, method: str, url: str, body: str, ts: str) -> str:
    """OVHcloud's request signature, "$1$" and a SHA-1 of the parts joined by "+"."""
    payload = "+".join([secret, consumer_key, method.upper(), url, body, ts])
    return "$1$" + hashlib.sha1(payload.encode()).hexdigest()


def _raise_for_status(response: httpx.Response) -> None:
    raise_if_transient(response)
    status = response.status_code
    if 200 <= status < 300:
        return
    code, message = _error_of(response)
    if code == "NOT_GRANTED_CALL" or message == "This call has not been granted":
        raise ActionRequired(KEY_SCOPE)
    if status in {401, 403} or code in _REFUSED_CODES or message in _REFUSED_MESSAGES:
        shown = code if code in _REFUSED_CODES else f"HTTP {status}"
        raise LoginRefused(f"OVHcloud refused the keys ({shown})")
    raise LayoutChanged(f"OVHcloud answered HTTP {status}")


def _error_of(response: httpx.Response) -> tuple[str | None, str | None]:
    """`errorCode` and `message` of an error answer, when it is the usual JSON."""
    try:
        body = json_body(response)
    except LayoutChanged:
        return None, None
    if not isinstance(body, dict):
        return None, None
    code, message = body.get("errorCode"), body.get("message")
    return (
        code if isinstance(code, str) else None,
        message if isinstance(message, str) else None,
    )
