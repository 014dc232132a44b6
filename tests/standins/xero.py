"""A stand-in for Xero: its identity server (OAuth2) and the Accounting API v2.0 calls
Courier makes, as developer.xero.com and Xero's OpenAPI documents describe them.

- Every request to `/connections` and `/api.xro/2.0/*` is judged against Xero's OpenAPI
  documents (tests/standins/xero_spec.py, with openapi-core): a field the schema does not
  name, a wrong type or a missing header is a 400 `ValidationException`, as Xero answers.
  Every answer is judged too: one that breaks the document is a 500 and is kept in
  `spec_breaches`, so the stand-in cannot drift from the real thing unnoticed.
- Scopes: the app is one created from 2 March 2026 (`granular_app`), which may not ask for
  `accounting.transactions` (`invalid_scope`); each call needs one of the scopes the
  document (or its granular successor) names, else 401 `AuthorizationUnsuccessful`.
- The access token is a JWT whose `authentication_event_id` names the consent;
  `GET /connections?authEventId=` lists the connections that consent touched. The
  connections are the person's, across their consents: re-consenting to an organisation
  already connected keeps its connection (and its dates) and gives it the new event.
- Contacts: `IsSupplier` turns true once a contact has a bill; a bill naming a contact by
  `Name` uses the contact of that name or creates it. `where` understands
  `IsSupplier==true`, `IsCustomer==true` and `ContactStatus=="ACTIVE"`; `searchTerm`,
  `includeArchived` (archived contacts are left out without it), `page` and `pageSize`
  (100 by default, 1,000 at most) are honoured.
- `PUT Invoices` without `summarizeErrors=true` answers 200 with the refused invoices
  marked `HasErrors` (the document's default is false). An attachment is at most 10 MB
  (413 beyond).

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
  Invoices/{id}/Attachments/{FileName}` with the raw bytes. Validation errors are 400
  `ValidationException` with `Elements[].ValidationErrors[].Message`.
- Limits per tenant: 60 calls a minute, 5,000 a day, 5 at once; 429 with `Retry-After`
  and `X-Rate-Limit-Problem` (minute, day, concurrent).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Sequence
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
from tests.standins.xero_spec import Operation, Spec, specs

CLIENT_ID = "8B1F0E2C4D6A4F7E9C3B5A7D9E1F3A5C"
CLIENT_SECRET = "xero-secret-" + "q7" * 12
ACCESS_SECONDS = 30 * 60
REFRESH_GRACE_SECONDS = 30 * 60
REFRESH_UNUSED_SECONDS = 60 * 24 * 3600
MINUTE_LIMIT, DAY_LIMIT, CONCURRENT_LIMIT = 60, 5000, 5
PAGE_SIZE, MAX_PAGE_SIZE = 100, 1000
ATTACHMENT_LIMIT = 10 * 1024 * 1024
ZERO_ID = "00000000-0000-0000-0000-000000000000"
FILLERS = tuple(f"Fournisseur {n:03d}" for n in range(1, 203))
SUPPLIER_NAMES = ("EDF Entreprises", "Orange Pro", "Metro France", *FILLERS)
#: Contacts that exist in the books but never had a bill: Xero has not flagged them
#: suppliers yet (one is a customer).
NEW_CONTACTS = (("Moulins Bertrand", False), ("Brasserie du Port", True))


@dataclass
class Tenant:
    tenant_id: str
    name: str
    accounts: list[dict[str, Any]]
    #: Every contact of the organisation (suppliers, customers and the rest).
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
        ]
        + [
            {
                "ContactID": str(uuid.uuid4()),
                "Name": name,
                "IsSupplier": False,
                "IsCustomer": customer,
                "ContactStatus": "ACTIVE",
            }
            for name, customer in NEW_CONTACTS
        ]
        + [
            {
                "ContactID": str(uuid.uuid4()),
                "Name": "Ancien Fournisseur",
                "IsSupplier": True,
                "IsCustomer": False,
                "ContactStatus": "ARCHIVED",
            }
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
        ],
    )


@dataclass
class Connection:
    id: str
    tenant_id: str
    grant: str
    auth_event: str
    created: str


@dataclass(frozen=True)
class Consent:
    """What one consent granted: its scopes and its authentication event."""

    scopes: frozenset[str]
    auth_event: str


@dataclass
class Bill:
    invoice_id: str
    tenant_id: str
    body: dict[str, Any]
    attachments: dict[str, bytes] = field(default_factory=dict)


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
    #: An app created from 2 March 2026: `accounting.transactions` is not offered to it.
    granular_app: bool = True
    #: Scopes the person's consent leaves out (an app not granted them), for tests.
    withheld_scopes: frozenset[str] = frozenset()
    consents: dict[str, Consent] = field(default_factory=dict)
    #: How many attachment uploads answer 500 before one goes through.
    attachment_failures: int = 0
    #: Answers of the stand-in that broke Xero's document (a bug in the stand-in).
    spec_breaches: list[str] = field(default_factory=list)
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


def _validation(messages: Sequence[str], element: dict[str, Any] | None) -> web.Response:
    body: dict[str, Any] = {
        "ErrorNumber": 10,
        "Type": "ValidationException",
        "Message": "A validation exception occurred",
    }
    if element is None:  # a request the schema refuses: no element to blame
        body["Message"] = "; ".join(messages)
    else:
        body["Elements"] = [element | {"ValidationErrors": [{"Message": m} for m in messages]}]
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
    asked = frozenset(query.get("scope", "").split())
    known = _offered(standin)
    if not asked or not asked <= known:
        params = {"error": "invalid_scope", "state": query.get("state", "")}
        raise web.HTTPFound(f"{redirect}?{urlencode(params)}")
    tenant_id = standin.consent_tenant or next(iter(standin.tenants))
    grant, event = str(uuid.uuid4()), str(uuid.uuid4())
    standin.consents[grant] = Consent(asked - standin.withheld_scopes, event)
    code = new_token("xc_")
    standin.tokens.codes[code] = (grant, redirect)
    existing = next((c for c in standin.connections if c.tenant_id == tenant_id), None)
    stamp = datetime.now(UTC).isoformat()
    if existing is not None:
        existing.grant, existing.auth_event = grant, event
    else:
        standin.connections.append(Connection(str(uuid.uuid4()), tenant_id, grant, event, stamp))
    params = {"code": code, "scope": " ".join(sorted(asked)), "state": query.get("state", "")}
    raise web.HTTPFound(f"{redirect}?{urlencode(params)}")


def _offered(standin: XeroStandin) -> frozenset[str]:
    """The scopes the app may ask for: OpenID's, offline access and the API's."""
    scopes = {"openid", "profile", "email", "offline_access"}
    for op in specs().accounting.operations:
        scopes |= op.scopes
    if standin.granular_app:
        scopes -= {"accounting.transactions", "accounting.transactions.read"}
    return frozenset(scopes)


def _jwt(claims: dict[str, Any]) -> str:
    """A JWT as Xero's access tokens are; the signature is random (nobody checks it here)."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = part(json.dumps({"alg": "RS256", "kid": "standin", "typ": "JWT"}).encode())
    return f"{header}.{part(json.dumps(claims).encode())}.{new_token('')}"


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
    consent = standin.consents[grant]
    issued_at = int(datetime.now(UTC).timestamp())
    access = _jwt(
        {
            "nbf": issued_at,
            "exp": issued_at + ACCESS_SECONDS,
            "iss": "https://identity.xero.com",
            "aud": "https://identity.xero.com/resources",
            "client_id": standin.client_id,
            "jti": uuid.uuid4().hex,
            "authentication_event_id": consent.auth_event,
            "scope": sorted(consent.scopes),
        }
    )
    refresh = new_token("xr_")
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
        "scope": " ".join(sorted(consent.scopes)),
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
    event = request.query.get("authEventId")
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
            if event is None or c.auth_event == event
        ]
    )


async def delete_connection(request: web.Request) -> web.Response:
    standin = request.app[STANDIN]
    grant = _grant(standin, request)
    if isinstance(grant, web.Response):
        return grant
    wanted = request.match_info["id"]
    standin.connections = [c for c in standin.connections if c.id != wanted]
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


def _documented(request: web.Request) -> tuple[Spec, Operation, str] | None:
    """The document and operation a request reaches, and its path inside the document."""
    xero = specs()
    path = request.path
    spec = xero.accounting if path.startswith("/api.xro/2.0/") else xero.identity
    inner = path.removeprefix(spec.base)
    op = spec.operation(request.method, inner)
    return (spec, op, inner) if op is not None else None


@web.middleware
async def spec_gate(request: web.Request, handler: Any) -> web.StreamResponse:
    """Refuses what Xero's document refuses; answers that break it are the stand-in's bug."""
    documented = None
    if request.path.startswith("/api.xro/2.0/") or request.path.lower().startswith("/connections"):
        documented = _documented(request)
        if documented is None:
            return _error(404, "Not Found", "The resource you're looking for cannot be found")
        spec, op, inner = documented
        body = await request.read() if request.can_read_body else None
        problems = spec.request_problems(
            op,
            inner,
            query=request.query,
            headers=request.headers,
            body=body,
            content_type=request.content_type if body is not None else "application/json",
        )
        if problems:
            return _validation(problems, None)
    response: web.StreamResponse = await handler(request)
    if documented is not None and 200 <= response.status < 300:
        spec, op, inner = documented
        assert isinstance(response, web.Response)
        breaks = spec.answer_problems(
            op,
            inner,
            status=response.status,
            body=response.body if isinstance(response.body, bytes) else b"",
            content_type=response.content_type,
        )
        if breaks:
            request.app[STANDIN].spec_breaches += breaks
            return _error(500, "Stand-in breaks Xero's document", "; ".join(breaks))
    return response


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
    documented = _documented(request)
    consent = standin.consents.get(grant)
    scopes = documented[1].scopes if documented is not None else frozenset()
    if scopes and consent is not None and not scopes & consent.scopes:
        return _error(401, "Unauthorized", "AuthorizationUnsuccessful")
    tenant_id = request.headers.get("xero-tenant-id", "")
    if not any(c.tenant_id == tenant_id for c in standin.connections):
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


#: The `where` filters the stand-in understands, as Xero's examples write them.
FILTERS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "IsSupplier==true": lambda c: bool(c["IsSupplier"]),
    "IsCustomer==true": lambda c: bool(c["IsCustomer"]),
    'ContactStatus=="ACTIVE"': lambda c: c["ContactStatus"] == "ACTIVE",
}


async def contacts(request: web.Request) -> web.Response:
    tenant: Tenant = request[TENANT]
    where = request.query.get("where", "").replace(" ", "")
    if where and where not in FILTERS:
        return _validation([f"The where clause '{where}' is not understood"], None)
    rows = [c for c in tenant.suppliers if not where or FILTERS[where](c)]
    if request.query.get("includeArchived", "false").lower() != "true":
        rows = [c for c in rows if c["ContactStatus"] != "ARCHIVED"]
    term = request.query.get("searchTerm", "").casefold()
    rows = [c for c in rows if term in c["Name"].casefold()]
    if "page" not in request.query:
        return web.json_response(_envelope(Contacts=rows))
    page = max(1, int(request.query["page"]))  # the document made sure it is a number
    size = min(MAX_PAGE_SIZE, max(1, int(request.query.get("pageSize", PAGE_SIZE))))
    chunk = rows[(page - 1) * size : page * size]
    pagination = {
        "page": page,
        "pageSize": size,
        "pageCount": -(-len(rows) // size),
        "itemCount": len(rows),
    }
    return web.json_response(_envelope(pagination=pagination, Contacts=chunk))


async def tax_rates(request: web.Request) -> web.Response:
    return web.json_response(_envelope(TaxRates=request[TENANT].tax_rates))


def _check_invoice(tenant: Tenant, invoice: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    if invoice.get("Type") not in ("ACCPAY", "ACCREC"):
        problems.append("Invoice Type must be specified.")
    contact = invoice.get("Contact") or {}
    if not (contact.get("ContactID") or contact.get("Name")):
        problems.append("A Contact must be specified for this type of transaction")
    elif contact.get("ContactID") and not any(
        c["ContactID"] == contact["ContactID"] for c in tenant.suppliers
    ):
        problems.append("The contact with the specified ContactID could not be found")
    codes = {a["Code"] for a in tenant.accounts}
    taxes = {t["TaxType"] for t in tenant.tax_rates}
    lines = invoice.get("LineItems") or []
    if not lines:
        problems.append("At least one line item must be specified.")
    for line in lines:
        if line.get("AccountCode") not in codes:
            problems.append(
                f"Account code '{line.get('AccountCode')}' is not a valid code for this document."
            )
        if line.get("TaxType") is not None and line["TaxType"] not in taxes:
            problems.append(
                f"The TaxType code '{line['TaxType']}' does not exist or cannot "
                "be used for this type of transaction."
            )
        try:
            Decimal(str(line.get("UnitAmount")))
        except InvalidOperation:
            problems.append("Line item amount must be a number.")
    return problems


async def put_invoices(request: web.Request) -> web.Response:
    standin = request.app[STANDIN]
    tenant: Tenant = request[TENANT]
    key = request.headers.get("Idempotency-Key")
    if key and (tenant.tenant_id, key) in standin.replies:
        return web.json_response(standin.replies[(tenant.tenant_id, key)])
    try:
        payload = await request.json()
    except json.JSONDecodeError:
        return _validation(["The request body could not be read."], {})
    invoices = payload.get("Invoices", [payload]) if isinstance(payload, dict) else []
    summarize = request.query.get("summarizeErrors", "false").lower() == "true"
    created = []
    for invoice in invoices:
        problems = _check_invoice(tenant, invoice)
        if problems and summarize:
            return _validation(problems, {"Type": invoice.get("Type"), "InvoiceID": ZERO_ID})
        if problems:
            # summarizeErrors=false (the document's default): 200, the refused invoice
            # marked in place among the others.
            created.append(
                invoice
                | {
                    "InvoiceID": ZERO_ID,
                    "HasErrors": True,
                    "StatusAttributeString": "ERROR",
                    "ValidationErrors": [{"Message": m} for m in problems],
                }
            )
            continue
        invoice_id = str(uuid.uuid4())
        contact = _contact_for(tenant, invoice["Contact"])
        standin.bills[invoice_id] = Bill(invoice_id, tenant.tenant_id, invoice)
        created.append(
            invoice
            | {
                "InvoiceID": invoice_id,
                "Contact": {"ContactID": contact["ContactID"], "Name": contact["Name"]},
                "Status": invoice.get("Status", "DRAFT"),
                "HasAttachments": False,
            }
        )
    reply = _envelope(Invoices=created)
    if key:
        standin.replies[(tenant.tenant_id, key)] = reply
    return web.json_response(reply)


def _contact_for(tenant: Tenant, given: dict[str, Any]) -> dict[str, Any]:
    """The contact a bill names (by id, else by name, without regard to case), created
    when no contact has that name; a bill makes it a supplier."""
    wanted = given.get("ContactID")
    name = str(given.get("Name") or "").strip()
    found = next(
        (
            c
            for c in tenant.suppliers
            if (wanted and c["ContactID"] == wanted)
            or (not wanted and c["Name"].casefold() == name.casefold())
        ),
        None,
    )
    if found is None:
        found = {
            "ContactID": str(uuid.uuid4()),
            "Name": name,
            "IsSupplier": False,
            "IsCustomer": False,
            "ContactStatus": "ACTIVE",
        }
        tenant.suppliers.append(found)
    found["IsSupplier"] = True
    return found


async def put_attachment(request: web.Request) -> web.Response:
    standin = request.app[STANDIN]
    bill = standin.bills.get(request.match_info["id"])
    if bill is None or bill.tenant_id != request[TENANT].tenant_id:
        return _error(404, "Not Found", "The resource you're looking for cannot be found")
    if standin.attachment_failures > 0:
        standin.attachment_failures -= 1
        return _error(500, "An error occurred", "Internal Server Error")
    name = request.match_info["name"]
    content = await request.read()
    if len(content) > ATTACHMENT_LIMIT:
        return _error(413, "Request Entity Too Large", "The file exceeds the 10 MB limit")
    bill.attachments[name] = content  # the same name replaces, it never adds a second
    return web.json_response(
        _envelope(
            Attachments=[
                {
                    "AttachmentID": str(uuid.uuid5(uuid.NAMESPACE_URL, bill.invoice_id + name)),
                    "FileName": name,
                    "Url": f"{request.url.origin()}/api.xro/2.0/Invoices/{bill.invoice_id}"
                    f"/Attachments/{name}",
                    "MimeType": _mime_type(name),
                    "ContentLength": len(content),
                }
            ]
        )
    )


def _mime_type(name: str) -> str:
    """Xero names the file's type from its extension (the body is sent as octet-stream)."""
    suffix = name.rsplit(".", 1)[-1].lower()
    known = {"pdf": "application/pdf", "png": "image/png", "jpg": "image/jpeg", "xml": "text/xml"}
    return known.get(suffix, "application/octet-stream")


def create_app(
    *,
    tenants: Sequence[Tenant] = (),
    time_scale: float = 1.0,
    clock: Clock | None = None,
    knobs: Knobs | None = None,
    judged: bool = True,
) -> web.Application:
    """`judged=False` leaves out the OpenAPI judge (3 ms of CPU a call), for a benchmark
    of Courier's own pace whose bodies the tests have judged already."""
    chosen = list(tenants) or [bakery()]
    standin = XeroStandin(
        tenants={t.tenant_id: t for t in chosen},
        time_scale=time_scale,
        clock=clock or Clock(),
        knobs=knobs or Knobs(),
    )
    specs()  # loaded once per process, before the first request rather than during it
    middlewares = [api_gate, spec_gate] if judged else [api_gate]
    app = web.Application(middlewares=middlewares, client_max_size=30 * 1024 * 1024)
    app[STANDIN] = standin
    app.router.add_get("/identity/connect/authorize", authorize)
    app.router.add_post("/connect/token", token)
    app.router.add_post("/connect/revocation", revoke)
    for base in ("/connections", "/Connections"):  # Xero matches paths without regard to case
        app.router.add_get(base, connections)
        app.router.add_delete(base + "/{id}", delete_connection)
    app.router.add_get("/api.xro/2.0/Accounts", accounts)
    app.router.add_get("/api.xro/2.0/Contacts", contacts)
    app.router.add_get("/api.xro/2.0/TaxRates", tax_rates)
    app.router.add_put("/api.xro/2.0/Invoices", put_invoices)
    app.router.add_put("/api.xro/2.0/Invoices/{id}/Attachments/{name}", put_attachment)
    return app
