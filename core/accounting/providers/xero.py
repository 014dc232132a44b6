"""Xero, over its OAuth2 identity server and Accounting API 2.0.

- Tokens: access 30 minutes; the refresh token is single-use and rotates (the previous one
  still answers for 30 minutes), and dies after 60 days unused. `invalid_grant` means the
  authorisation is gone. The grant remembers when it was last refreshed, for the 45-day
  warning.
- Scopes: apps created from 2 March 2026 must ask for the granular scopes
  (`accounting.invoices` where older apps ask for `accounting.transactions`); the setting
  `xero_scopes` picks "granular" (the default) or "broad".
- The company is the tenant the person just consented to: `GET /connections?authEventId=`
  with the `authentication_event_id` of the callback's access token (a JWT), so a person
  with several organisations links the one they picked. Every API call carries
  `xero-tenant-id`. A 403 `AuthenticationUnsuccessful` means the tenant was disconnected
  from the app; a 401 `AuthorizationUnsuccessful`, that the grant lacks a scope.
- Suppliers are all active contacts (paged, 1,000 a page), not `IsSupplier==true`: Xero
  sets `IsSupplier` only once a contact has a bill, so a first bill would not find its
  supplier among them.
- Bills: `PUT Invoices?summarizeErrors=true` (Type ACCPAY, DRAFT) with the bill's
  `Idempotency-Key`, then the file as raw bytes to
  `PUT Invoices/{id}/Attachments/{FileName}` (same name: replaced). A file over 10 MB is
  refused before any bill is made; when only the file failed, the bill's id travels in
  `AttachmentFailed` and the retry sends the file alone.
- A credit note goes to `PUT CreditNotes` (Type ACCPAYCREDIT) and its attachment under
  `CreditNotes/{id}`; amounts stay positive, the type says the direction. Each line has
  the TaxType of its own rate (EffectiveRate) and the tax as printed (TaxAmount).
- Limits per tenant: 60 calls a minute, 5,000 a day, 5 at once.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import quote

import httpx

from core.accounting.errors import (
    AttachmentFailed,
    AttachmentTooLarge,
    IntegrationExpired,
    RateLimited,
    Rejected,
    Unavailable,
)
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
from core.config import Settings

NAME = "xero"
_COMMON = "openid profile email offline_access accounting.contacts accounting.settings.read"
#: What Courier asks for: bills (and credit notes), contacts, the chart of accounts and
#: tax rates to read, attachments. Granular for apps created from 2 March 2026.
Scopes = Literal["granular", "broad"]
SCOPES: dict[Scopes, str] = {
    "granular": f"{_COMMON} accounting.invoices accounting.attachments",
    "broad": f"{_COMMON} accounting.transactions accounting.attachments",
}
#: Xero takes attachments up to 10 MB each.
ATTACHMENT_LIMIT = 10 * 1024 * 1024
LIMITS = ApiLimits(windows=((60, 60.0), (5000, 86400.0)), concurrent=5)
REFRESH_UNUSED = timedelta(days=60)
WARN_AFTER = timedelta(days=45)
KEEP_ALIVE = timedelta(days=7)
CONTACTS_PAGE = 1000  # Xero's largest page


class XeroProvider:
    name = NAME
    display_name = "Xero"
    auth_kind = AuthKind.OAUTH2
    list_kinds = frozenset(ListKind)

    def __init__(
        self,
        *,
        endpoints: OAuthEndpoints,
        api_url: str,
        limits: ApiLimits = LIMITS,
        http: httpx.AsyncClient | None = None,
        scopes: Scopes = "granular",
    ) -> None:
        self._oauth = OAuthApp(provider=NAME, endpoints=endpoints, scope=SCOPES[scopes])
        self._api_url = api_url.rstrip("/")
        self.api = ApiClient(provider=NAME, limits=limits, http=http)

    def __repr__(self) -> str:
        return f"XeroProvider(api_url={self._api_url!r})"

    # --- the grant's life ---------------------------------------------------------------

    def warning_starts_at(self, grant: Grant) -> datetime | None:
        refreshed = _refreshed_at(grant)
        return refreshed + WARN_AFTER if refreshed else None

    def refresh_due_at(self, grant: Grant) -> datetime | None:
        # The services refresh a nearly spent access token before each call; the
        # scheduler only keeps the refresh token alive, weekly, far from its 60 days.
        refreshed = _refreshed_at(grant)
        return refreshed + KEEP_ALIVE if refreshed else grant.access_expires_at

    async def start_authorization(self, *, state: str, redirect_uri: str) -> AuthorizationStart:
        url = await self._oauth.authorization_url(state=state, redirect_uri=redirect_uri)
        return AuthorizationStart(url=url, state=state)

    async def connect_with_secret(self, *, secret: str) -> Authorized:
        raise Rejected(provider=NAME, reason="xero connects through its authorisation page")

    async def complete_authorization(
        self, *, params: Mapping[str, str], redirect_uri: str, code_verifier: str | None
    ) -> Authorized:
        if params.get("error"):
            raise IntegrationExpired(provider=NAME, reason=params["error"])
        code = params.get("code")
        if not code:
            raise Rejected(provider=NAME, reason="the callback carries no code")
        now = datetime.now(UTC)
        token = await self._oauth.exchange(code=code, redirect_uri=redirect_uri)
        grant = self._grant(token, now=now, previous=None)
        event = _auth_event(grant.access_token or "")
        tenants = await self._connections(grant, auth_event=event)
        if not tenants:
            raise IntegrationExpired(provider=NAME, reason="no organisation was connected")
        # Filtered by this consent's event, the list holds what the person just picked
        # (one organisation, unless they ticked several: then the latest of those).
        # Without an event (a token that is not a JWT) the latest connection is the guess.
        chosen = max(tenants, key=lambda t: str(t.get("updatedDateUtc") or ""))
        grant = _with_extra(grant, connection_id=str(chosen["id"]))
        return Authorized(grant, Company(str(chosen["tenantId"]), str(chosen["tenantName"])))

    async def refresh(self, *, grant: Grant) -> Grant:
        if not grant.refresh_token:
            raise IntegrationExpired(provider=NAME, reason="no refresh token")
        now = datetime.now(UTC)
        token = await self._oauth.refresh(refresh_token=grant.refresh_token)
        return self._grant(token, now=now, previous=grant)

    async def disconnect(self, *, grant: Grant, company: Company) -> None:
        if grant.refresh_token:
            # Revoking the refresh token ends the grant and its connections at Xero.
            await self._oauth.revoke(token=grant.refresh_token)

    def _grant(self, token: Mapping[str, Any], *, now: datetime, previous: Grant | None) -> Grant:
        extra = dict(previous.extra) if previous else {}
        extra["refreshed_at"] = now.isoformat()
        return grant_from_token(
            token,
            now=now,
            refresh_lifetime=REFRESH_UNUSED,
            extra=extra,
            previous_refresh=previous.refresh_token if previous else None,
        )

    async def _connections(self, grant: Grant, *, auth_event: str | None) -> list[dict[str, Any]]:
        response = await self.api.send(
            "GET",
            f"{self._api_url}/connections",
            key="connections",
            headers=_auth(grant),
            params={"authEventId": auth_event} if auth_event else None,
        )
        self._raise_for(response)
        data = json_of(response, provider=NAME)
        if not isinstance(data, list):
            raise Unavailable(provider=NAME, reason="malformed answer on GET /connections")
        return [t for t in data if isinstance(t, dict) and t.get("tenantId")]

    # --- lists ----------------------------------------------------------------------------

    async def load_list(self, *, grant: Grant, company: Company, kind: ListKind) -> list[ListItem]:
        if kind is ListKind.ACCOUNTS:
            rows = await self._get(grant, company, "Accounts", "Accounts")
            return [
                ListItem(
                    str(r["Code"]),
                    str(r["Name"]),
                    {"id": r.get("AccountID"), "type": r.get("Type")},
                )
                for r in rows
                if r.get("Code") and r.get("Status", "ACTIVE") == "ACTIVE"
            ]
        if kind is ListKind.TAX_RATES:
            rows = await self._get(grant, company, "TaxRates", "TaxRates")
            return [
                ListItem(
                    str(r["TaxType"]),
                    str(r["Name"]),
                    {
                        "rate": r.get("EffectiveRate"),
                        "purchases": r.get("CanApplyToExpenses", True) is not False,
                    },
                )
                for r in rows
                if r.get("Status", "ACTIVE") == "ACTIVE"
            ]
        # Every contact may be a supplier: Xero flags IsSupplier only once it has a bill.
        # Archived contacts are left out by Xero unless `includeArchived` is asked for.
        where = {} if kind is ListKind.SUPPLIERS else {"where": "IsCustomer==true"}
        items: list[ListItem] = []
        page = 1
        while True:
            rows = await self._get(
                grant,
                company,
                "Contacts",
                "Contacts",
                params=where | {"page": page, "pageSize": CONTACTS_PAGE},
            )
            items += [
                ListItem(str(r["ContactID"]), str(r["Name"]))
                for r in rows
                if r.get("ContactStatus", "ACTIVE") == "ACTIVE"
            ]
            if len(rows) < CONTACTS_PAGE:
                return items
            page += 1

    async def _get(
        self,
        grant: Grant,
        company: Company,
        path: str,
        field: str,
        params: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        response = await self.api.send(
            "GET",
            f"{self._api_url}/api.xro/2.0/{path}",
            key=company.id,
            headers=_auth(grant, company),
            params=dict(params or {}),
        )
        self._raise_for(response)
        data = json_of(response, provider=NAME)
        rows = data.get(field) if isinstance(data, dict) else None
        if not isinstance(rows, list):
            raise Unavailable(provider=NAME, reason=f"malformed answer on GET {path}")
        return [r for r in rows if isinstance(r, dict)]

    # --- publish --------------------------------------------------------------------------

    async def publish_bill(self, *, grant: Grant, company: Company, bill: Bill) -> Published:
        size = len(bill.file.content)
        if size > ATTACHMENT_LIMIT:
            # Refused before the bill is made: never a bill without its file.
            raise AttachmentTooLarge(provider=NAME, size=size, limit=ATTACHMENT_LIMIT)
        kind = _CREDIT_NOTES if bill.credit_note else _INVOICES
        invoice_id = bill.existing_id or await self._create_bill(grant, company, bill, kind)
        try:
            await self._attach(grant, company, invoice_id, bill, kind)
        except (Unavailable, RateLimited) as err:
            # The bill is made: its id is kept so that the retry sends the file alone.
            reason = str(err.params.get("reason") or err.key)
            raise AttachmentFailed(provider=NAME, external_id=invoice_id, reason=reason) from err
        return Published(external_id=invoice_id, location=kind.location + invoice_id)

    async def _create_bill(self, grant: Grant, company: Company, bill: Bill, kind: _Kind) -> str:
        headers = _auth(grant, company) | {"Idempotency-Key": bill.idempotency_key}
        response = await self.api.send(
            "PUT",
            f"{self._api_url}/api.xro/2.0/{kind.path}",
            key=company.id,
            headers=headers,
            # Said explicitly: without it Xero answers 200 with the refusal inside.
            params={"summarizeErrors": "true"},
            json={kind.path: [_invoice(bill)]},
        )
        self._raise_for(response)
        data = json_of(response, provider=NAME)
        try:
            created = data[kind.path][0]
            invoice_id = str(created[kind.id_field])
        except (KeyError, IndexError, TypeError) as err:
            raise Unavailable(provider=NAME, reason=f"malformed answer on PUT {kind.path}") from err
        if created.get("HasErrors") or created.get("ValidationErrors"):
            messages = [str(e.get("Message")) for e in created.get("ValidationErrors") or []]
            raise Rejected(provider=NAME, reason="; ".join(messages) or "validation failed")
        return invoice_id

    async def _attach(
        self, grant: Grant, company: Company, invoice_id: str, bill: Bill, kind: _Kind
    ) -> None:
        name = quote(bill.file.filename, safe="")
        response = await self.api.send(
            "PUT",
            f"{self._api_url}/api.xro/2.0/{kind.path}/{invoice_id}/Attachments/{name}",
            key=company.id,
            # The raw bytes, as Xero's document and SDKs send them; Xero reads the file's
            # type from its name.
            headers=_auth(grant, company) | {"Content-Type": "application/octet-stream"},
            content=bill.file.content,
        )
        self._raise_for(response)
        json_of(response, provider=NAME)

    def _raise_for(self, response: httpx.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        body: Any = None
        with contextlib.suppress(ValueError):
            body = response.json()
        detail = str(body.get("Detail") or "") if isinstance(body, dict) else ""
        if status == 401 and "AuthorizationUnsuccessful" in detail:
            # The grant lacks a scope this call needs: a new consent asks for it.
            raise IntegrationExpired(provider=NAME, reason="the authorisation lacks a scope")
        if status == 401:
            raise IntegrationExpired(provider=NAME, reason="access token refused")
        if status == 403 and "AuthenticationUnsuccessful" in detail:
            raise IntegrationExpired(provider=NAME, reason="organisation disconnected")
        if status == 400 and isinstance(body, dict) and body.get("Type") == "ValidationException":
            messages = [
                str(error.get("Message"))
                for element in body.get("Elements") or []
                for error in element.get("ValidationErrors") or []
            ] or ([str(body["Message"])] if body.get("Message") else [])
            raise Rejected(provider=NAME, reason="; ".join(messages) or "validation failed")
        raise Rejected(provider=NAME, reason=f"{status} {detail or body or ''}".strip())

    async def aclose(self) -> None:
        await self.api.aclose()


@dataclass(frozen=True, slots=True)
class _Kind:
    """Where a bill or a supplier credit note goes, and how Xero names it back."""

    path: str
    type: str
    id_field: str
    number_field: str
    location: str


_INVOICES = _Kind(
    "Invoices",
    "ACCPAY",
    "InvoiceID",
    "InvoiceNumber",
    "https://go.xero.com/AccountsPayable/View.aspx?InvoiceID=",
)
_CREDIT_NOTES = _Kind(
    "CreditNotes",
    "ACCPAYCREDIT",
    "CreditNoteID",
    "CreditNoteNumber",
    "https://go.xero.com/AccountsPayable/ViewCreditNote.aspx?creditNoteID=",
)


def _invoice(bill: Bill) -> dict[str, Any]:
    kind = _CREDIT_NOTES if bill.credit_note else _INVOICES
    contact = (
        {"ContactID": bill.supplier_code} if bill.supplier_code else {"Name": bill.supplier_name}
    )
    lines = [
        {
            "Description": bill.description or f"{bill.supplier_name} {bill.number or ''}".strip(),
            "Quantity": 1,
            "UnitAmount": _amount(line.base),
            "TaxAmount": _amount(line.tax),
            "AccountCode": bill.account_code,
            # The code of this line's rate (publishing mapped it): never the rule's code
            # laid over another rate.
            "TaxType": line.tax_rate_code,
        }
        for line in bill.vat_lines
    ] or [_single_line(bill)]
    # No VAT read, only the rule's code: the total is taken as tax-inclusive and Xero
    # works the tax out at that code's rate, rather than a zero TaxAmount contradicting it.
    inclusive = not bill.vat_lines and bill.tax_rate_code is not None and bill.total_tax == 0
    invoice: dict[str, Any] = {
        "Type": kind.type,
        "Contact": contact,
        "Date": bill.issue_date.isoformat(),
        "CurrencyCode": bill.currency,
        "LineAmountTypes": "Inclusive" if inclusive else "Exclusive",
        "Status": "DRAFT",
        "LineItems": [{k: v for k, v in line.items() if v is not None} for line in lines],
    }
    if bill.due_date and not bill.credit_note:
        invoice["DueDate"] = bill.due_date.isoformat()
    if bill.number:
        invoice[kind.number_field] = bill.number
    return invoice


def _single_line(bill: Bill) -> dict[str, Any]:
    line: dict[str, Any] = {
        "Description": bill.description or bill.supplier_name,
        "Quantity": 1,
        "UnitAmount": _amount(bill.total_excl),
        "TaxAmount": _amount(bill.total_tax),
        "AccountCode": bill.account_code,
        "TaxType": bill.tax_rate_code,
    }
    if bill.tax_rate_code is not None and bill.total_tax == 0:
        line["UnitAmount"] = _amount(bill.total_incl)
        del line["TaxAmount"]
    return line


def _amount(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.01")))


def _auth(grant: Grant, company: Company | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {grant.access_token or ''}", "Accept": "application/json"}
    if company is not None:
        headers["xero-tenant-id"] = company.id
    return headers


def _auth_event(access_token: str) -> str | None:
    """The `authentication_event_id` claim of Xero's access token. The token came straight
    from Xero's token endpoint over TLS, so its claims are read, not verified; nothing of
    the token itself ever leaves this function."""
    parts = access_token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(payload)
    except (binascii.Error, ValueError):
        return None
    event = claims.get("authentication_event_id") if isinstance(claims, dict) else None
    return str(event) if event else None


def _refreshed_at(grant: Grant) -> datetime | None:
    value = grant.extra.get("refreshed_at")
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _with_extra(grant: Grant, **values: str) -> Grant:
    return Grant(
        access_token=grant.access_token,
        refresh_token=grant.refresh_token,
        access_expires_at=grant.access_expires_at,
        refresh_expires_at=grant.refresh_expires_at,
        extra={**grant.extra, **values},
    )


def build(settings: Settings, *, limits: ApiLimits = LIMITS) -> XeroProvider:
    secret = settings.xero_client_secret
    return XeroProvider(
        endpoints=OAuthEndpoints(
            authorize_url=settings.xero_authorize_url,
            token_url=settings.xero_token_url,
            revoke_url=settings.xero_revoke_url,
            client_id=settings.xero_client_id or "",
            client_secret=secret.get_secret_value() if secret else "",
        ),
        api_url=settings.xero_api_url,
        limits=limits,
        scopes=settings.xero_scopes,
    )
