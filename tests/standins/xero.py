"""A stand-in for Xero: its identity server (OAuth2) and the Accounting API v2.0 calls
Courier makes, as developer.xero.com documents them.

- `GET /identity/connect/authorize` (consent is given at once) redirects to the app's
  `redirect_uri` with `code`, `state` and `scope`. `POST /connect/token` takes the
  `authorization_code` and `refresh_token` grants with the client's Basic credentials and
  answers `{access_token, expires_in: 1800, token_type, refresh_token, scope}`. Refresh
  tokens are single-use and rotate; the used one still answers for 30 minutes; an unused
  one dies after 60 days. Errors are `{"error": "invalid_grant"}` / `invalid_client`.
  `POST /connect/revocation` revokes the refresh token and with it the connections.
- `GET /connections` lists the tenants; `DELETE /connections/{id}` removes one.
- `/api.xro/2.0/*` needs the Bearer token and `xero-tenant-id`: 401 `TokenExpired`, 403
  `AuthenticationUnsuccessful` for a tenant the grant no longer reaches. `GET Accounts`,
  `GET Contacts?where=IsSupplier==true&page=N` (100 a page), `GET TaxRates`,
  `PUT Invoices` (an `Idempotency-Key` replays the first answer), `PUT
  Invoices/{id}/Attachments/{FileName}` with the raw bytes; `PUT CreditNotes` (Type
  ACCPAYCREDIT or ACCRECCREDIT) and `CreditNotes/{id}/Attachments/{FileName}` the same way.
  Validation errors are 400 `ValidationException` with
  `Elements[].ValidationErrors[].Message`.
- Tax as Xero checks it: a line's TaxType must be one of the organisation's tax rates,
  usable on expenses for a bill; a TaxAmount given beside it must be that rate's tax on
  the line (a cent of rounding); an invoice's total is never negative (a credit note is
  its own document).
- Limits per tenant: 60 calls a minute, 5,000 a day, 5 at once; 429 with `Retry-After`
  and `X-Rate-Limit-Problem` (minute, day, concurrent).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from tests.standins.accounting_limits import (
    AccessToken,
    Clock,
    Fault,
    Knobs,
    RefreshToken,
    SlidingWindow,
    TokenBook,
    bearer,
    delay,
    new_token,
    retry_after_value,
    truncated_json,
)

CLIENT_ID = "8B1F0E2C4D6A4F7E9C3B5A7D9E1F3A5C"
CLIENT_SECRET = "xero-secret-" + "q7" * 12
ACCESS_SECONDS = 30 * 60
REFRESH_GRACE_SECONDS = 30 * 60
REFRESH_UNUSED_SECONDS = 60 * 24 * 3600
MINUTE_LIMIT, DAY_LIMIT, CONCURRENT_LIMIT = 60, 5000, 5
PAGE_SIZE = 100
FILLERS = tuple(f"Fournisseur {n:03d}" for n in range(1, 203))
SUPPLIER_NAMES = ("EDF Entreprises", "Orange Pro", "Metro France", *FILLERS)


@dataclass
class Tenant:
    tenant_id: str
    name: str
    accounts: list[dict[str, Any]]
    suppliers: list[dict[str, Any]]
    tax_rates: list[dict[str, Any]]


def bakery(tenant_id: str = "b7c2a3e0-5d1f-4c3e-9a7b-2f4d6e8a0c11") -> Tenant:
    return Tenant(
        tenant_id=tenant_id,
        name="Boulangerie Dupont SARL",
        accounts=[
            {
                "AccountID": str(uuid.uuid4()),
                "Code": code,
                "Name": name,
                "Type": kind,
                "TaxType": tax,
                "Status": "ACTIVE",
            }
            for code, name, kind, tax in (
                ("200", "Sales", "REVENUE", "OUTPUT2"),
                ("429", "General Expenses", "EXPENSE", "INPUT2"),
                ("445", "Light, Power, Heating", "EXPENSE", "INPUT2"),
                ("489", "Telephone & Internet", "EXPENSE", "INPUT2"),
                ("800", "Accounts Payable", "CURRLIAB", "NONE"),
            )
        ],
        suppliers=[
            {
                "ContactID": str(uuid.uuid4()),
                "Name": name,
                "IsSupplier": True,
                "IsCustomer": False,
                "ContactStatus": "ACTIVE",
            }
            for name in SUPPLIER_NAMES
        ],
        tax_rates=[
            {
                "Name": name,
                "TaxType": tax_type,
                "Status": "ACTIVE",
                "EffectiveRate": rate,
                "DisplayTaxRate": rate,
                "CanApplyToExpenses": True,
            }
            for name, tax_type, rate in (
                ("20% (VAT on Expenses)", "INPUT2", 20.0),
                ("5% (VAT on Expenses)", "INPUT", 5.0),
                ("No VAT", "NONE", 0.0),
            )
        ]
        + [
            # A tax rate the organisation added for France's reduced rate, and one it
            # keeps for its sales only.
            {
                "Name": "TVA 5,5 % (achats)",
                "TaxType": "TAX001",
                "Status": "ACTIVE",
                "EffectiveRate": 5.5,
                "DisplayTaxRate": 5.5,
                "CanApplyToExpenses": True,
            },
            {
                "Name": "TVA 10 % (ventes)",
                "TaxType": "TAX002",
                "Status": "ACTIVE",
                "EffectiveRate": 10.0,
                "DisplayTaxRate": 10.0,
                "CanApplyToExpenses": False,
                "CanApplyToRevenue": True,
            },
        ],
    )


@dataclass
class Connection:
    id: str
    tenant_id: str
    grant: str
    auth_event: str
    created: str


@dataclass
class Bill:
    invoice_id: str
    tenant_id: str
    body: dict[str, Any]
    attachments: dict[str, bytes] = field(default_factory=dict)
    #: "Invoices" or "CreditNotes": where it was created.
    kind: str = "Invoices"


@dataclass
class XeroStandin:
    """The stand-in's state, for tests to arrange and assert on."""

    tenants: dict[str, Tenant]
    time_scale: float = 1.0
    clock: Clock = field(default_factory=Clock)
    knobs: Knobs = field(default_factory=Knobs)
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    #: The tenant the next consent picks (the user's choice on Xero's page).
    consent_tenant: str | None = None
    tokens: TokenBook = field(default_factory=TokenBook)
    connections: list[Connection] = field(default_factory=list)
    bills: dict[str, Bill] = field(default_factory=dict)
    replies: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    minute: dict[str, SlidingWindow] = field(default_factory=dict)
    day: dict[str, SlidingWindow] = field(default_factory=dict)
    in_flight: dict[str, int] = field(default_factory=dict)

    def seconds(self, documented: float) -> float:
        return documented / self.time_scale

    def remove_tenant(self, tenant_id: str) -> None:
        """The user disconnected the organisation from the app in Xero."""
        self.connections = [c for c in self.connections if c.tenant_id != tenant_id]

    def bills_of(self, tenant_id: str) -> list[Bill]:
        return [bill for bill in self.bills.values() if bill.tenant_id == tenant_id]


STANDIN = web.AppKey[XeroStandin]("xero")
TENANT = web.RequestKey[Tenant]("tenant")


def _error(status: int, title: str, detail: str) -> web.Response:
    body: dict[str, Any] = {
        "Type": None,
        "Title": title,
        "Status": status,
        "Detail": detail,
        "Instance": str(uuid.uuid4()),
        "Extensions": {},
    }
    return web.json_response(body, status=status)


def _oauth_error(error: str, status: int = 400) -> web.Response:
    return web.json_response({"error": error}, status=status)


def _validation(messages: Sequence[str], element: dict[str, Any]) -> web.Response:
    body = {
        "ErrorNumber": 10,
        "Type": "ValidationException",
        "Message": "A validation exception occurred",
        "Elements": [element | {"ValidationErrors": [{"Message": m} for m in messages]}],
    }
    return web.json_response(body, status=400)


def _envelope(**payload: Any) -> dict[str, Any]:
    stamp = int(datetime.now(UTC).timestamp() * 1000)
    return {
        "Id": str(uuid.uuid4()),
        "Status": "OK",
        "ProviderName": "Courier",
        "DateTimeUTC": f"/Date({stamp})/",
        **payload,
    }


# --- identity ------------------------------------------------------------------------------


async def authorize(request: web.Request) -> web.Response:
    standin = request.app[STANDIN]
    query = request.query
    if query.get("client_id") != standin.client_id or query.get("response_type") != "code":
        return web.Response(status=400, text="Sorry, something went wrong: unauthorized_client")
    redirect = query.get("redirect_uri", "")
    tenant_id = standin.consent_tenant or next(iter(standin.tenants))
    grant = str(uuid.uuid4())
    code = new_token("xc_")
    standin.tokens.codes[code] = (grant, redirect)
    existing = next((c for c in standin.connections if c.tenant_id == tenant_id), None)
    stamp = datetime.now(UTC).isoformat()
    if existing is not None:
        existing.grant, existing.auth_event = grant, grant
    else:
        standin.connections.append(Connection(str(uuid.uuid4()), tenant_id, grant, grant, stamp))
    params = {"code": code, "scope": query.get("scope", ""), "state": query.get("state", "")}
    raise web.HTTPFound(f"{redirect}?{urlencode(params)}")


def _client_ok(standin: XeroStandin, request: web.Request, form: dict[str, str]) -> bool:
    header = request.headers.get("Authorization", "")
    if header.startswith("Basic "):
        try:
            client, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
    else:
        client, secret = form.get("client_id", ""), form.get("client_secret", "")
    return client == standin.client_id and secret == standin.client_secret


def _issue(standin: XeroStandin, grant: str) -> dict[str, Any]:
    now = standin.clock.now()
    access, refresh = new_token("xa_"), new_token("xr_")
    standin.tokens.access[access] = AccessToken(grant, now + standin.seconds(ACCESS_SECONDS))
    standin.tokens.refresh[refresh] = RefreshToken(
        grant, now + standin.seconds(REFRESH_UNUSED_SECONDS)
    )
    return {
        "id_token": new_token("xi_"),
        "access_token": access,
        "expires_in": max(1, round(standin.seconds(ACCESS_SECONDS))),
        "token_type": "Bearer",
        "refresh_token": refresh,
        "scope": "openid profile email accounting.transactions accounting.contacts "
        "accounting.settings.read accounting.attachments offline_access",
    }


async def token(request: web.Request) -> web.Response:
    standin = request.app[STANDIN]
    form = {k: str(v) for k, v in (await request.post()).items()}
    if not _client_ok(standin, request, form):
        return _oauth_error("invalid_client")
    now = standin.clock.now()
    if form.get("grant_type") == "authorization_code":
        entry = standin.tokens.codes.pop(form.get("code", ""), None)
        if entry is None or entry[1] != form.get("redirect_uri"):
            return _oauth_error("invalid_grant")
        return web.json_response(_issue(standin, entry[0]))
    if form.get("grant_type") == "refresh_token":
        value = form.get("refresh_token", "")
        old = standin.tokens.refresh.get(value)
        if old is None or old.grant in standin.tokens.revoked or old.expires_at <= now:
            return _oauth_error("invalid_grant")
        grace = standin.seconds(REFRESH_GRACE_SECONDS)
        if old.used_at is not None and now - old.used_at > grace:
            # Used already: Xero answers again for the grace period, then refuses.
            return _oauth_error("invalid_grant")
        issued = _issue(standin, old.grant)
        old.used_at = old.used_at if old.used_at is not None else now
        old.successor = issued["refresh_token"]
        return web.json_response(issued)
    return _oauth_error("unsupported_grant_type")


async def revoke(request: web.Request) -> web.Response:
    standin = request.app[STANDIN]
    form = {k: str(v) for k, v in (await request.post()).items()}
    if not _client_ok(standin, request, form):
        return _oauth_error("invalid_client")
    entry = standin.tokens.refresh.get(form.get("token", ""))
    if entry is not None:
        standin.tokens.revoke_grant(entry.grant)
        standin.connections = [c for c in standin.connections if c.grant != entry.grant]
    return web.Response(status=200)


# --- API -------------------------------------------------------------------------------


def _grant(standin: XeroStandin, request: web.Request) -> str | web.Response:
    value = bearer(request)
    grant = standin.tokens.grant_of_access(value, standin.clock.now()) if value else None
    if grant is None:
        response = _error(401, "Unauthorized", "TokenExpired: token expired")
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response
    return grant


async def connections(request: web.Request) -> web.Response:
    standin = request.app[STANDIN]
    grant = _grant(standin, request)
    if isinstance(grant, web.Response):
        return grant
    return web.json_response(
        [
            {
                "id": c.id,
                "authEventId": c.auth_event,
                "tenantId": c.tenant_id,
                "tenantType": "ORGANISATION",
                "tenantName": standin.tenants[c.tenant_id].name,
                "createdDateUtc": c.created,
                "updatedDateUtc": c.created,
            }
            for c in standin.connections
            if c.grant == grant
        ]
    )


async def delete_connection(request: web.Request) -> web.Response:
    standin = request.app[STANDIN]
    grant = _grant(standin, request)
    if isinstance(grant, web.Response):
        return grant
    wanted = request.match_info["id"]
    standin.connections = [
        c for c in standin.connections if not (c.id == wanted and c.grant == grant)
    ]
    return web.Response(status=204)


def _limited(standin: XeroStandin, problem: str, wait: float) -> web.Response:
    standin.knobs.rate_limited += 1
    return web.Response(
        status=429,
        headers={
            "Retry-After": retry_after_value(wait, standin.time_scale),
            "X-Rate-Limit-Problem": problem,
        },
    )


@web.middleware
async def api_gate(request: web.Request, handler: Any) -> web.StreamResponse:
    standin = request.app[STANDIN]
    standin.knobs.requests.append((request.method, request.raw_path))
    if not request.path.startswith("/api.xro/2.0/"):
        response: web.StreamResponse = await handler(request)
        return response
    grant = _grant(standin, request)
    if isinstance(grant, web.Response):
        return grant
    tenant_id = request.headers.get("xero-tenant-id", "")
    if not any(c.grant == grant and c.tenant_id == tenant_id for c in standin.connections):
        return _error(403, "Forbidden", "AuthenticationUnsuccessful")
    now = standin.clock.now()
    minute = standin.minute.setdefault(tenant_id, SlidingWindow(MINUTE_LIMIT, standin.seconds(60)))
    day = standin.day.setdefault(tenant_id, SlidingWindow(DAY_LIMIT, standin.seconds(86400)))
    if standin.in_flight.get(tenant_id, 0) >= CONCURRENT_LIMIT:
        return _limited(standin, "concurrent", standin.seconds(1))
    if (wait := day.admit(now)) is not None:
        return _limited(standin, "day", wait)
    if (wait := minute.admit(now)) is not None:
        return _limited(standin, "minute", wait)
    fault = standin.knobs.take_fault()
    if fault is Fault.RATE_LIMITED:
        standin.knobs.rate_limited += 1
        retry = f"{standin.knobs.retry_after:g}"  # the test's own value, decimals allowed
        return web.Response(
            status=429, headers={"Retry-After": retry, "X-Rate-Limit-Problem": "minute"}
        )
    if fault is Fault.SERVER_ERROR:
        return _error(500, "An error occurred", "Internal Server Error")
    standin.in_flight[tenant_id] = standin.in_flight.get(tenant_id, 0) + 1
    try:
        await delay(standin.knobs)
        if fault is Fault.MALFORMED_JSON:
            return truncated_json()
        request[TENANT] = standin.tenants[tenant_id]
        response = await handler(request)
    finally:
        standin.in_flight[tenant_id] -= 1
    response.headers["X-DayLimit-Remaining"] = str(day.remaining(now))
    response.headers["X-MinLimit-Remaining"] = str(minute.remaining(now))
    response.headers["X-AppMinLimit-Remaining"] = "9999"
    return response


async def accounts(request: web.Request) -> web.Response:
    return web.json_response(_envelope(Accounts=request[TENANT].accounts))


async def contacts(request: web.Request) -> web.Response:
    tenant: Tenant = request[TENANT]
    where = request.query.get("where", "").replace(" ", "")
    rows = [c for c in tenant.suppliers if where in ("", "IsSupplier==true") and c["IsSupplier"]]
    if "page" not in request.query:
        return web.json_response(_envelope(Contacts=rows))
    try:
        page = max(1, int(request.query["page"]))
    except ValueError:
        return _validation(["page must be a number"], {})
    chunk = rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    pagination = {
        "page": page,
        "pageSize": PAGE_SIZE,
        "pageCount": -(-len(rows) // PAGE_SIZE),
        "itemCount": len(rows),
    }
    return web.json_response(_envelope(pagination=pagination, Contacts=chunk))


async def tax_rates(request: web.Request) -> web.Response:
    return web.json_response(_envelope(TaxRates=request[TENANT].tax_rates))


PAYABLE_TYPES = frozenset({"ACCPAY", "ACCPAYCREDIT"})
CENT = Decimal("0.01")


@dataclass(frozen=True)
class DocumentKind:
    """Invoices or CreditNotes: the collection, its types, and its id's name."""

    path: str
    types: tuple[str, str]
    id_field: str


INVOICES = DocumentKind("Invoices", ("ACCPAY", "ACCREC"), "InvoiceID")
CREDIT_NOTES = DocumentKind("CreditNotes", ("ACCPAYCREDIT", "ACCRECCREDIT"), "CreditNoteID")
KINDS = {kind.path: kind for kind in (INVOICES, CREDIT_NOTES)}


def _check_invoice(
    tenant: Tenant, invoice: dict[str, Any], kind: DocumentKind = INVOICES
) -> list[str]:
    problems: list[str] = []
    if invoice.get("Type") not in kind.types:
        noun = "Invoice" if kind is INVOICES else "Credit Note"
        problems.append(f"{noun} Type must be specified.")
    contact = invoice.get("Contact") or {}
    if not (contact.get("ContactID") or contact.get("Name")):
        problems.append("A Contact must be specified for this type of transaction")
    codes = {a["Code"] for a in tenant.accounts}
    taxes = {t["TaxType"]: t for t in tenant.tax_rates if t.get("Status") == "ACTIVE"}
    payable = invoice.get("Type") in PAYABLE_TYPES
    inclusive = invoice.get("LineAmountTypes") == "Inclusive"
    lines = invoice.get("LineItems") or []
    if not lines:
        problems.append("At least one line item must be specified.")
    total = Decimal(0)
    for line in lines:
        if line.get("AccountCode") not in codes:
            problems.append(
                f"Account code '{line.get('AccountCode')}' is not a valid code for this document."
            )
        try:
            amount = Decimal(str(line.get("UnitAmount"))) * Decimal(str(line.get("Quantity", 1)))
        except InvalidOperation:
            problems.append("Line item amount must be a number.")
            continue
        total += amount
        tax_type = line.get("TaxType")
        rate = taxes.get(tax_type) if tax_type is not None else None
        usable = rate is not None and (
            rate.get("CanApplyToExpenses", True) if payable else rate.get("CanApplyToRevenue", True)
        )
        if tax_type is not None and not usable:
            problems.append(
                f"The TaxType code '{tax_type}' does not exist or cannot "
                "be used for this type of transaction."
            )
        if rate is not None and line.get("TaxAmount") is not None:
            stated = Decimal(str(line["TaxAmount"]))
            percent = Decimal(str(rate["EffectiveRate"]))
            # Inclusive lines hold their tax; exclusive ones have it added.
            share = percent / (100 + percent) if inclusive else percent / 100
            expected = (amount * share).quantize(CENT)
            total += Decimal(0) if inclusive else stated
            if abs(stated - expected) > CENT:
                problems.append(
                    f"The TaxAmount {stated} does not match the {rate['Name']} rate "
                    f"on a line of {amount} (expected {expected})."
                )
    if total < 0:
        problems.append("The document total cannot be negative.")
    return problems


async def put_invoices(request: web.Request) -> web.Response:
    standin = request.app[STANDIN]
    tenant: Tenant = request[TENANT]
    kind = KINDS[request.path.rsplit("/", 1)[-1]]
    key = request.headers.get("Idempotency-Key")
    if key and (tenant.tenant_id, key) in standin.replies:
        return web.json_response(standin.replies[(tenant.tenant_id, key)])
    try:
        payload = await request.json()
    except json.JSONDecodeError:
        return _validation(["The request body could not be read."], {})
    invoices = payload.get(kind.path, [payload]) if isinstance(payload, dict) else []
    created = []
    for invoice in invoices:
        problems = _check_invoice(tenant, invoice, kind)
        if problems:
            return _validation(
                problems,
                {
                    "Type": invoice.get("Type"),
                    kind.id_field: "00000000-0000-0000-0000-000000000000",
                },
            )
        invoice_id = str(uuid.uuid4())
        standin.bills[invoice_id] = Bill(invoice_id, tenant.tenant_id, invoice, kind=kind.path)
        created.append(
            invoice
            | {
                kind.id_field: invoice_id,
                "Status": invoice.get("Status", "DRAFT"),
                "HasAttachments": False,
            }
        )
    reply = _envelope(**{kind.path: created})
    if key:
        standin.replies[(tenant.tenant_id, key)] = reply
    return web.json_response(reply)


async def put_attachment(request: web.Request) -> web.Response:
    standin = request.app[STANDIN]
    bill = standin.bills.get(request.match_info["id"])
    kind = request.path.split("/")[3]  # /api.xro/2.0/<Invoices|CreditNotes>/{id}/...
    if bill is None or bill.tenant_id != request[TENANT].tenant_id or bill.kind != kind:
        return _error(404, "Not Found", "The resource you're looking for cannot be found")
    name = request.match_info["name"]
    content = await request.read()
    bill.attachments[name] = content  # the same name replaces, it never adds a second
    return web.json_response(
        _envelope(
            Attachments=[
                {
                    "AttachmentID": str(uuid.uuid5(uuid.NAMESPACE_URL, bill.invoice_id + name)),
                    "FileName": name,
                    "Url": f"{request.url.origin()}/api.xro/2.0/{kind}/{bill.invoice_id}"
                    f"/Attachments/{name}",
                    "MimeType": request.headers.get("Content-Type", "application/octet-stream"),
                    "ContentLength": len(content),
                }
            ]
        )
    )


def create_app(
    *,
    tenants: Sequence[Tenant] = (),
    time_scale: float = 1.0,
    clock: Clock | None = None,
    knobs: Knobs | None = None,
) -> web.Application:
    chosen = list(tenants) or [bakery()]
    standin = XeroStandin(
        tenants={t.tenant_id: t for t in chosen},
        time_scale=time_scale,
        clock=clock or Clock(),
        knobs=knobs or Knobs(),
    )
    app = web.Application(middlewares=[api_gate], client_max_size=30 * 1024 * 1024)
    app[STANDIN] = standin
    app.router.add_get("/identity/connect/authorize", authorize)
    app.router.add_post("/connect/token", token)
    app.router.add_post("/connect/revocation", revoke)
    app.router.add_get("/connections", connections)
    app.router.add_delete("/connections/{id}", delete_connection)
    app.router.add_get("/api.xro/2.0/Accounts", accounts)
    app.router.add_get("/api.xro/2.0/Contacts", contacts)
    app.router.add_get("/api.xro/2.0/TaxRates", tax_rates)
    app.router.add_put("/api.xro/2.0/Invoices", put_invoices)
    app.router.add_put("/api.xro/2.0/Invoices/{id}/Attachments/{name}", put_attachment)
    app.router.add_put("/api.xro/2.0/CreditNotes", put_invoices)
    app.router.add_put("/api.xro/2.0/CreditNotes/{id}/Attachments/{name}", put_attachment)
    return app
