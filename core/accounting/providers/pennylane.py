"""Pennylane, over its Company API v2, with OAuth 2.0 or a company token.

- An installation with a Pennylane partner app (`pennylane_client_id` and its secret)
  signs people in with OAuth 2.0, as Pennylane requires of integration partners: the
  authorization code from `app.pennylane.com/oauth/authorize`, exchanged at
  `/oauth/token` for an access token (24 hours) and a refresh token that rotates at each
  use (90 days). Each consent is for one company (GET /me names it), so each workspace
  links its own. A 401 is first cured by a refresh; `invalid_grant` on the refresh means
  the consent is gone (reconnect). Disconnecting revokes it at `/oauth/revoke`.
- Without an app, the company token is pasted by the person, optionally followed by its
  expiry date as Pennylane shows it when the token is made (`<token> 2027-03-31`); the
  warning starts 14 days before. It is for a single company and there is nothing to
  refresh: a 401 means the token expired or was revoked. A link made with a token keeps
  working after the operator adds an app; its reconnect then goes through OAuth.
- Bills: the file first (`POST file_attachments`, multipart: PDF, PNG, JPEG, TIFF, BMP or
  GIF only; other images are converted and an XML e-invoice gets a PDF rendition
  carrying it, pennylane_files.py), then `POST
  supplier_invoices/import` with amounts as strings and lines that add up (422
  otherwise). Pennylane has no idempotency key, so the bill carries ours as its
  `external_reference` and is looked up by it first: a retry finds it instead of making a
  second one. A 409 (the same supplier number again) is a duplicate.
- Lists: ledger accounts, suppliers, customers with cursor paging; the VAT codes are
  Pennylane's fixed list (v2 reference, `vat_rate`): the French rates, `FR_<tenths>`
  (`FR_200` 20 %, `FR_55` 5.5 %, `FR_09` 0.9 %) or `FR_<units>_<decimals>` (`FR_1_05`
  1.05 %), and `exempt`. Each line gets the code of its own rate.
- A credit note is imported through the same form with every amount negative, as the
  v2 reference asks for supplier credit notes.
- Limit: 25 requests every 5 seconds per token.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import httpx

from core.accounting.errors import IntegrationExpired, Rejected, Unavailable
from core.accounting.provider import (
    AuthKind,
    AuthorizationStart,
    Authorized,
    Bill,
    Company,
    Grant,
    ListItem,
    ListKind,
    Published,
    VatLine,
)
from core.accounting.providers.oauth import (
    ApiClient,
    ApiLimits,
    OAuthApp,
    OAuthEndpoints,
    grant_from_token,
    json_of,
)
from core.accounting.providers.pennylane_files import attachable
from core.config import Settings

NAME = "pennylane"
LIMITS = ApiLimits(windows=((25, 5.0),), concurrent=5)
WARN_BEFORE = timedelta(days=14)
#: What Courier asks for at consent (v2 scopes): import bills with their files, read the
#: chart of accounts, suppliers and customers; `/me` needs none.
SCOPES = (
    "supplier_invoices:all file_attachments:all ledger_accounts:readonly "
    "suppliers:readonly customers:readonly"
)
#: A refresh token dies after 90 days unused; the scheduler refreshes weekly.
REFRESH_UNUSED = timedelta(days=90)
KEEP_ALIVE = timedelta(days=7)
PAGE_SIZE = 100
#: Pennylane's French VAT codes (v2 reference) and their rates in percent; `exempt` is 0 %.
#: Its regimes (intracom_*, extracom, crossborder, construction...) are never chosen by rate.
FRENCH_VAT_CODES = (
    "FR_1_05",
    "FR_1_75",
    "FR_09",
    "FR_21",
    "FR_40",
    "FR_55",
    "FR_60",
    "FR_65",
    "FR_85",
    "FR_92",
    "FR_100",
    "FR_130",
    "FR_196",
    "FR_200",
)


def _rate_of(code: str) -> Decimal:
    units, _, decimals = code.removeprefix("FR_").partition("_")
    return Decimal(f"{units}.{decimals}") if decimals else Decimal(units) / 10


VAT_CODES: dict[str, tuple[str, Decimal]] = {
    **{code: (f"TVA {_rate_of(code):f} %", _rate_of(code)) for code in FRENCH_VAT_CODES},
    "exempt": ("Exonéré", Decimal(0)),
}
PATHS = {
    ListKind.ACCOUNTS: "ledger_accounts",
    ListKind.SUPPLIERS: "suppliers",
    ListKind.CUSTOMERS: "customers",
}


class PennylaneProvider:
    name = NAME
    display_name = "Pennylane"
    list_kinds = frozenset(ListKind)

    def __init__(
        self,
        *,
        api_url: str,
        limits: ApiLimits = LIMITS,
        page_size: int = PAGE_SIZE,
        http: httpx.AsyncClient | None = None,
        endpoints: OAuthEndpoints | None = None,
    ) -> None:
        self._api_url = api_url.rstrip("/")
        self._page_size = page_size
        self.api = ApiClient(provider=NAME, limits=limits, http=http)
        registered = endpoints is not None and endpoints.client_id and endpoints.client_secret
        self._oauth = (
            OAuthApp(provider=NAME, endpoints=endpoints, scope=SCOPES)
            if registered and endpoints is not None
            else None
        )
        #: With a partner app, people sign in at Pennylane; without, they paste a token.
        self.auth_kind = AuthKind.OAUTH2 if self._oauth is not None else AuthKind.TOKEN

    def __repr__(self) -> str:
        return f"PennylaneProvider(api_url={self._api_url!r}, auth_kind={self.auth_kind!r})"

    # --- the grant's life ---------------------------------------------------------------

    def warning_starts_at(self, grant: Grant) -> datetime | None:
        # A company token's own date, or the refresh token's 90 days (moved on by each
        # refresh, so a link in use never warns).
        expires = grant.refresh_expires_at if grant.refresh_token else grant.access_expires_at
        return expires - WARN_BEFORE if expires else None

    def refresh_due_at(self, grant: Grant) -> datetime | None:
        if not grant.refresh_token:
            return None  # a company token is not refreshed; a new one is pasted
        refreshed = _refreshed_at(grant)
        return refreshed + KEEP_ALIVE if refreshed else grant.access_expires_at

    async def start_authorization(self, *, state: str, redirect_uri: str) -> AuthorizationStart:
        if self._oauth is None:
            raise Rejected(provider=NAME, reason="pennylane connects with a company token here")
        url = await self._oauth.authorization_url(state=state, redirect_uri=redirect_uri)
        return AuthorizationStart(url=url, state=state)

    async def complete_authorization(
        self, *, params: Mapping[str, str], redirect_uri: str, code_verifier: str | None
    ) -> Authorized:
        if self._oauth is None:
            raise Rejected(provider=NAME, reason="pennylane connects with a company token here")
        if params.get("error"):
            raise IntegrationExpired(provider=NAME, reason=params["error"][:60])
        code = params.get("code")
        if not code:
            raise Rejected(provider=NAME, reason="the callback carries no code")
        now = datetime.now(UTC)
        token = await self._oauth.exchange(code=code, redirect_uri=redirect_uri)
        grant = _oauth_grant(token, now=now, previous=None)
        # The consent was for one company: the token says which.
        return Authorized(grant, await self._company(grant))

    async def connect_with_secret(self, *, secret: str) -> Authorized:
        token, _, rest = secret.strip().partition(" ")
        if not token:
            raise Rejected(provider=NAME, reason="the token is empty")
        expires: datetime | None = None
        if rest.strip():
            try:
                day = date.fromisoformat(rest.strip())
            except ValueError as err:
                raise Rejected(provider=NAME, reason="the expiry date is not YYYY-MM-DD") from err
            expires = datetime.combine(day, time.max, tzinfo=UTC)
        grant = Grant(access_token=token, access_expires_at=expires, refresh_expires_at=expires)
        return Authorized(grant, await self._company(grant))

    async def _company(self, grant: Grant) -> Company:
        data = json_of(await self._send(grant, "GET", "me"), provider=NAME)
        company = data.get("company") if isinstance(data, dict) else None
        if not isinstance(company, dict) or "id" not in company:
            raise Unavailable(provider=NAME, reason="malformed answer on GET /me")
        return Company(str(company["id"]), str(company.get("name") or ""))

    async def refresh(self, *, grant: Grant) -> Grant:
        if not grant.refresh_token:
            return grant  # a company token: nothing to refresh
        if self._oauth is None:
            # An OAuth link, but the app's settings are gone: the person signs in again.
            raise IntegrationExpired(provider=NAME, reason="no pennylane app is set up")
        now = datetime.now(UTC)
        token = await self._oauth.refresh(refresh_token=grant.refresh_token)
        return _oauth_grant(token, now=now, previous=grant)

    async def disconnect(self, *, grant: Grant, company: Company) -> None:
        if grant.refresh_token and self._oauth is not None:
            await self._oauth.revoke(token=grant.refresh_token)
        # A company token is revoked in Pennylane's settings, not over the API.

    async def load_list(self, *, grant: Grant, company: Company, kind: ListKind) -> list[ListItem]:
        if kind is ListKind.TAX_RATES:
            return [
                ListItem(code, label, {"rate": str(rate)})
                for code, (label, rate) in VAT_CODES.items()
            ]
        rows = await self._all(grant, PATHS[kind])
        if kind is ListKind.ACCOUNTS:
            return [
                ListItem(
                    str(r["id"]), f"{r.get('number')} {r.get('label')}", {"number": r.get("number")}
                )
                for r in rows
                if r.get("enabled", True)
            ]
        return [ListItem(str(r["id"]), str(r.get("name"))) for r in rows]

    async def publish_bill(self, *, grant: Grant, company: Company, bill: Bill) -> Published:
        existing = await self._find(grant, bill.idempotency_key)
        if existing is not None:
            return existing
        file = await asyncio.to_thread(attachable, bill)  # refused here: nothing is sent
        supplier = bill.supplier_code or await self._supplier_id(grant, bill.supplier_name)
        response = await self._send(
            grant,
            "POST",
            "file_attachments",
            files={"file": (file.filename, file.content, file.content_type)},
        )
        file_id = json_of(response, provider=NAME).get("id")
        response = await self._send(
            grant,
            "POST",
            "supplier_invoices/import",
            json=_invoice(bill, supplier, file_id),
            allow={409},
        )
        if response.status_code == 409:
            found = await self._find(grant, bill.idempotency_key)
            if found is not None:
                return found
            raise Rejected(provider=NAME, reason=_message(response), duplicate=True)
        data = json_of(response, provider=NAME)
        if not isinstance(data, dict) or "id" not in data:
            raise Unavailable(provider=NAME, reason="malformed answer on import")
        return _published(data["id"])

    async def _find(self, grant: Grant, key: str) -> Published | None:
        rule = [{"field": "external_reference", "operator": "eq", "value": key}]
        response = await self._send(
            grant, "GET", "supplier_invoices", params={"filter": json.dumps(rule), "limit": 1}
        )
        items = json_of(response, provider=NAME).get("items") or []
        return _published(items[0]["id"]) if items else None

    async def _supplier_id(self, grant: Grant, name: str) -> str:
        wanted = name.casefold().strip()
        for row in await self._all(grant, "suppliers"):
            if str(row.get("name", "")).casefold().strip() == wanted:
                return str(row["id"])
        raise Rejected(provider=NAME, reason=f"no supplier named {name!r} in Pennylane")

    async def _all(self, grant: Grant, path: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": self._page_size}
            if cursor:
                params["cursor"] = cursor
            data = json_of(await self._send(grant, "GET", path, params=params), provider=NAME)
            if not isinstance(data, dict) or not isinstance(data.get("items"), list):
                raise Unavailable(provider=NAME, reason=f"malformed answer on GET {path}")
            rows += [r for r in data["items"] if isinstance(r, dict)]
            cursor = data.get("next_cursor")
            if not data.get("has_more") or not cursor:
                return rows

    async def _send(
        self,
        grant: Grant,
        method: str,
        path: str,
        *,
        allow: frozenset[int] | set[int] = frozenset(),
        **kwargs: Any,
    ) -> httpx.Response:
        headers = {
            "Authorization": f"Bearer {grant.access_token or ''}",
            "Accept": "application/json",
        }
        response = await self.api.send(
            method,
            f"{self._api_url}/{path}",
            key=_limit_key(grant),
            headers=headers,
            **kwargs,
        )
        status = response.status_code
        if status < 400 or status in allow:
            return response
        if status == 401:
            raise IntegrationExpired(provider=NAME, reason="token expired or revoked")
        raise Rejected(provider=NAME, reason=_message(response), duplicate=status == 409)

    async def aclose(self) -> None:
        await self.api.aclose()


def _oauth_grant(token: Mapping[str, Any], *, now: datetime, previous: Grant | None) -> Grant:
    extra = dict(previous.extra) if previous else {}
    extra["refreshed_at"] = now.isoformat()
    return grant_from_token(
        token,
        now=now,
        refresh_lifetime=REFRESH_UNUSED,
        extra=extra,
        previous_refresh=previous.refresh_token if previous else None,
    )


def _refreshed_at(grant: Grant) -> datetime | None:
    value = grant.extra.get("refreshed_at")
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _limit_key(grant: Grant) -> str:
    """Pennylane counts per token (an OAuth access token too); the limiter is keyed by a
    digest, never the token."""
    return hashlib.sha256((grant.access_token or "").encode()).hexdigest()[:16]


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"refused ({response.status_code})"
    if isinstance(body, dict) and body.get("error"):
        return str(body["error"])
    return f"refused ({response.status_code})"


def _published(invoice_id: Any) -> Published:
    return Published(
        external_id=str(invoice_id),
        location=f"https://app.pennylane.com/supplier_invoices/{invoice_id}",
    )


def _vat_code(line: VatLine) -> str:
    if line.tax_rate_code:
        return line.tax_rate_code
    found = next((code for code, (_, rate) in VAT_CODES.items() if rate == line.rate), None)
    if found is None:
        raise Rejected(provider=NAME, reason=f"Pennylane has no VAT code at {line.rate} %")
    return found


def _text(value: Decimal, sign: int = 1) -> str:
    return str((value * sign).quantize(Decimal("0.01")))


def _invoice(bill: Bill, supplier: str, file_id: Any) -> dict[str, Any]:
    sign = -1 if bill.credit_note else 1  # a credit note: every amount negative
    account = int(bill.account_code) if bill.account_code.isdigit() else None
    lines = [
        {
            "label": bill.description or f"{bill.supplier_name} {bill.number or ''}".strip(),
            "currency_amount": _text(line.base + line.tax, sign),
            "currency_tax": _text(line.tax, sign),
            "vat_rate": _vat_code(line),
            "ledger_account_id": account,
        }
        for line in bill.vat_lines
    ] or [
        {
            "label": bill.description or bill.supplier_name,
            "currency_amount": _text(bill.total_incl, sign),
            "currency_tax": _text(bill.total_tax, sign),
            "vat_rate": bill.tax_rate_code or "exempt",
            "ledger_account_id": account,
        }
    ]
    body: dict[str, Any] = {
        "file_attachment_id": file_id,
        "supplier_id": int(supplier) if supplier.isdigit() else supplier,
        "date": bill.issue_date.isoformat(),
        "deadline": (bill.due_date or bill.issue_date).isoformat(),
        "currency": bill.currency,
        "currency_amount": _text(bill.total_incl, sign),
        "currency_amount_before_tax": _text(bill.total_excl, sign),
        "currency_tax": _text(bill.total_tax, sign),
        "external_reference": bill.idempotency_key,
        "invoice_lines": [{k: v for k, v in line.items() if v is not None} for line in lines],
    }
    if bill.number:
        body["invoice_number"] = bill.number
    return body


def build(settings: Settings, *, limits: ApiLimits = LIMITS) -> PennylaneProvider:
    secret = settings.pennylane_client_secret
    return PennylaneProvider(
        api_url=settings.pennylane_api_url,
        limits=limits,
        endpoints=OAuthEndpoints(
            authorize_url=settings.pennylane_authorize_url,
            token_url=settings.pennylane_token_url,
            revoke_url=settings.pennylane_revoke_url,
            client_id=(settings.pennylane_client_id or "").strip(),
            client_secret=secret.get_secret_value().strip() if secret else "",
        ),
    )
