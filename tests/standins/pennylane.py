"""A stand-in for Pennylane's Company API v2, as pennylane.readme.io documents it.

- A company token in `Authorization: Bearer`, with its own expiry date; an expired or
  revoked token gets 401. `GET /api/external/v2/me` names the company.
- `GET ledger_accounts`, `suppliers`, `customers`: cursor paging, `?cursor=&limit=` (1 to
  100, 20 by default), answering `{items, has_more, next_cursor}`.
- `POST file_attachments` (multipart `file`: PDF, PNG, JPEG, TIFF, BMP or GIF, judged by
  its bytes; any other is a 422) answers the attachment's `id`;
  `POST supplier_invoices/import` takes `file_attachment_id`, `supplier_id`, `date`,
  `deadline`, `invoice_number`, `currency`, amounts as strings (`currency_amount`,
  `currency_amount_before_tax`, `currency_tax`) and `invoice_lines` (`currency_amount`,
  `currency_tax`, `vat_rate` such as `FR_200`, `ledger_account_id`, `label`). The lines
  must add up to the totals (one cent of rounding per line): 422 otherwise. A second
  invoice for the same file or the same supplier and number: 409.
- `vat_rate` is one of the v2 reference's codes (the French ones and the regimes below);
  any other is a 422. A credit note has every amount negative.
  `GET supplier_invoices?filter=` finds one by `external_reference`.
- 25 requests every 5 seconds per token: 429 with `retry-after` and `ratelimit-*`.
- OAuth 2.0 for partner apps (tests/standins/pennylane_oauth.py): `/oauth/authorize`,
  `/oauth/token`, `/oauth/revoke`; an OAuth access token works as a company token does,
  within its scopes and its 24 hours.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import BodyPartReader, web

from tests.standins import pennylane_oauth
from tests.standins.accounting_limits import (
    Clock,
    Fault,
    Knobs,
    SlidingWindow,
    bearer,
    delay,
    retry_after_value,
    truncated_json,
)

TOKEN = "pl_company_" + "Zx9" * 12
#: What file attachments accept (PDF, PNG, JPEG, TIFF, BMP, GIF), by their first bytes:
#: the real API judges the content, not the name.
ACCEPTED_FILES = (
    b"%PDF-",
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",
    b"II*\x00",
    b"MM\x00*",
    b"BM",
    b"GIF87a",
    b"GIF89a",
)
WINDOW_CALLS, WINDOW_SECONDS = 25, 5.0
#: The v2 reference's `vat_rate` codes a French company uses, with their rate in percent
#: (None for the regimes), so tests can say what a line's code means.
VAT_RATES: dict[str, Decimal | None] = {
    "FR_1_05": Decimal("1.05"),
    "FR_1_75": Decimal("1.75"),
    "FR_09": Decimal("0.9"),
    "FR_21": Decimal("2.1"),
    "FR_40": Decimal("4"),
    "FR_55": Decimal("5.5"),
    "FR_60": Decimal("6"),
    "FR_65": Decimal("6.5"),
    "FR_85": Decimal("8.5"),
    "FR_92": Decimal("9.2"),
    "FR_100": Decimal("10"),
    "FR_130": Decimal("13"),
    "FR_15_385": None,
    "FR_196": Decimal("19.6"),
    "FR_200": Decimal("20"),
    "exempt": Decimal(0),
    "extracom": None,
    "intracom_21": None,
    "intracom_55": None,
    "intracom_85": None,
    "intracom_100": None,
    "crossborder": None,
    "mixed": None,
}
PREFIX = "/api/external/v2"


@dataclass
class CompanyBooks:
    id: int
    name: str
    ledger_accounts: list[dict[str, Any]]
    suppliers: list[dict[str, Any]]
    customers: list[dict[str, Any]]


def bakery(company_id: int = 81234) -> CompanyBooks:
    accounts = [
        {"id": 9000 + n, "number": number, "label": label, "vat_rate": "FR_200", "enabled": True}
        for n, (number, label) in enumerate(
            (
                ("606100", "Fournitures non stockables (eau, énergie)"),
                ("626000", "Frais postaux et de télécommunications"),
                ("606400", "Fournitures administratives"),
                ("401000", "Fournisseurs"),
                ("445660", "TVA déductible sur autres biens et services"),
            )
        )
    ]
    suppliers = [
        {"id": 700 + n, "name": name, "ledger_account": {"id": 9003}}
        for n, name in enumerate(
            ("EDF Entreprises", "Orange Pro", *(f"Fournisseur {i}" for i in range(1, 44)))
        )
    ]
    customers = [{"id": 600, "name": "Café du Coin"}, {"id": 601, "name": "Hôtel de la Gare"}]
    return CompanyBooks(company_id, "Boulangerie Dupont", accounts, suppliers, customers)


@dataclass
class Imported:
    id: int
    body: dict[str, Any]
    file: bytes


@dataclass
class PennylaneStandin:
    books: CompanyBooks
    #: token → its expiry, in the stand-in clock's wall seconds (None: no expiry).
    tokens: dict[str, float | None]
    time_scale: float = 1.0
    clock: Clock = field(default_factory=Clock)
    knobs: Knobs = field(default_factory=Knobs)
    files: dict[int, tuple[str, bytes]] = field(default_factory=dict)
    used_files: set[int] = field(default_factory=set)
    invoices: list[Imported] = field(default_factory=list)
    windows: dict[str, SlidingWindow] = field(default_factory=dict)
    oauth: pennylane_oauth.OAuthServer | None = None

    def revoke(self, token: str) -> None:
        self.tokens.pop(token, None)

    def expire_now(self, token: str) -> None:
        self.tokens[token] = self.clock.wall() - 1


STANDIN = web.AppKey[PennylaneStandin]("pennylane")


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message, "status": status}, status=status)


@web.middleware
async def gate(request: web.Request, handler: Any) -> web.StreamResponse:
    standin = request.app[STANDIN]
    standin.knobs.requests.append((request.method, request.raw_path))
    if request.path.startswith("/oauth/"):
        answer: web.StreamResponse = await handler(request)  # it checks the app itself
        return answer
    token = bearer(request)
    if token is not None and standin.oauth is not None and token not in standin.tokens:
        refused = pennylane_oauth.refused(standin.oauth, request, token, PREFIX)
        if refused is not None:
            return refused
    elif token is None or token not in standin.tokens:
        return _error(401, "Unauthorized: invalid or revoked token")
    elif (expires := standin.tokens[token]) is not None and expires <= standin.clock.wall():
        return _error(401, "Unauthorized: token expired")
    now = standin.clock.now()
    window = standin.windows.setdefault(
        token, SlidingWindow(WINDOW_CALLS, WINDOW_SECONDS / standin.time_scale)
    )
    fault = standin.knobs.take_fault()
    wait = window.admit(now)
    if wait is not None or fault is Fault.RATE_LIMITED:
        standin.knobs.rate_limited += 1
        seconds = standin.knobs.retry_after if wait is None else wait
        shown = f"{seconds:g}" if wait is None else retry_after_value(seconds, standin.time_scale)
        return web.Response(
            status=429,
            text=f"Rate limit exceeded. Please retry in {shown} seconds.",
            headers={
                "retry-after": shown,
                "ratelimit-limit": str(WINDOW_CALLS),
                "ratelimit-remaining": "0",
                "ratelimit-reset": str(int(standin.clock.wall() + seconds) + 1),
            },
        )
    if fault is Fault.SERVER_ERROR:
        return _error(500, "Internal server error")
    await delay(standin.knobs)
    if fault is Fault.MALFORMED_JSON:
        return truncated_json()
    response: web.StreamResponse = await handler(request)
    response.headers["ratelimit-limit"] = str(WINDOW_CALLS)
    response.headers["ratelimit-remaining"] = str(window.remaining(now))
    return response


async def me(request: web.Request) -> web.Response:
    books = request.app[STANDIN].books
    return web.json_response(
        {
            "user": {
                "id": 42,
                "first_name": "Marie",
                "last_name": "Dupont",
                "email": "marie@boulangerie-dupont.fr",
                "locale": "fr",
            },
            "company": {"id": books.id, "name": books.name, "reg_no": "812345678"},
            "scopes": [
                "supplier_invoices:all",
                "file_attachments:all",
                "ledger_accounts:readonly",
                "suppliers:readonly",
                "customers:readonly",
            ],
        }
    )


def _paged(request: web.Request, rows: list[dict[str, Any]]) -> web.Response:
    try:
        limit = int(request.query.get("limit", 20))
        start = int(request.query.get("cursor") or 0)
    except ValueError:
        return _error(400, "Invalid cursor or limit")
    if not 1 <= limit <= 100:
        return _error(400, "limit must be between 1 and 100")
    chunk = rows[start : start + limit]
    more = start + limit < len(rows)
    return web.json_response(
        {"items": chunk, "has_more": more, "next_cursor": str(start + limit) if more else None}
    )


async def ledger_accounts(request: web.Request) -> web.Response:
    return _paged(request, request.app[STANDIN].books.ledger_accounts)


async def suppliers(request: web.Request) -> web.Response:
    return _paged(request, request.app[STANDIN].books.suppliers)


async def customers(request: web.Request) -> web.Response:
    return _paged(request, request.app[STANDIN].books.customers)


async def upload(request: web.Request) -> web.Response:
    standin = request.app[STANDIN]
    reader = await request.multipart()
    name, content = "", b""
    while (part := await reader.next()) is not None:
        if isinstance(part, BodyPartReader) and part.name == "file":
            name = part.filename or "file.pdf"
            content = bytes(await part.read(decode=True))
    if not content:
        return _error(422, "file is missing")
    if not any(content.startswith(magic) for magic in ACCEPTED_FILES) and (
        b"%PDF-" not in content[:1024]
    ):
        return _error(
            422, "Unsupported file type. Accepted types: pdf, png, jpg, jpeg, tiff, bmp, gif"
        )
    file_id = 3000 + len(standin.files)
    standin.files[file_id] = (name, content)
    stamp = datetime.now(UTC).isoformat()
    return web.json_response(
        {
            "id": file_id,
            "url": f"https://app.pennylane.com/files/{file_id}",
            "filename": name,
            "created_at": stamp,
            "updated_at": stamp,
        },
        status=201,
    )


def _money(value: Any) -> Decimal:
    if not isinstance(value, str):
        raise InvalidOperation("amounts are strings")
    return Decimal(value)


async def import_invoice(request: web.Request) -> web.Response:
    standin = request.app[STANDIN]
    try:
        body = await request.json()
        total = _money(body["currency_amount"])
        excl = _money(body["currency_amount_before_tax"])
        tax = _money(body["currency_tax"])
        lines = body["invoice_lines"]
        line_totals = [_money(line["currency_amount"]) for line in lines]
        line_taxes = [_money(line["currency_tax"]) for line in lines]
        file_id, supplier_id = int(body["file_attachment_id"]), int(body["supplier_id"])
        body["date"], body["deadline"]
    except (KeyError, TypeError, ValueError, InvalidOperation, json.JSONDecodeError) as err:
        return _error(422, f"Invalid request body: {err}")
    if file_id not in standin.files:
        return _error(404, f"File attachment {file_id} not found")
    if supplier_id not in {s["id"] for s in standin.books.suppliers}:
        return _error(404, f"Supplier {supplier_id} not found")
    bad_rate = next(
        (line.get("vat_rate") for line in lines if line.get("vat_rate") not in VAT_RATES), None
    )
    if bad_rate is not None or not lines:
        return _error(422, f"Invalid vat_rate: {bad_rate}")
    accounts = {a["id"] for a in standin.books.ledger_accounts}
    if any(line.get("ledger_account_id") not in (None, *accounts) for line in lines):
        return _error(422, "Ledger account not found")
    slack = Decimal("0.01") * len(lines)
    if (
        abs(sum(line_totals) - total) > slack
        or abs(sum(line_taxes) - tax) > slack
        or excl + tax != total
    ):
        return _error(422, "Invoice amounts do not match the sum of the invoice lines")
    number = body.get("invoice_number")
    if file_id in standin.used_files or (
        number
        and any(
            i.body.get("invoice_number") == number and int(i.body["supplier_id"]) == supplier_id
            for i in standin.invoices
        )
    ):
        return _error(409, "An invoice with this file or number already exists")
    standin.used_files.add(file_id)
    invoice_id = 120 + len(standin.invoices)
    standin.invoices.append(Imported(invoice_id, body, standin.files[file_id][1]))
    return web.json_response(
        {
            "id": invoice_id,
            "invoice_number": number,
            "currency": body.get("currency", "EUR"),
            "currency_amount": body["currency_amount"],
            "amount": body["currency_amount"],
            "external_reference": body.get("external_reference"),
            "supplier": {"id": supplier_id},
            "filename": standin.files[file_id][0],
        },
        status=201,
    )


async def list_invoices(request: web.Request) -> web.Response:
    standin = request.app[STANDIN]
    try:
        filters = json.loads(request.query.get("filter", "[]"))
    except json.JSONDecodeError:
        return _error(400, "Invalid filter")
    rows = [
        {
            "id": i.id,
            "invoice_number": i.body.get("invoice_number"),
            "external_reference": i.body.get("external_reference"),
        }
        for i in standin.invoices
    ]
    for rule in filters:
        if rule.get("operator") != "eq":
            return _error(400, "Unsupported operator")
        rows = [r for r in rows if r.get(rule.get("field")) == rule.get("value")]
    return _paged(request, rows)


def create_app(
    *,
    books: CompanyBooks | None = None,
    tokens: dict[str, float | None] | None = None,
    time_scale: float = 1.0,
    clock: Clock | None = None,
    knobs: Knobs | None = None,
    oauth: bool = True,
) -> web.Application:
    """With `oauth`, the identity server of a partner app (CLIENT_ID) answers too."""
    standin = PennylaneStandin(
        books=books or bakery(),
        tokens=dict(tokens) if tokens is not None else {TOKEN: None},
        time_scale=time_scale,
        clock=clock or Clock(),
        knobs=knobs or Knobs(),
    )
    app = web.Application(middlewares=[gate], client_max_size=100 * 1024 * 1024)
    app[STANDIN] = standin
    if oauth:
        standin.oauth = pennylane_oauth.OAuthServer(clock=standin.clock, time_scale=time_scale)
        pennylane_oauth.add_routes(app, standin.oauth)
    app.router.add_get(f"{PREFIX}/me", me)
    app.router.add_get(f"{PREFIX}/ledger_accounts", ledger_accounts)
    app.router.add_get(f"{PREFIX}/suppliers", suppliers)
    app.router.add_get(f"{PREFIX}/customers", customers)
    app.router.add_post(f"{PREFIX}/file_attachments", upload)
    app.router.add_post(f"{PREFIX}/supplier_invoices/import", import_invoice)
    app.router.add_get(f"{PREFIX}/supplier_invoices", list_invoices)
    return app
