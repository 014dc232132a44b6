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
- `PUT Invoices` (and `PUT CreditNotes`) without `summarizeErrors=true` answers 200 with
  the refused documents marked `HasErrors` (the document's default is false). An
  attachment is at most 10 MB (413 beyond).
- `/api.xro/2.0/*` needs the Bearer token and `xero-tenant-id`: 401 `TokenExpired`, 403
  `AuthenticationUnsuccessful` for a tenant the grant no longer reaches. `GET Accounts`,
  `GET Contacts`, `GET TaxRates`, `PUT Invoices` (an `Idempotency-Key` replays the first
  answer), `PUT Invoices/{id}/Attachments/{FileName}` with the raw bytes; `PUT CreditNotes`
  (Type ACCPAYCREDIT or ACCRECCREDIT) and `CreditNotes/{id}/Attachments/{FileName}` the
  same way. Validation errors are 400 `ValidationException` with
  `Elements[].ValidationErrors[].Message`.
- Tax as Xero checks it: a line's TaxType must be one of the organisation's active tax
  rates, usable on expenses for a bill (on revenue for a sale); a TaxAmount given beside
  it must be that rate's tax on the line (a cent of rounding); a document's total is
  never negative (a credit note is its own document).
- Limits per tenant: 60 calls a minute, 5,000 a day, 5 at once; 429 with `Retry-After`
  and `X-Rate-Limit-Problem` (minute, day, concurrent).

The state lives in xero_state.py, the identity server in xero_identity.py, the checks of a
bill or credit note in xero_checks.py and the OpenAPI judge in xero_spec.py; the names tests
use are all importable from here.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web

from tests.standins.accounting_limits import (
    Clock,
    Fault,
    Knobs,
    SlidingWindow,
    delay,
    retry_after_value,
    truncated_json,
)
from tests.standins.xero_checks import KINDS, check_document, contact_for
from tests.standins.xero_identity import (
    authorize,
    connections,
    delete_connection,
    grant_of,
    revoke,
    token,
)
from tests.standins.xero_spec import Operation, Spec, specs
from tests.standins.xero_state import (
    ACCESS_SECONDS,
    ATTACHMENT_LIMIT,
    CLIENT_ID,
    CLIENT_SECRET,
    CONCURRENT_LIMIT,
    DAY_LIMIT,
    MAX_PAGE_SIZE,
    MINUTE_LIMIT,
    PAGE_SIZE,
    REFRESH_GRACE_SECONDS,
    REFRESH_UNUSED_SECONDS,
    STANDIN,
    TENANT,
    ZERO_ID,
    Bill,
    Connection,
    Consent,
    Tenant,
    XeroStandin,
    bakery,
    envelope,
    error_response,
    validation_response,
)

__all__ = [
    "ACCESS_SECONDS",
    "ATTACHMENT_LIMIT",
    "CLIENT_ID",
    "CLIENT_SECRET",
    "DAY_LIMIT",
    "MINUTE_LIMIT",
    "REFRESH_GRACE_SECONDS",
    "REFRESH_UNUSED_SECONDS",
    "STANDIN",
    "Bill",
    "Connection",
    "Consent",
    "Tenant",
    "XeroStandin",
    "bakery",
    "create_app",
]


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
            return error_response(
                404, "Not Found", "The resource you're looking for cannot be found"
            )
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
            return validation_response(problems, None)
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
            return error_response(500, "Stand-in breaks Xero's document", "; ".join(breaks))
    return response


@web.middleware
async def api_gate(request: web.Request, handler: Any) -> web.StreamResponse:
    standin = request.app[STANDIN]
    standin.knobs.requests.append((request.method, request.raw_path))
    if not request.path.startswith("/api.xro/2.0/"):
        response: web.StreamResponse = await handler(request)
        return response
    grant = grant_of(standin, request)
    if isinstance(grant, web.Response):
        return grant
    documented = _documented(request)
    consent = standin.consents.get(grant)
    scopes = documented[1].scopes if documented is not None else frozenset()
    if scopes and consent is not None and not scopes & consent.scopes:
        return error_response(401, "Unauthorized", "AuthorizationUnsuccessful")
    tenant_id = request.headers.get("xero-tenant-id", "")
    if not any(c.tenant_id == tenant_id for c in standin.connections):
        return error_response(403, "Forbidden", "AuthenticationUnsuccessful")
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
        return error_response(500, "An error occurred", "Internal Server Error")
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
    return web.json_response(envelope(Accounts=request[TENANT].accounts))


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
        return validation_response([f"The where clause '{where}' is not understood"], None)
    rows = [c for c in tenant.suppliers if not where or FILTERS[where](c)]
    if request.query.get("includeArchived", "false").lower() != "true":
        rows = [c for c in rows if c["ContactStatus"] != "ARCHIVED"]
    term = request.query.get("searchTerm", "").casefold()
    rows = [c for c in rows if term in c["Name"].casefold()]
    if "page" not in request.query:
        return web.json_response(envelope(Contacts=rows))
    page = max(1, int(request.query["page"]))  # the document made sure it is a number
    size = min(MAX_PAGE_SIZE, max(1, int(request.query.get("pageSize", PAGE_SIZE))))
    chunk = rows[(page - 1) * size : page * size]
    pagination = {
        "page": page,
        "pageSize": size,
        "pageCount": -(-len(rows) // size),
        "itemCount": len(rows),
    }
    return web.json_response(envelope(pagination=pagination, Contacts=chunk))


async def tax_rates(request: web.Request) -> web.Response:
    return web.json_response(envelope(TaxRates=request[TENANT].tax_rates))


async def put_invoices(request: web.Request) -> web.Response:
    """`PUT Invoices` and `PUT CreditNotes`: the same checks, each its own collection."""
    standin = request.app[STANDIN]
    tenant: Tenant = request[TENANT]
    kind = KINDS[request.path.rsplit("/", 1)[-1]]
    key = request.headers.get("Idempotency-Key")
    if key and (tenant.tenant_id, key) in standin.replies:
        return web.json_response(standin.replies[(tenant.tenant_id, key)])
    try:
        payload = await request.json()
    except json.JSONDecodeError:
        return validation_response(["The request body could not be read."], {})
    invoices = payload.get(kind.path, [payload]) if isinstance(payload, dict) else []
    summarize = request.query.get("summarizeErrors", "false").lower() == "true"
    created = []
    for invoice in invoices:
        problems = check_document(tenant, invoice, kind)
        if problems and summarize:
            return validation_response(
                problems, {"Type": invoice.get("Type"), kind.id_field: ZERO_ID}
            )
        if problems:
            # summarizeErrors=false (the document's default): 200, the refused invoice
            # marked in place among the others.
            created.append(
                invoice
                | {
                    kind.id_field: ZERO_ID,
                    "HasErrors": True,
                    "StatusAttributeString": "ERROR",
                    "ValidationErrors": [{"Message": m} for m in problems],
                }
            )
            continue
        invoice_id = str(uuid.uuid4())
        contact = contact_for(tenant, invoice["Contact"])
        standin.bills[invoice_id] = Bill(invoice_id, tenant.tenant_id, invoice, kind=kind.path)
        created.append(
            invoice
            | {
                kind.id_field: invoice_id,
                "Contact": {"ContactID": contact["ContactID"], "Name": contact["Name"]},
                "Status": invoice.get("Status", "DRAFT"),
                "HasAttachments": False,
            }
        )
    reply = envelope(**{kind.path: created})
    if key:
        standin.replies[(tenant.tenant_id, key)] = reply
    return web.json_response(reply)


async def put_attachment(request: web.Request) -> web.Response:
    standin = request.app[STANDIN]
    bill = standin.bills.get(request.match_info["id"])
    kind = request.path.split("/")[3]  # /api.xro/2.0/<Invoices|CreditNotes>/{id}/...
    if bill is None or bill.tenant_id != request[TENANT].tenant_id or bill.kind != kind:
        return error_response(404, "Not Found", "The resource you're looking for cannot be found")
    if standin.attachment_failures > 0:
        standin.attachment_failures -= 1
        return error_response(500, "An error occurred", "Internal Server Error")
    name = request.match_info["name"]
    content = await request.read()
    if len(content) > ATTACHMENT_LIMIT:
        return error_response(413, "Request Entity Too Large", "The file exceeds the 10 MB limit")
    bill.attachments[name] = content  # the same name replaces, it never adds a second
    return web.json_response(
        envelope(
            Attachments=[
                {
                    "AttachmentID": str(uuid.uuid5(uuid.NAMESPACE_URL, bill.invoice_id + name)),
                    "FileName": name,
                    "Url": f"{request.url.origin()}/api.xro/2.0/{kind}/{bill.invoice_id}"
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
    app.router.add_put("/api.xro/2.0/CreditNotes", put_invoices)
    app.router.add_put("/api.xro/2.0/CreditNotes/{id}/Attachments/{name}", put_attachment)
    return app
