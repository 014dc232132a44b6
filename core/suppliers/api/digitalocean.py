"""DigitalOcean's invoices through its public API v2.

The user gives a personal access token with read access to billing (the "password"; the
login is only a label). Calls carry `Authorization: Bearer <token>`:

- `GET /v2/customers/my/invoices?page=N&per_page=M` lists `invoices` (`invoice_uuid`,
  `amount` as text in USD, `invoice_period` "YYYY-MM"), with `links.pages.next` while
  more pages follow and `meta.total`. The `invoice_preview` beside them is the month
  still running, not an invoice, and is skipped.
- `GET /v2/customers/my/invoices/{uuid}/pdf` returns the PDF itself.
- Errors are `{"id": "unauthorized", "message": ...}` with 401, 403 for a token without the
  scope, 429 (`ratelimit-reset` in epoch seconds, sometimes `Retry-After`) and 5xx.

The list gives no issue date. DigitalOcean documents that invoices are generated on the
first of each month for the month before, so `issued_on` is the first day of the month
after `invoice_period`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from urllib.parse import parse_qs, quote, urlsplit

import httpx
from pydantic import SecretStr

from core.suppliers.api import (
    KEY_SCOPE,
    ApiConnector,
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
)
from core.suppliers.pool import HttpPool

DEFAULT_BASE_URL = "https://api.digitalocean.com"
INVOICES_PATH = "/v2/customers/my/invoices"
MAX_PER_PAGE = 200  # the API's documented ceiling for `per_page`
CURRENCY = "USD"  # the reference: "Billed in USD"


class DigitalOceanConnector(ApiConnector):
    """One DigitalOcean account, reached with a read-scoped personal access token."""

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BASE_URL,
        client: httpx.AsyncClient | None = None,
        pool: HttpPool | None = None,
        per_page: int = MAX_PER_PAGE,
    ) -> None:
        super().__init__(base_url=base_url, client=client, pool=pool)
        self._per_page = max(1, min(per_page, MAX_PER_PAGE))
        self._token: SecretStr | None = None

    async def login(self, credentials: Credentials) -> LoggedIn:
        token = credentials.password
        if not token.get_secret_value().strip():
            raise LoginRefused("no DigitalOcean token was given")
        self._token = token
        try:
            # The call we need anyway, one item long: it proves the token and its scope.
            await self._get(INVOICES_PATH, params={"page": 1, "per_page": 1})
        except BaseException:
            self._token = None
            raise
        return LoggedIn(account_label=credentials.login.strip() or None)

    async def invoices(self, since: date | None) -> AsyncIterator[InvoiceRef]:
        page, listed = 1, 0
        self.listed = None
        while True:
            response = await self._get(
                INVOICES_PATH, params={"page": page, "per_page": self._per_page}
            )
            body = object_field(json_body(response), "the invoice list")
            items = list_field(body.get("invoices"), "invoices")
            listed += len(items)  # every page is read anyway: the count is exact
            for item in items:
                ref = _invoice_ref(object_field(item, "an invoice"))
                if since is None or ref.issued_on >= since:
                    yield ref
            next_page = _next_page(body)
            if next_page is None:
                self.listed = listed
                return
            if next_page <= page:
                raise LayoutChanged("the invoice list's next page goes backwards")
            page = next_page

    async def download(self, invoice: InvoiceRef) -> Download:
        response = await self._get(
            f"{INVOICES_PATH}/{quote(invoice.reference, safe='')}/pdf", accept="application/pdf"
        )
        period = invoice.extra.get("invoice_period") or invoice.issued_on.strftime("%Y-%m")
        return pdf_download(response.content, f"digitalocean-{period}-{invoice.reference[:8]}.pdf")

    async def _get(
        self,
        path: str,
        *,
        params: dict[str, str | int] | None = None,
        accept: str = "application/json",
    ) -> httpx.Response:
        if self._token is None:
            raise RuntimeError("log in before calling the DigitalOcean API")
        headers = {
            "Authorization": f"Bearer {self._token.get_secret_value()}",
            "Accept": accept,
        }
        response = await self._send("GET", self._base_url + path, headers=headers, params=params)
        _raise_for_status(response)
        return response


def _raise_for_status(response: httpx.Response) -> None:
    raise_if_transient(response, reset_header="ratelimit-reset")
    status = response.status_code
    if status == 401:
        raise LoginRefused("DigitalOcean refused the token")
    if status == 403:
        raise ActionRequired(KEY_SCOPE)
    if not 200 <= status < 300:
        raise LayoutChanged(f"DigitalOcean answered HTTP {status}")


def _invoice_ref(item: dict[str, object]) -> InvoiceRef:
    uuid = text_field(item, "invoice_uuid")
    period = text_field(item, "invoice_period")
    return InvoiceRef(
        reference=uuid,
        issued_on=_issued_on(period),
        amount=decimal_field(item.get("amount"), "the invoice amount"),
        currency=CURRENCY,
        number=optional_text(item, "invoice_id"),
        extra={"invoice_period": period},
    )


def _issued_on(period: str) -> date:
    """The first of the month after the billing period: when DigitalOcean issues it."""
    try:
        year_text, month_text = period.split("-")
        year, month = int(year_text), int(month_text)
        date(year, month, 1)
    except ValueError as err:
        raise LayoutChanged("invoice_period is not YYYY-MM") from err
    return date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)


def _next_page(body: dict[str, object]) -> int | None:
    """The page number in `links.pages.next`, or None on the last page.

    Only the number is taken: the link itself is never followed, so the token is only
    ever sent to the base URL the connector was given.
    """
    links = body.get("links") or {}
    pages = object_field(links, "links").get("pages") or {}
    link = object_field(pages, "links.pages").get("next")
    if not link:
        return None
    if not isinstance(link, str):
        raise LayoutChanged("links.pages.next is not a URL")
    values = parse_qs(urlsplit(link).query).get("page") or [""]
    try:
        return int(values[0])
    except ValueError as err:
        raise LayoutChanged("links.pages.next has no page number") from err
