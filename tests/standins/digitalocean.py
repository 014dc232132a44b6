"""A stand-in for DigitalOcean's API v2 billing endpoints.

As the public reference describes them: `Authorization: Bearer <token>`;
`GET /v2/customers/my/invoices?page=&per_page=` (newest first, `per_page` up to 200,
default 20) with `invoice_preview`, `links.pages` (absolute first/prev/next/last URLs) and
`meta.total`; `GET /v2/customers/my/invoices/{uuid}/pdf` as `application/pdf`. Errors are
`{"id", "message"}`; a 429 carries `ratelimit-*` headers, `ratelimit-reset` in epoch seconds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler

from tests.standins import (
    SWITCHES,
    Fault,
    Switches,
    html_page,
    make_pdf,
    new_app,
    truncated_json,
)

TOKEN = "dop_v1_" + "5e1f" * 16
RATE_LIMIT = 5000
INVOICES = web.AppKey("invoices", tuple["DoInvoice", ...])
VALID_TOKEN = web.AppKey("token", str)


@dataclass(frozen=True, slots=True)
class DoInvoice:
    invoice_uuid: str
    amount: str
    invoice_period: str
    invoice_id: str | None = None


# Newest first, like the API; seven invoices make four pages at two per page.
SEEDED = (
    DoInvoice("fdabb512-6faf-443c-ba2e-665452332a9e", "23.45", "2026-10", "431902731"),
    DoInvoice("22737513-0ea7-4206-8ceb-98a575af7681", "12.34", "2026-09", "430188512"),
    DoInvoice("0b2f4c4e-2b1d-4a1e-9a53-64d4c3a7f001", "12.00", "2026-08"),
    DoInvoice("6a0e2d21-7c5b-4f0e-8d3c-1f0a9b8c7d02", "8.10", "2026-07"),
    DoInvoice("9c1d3e5f-0a2b-4c6d-8e0f-a1b2c3d4e503", "8.10", "2026-06"),
    DoInvoice("3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a604", "5.00", "2026-05"),
    DoInvoice("7f8e9d0c-1b2a-4394-8576-a5b4c3d2e105", "0.00", "2025-12"),
)


def error(status: int, error_id: str, message: str, **headers: str) -> web.Response:
    return web.json_response({"id": error_id, "message": message}, status=status, headers=headers)


def pdf_of(invoice: DoInvoice) -> bytes:
    return make_pdf("DigitalOcean LLC - Invoice", invoice.invoice_period, f"USD {invoice.amount}")


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    switches = request.app[SWITCHES]
    if switches.fault is Fault.RATE_LIMITED:
        reset = int(time.time()) + switches.retry_after
        return error(
            429,
            "too_many_requests",
            "API Rate limit exceeded.",
            **{
                "ratelimit-limit": str(RATE_LIMIT),
                "ratelimit-remaining": "0",
                "ratelimit-reset": str(reset),
                "Retry-After": str(switches.retry_after),
            },
        )
    if switches.fault is Fault.SERVER_ERROR:
        return error(500, "server_error", "Unexpected server-side error")
    expected = f"Bearer {request.app[VALID_TOKEN]}"
    if switches.fault is Fault.UNAUTHORIZED or request.headers.get("Authorization") != expected:
        return error(401, "unauthorized", "Unable to authenticate you")
    if switches.fault is Fault.FORBIDDEN:
        return error(403, "forbidden", "You are not authorized to perform this operation")
    response = await handler(request)
    response.headers["ratelimit-limit"] = str(RATE_LIMIT)
    response.headers["ratelimit-remaining"] = str(RATE_LIMIT - 1)
    response.headers["ratelimit-reset"] = str(int(time.time()) + 60)
    return response


def _int_param(request: web.Request, name: str, default: int) -> int | None:
    try:
        value = int(request.query.get(name, default))
    except ValueError:
        return None
    return value if value >= 1 else None


async def list_invoices(request: web.Request) -> web.Response:
    if request.app[SWITCHES].fault is Fault.MALFORMED_JSON:
        return truncated_json()
    page = _int_param(request, "page", 1)
    per_page = _int_param(request, "per_page", 20)
    if page is None or per_page is None or per_page > 200:
        return error(400, "bad_request", "invalid pagination parameters")
    invoices = request.app[INVOICES]
    last = max(1, math.ceil(len(invoices) / per_page))
    chunk = invoices[(page - 1) * per_page : page * per_page]

    def link(number: int) -> str:
        return str(request.url.with_query(page=number, per_page=per_page))

    pages: dict[str, str] = {}
    if page > 1:
        pages |= {"first": link(1), "prev": link(min(page - 1, last))}
    if page < last:
        pages |= {"next": link(page + 1), "last": link(last)}
    items = []
    for invoice in chunk:
        item = {
            "invoice_uuid": invoice.invoice_uuid,
            "amount": invoice.amount,
            "invoice_period": invoice.invoice_period,
        }
        if invoice.invoice_id:
            item["invoice_id"] = invoice.invoice_id
        items.append(item)
    return web.json_response(
        {
            "invoices": items,
            "invoice_preview": {
                "invoice_uuid": "1afe95e6-0958-4eb0-8d9a-9c5060d3ef03",
                "amount": "34.56",
                "invoice_period": "2026-11",
                "updated_at": "2026-11-23T06:31:50Z",
            },
            "links": {"pages": pages} if pages else {},
            "meta": {"total": len(invoices)},
        }
    )


async def invoice_pdf(request: web.Request) -> web.Response:
    wanted = request.match_info["uuid"]
    invoice = next((i for i in request.app[INVOICES] if i.invoice_uuid == wanted), None)
    if invoice is None:
        return error(404, "not_found", "The resource you requested could not be found.")
    if request.app[SWITCHES].fault is Fault.HTML_INSTEAD_OF_PDF:
        return html_page()
    name = f"DigitalOcean Invoice {invoice.invoice_period} ({invoice.invoice_uuid[:8]}).pdf"
    return web.Response(
        body=pdf_of(invoice),
        content_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def create_app(
    *,
    token: str = TOKEN,
    invoices: Sequence[DoInvoice] = SEEDED,
    switches: Switches | None = None,
) -> web.Application:
    app = new_app(switches)
    app.middlewares.append(authenticate)
    app[VALID_TOKEN] = token
    app[INVOICES] = tuple(invoices)
    app.router.add_get("/v2/customers/my/invoices", list_invoices)
    app.router.add_get("/v2/customers/my/invoices/{uuid}/pdf", invoice_pdf)
    return app
