"""A stand-in for the Graph API's business invoices (Meta ads, monthly invoicing).

As the reference describes them: `Authorization: Bearer <token>` (or OAuth);
`GET /{version}/{business-id}` with `fields=id,name`; `GET /{version}/{business-id}/
business_invoices` filtered by `issue_start_date`/`issue_end_date` (YYYY-MM-DD, end
exclusive), `fields`, `limit`, `after`, answering `data` and `paging.cursors` with
`paging.next` while more follow; the PDF at each invoice's `download_uri`. Errors are
`{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}`: 190/463 for an
expired token, 190 for an invalid one, 80004 (HTTP 400) with `X-Business-Use-Case-Usage`
for the ads-management rate limit, 200 for a missing permission, 2 for a hiccup.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from aiohttp import web
from aiohttp.typedefs import Handler

from tests.standins import SWITCHES, Fault, Switches, html_page, make_pdf, new_app, truncated_json

VERSION = "v25.0"
BUSINESS_ID = "1029384756102938"
BUSINESS_NAME = "Boulangerie Dupont"
TOKEN = "EAAGm0PX4ZCpsBO" + "x7Qz" * 24
EXPIRED_TOKEN = "EAAGm0PX4ZCpsBOexpired" + "0" * 40
VALID = web.AppKey("valid", str)
INVOICES = web.AppKey("invoices", tuple["MetaInvoice", ...])


@dataclass(frozen=True, slots=True)
class MetaInvoice:
    node_id: str
    invoice_id: str
    invoice_date: date
    amount: str
    kind: str = "INV"
    currency: str = "EUR"


# Newest first: five invoices and credit memos, and a pro forma that is no invoice.
SEEDED = (
    MetaInvoice("5551000000000001", "FBADS-2026-0011", date(2026, 12, 1), "312.40"),
    MetaInvoice("5551000000000002", "FBADS-2026-0010", date(2026, 11, 1), "287.15"),
    MetaInvoice("5551000000000003", "FBCM-2026-0003", date(2026, 10, 20), "-25.00", kind="CM"),
    MetaInvoice("5551000000000004", "FBPF-2026-0009", date(2026, 10, 5), "90.00", "PRO_FORMA"),
    MetaInvoice("5551000000000005", "FBADS-2026-0009", date(2026, 10, 1), "301.99"),
    MetaInvoice("5551000000000006", "FBADS-2026-0008", date(2026, 9, 1), "250.00"),
)


def pdf_of(invoice: MetaInvoice) -> bytes:
    return make_pdf("Meta Platforms Ireland Ltd.", invoice.invoice_id, invoice.amount)


def graph_error(
    status: int,
    code: int,
    message: str,
    *,
    subcode: int | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    error: dict[str, object] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "AbCdEfGhIjK",
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return web.json_response({"error": error}, status=status, headers=headers)


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    switches = request.app[SWITCHES]
    if switches.fault is Fault.RATE_LIMITED:
        minutes = max(1, round(switches.retry_after / 60))
        usage = {
            BUSINESS_ID: [
                {
                    "type": "ads_management",
                    "call_count": 100,
                    "total_cputime": 40,
                    "total_time": 55,
                    "estimated_time_to_regain_access": minutes,
                }
            ]
        }
        return graph_error(
            400,
            80004,
            "There have been too many calls to this ad-account.",
            headers={"X-Business-Use-Case-Usage": json.dumps(usage)},
        )
    if switches.fault is Fault.SERVER_ERROR:
        return graph_error(500, 2, "An unexpected error has occurred. Please retry.")
    given = request.headers.get("Authorization", "")
    if given == f"Bearer {EXPIRED_TOKEN}":
        return graph_error(
            400, 190, "Error validating access token: Session has expired", subcode=463
        )
    if switches.fault is Fault.UNAUTHORIZED or given != f"Bearer {request.app[VALID]}":
        return graph_error(400, 190, "Invalid OAuth access token - Cannot parse access token")
    if switches.fault is Fault.FORBIDDEN:
        return graph_error(403, 200, "Requires business_management permission")
    return await handler(request)


async def business(request: web.Request) -> web.Response:
    if request.match_info["business"] != BUSINESS_ID:
        return graph_error(400, 100, "Unsupported get request.")
    return web.json_response({"id": BUSINESS_ID, "name": BUSINESS_NAME})


async def business_invoices(request: web.Request) -> web.Response:
    if request.app[SWITCHES].fault is Fault.MALFORMED_JSON:
        return truncated_json()
    if request.match_info["business"] != BUSINESS_ID:
        return graph_error(400, 100, "Unsupported get request.")
    query = request.query
    try:
        start = date.fromisoformat(query.get("issue_start_date", "1970-01-01"))
        end = date.fromisoformat(query.get("issue_end_date", "2100-01-01"))
        limit = int(query.get("limit", "25"))
        offset = int(base64.b64decode(query["after"])) if "after" in query else 0
    except ValueError:
        return graph_error(400, 100, "Invalid parameter")
    rows = [i for i in request.app[INVOICES] if start <= i.invoice_date < end]
    chunk = rows[offset : offset + limit]
    origin = f"{request.scheme}://{request.host}"
    data = [
        {
            "id": i.node_id,
            "invoice_id": i.invoice_id,
            "invoice_date": f"{i.invoice_date.isoformat()}T00:00:00+0000",
            "type": i.kind,
            "billing_period": f"{i.invoice_date.isoformat()}T00:00:00+0000",
            "amount_due": {
                "amount": i.amount,
                "amount_in_hundredths": str(round(float(i.amount) * 100)),
                "currency": i.currency,
                "offsetted_amount": str(round(float(i.amount) * 100)),
            },
            "download_uri": f"{origin}/download/invoice/{i.node_id}.pdf",
        }
        for i in chunk
    ]
    answer: dict[str, object] = {"data": data}
    if chunk:
        cursors = {
            "before": base64.b64encode(str(offset).encode()).decode(),
            "after": base64.b64encode(str(offset + len(chunk)).encode()).decode(),
        }
        paging: dict[str, object] = {"cursors": cursors}
        if offset + len(chunk) < len(rows):
            paging["next"] = str(request.url.update_query(after=cursors["after"]))
        answer["paging"] = paging
    return web.json_response(answer)


async def download(request: web.Request) -> web.Response:
    invoice = next(
        (i for i in request.app[INVOICES] if i.node_id == request.match_info["node"]), None
    )
    if invoice is None:
        return graph_error(404, 100, "Not found")
    if request.app[SWITCHES].fault is Fault.HTML_INSTEAD_OF_PDF:
        return html_page()
    return web.Response(body=pdf_of(invoice), content_type="application/pdf")


def create_app(
    *,
    token: str = TOKEN,
    invoices: Sequence[MetaInvoice] = SEEDED,
    switches: Switches | None = None,
) -> web.Application:
    app = new_app(switches)
    app.middlewares.append(authenticate)
    app[VALID] = token
    app[INVOICES] = tuple(invoices)
    app.router.add_get(f"/{VERSION}/{{business}}", business)
    app.router.add_get(f"/{VERSION}/{{business}}/business_invoices", business_invoices)
    app.router.add_get("/download/invoice/{node}.pdf", download)
    return app
