"""A stand-in for Scaleway's Billing API v2beta1 (invoices only).

As the reference and the official SDKs describe it: `X-Auth-Token: <secret key>`;
`GET /billing/v2beta1/invoices?organization_id=&page=&page_size=` (pages from 1,
`page_size` at most 100, newest invoice number first) answering `invoices` and
`total_count`; `GET /billing/v2beta1/invoices/{id}/download?file_type=pdf` answering a
file object `{name, content_type, content}` with the PDF in base64. Errors carry a `type`:
`denied_authentication` (401), `permissions_denied` (403), `invalid_arguments` (400),
`not_found` (404).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from aiohttp import web
from aiohttp.typedefs import Handler

from tests.standins import SWITCHES, Fault, Switches, html_page, make_pdf, new_app, truncated_json

ORGANIZATION_ID = "1f0c5b8e-3a2d-4c7e-9b61-0d5e8f2a4c39"
SECRET_KEY = "8d3a6f1e-52c4-4b9a-a7e0-93c1f6d2b845"
PATH = "/billing/v2beta1/invoices"


@dataclass(frozen=True, slots=True)
class ScwInvoice:
    id: str
    number: int
    billing_period: str  # "YYYY-MM"
    issued_date: str | None  # RFC 3339; None while a draft
    total_taxed: Decimal
    currency: str = "EUR"
    type: str = "periodic"


@dataclass(frozen=True, slots=True)
class Account:
    organization_id: str
    secret_key: str


INVOICES = web.AppKey("invoices", tuple[ScwInvoice, ...])
ACCOUNT = web.AppKey("account", Account)

SEEDED = (
    ScwInvoice("c9a7e0f2-1b34-4d5e-8f60-7a1b2c3d4e01", 9001, "2026-11", None, Decimal("3.10")),
    ScwInvoice(
        "b8f6d1e3-2c45-4e6f-9071-8b2c3d4e5f02",
        8870,
        "2026-10",
        "2026-11-01T06:12:09Z",
        Decimal("42.17"),
    ),
    ScwInvoice(
        "a7e5c2d4-3d56-4f70-a182-9c3d4e5f6003",
        8702,
        "2026-09",
        "2026-10-01T06:10:44Z",
        Decimal("40.00"),
    ),
    ScwInvoice(
        "96d4b3c5-4e67-4081-b293-ad4e5f607104",
        8655,
        "2026-09",
        "2026-09-14T10:31:02Z",
        Decimal("119.88"),
        type="purchase",
    ),
    ScwInvoice(
        "85c3a4b6-5f78-4192-c3a4-be5f60718205",
        8511,
        "2026-08",
        "2026-09-01T06:15:37Z",
        Decimal("38.92"),
    ),
    ScwInvoice(
        "74b2f5a7-6089-42a3-d4b5-cf6071829306",
        8374,
        "2026-07",
        "2026-08-01T06:11:58Z",
        Decimal("0.50"),
    ),
)


def scw_error(status: int, kind: str, message: str, **extra: object) -> web.Response:
    return web.json_response({"message": message, "type": kind, **extra}, status=status)


def money(amount: Decimal, currency: str) -> dict[str, object]:
    units = int(amount)
    nanos = int((amount - units) * 1_000_000_000)
    return {"currency_code": currency, "units": units, "nanos": nanos}


def pdf_of(invoice: ScwInvoice) -> bytes:
    return make_pdf("Scaleway SAS - Invoice", str(invoice.number), f"{invoice.total_taxed} EUR")


@web.middleware
async def faults_and_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    switches = request.app[SWITCHES]
    if switches.fault is Fault.RATE_LIMITED:
        response = scw_error(429, "too_many_requests", "rate limit exceeded")
        response.headers["Retry-After"] = str(switches.retry_after)
        return response
    if switches.fault is Fault.SERVER_ERROR:
        return scw_error(500, "internal_error", "internal error")
    account = request.app[ACCOUNT]
    token = request.headers.get("X-Auth-Token")
    if switches.fault is Fault.UNAUTHORIZED or token != account.secret_key:
        return scw_error(
            401,
            "denied_authentication",
            "authentication is denied",
            method="api_key",
            reason="invalid_argument" if token else "not_found",
        )
    organization = request.query.get("organization_id")
    if switches.fault is Fault.FORBIDDEN or organization not in {None, account.organization_id}:
        return scw_error(
            403,
            "permissions_denied",
            "insufficient permissions",
            details=[{"resource": "billing_invoice", "action": "read"}],
        )
    return await handler(request)


def _invalid(argument: str, help_message: str) -> web.Response:
    details = [{"argument_name": argument, "reason": "constraint", "help_message": help_message}]
    return scw_error(400, "invalid_arguments", "invalid argument(s)", details=details)


def _invoice_json(invoice: ScwInvoice, organization_id: str) -> dict[str, object]:
    untaxed = (invoice.total_taxed / Decimal("1.2")).quantize(Decimal("0.01"))
    year, month = map(int, invoice.billing_period.split("-"))
    stop = f"{year + month // 12}-{month % 12 + 1:02d}-01T00:00:00Z"
    return {
        "id": invoice.id,
        "organization_id": organization_id,
        "organization_name": "Boulangerie Dupont",
        "start_date": f"{invoice.billing_period}-01T00:00:00Z",
        "stop_date": stop,
        "billing_period": invoice.billing_period,
        "issued_date": invoice.issued_date,
        "due_date": invoice.issued_date,
        "total_untaxed": money(untaxed, invoice.currency),
        "total_taxed": money(invoice.total_taxed, invoice.currency),
        "total_tax": money(invoice.total_taxed - untaxed, invoice.currency),
        "total_discount": money(Decimal(0), invoice.currency),
        "total_undiscount": money(invoice.total_taxed, invoice.currency),
        "type": invoice.type,
        "state": "draft" if invoice.issued_date is None else "issued",
        "number": invoice.number,
        "seller_name": "Scaleway SAS",
    }


async def list_invoices(request: web.Request) -> web.Response:
    if request.app[SWITCHES].fault is Fault.MALFORMED_JSON:
        return truncated_json()
    organization = request.query.get("organization_id")
    if organization is not None:
        try:
            uuid.UUID(organization)
        except ValueError:
            return _invalid("organization_id", "must be a valid UUID")
    try:
        page = int(request.query.get("page", 1))
        page_size = int(request.query.get("page_size", 20))
    except ValueError:
        return _invalid("page", "must be an integer")
    if page < 1 or not 1 <= page_size <= 100:
        return _invalid("page_size", "must be between 1 and 100")
    seeded: tuple[ScwInvoice, ...] = request.app[INVOICES]
    invoices = sorted(seeded, key=lambda invoice: invoice.number, reverse=True)
    chunk = invoices[(page - 1) * page_size : page * page_size]
    org = request.app[ACCOUNT].organization_id
    return web.json_response(
        {"total_count": len(invoices), "invoices": [_invoice_json(i, org) for i in chunk]}
    )


async def download(request: web.Request) -> web.Response:
    wanted = request.match_info["invoice_id"]
    invoice = next((i for i in request.app[INVOICES] if i.id == wanted), None)
    if invoice is None:
        return scw_error(404, "not_found", "resource is not found", resource="invoice")
    if request.query.get("file_type", "pdf") != "pdf":
        return _invalid("file_type", "unknown file type")
    if request.app[SWITCHES].fault is Fault.HTML_INSTEAD_OF_PDF:
        return html_page()
    return web.json_response(
        {
            "name": f"scaleway-invoice-{invoice.number}.pdf",
            "content_type": "application/pdf",
            "content": base64.b64encode(pdf_of(invoice)).decode(),
        }
    )


def create_app(
    *,
    organization_id: str = ORGANIZATION_ID,
    secret_key: str = SECRET_KEY,
    invoices: Sequence[ScwInvoice] = SEEDED,
    switches: Switches | None = None,
) -> web.Application:
    app = new_app(switches)
    app.middlewares.append(faults_and_auth)
    app[ACCOUNT] = Account(organization_id, secret_key)
    app[INVOICES] = tuple(invoices)
    app.router.add_get(PATH, list_invoices)
    app.router.add_get(PATH + "/{invoice_id}/download", download)
    return app
