"""Receipts attached to Qonto transactions, through Qonto's Business API v2.

People already photograph or upload their receipts onto their Qonto card payments and
transfers. Each attachment becomes a document, linked to its transaction: the amount,
the day it was settled and the counterparty come from the transaction.

Credentials: the login is the organization's slug, the password its secret key (Qonto
app: Settings, Integrations & partnerships, API key). Each call carries
`Authorization: <login>:<secret-key>`, as Qonto documents for API-key access.

- `GET /v2/organization` gives `organization.bank_accounts[]` (`id`, `iban`, `status`):
  it names the accounts to read and proves the key.
- `GET /v2/transactions?bank_account_id=&status[]=completed&side=debit&with_attachments=
  true&settled_at_from=&sort_by=settled_at:desc&page=&per_page=` lists `transactions`
  (`id`, `amount_cents`, `currency`, `settled_at`, `clean_counterparty_name`, `label`,
  `attachment_ids`) with `meta.next_page` (null on the last page); `per_page` at most 100.
- `GET /v2/attachments/{id}` gives `attachment` (`file_name`, `file_content_type`,
  `url`): a temporary link (30 minutes), fetched at once and without our key.
- Errors: 401 for a wrong, revoked or regenerated key; 403 for a key that may not read
  this; 429 past 1,000 requests per 10 seconds (with `Retry-After`); 5xx.

A transaction with one receipt gives that receipt its amount; with several, no single
file is known to hold the whole amount, so the total is left to reading.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from core.filenames import safe_filename
from core.sniff import is_document_type, sniff_content_type
from core.suppliers.api import (
    KEY_SCOPE,
    ApiConnector,
    datetime_field,
    json_body,
    list_field,
    object_field,
    optional_text,
    raise_if_transient,
    retry_after,
    text_field,
)
from core.suppliers.connector import (
    ActionRequired,
    Credentials,
    Download,
    InvalidDownload,
    InvoiceRef,
    LayoutChanged,
    LoggedIn,
    LoginRefused,
    SupplierUnavailable,
)
from core.suppliers.pool import HttpPool

DEFAULT_BASE_URL = "https://thirdparty.qonto.com"
MAX_PER_PAGE = 100
CENTS = Decimal("0.01")


class QontoConnector(ApiConnector):
    """One Qonto organization's receipts, read with its API secret key."""

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
        self._login = ""
        self._secret: SecretStr | None = None
        self._accounts: tuple[str, ...] = ()

    async def login(self, credentials: Credentials) -> LoggedIn:
        login = credentials.login.strip()
        if not login or ":" in login or any(c.isspace() for c in login):
            raise LoginRefused("the Qonto login is not an organization slug")
        if not credentials.password.get_secret_value().strip():
            raise LoginRefused("no Qonto secret key was given")
        self._login, self._secret = login, credentials.password
        try:
            body = object_field(json_body(await self._get("/v2/organization")), "the answer")
            organization = object_field(body.get("organization"), "organization")
            accounts = list_field(organization.get("bank_accounts"), "bank_accounts")
            self._accounts = tuple(
                text_field(object_field(account, "a bank account"), "id") for account in accounts
            )
        except BaseException:
            self._secret = None
            raise
        label = optional_text(organization, "legal_name") or optional_text(organization, "slug")
        return LoggedIn(account_label=label or login)

    async def invoices(self, since: date | None) -> AsyncIterator[InvoiceRef]:
        self.listed = None
        listed = 0
        for account_id in self._accounts:
            page: int | None = 1
            while page is not None:
                body = await self._transactions(account_id, page, since)
                for item in list_field(body.get("transactions"), "transactions"):
                    for ref in _receipts(object_field(item, "a transaction")):
                        listed += 1
                        if since is None or ref.issued_on >= since:
                            yield ref
                page = _next_page(body, page)
        self.listed = listed

    async def download(self, invoice: InvoiceRef) -> Download:
        path = f"/v2/attachments/{quote(invoice.reference, safe='')}"
        body = object_field(json_body(await self._get(path)), "the answer")
        attachment = object_field(body.get("attachment"), "attachment")
        url = text_field(attachment, "url")
        if httpx.URL(url).scheme != "https" and httpx.URL(self._base_url).scheme == "https":
            raise LayoutChanged("the attachment's link is not HTTPS")
        # A temporary link that is its own authorisation: the key never goes with it, and
        # no message quotes it.
        response = await self._send("GET", url, follow_redirects=True)
        raise_if_transient(response)
        if response.status_code == 403:
            raise SupplierUnavailable("the attachment's temporary link expired")
        if response.status_code != 200:
            raise LayoutChanged(f"the attachment link answered HTTP {response.status_code}")
        name = optional_text(attachment, "file_name")
        default = f"qonto-{invoice.reference[:8]}"
        filename = safe_filename(name, default=default) if name else default
        if not is_document_type(sniff_content_type(response.content, filename)):
            raise InvalidDownload("the attachment is not a document Courier can read")
        return Download(content=response.content, filename=filename)

    async def _transactions(self, account_id: str, page: int, since: date | None) -> dict[str, Any]:
        params: dict[str, str | int] = {
            "bank_account_id": account_id,
            "status[]": "completed",
            "side": "debit",
            "with_attachments": "true",
            "sort_by": "settled_at:desc",
            "page": page,
            "per_page": self._per_page,
        }
        if since is not None:
            params["settled_at_from"] = datetime.combine(since, time()).isoformat() + "Z"
        response = await self._get("/v2/transactions", params=params)
        return object_field(json_body(response), "the transaction list")

    async def _get(
        self, path: str, *, params: dict[str, str | int] | None = None
    ) -> httpx.Response:
        if self._secret is None:
            raise RuntimeError("log in before calling the Qonto API")
        headers = {
            "Authorization": f"{self._login}:{self._secret.get_secret_value()}",
            "Accept": "application/json",
        }
        response = await self._send("GET", self._base_url + path, headers=headers, params=params)
        _raise_for_status(response)
        return response


def _raise_for_status(response: httpx.Response) -> None:
    if response.status_code == 429:
        raise SupplierUnavailable(
            "rate limited by the Qonto API", retry_after=retry_after(response)
        )
    raise_if_transient(response)
    status = response.status_code
    if status == 401:
        raise LoginRefused("Qonto refused the secret key (wrong, revoked or regenerated)")
    if status == 403:
        raise ActionRequired(KEY_SCOPE)
    if not 200 <= status < 300:
        raise LayoutChanged(f"Qonto answered HTTP {status}")


def _receipts(item: dict[str, Any]) -> list[InvoiceRef]:
    """One reference per attachment of a settled debit, linked to its transaction."""
    ids = list_field(item.get("attachment_ids") or [], "attachment_ids")
    # The query asks for completed debits only; checked again here, because a credit's
    # attachment is a sales invoice, which has no place in the purchase inbox.
    if not ids or item.get("side") != "debit" or item.get("status", "completed") != "completed":
        return []
    if not all(isinstance(value, str) and value for value in ids):
        raise LayoutChanged("attachment_ids holds something that is not an id")
    transaction_id = text_field(item, "id")
    cents = item.get("amount_cents")
    if isinstance(cents, bool) or not isinstance(cents, int):
        raise LayoutChanged("amount_cents is not a whole number")
    amount = (Decimal(cents) * CENTS).quantize(CENTS)
    currency = text_field(item, "currency")
    key = "settled_at" if item.get("settled_at") else "emitted_at"
    settled = datetime_field(item, key).date()
    counterparty = optional_text(item, "clean_counterparty_name") or optional_text(item, "label")
    extra: dict[str, Any] = {
        "transaction_id": transaction_id,
        "transaction_amount": str(amount),
        "transaction_currency": currency,
        "settled_on": settled.isoformat(),
    }
    if counterparty:
        extra["counterparty"] = counterparty
    single = len(ids) == 1
    return [
        InvoiceRef(
            reference=attachment_id,
            issued_on=settled,
            amount=amount if single else None,
            currency=currency if single else None,
            extra=extra,
        )
        for attachment_id in ids
    ]


def _next_page(body: dict[str, Any], page: int) -> int | None:
    meta = object_field(body.get("meta"), "meta")
    following = meta.get("next_page")
    if following is None:
        return None
    if isinstance(following, bool) or not isinstance(following, int) or following <= page:
        raise LayoutChanged("meta.next_page does not go forward")
    return following
