"""QuickBooks Online, over Intuit's OAuth2 server and the Accounting API v3.

- Tokens: access 1 hour; the refresh token lives 100 days from its issue, rolling with
  each refresh, and never past 5 years from the consent (`x_refresh_token_expires_in`
  says how long this one has). The callback carries `realmId`: the company.
- Bills: `POST /bill?requestid=` (Intuit replays the first answer for the same requestid,
  so a retry never makes a second bill), then `POST /upload` multipart with
  `file_metadata_01` (an Attachable whose AttachableRef names the bill) and
  `file_content_01`.
- A credit note is a `VendorCredit` (`POST /vendorcredit`, the same lines, amounts
  positive), its file attached the same way with an AttachableRef of that type.
- Each line's `TaxCodeRef` is the code of its own rate: a TaxCode's rate is the sum of
  the TaxRates (`RateValue`) of its `PurchaseTaxRateList`; a code without purchase rates
  is for sales only. What the body holds (codes, the paper's tax, the currency) follows
  the company's setup: quickbooks_bill.py, quickbooks_company.py.
- The setup (`CompanyInfo.Country`, `Preferences` currency and tax) is read at connect
  and on each token refresh and kept in the grant's `extra` with the realm; a link made
  before it was kept reads it again at each publish until its next refresh.
- Lists through `/query` (Account, Vendor, Customer, TaxCode with TaxRate),
  STARTPOSITION/MAXRESULTS.
- Faults: 401 with code 3200 is an expired or revoked authorisation; 403 with 3100 means
  the app's keys are refused; a 400 ValidationFault is a refused bill (6140: duplicate).
- Limits per realm: 500 calls a minute, 10 a second, 10 at once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from core.accounting.errors import IntegrationExpired, ProviderFailure, Rejected, Unavailable
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
)
from core.accounting.providers.oauth import (
    ApiClient,
    ApiLimits,
    OAuthApp,
    OAuthEndpoints,
    grant_from_token,
    json_of,
)
from core.accounting.providers.quickbooks_bill import bill_body, check_bill, single_rate
from core.accounting.providers.quickbooks_company import (
    EXTRA_KEY,
    CompanySetup,
    setup_from,
    setup_of,
)
from core.config import Settings

NAME = "quickbooks"
SCOPE = "com.intuit.quickbooks.accounting"
MINOR_VERSION = "75"
LIMITS = ApiLimits(windows=((10, 1.0), (500, 60.0)), concurrent=10)
CAP = timedelta(days=5 * 365)
WARN_BEFORE = timedelta(days=30)
KEEP_ALIVE = timedelta(days=30)
PAGE_SIZE = 1000
ENTITIES = {
    ListKind.ACCOUNTS: "Account",
    ListKind.SUPPLIERS: "Vendor",
    ListKind.CUSTOMERS: "Customer",
    ListKind.TAX_RATES: "TaxCode",
}


class QuickBooksProvider:
    name = NAME
    display_name = "QuickBooks Online"
    auth_kind = AuthKind.OAUTH2
    list_kinds = frozenset(ListKind)

    def __init__(
        self,
        *,
        endpoints: OAuthEndpoints,
        api_url: str,
        limits: ApiLimits = LIMITS,
        page_size: int = PAGE_SIZE,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._oauth = OAuthApp(provider=NAME, endpoints=endpoints, scope=SCOPE)
        self._api_url = api_url.rstrip("/")
        self._page_size = page_size
        self.api = ApiClient(provider=NAME, limits=limits, http=http)

    def __repr__(self) -> str:
        return f"QuickBooksProvider(api_url={self._api_url!r})"

    def warning_starts_at(self, grant: Grant) -> datetime | None:
        ends = [d for d in (grant.refresh_expires_at, _cap_at(grant)) if d is not None]
        return min(ends) - WARN_BEFORE if ends else None

    def refresh_due_at(self, grant: Grant) -> datetime | None:
        # The services refresh a nearly spent access token before each call; the
        # scheduler only rolls the 100-day refresh token on, monthly.
        value = grant.extra.get("refreshed_at")
        if isinstance(value, str):
            return datetime.fromisoformat(value) + KEEP_ALIVE
        return grant.access_expires_at

    async def start_authorization(self, *, state: str, redirect_uri: str) -> AuthorizationStart:
        url = await self._oauth.authorization_url(state=state, redirect_uri=redirect_uri)
        return AuthorizationStart(url=url, state=state)

    async def connect_with_secret(self, *, secret: str) -> Authorized:
        raise Rejected(provider=NAME, reason="quickbooks connects through its authorisation page")

    async def complete_authorization(
        self, *, params: Mapping[str, str], redirect_uri: str, code_verifier: str | None
    ) -> Authorized:
        if params.get("error"):
            raise IntegrationExpired(provider=NAME, reason=params["error"])
        code, realm = params.get("code"), params.get("realmId")
        if not code or not realm:
            raise Rejected(provider=NAME, reason="the callback lacks code or realmId")
        now = datetime.now(UTC)
        token = await self._oauth.exchange(code=code, redirect_uri=redirect_uri)
        grant = grant_from_token(
            token,
            now=now,
            refresh_lifetime=None,
            extra={
                "cap_at": (now + CAP).isoformat(),
                "refreshed_at": now.isoformat(),
                "realm": realm,
            },
        )
        company = Company(realm, realm)
        info, setup = await self._read_setup(grant, company)
        grant = replace(grant, extra={**grant.extra, EXTRA_KEY: setup.to_json()})
        return Authorized(grant, Company(realm, str(info.get("CompanyName") or realm)))

    async def refresh(self, *, grant: Grant) -> Grant:
        if not grant.refresh_token:
            raise IntegrationExpired(provider=NAME, reason="no refresh token")
        now = datetime.now(UTC)
        token = await self._oauth.refresh(refresh_token=grant.refresh_token)
        fresh = grant_from_token(
            token,
            now=now,
            refresh_lifetime=None,
            extra={**grant.extra, "refreshed_at": now.isoformat()},
            previous_refresh=grant.refresh_token,
        )
        realm = grant.extra.get("realm")
        if not isinstance(realm, str):
            return fresh
        try:
            _, setup = await self._read_setup(fresh, Company(realm, realm))
        except ProviderFailure:
            # The new tokens matter more than the setup (the old refresh token is spent):
            # the setup read before stays until the next refresh reads it again.
            return fresh
        return replace(fresh, extra={**fresh.extra, EXTRA_KEY: setup.to_json()})

    async def _read_setup(
        self, grant: Grant, company: Company
    ) -> tuple[dict[str, Any], CompanySetup]:
        """CompanyInfo (its name, its country) and the Preferences' currency and tax."""
        data = json_of(
            await self._send(grant, company, "GET", f"companyinfo/{company.id}"), provider=NAME
        )
        info = (data.get("CompanyInfo") if isinstance(data, dict) else None) or {}
        data = json_of(await self._send(grant, company, "GET", "preferences"), provider=NAME)
        preferences = (data.get("Preferences") if isinstance(data, dict) else None) or {}
        if not isinstance(info, dict) or not isinstance(preferences, dict):
            raise Unavailable(provider=NAME, reason="malformed answer on GET preferences")
        return info, setup_from(info, preferences)

    async def disconnect(self, *, grant: Grant, company: Company) -> None:
        token = grant.refresh_token or grant.access_token
        if token:
            await self._oauth.revoke(token=token, as_json=True)

    async def load_list(self, *, grant: Grant, company: Company, kind: ListKind) -> list[ListItem]:
        rows = await self._all(grant, company, ENTITIES[kind])
        if kind is ListKind.TAX_RATES:
            rates = {str(r.get("Id")): r for r in await self._all(grant, company, "TaxRate")}
            return [_tax_code(row, rates) for row in rows if row.get("Active", True)]
        return [_item(kind, row) for row in rows if row.get("Active", True)]

    async def _all(self, grant: Grant, company: Company, entity: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        start = 1
        while True:
            page = await self._query(
                grant,
                company,
                f"select * from {entity} STARTPOSITION {start} MAXRESULTS {self._page_size}",
                entity,
            )
            rows += page
            if len(page) < self._page_size:
                break
            start += self._page_size
        return rows

    async def publish_bill(self, *, grant: Grant, company: Company, bill: Bill) -> Published:
        setup = setup_of(grant.extra)
        if setup is None:
            _, setup = await self._read_setup(grant, company)
        check_bill(bill, setup)  # before any call that would find the vendor for nothing
        vendor = bill.supplier_code or await self._vendor_id(grant, company, bill.supplier_name)
        entity = "VendorCredit" if bill.credit_note else "Bill"
        rates = await self._rates_of(grant, company, bill) if setup.books_tax else {}
        response = await self._send(
            grant,
            company,
            "POST",
            entity.lower(),
            params={"requestid": bill.idempotency_key[:50]},
            json=bill_body(bill, vendor, setup, rates),
        )
        try:
            bill_id = str(json_of(response, provider=NAME)[entity]["Id"])
        except (KeyError, TypeError) as err:
            raise Unavailable(provider=NAME, reason=f"malformed answer on POST {entity}") from err
        metadata = {
            "AttachableRef": [{"EntityRef": {"type": entity, "value": bill_id}}],
            "FileName": bill.file.filename,
            "ContentType": bill.file.content_type,
        }
        response = await self._send(
            grant,
            company,
            "POST",
            "upload",
            params={"requestid": "file-" + bill.idempotency_key[-40:]},
            files={
                "file_metadata_01": (None, json.dumps(metadata), "application/json"),
                "file_content_01": (bill.file.filename, bill.file.content, bill.file.content_type),
            },
        )
        json_of(response, provider=NAME)
        return Published(
            external_id=bill_id,
            location=f"https://qbo.intuit.com/app/{entity.lower()}?txnId={bill_id}",
        )

    async def _rates_of(self, grant: Grant, company: Company, bill: Bill) -> dict[str, str | None]:
        """Each tax code of the bill's lines, with its one purchase TaxRate (for the
        TaxLines carrying the paper's tax)."""
        rates: dict[str, str | None] = {}
        for code in {v.tax_rate_code for v in bill.vat_lines if v.tax_rate_code}:
            quoted = code.replace("'", "\\'")
            rows = await self._query(
                grant, company, f"select * from TaxCode where Id = '{quoted}'", "TaxCode"
            )
            rates[code] = single_rate(rows[0]) if rows else None
        return rates

    async def _vendor_id(self, grant: Grant, company: Company, name: str) -> str:
        quoted = name.replace("'", "\\'")
        rows = await self._query(
            grant, company, f"select * from Vendor where DisplayName = '{quoted}'", "Vendor"
        )
        if not rows:
            raise Rejected(provider=NAME, reason=f"no vendor named {name!r} in QuickBooks")
        return str(rows[0]["Id"])

    async def _query(
        self, grant: Grant, company: Company, statement: str, entity: str
    ) -> list[dict[str, Any]]:
        response = await self._send(grant, company, "GET", "query", params={"query": statement})
        data = json_of(response, provider=NAME)
        result = data.get("QueryResponse") if isinstance(data, dict) else None
        if not isinstance(result, dict):
            raise Unavailable(provider=NAME, reason="malformed answer on GET query")
        rows = result.get(entity, [])
        return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []

    async def _send(
        self, grant: Grant, company: Company, method: str, path: str, **kwargs: Any
    ) -> httpx.Response:
        params = {"minorversion": MINOR_VERSION, **kwargs.pop("params", {})}
        headers = {
            "Authorization": f"Bearer {grant.access_token or ''}",
            "Accept": "application/json",
        }
        response = await self.api.send(
            method,
            f"{self._api_url}/v3/company/{company.id}/{path}",
            key=company.id,
            headers=headers,
            params=params,
            **kwargs,
        )
        _raise_for(response)
        return response

    async def aclose(self) -> None:
        await self.api.aclose()


def _raise_for(response: httpx.Response) -> None:
    status = response.status_code
    if status < 400:
        return
    try:
        body = response.json()
    except ValueError:
        body = {}
    fault = (body.get("Fault") or body.get("fault") or {}) if isinstance(body, dict) else {}
    errors = fault.get("Error") or fault.get("error") or []
    codes = {str(e.get("code", "")).lstrip("0") for e in errors if isinstance(e, dict)}
    details = "; ".join(
        str(e.get("Detail") or e.get("detail") or e.get("Message") or e.get("message"))
        for e in errors
        if isinstance(e, dict)
    )
    if status == 401 or "3200" in codes:
        raise IntegrationExpired(provider=NAME, reason="authorisation expired or revoked (3200)")
    if status == 403 and "3100" in codes:
        raise Rejected(provider=NAME, reason="the app's keys are refused (3100)")
    raise Rejected(
        provider=NAME, reason=details or f"refused ({status})", duplicate="6140" in codes
    )


def _item(kind: ListKind, row: Mapping[str, Any]) -> ListItem:
    if kind is ListKind.ACCOUNTS:
        return ListItem(
            str(row["Id"]),
            str(row.get("Name")),
            {"number": row.get("AcctNum"), "type": row.get("AccountType")},
        )
    return ListItem(str(row["Id"]), str(row.get("DisplayName")))


def _tax_code(row: Mapping[str, Any], rates: Mapping[str, Mapping[str, Any]]) -> ListItem:
    """A TaxCode with the rate a purchase pays under it: its purchase TaxRates added up
    (a group such as a compound code has several). Without purchase rates it is a sales
    code, never put on a bill."""
    details = (row.get("PurchaseTaxRateList") or {}).get("TaxRateDetail") or []
    refs = [str((d.get("TaxRateRef") or {}).get("value")) for d in details if isinstance(d, dict)]
    known = [rates[ref] for ref in refs if ref in rates]
    extra: dict[str, Any] = {"purchases": bool(refs)}
    if refs and len(known) == len(refs):
        extra["rate"] = str(sum((Decimal(str(r.get("RateValue", 0))) for r in known), Decimal(0)))
    return ListItem(str(row["Id"]), str(row.get("Name")), extra)


def _cap_at(grant: Grant) -> datetime | None:
    value = grant.extra.get("cap_at")
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def build(settings: Settings, *, limits: ApiLimits = LIMITS) -> QuickBooksProvider:
    secret = settings.quickbooks_client_secret
    return QuickBooksProvider(
        endpoints=OAuthEndpoints(
            authorize_url=settings.quickbooks_authorize_url,
            token_url=settings.quickbooks_token_url,
            revoke_url=settings.quickbooks_revoke_url,
            client_id=settings.quickbooks_client_id or "",
            client_secret=secret.get_secret_value() if secret else "",
        ),
        api_url=settings.quickbooks_api_url,
        limits=limits,
    )
