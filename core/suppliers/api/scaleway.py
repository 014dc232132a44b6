"""Scaleway's invoices through the Billing API v2beta1.

Credentials: the login is the Organization ID (a UUID), the password an API secret key
whose IAM policy grants billing read access. Each call carries `X-Auth-Token: <secret>`.

- `GET /billing/v2beta1/invoices?organization_id=…&page=N&page_size=M` answers
  `{"invoices": [...], "total_count": T}`; pages start at 1 and `page_size` is at most 100.
  An invoice has `id`, `number` (an integer), `issued_date` (RFC 3339, null until issued),
  `billing_period`, `type` and `total_taxed` as Money: `{currency_code, units, nanos}`.
- `GET /billing/v2beta1/invoices/{id}/download?file_type=pdf` answers a file object,
  `{"name", "content_type", "content"}` with the content in base64 (what the official SDKs
  decode); a raw `application/pdf` answer is accepted too.
- Errors: 401 `{"type": "denied_authentication", ...}` for an unknown or expired key,
  403 `{"type": "permissions_denied", ...}` for a key without billing rights, 429, 5xx.

The list's only date filter is on the billing period's start, not on the issue date, so
`since` is applied here on `issued_date` after reading every page (a few dozen invoices).
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from core.filenames import safe_filename
from core.suppliers.api import (
    KEY_SCOPE,
    ApiConnector,
    datetime_field,
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

DEFAULT_BASE_URL = "https://api.scaleway.com"
INVOICES_PATH = "/billing/v2beta1/invoices"
MAX_PAGE_SIZE = 100
NANOS = Decimal("1e-9")


class ScalewayConnector(ApiConnector):
    """One Scaleway Organization, reached with an IAM API secret key."""

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BASE_URL,
        client: httpx.AsyncClient | None = None,
        pool: HttpPool | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> None:
        super().__init__(base_url=base_url, client=client, pool=pool)
        self._page_size = max(1, min(page_size, MAX_PAGE_SIZE))
        self._secret: SecretStr | None = None
        self._organization_id = ""

    async def login(self, credentials: Credentials) -> LoggedIn:
        organization_id = credentials.login.strip()
        try:
            uuid.UUID(organization_id)
        except ValueError as err:
            # Caught before any call: a pasted project name or e-mail is a common slip.
            raise LoginRefused("the Scaleway Organization ID is not a UUID") from err
        if not credentials.password.get_secret_value().strip():
            raise LoginRefused("no Scaleway secret key was given")
        self._secret, self._organization_id = credentials.password, organization_id
        try:
            await self._list_page(1, page_size=1)
        except BaseException:
            self._secret = None
            raise
        return LoggedIn(account_label=organization_id)

    async def invoices(self, since: date | None) -> AsyncIterator[InvoiceRef]:
        page, seen, issued = 1, 0, 0
        self.listed = None
        while True:
            body = await self._list_page(page, page_size=self._page_size)
            items = list_field(body.get("invoices"), "invoices")
            total = body.get("total_count")
            if isinstance(total, bool) or not isinstance(total, int):
                raise LayoutChanged("total_count is missing")
            refs = [_invoice_ref(object_field(item, "an invoice")) for item in items]
            # A draft not issued yet is no invoice: it does not make the list non-empty.
            issued += sum(ref is not None for ref in refs)
            for ref in refs:
                if ref is not None and (since is None or ref.issued_on >= since):
                    yield ref
            seen += len(items)
            if not items or seen >= total:
                self.listed = issued
                return
            page += 1

    async def download(self, invoice: InvoiceRef) -> Download:
        path = f"{INVOICES_PATH}/{quote(invoice.reference, safe='')}/download"
        response = await self._get(path, params={"file_type": "pdf"})
        default = f"scaleway-{invoice.number or invoice.reference[:8]}.pdf"
        if not response.headers.get("content-type", "").startswith("application/json"):
            return pdf_download(response.content, default)
        file = object_field(json_body(response), "the downloaded file")
        try:
            content = base64.b64decode(text_field(file, "content"), validate=True)
        except binascii.Error as err:
            raise LayoutChanged("the file content is not base64") from err
        name = optional_text(file, "name")
        filename = safe_filename(name, default=default) if name else default
        if not filename.lower().endswith(".pdf"):
            filename += ".pdf"
        return pdf_download(content, filename)

    async def _list_page(self, page: int, *, page_size: int) -> dict[str, Any]:
        params: dict[str, str | int] = {
            "organization_id": self._organization_id,
            "page": page,
            "page_size": page_size,
        }
        return object_field(json_body(await self._get(INVOICES_PATH, params=params)), "the list")

    async def _get(self, path: str, *, params: dict[str, str | int]) -> httpx.Response:
        if self._secret is None:
            raise RuntimeError("log in before calling the Scaleway API")
        headers = {"X-Auth-Token": self._secret.get_secret_value(), "Accept": "application/json"}
        response = await self._send("GET", self._base_url + path, headers=headers, params=params)
        _raise_for_status(response)
        return response


def _raise_for_status(response: httpx.Response) -> None:
    raise_if_transient(response)
    status = response.status_code
    if status == 401:
        raise LoginRefused("Scaleway refused the secret key")
    if status == 403:
        # permissions_denied: the key is valid but its policy lacks billing read access,
        # or the Organization ID is not the key's. Either way the user fixes it in IAM.
        raise ActionRequired(KEY_SCOPE)
    if not 200 <= status < 300:
        raise LayoutChanged(f"Scaleway answered HTTP {status}")


def _invoice_ref(item: dict[str, Any]) -> InvoiceRef | None:
    """The invoice, or None while it has no `issued_date` (not issued yet)."""
    invoice_id = text_field(item, "id")
    if item.get("issued_date") is None:
        return None
    total = object_field(item.get("total_taxed"), "total_taxed")
    extra = {key: item[key] for key in ("billing_period", "type") if isinstance(item.get(key), str)}
    return InvoiceRef(
        reference=invoice_id,
        issued_on=datetime_field(item, "issued_date").date(),
        amount=_money(total),
        currency=text_field(total, "currency_code"),
        number=optional_text(item, "number"),
        extra=extra,
    )


def _money(money: dict[str, Any]) -> Decimal:
    """Scaleway's Money: whole `units` plus `nanos` (10^-9), both with the amount's sign."""
    units = decimal_field(money.get("units", 0), "total_taxed.units")
    nanos = decimal_field(money.get("nanos", 0), "total_taxed.nanos")
    if units != units.to_integral_value() or nanos != nanos.to_integral_value():
        raise LayoutChanged("total_taxed is not whole units and nanos")
    return units + nanos * NANOS
