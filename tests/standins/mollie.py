"""A stand-in for Mollie's Invoices API v2.

As the public reference describes it: `Authorization: Bearer <access token>`;
`GET /v2/invoices?reference=&year=&from=&limit=` answers HAL JSON (`count`,
`_embedded.invoices`, newest first, `_links.self/previous/next/documentation`), `limit`
1 to 250 (default 50), `from` the ID of the page's first invoice, included;
`GET /v2/invoices/{id}` gives one invoice, whose `_links.pdf` is a signed link on
another host (www.mollie.com) that expires after an hour. Errors are
`application/hal+json` `{"status", "title", "detail", "_links": {"documentation"}}`.

Strict where a connector could go wrong: no answer without the exact bearer, a bad
`limit` or an unknown `from` is a 400 naming the `field`. The reference gives no
wording for an expired token or a missing permission: the `detail` texts used here for
them are this stand-in's own.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

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

ORGANIZATION = "org_1337042"
TOKEN = "access_Wwvu7egPcJLLJ9Kb7J632x8wJ2zMeJ"
EXPIRED_TOKEN = "access_Qx9eXp1r3dTok3nGon3By3Bye12345"
HAL = "application/hal+json"
DOCS = "https://docs.mollie.com/reference/list-invoices"
PDF_PATH = "/merchant/download/invoice"


@dataclass(frozen=True, slots=True)
class MollieInvoice:
    id: str
    reference: str
    issued: date
    net: str
    vat: str | None
    gross: str
    status: str = "paid"
    paid: date | None = None
    due: date | None = None
    currency: str = "EUR"


# Newest first, like the API; five invoices make three pages at two per page.
SEEDED = (
    MollieInvoice(
        "inv_K4vd2a7Hn3",
        "2026.142857",
        date(2026, 12, 1),
        "45.00",
        "9.45",
        "54.45",
        "open",
        due=date(2026, 12, 15),
    ),
    MollieInvoice(
        "inv_xBEbP9rvAq",
        "2026.131072",
        date(2026, 11, 1),
        "38.20",
        "8.02",
        "46.22",
        paid=date(2026, 11, 9),
    ),
    MollieInvoice(
        "inv_FrvewDA3Pr",
        "2026.120001",
        date(2026, 10, 1),
        "12.50",
        "2.63",
        "15.13",
        "overdue",
        due=date(2026, 10, 15),
    ),
    MollieInvoice(
        "inv_Ty7mPq2LsE",
        "2026.110455",
        date(2026, 9, 1),
        "20.00",
        "4.20",
        "24.20",
        paid=date(2026, 9, 8),
    ),
    MollieInvoice(
        "inv_Ab3cD4eF5g",
        "2025.990100",
        date(2025, 12, 1),
        "7.50",
        None,
        "7.50",
        paid=date(2025, 12, 5),
    ),
)


@dataclass
class MollieState:
    """The signed PDF links handed out, and which token is whose."""

    token: str = TOKEN
    expired_token: str = EXPIRED_TOKEN
    #: signature -> invoice ID, for links still valid.
    links: dict[str, str] = field(default_factory=dict)
    #: The origin put in PDF links: empty for the API's own, or another host (as the real
    #: links are on www.mollie.com, not api.mollie.com).
    pdf_origin: str = ""

    def expire_links(self) -> None:
        """An hour goes by: every PDF link handed out so far is stale."""
        self.links.clear()


STATE = web.AppKey("state", MollieState)
INVOICES = web.AppKey("invoices", tuple["MollieInvoice", ...])


def error(status: int, title: str, detail: str, *, field_name: str | None = None) -> web.Response:
    body: dict[str, object] = {
        "status": status,
        "title": title,
        "detail": detail,
        "_links": {"documentation": {"href": DOCS, "type": "text/html"}},
    }
    if field_name:
        body["field"] = field_name
    return web.json_response(body, status=status, content_type=HAL)


def pdf_of(invoice: MollieInvoice) -> bytes:
    return make_pdf("Mollie B.V. - Invoice", invoice.reference, f"EUR {invoice.gross}")


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith(PDF_PATH):
        return await handler(request)  # a signed link is its own authorisation
    switches, state = request.app[SWITCHES], request.app[STATE]
    if switches.fault is Fault.RATE_LIMITED:
        response = error(429, "Too Many Requests", "You have exceeded the rate limit.")
        response.headers["Retry-After"] = str(switches.retry_after)
        return response
    if switches.fault is Fault.SERVER_ERROR:
        return error(500, "Internal Server Error", "An internal server error occurred.")
    given = request.headers.get("Authorization", "")
    if given == f"Bearer {state.expired_token}":
        return error(401, "Unauthorized Request", "The access token has expired.")
    if switches.fault is Fault.UNAUTHORIZED or given != f"Bearer {state.token}":
        return error(
            401, "Unauthorized Request", "Missing authentication, or failed to authenticate"
        )
    if switches.fault is Fault.FORBIDDEN:
        return error(
            403, "Forbidden", "The access token is missing the required permission invoices.read"
        )
    return await handler(request)


def _invoice_json(request: web.Request, invoice: MollieInvoice) -> dict[str, object]:
    signature = secrets.token_hex(16)
    request.app[STATE].links[signature] = invoice.id
    short = invoice.id.removeprefix("inv_")
    money = {"currency": invoice.currency}
    body: dict[str, object] = {
        "resource": "invoice",
        "id": invoice.id,
        "reference": invoice.reference,
        "vatNumber": "NL001234567B01",
        "status": invoice.status,
        "issuedAt": invoice.issued.isoformat(),
        "netAmount": {"value": invoice.net, **money},
        "grossAmount": {"value": invoice.gross, **money},
        "lines": [
            {
                "period": invoice.issued.strftime("%Y-%m"),
                "description": "iDEAL transactiekosten",
                "count": 100,
                "vatPercentage": 21 if invoice.vat else 0,
                "amount": {"value": invoice.net, **money},
            }
        ],
        "_links": {
            "self": {"href": f"{request.url.origin()}/v2/invoices/{invoice.id}", "type": HAL},
            "pdf": {
                "href": f"{request.app[STATE].pdf_origin or request.url.origin()}"
                f"{PDF_PATH}/{short}/{signature}",
                "type": "application/pdf",
                "expiresAt": "2026-12-06T13:10:36+00:00",
            },
        },
    }
    if invoice.vat is not None:
        body["vatAmount"] = {"value": invoice.vat, **money}
    if invoice.paid:
        body["paidAt"] = invoice.paid.isoformat()
    if invoice.due:
        body["dueAt"] = invoice.due.isoformat()
    return body


async def list_invoices(request: web.Request) -> web.Response:
    if request.app[SWITCHES].fault is Fault.MALFORMED_JSON:
        return truncated_json()
    try:
        limit = int(request.query.get("limit", "50"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= 250:
        return error(400, "Bad Request", "The limit must be between 1 and 250", field_name="limit")
    seeded = request.app[INVOICES]
    invoices = list(seeded)
    if "year" in request.query:
        invoices = [i for i in invoices if str(i.issued.year) == request.query["year"]]
    if "reference" in request.query:
        invoices = [i for i in invoices if i.reference == request.query["reference"]]
    start = 0
    if "from" in request.query:
        ids = [i.id for i in invoices]
        if request.query["from"] not in ids:
            return error(400, "Bad Request", "Invalid 'from' value", field_name="from")
        start = ids.index(request.query["from"])
    chunk = invoices[start : start + limit]
    following = invoices[start + limit : start + limit + 1]
    before = invoices[max(0, start - limit) : start]

    def link(first: str | None) -> dict[str, str]:
        query = {k: v for k, v in request.query.items() if k != "from"}
        if first:
            query["from"] = first
        return {"href": str(request.url.with_query(query)), "type": HAL}

    return web.json_response(
        {
            "count": len(chunk),
            "_embedded": {"invoices": [_invoice_json(request, i) for i in chunk]},
            "_links": {
                "self": link(chunk[0].id if chunk and start else None),
                "previous": link(before[0].id) if before else None,
                "next": link(following[0].id) if following else None,
                "documentation": {"href": DOCS, "type": "text/html"},
            },
        },
        content_type=HAL,
    )


async def get_invoice(request: web.Request) -> web.Response:
    wanted = request.match_info["id"]
    invoice = next((i for i in request.app[INVOICES] if i.id == wanted), None)
    if invoice is None:
        return error(404, "Not Found", f"No invoice exists with token {wanted}.")
    return web.json_response(_invoice_json(request, invoice), content_type=HAL)


async def invoice_pdf(request: web.Request) -> web.Response:
    signed = request.app[STATE].links.get(request.match_info["signature"])
    invoice = next((i for i in request.app[INVOICES] if i.id == signed), None)
    if invoice is None or invoice.id.removeprefix("inv_") != request.match_info["short"]:
        return web.Response(status=404, text="Not found")
    if request.app[SWITCHES].fault is Fault.HTML_INSTEAD_OF_PDF:
        return html_page()
    return web.Response(body=pdf_of(invoice), content_type="application/pdf")


def create_app(
    *,
    invoices: Sequence[MollieInvoice] = SEEDED,
    switches: Switches | None = None,
) -> web.Application:
    app = new_app(switches)
    app.middlewares.append(authenticate)
    app[STATE] = MollieState()
    app[INVOICES] = tuple(invoices)
    app.router.add_get("/v2/invoices", list_invoices)
    app.router.add_get("/v2/invoices/{id}", get_invoice)
    app.router.add_get(PDF_PATH + "/{short}/{signature}", invoice_pdf)
    return app
