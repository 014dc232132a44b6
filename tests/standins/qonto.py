"""A stand-in for Qonto's Business API v2: organization, transactions and attachments.

As the public reference describes them: `Authorization: <organization-slug>:<secret-key>`;
`GET /v2/organization` with its `bank_accounts`; `GET /v2/transactions` filtered by
`bank_account_id`, `status[]`, `side`, `with_attachments` and `settled_at_from`, paged
by `page`/`per_page` (at most 100) with `meta.current_page/next_page/prev_page/
total_pages/total_count/per_page`; `GET /v2/attachments/{id}` with a temporary `url`
(30 minutes) on this origin. Errors: 401 `{"errors": [{"code": "unauthorized", ...}]}`,
403, 429 with `Retry-After`, 5xx.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from aiohttp import web
from aiohttp.typedefs import Handler

from tests.standins import SWITCHES, Fault, Switches, html_page, make_pdf, new_app, truncated_json

SLUG = "boulangerie-dupont-4821"
SECRET = "qsk_" + "7c2e" * 8
ORGANIZATION = "Boulangerie Dupont SAS"
MAIN_ACCOUNT = "018f71db-c635-78b5-b90a-ea05de98c2bf"
SAVINGS_ACCOUNT = "018f71db-d001-7a00-8000-0000000000aa"
VALID = web.AppKey("valid", tuple[str, str])
TRANSACTIONS = web.AppKey("transactions", tuple["QontoTransaction", ...])
_LINK_KEY = b"qonto stand-in link key"
# The smallest valid JPEG header Courier's sniffing recognises, for a photographed receipt.
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64


@dataclass(frozen=True, slots=True)
class QontoTransaction:
    id: str
    account: str
    amount_cents: int
    settled_at: str
    counterparty: str
    attachments: tuple[str, ...] = ()
    side: str = "debit"
    currency: str = "EUR"
    status: str = "completed"
    label: str = field(default="")

    def as_json(self) -> dict[str, object]:
        amount = self.amount_cents / 100
        return {
            "id": self.id,
            "transaction_id": f"boulangerie-dupont-{self.id[:4]}",
            "amount": amount,
            "amount_cents": self.amount_cents,
            "local_amount": amount,
            "local_amount_cents": self.amount_cents,
            "attachment_ids": list(self.attachments),
            "side": self.side,
            "operation_type": "card",
            "currency": self.currency,
            "local_currency": self.currency,
            "label": self.label or self.counterparty.upper(),
            "clean_counterparty_name": self.counterparty,
            "settled_at": self.settled_at,
            "emitted_at": self.settled_at,
            "updated_at": self.settled_at,
            "status": self.status,
            "note": None,
            "reference": None,
            "vat_amount": None,
            "vat_amount_cents": None,
            "vat_rate": None,
            "attachment_lost": False,
            "attachment_required": True,
            "bank_account_id": self.account,
        }


# Newest first. Five debits carry receipts (one carries two); a credit and a debit
# without any receipt are never documents.
SEEDED = (
    QontoTransaction(
        "a1f0c9d2-0001-4000-8000-000000000001",
        MAIN_ACCOUNT,
        8990,
        "2026-11-28T10:12:00.000Z",
        "Metro Cash & Carry",
        ("b7e1a2c3-0001-4000-9000-0000000000a1",),
    ),
    QontoTransaction(
        "a1f0c9d2-0002-4000-8000-000000000002",
        MAIN_ACCOUNT,
        125000,
        "2026-11-20T09:00:00.000Z",
        "Client Martin",
        ("b7e1a2c3-0002-4000-9000-0000000000a2",),
        side="credit",
    ),
    QontoTransaction(
        "a1f0c9d2-0003-4000-8000-000000000003",
        MAIN_ACCOUNT,
        4320,
        "2026-11-14T18:40:00.000Z",
        "Total Energies",
        ("b7e1a2c3-0003-4000-9000-0000000000a3",),
    ),
    QontoTransaction(
        "a1f0c9d2-0004-4000-8000-000000000004",
        MAIN_ACCOUNT,
        1550,
        "2026-11-02T12:00:00.000Z",
        "La Poste",
    ),
    QontoTransaction(
        "a1f0c9d2-0005-4000-8000-000000000005",
        MAIN_ACCOUNT,
        23000,
        "2026-10-30T08:00:00.000Z",
        "Moulins Bourgeois",
        ("b7e1a2c3-0005-4000-9000-0000000000a5", "b7e1a2c3-0006-4000-9000-0000000000a6"),
    ),
    QontoTransaction(
        "a1f0c9d2-0007-4000-8000-000000000007",
        MAIN_ACCOUNT,
        1999,
        "2026-09-15T07:30:00.000Z",
        "Orange",
        ("b7e1a2c3-0007-4000-9000-0000000000a7",),
    ),
    QontoTransaction(
        "a1f0c9d2-0008-4000-8000-000000000008",
        SAVINGS_ACCOUNT,
        600,
        "2026-11-30T00:00:00.000Z",
        "Qonto",
        ("b7e1a2c3-0008-4000-9000-0000000000a8",),
    ),
)
PHOTO = "b7e1a2c3-0003-4000-9000-0000000000a3"  # a photographed receipt, not a PDF


def receipt_of(attachment_id: str) -> bytes:
    if attachment_id == PHOTO:
        return JPEG
    return make_pdf("Receipt", attachment_id)


def errors(status: int, code: str, detail: str, **headers: str) -> web.Response:
    body = {"errors": [{"code": code, "detail": detail}]}
    return web.json_response(body, status=status, headers=headers)


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/files/"):
        return await handler(request)  # temporary links carry their own signature
    switches = request.app[SWITCHES]
    if switches.fault is Fault.RATE_LIMITED:
        return errors(
            429,
            "too_many_requests",
            "Too Many Requests",
            **{"Retry-After": str(switches.retry_after)},
        )
    if switches.fault is Fault.SERVER_ERROR:
        return errors(503, "service_unavailable", "Service Unavailable")
    slug, secret = request.app[VALID]
    if switches.fault is Fault.UNAUTHORIZED or request.headers.get("Authorization") != (
        f"{slug}:{secret}"
    ):
        return errors(401, "unauthorized", "Invalid credentials")
    if switches.fault is Fault.FORBIDDEN:
        return errors(403, "forbidden", "You do not have access to this resource")
    return await handler(request)


async def organization(request: web.Request) -> web.Response:
    slug, _ = request.app[VALID]
    accounts = [
        {
            "id": MAIN_ACCOUNT,
            "slug": f"{slug}-bank-account-1",
            "iban": "FR7616958000011234567890138",
            "bic": "QNTOFRP1XXX",
            "currency": "EUR",
            "status": "active",
            "name": "Compte principal",
        },
        {
            "id": SAVINGS_ACCOUNT,
            "slug": f"{slug}-bank-account-2",
            "iban": "FR7616958000019876543210981",
            "bic": "QNTOFRP1XXX",
            "currency": "EUR",
            "status": "active",
            "name": "Réserve",
        },
    ]
    return web.json_response(
        {"organization": {"slug": slug, "legal_name": ORGANIZATION, "bank_accounts": accounts}}
    )


def _bounded(value: str | None, default: int, top: int) -> int | None:
    try:
        number = int(value) if value is not None else default
    except ValueError:
        return None
    return number if 1 <= number <= top else None


async def transactions(request: web.Request) -> web.Response:
    if request.app[SWITCHES].fault is Fault.MALFORMED_JSON:
        return truncated_json()
    query = request.query
    account = query.get("bank_account_id")
    if account not in (MAIN_ACCOUNT, SAVINGS_ACCOUNT):
        return errors(422, "invalid_parameter", "bank_account_id or iban is required")
    page = _bounded(query.get("page"), 1, 10_000)
    per_page = _bounded(query.get("per_page"), 100, 100)
    if page is None or per_page is None:
        return errors(422, "invalid_parameter", "invalid pagination")
    rows = [t for t in request.app[TRANSACTIONS] if t.account == account]
    statuses = query.getall("status[]", [])
    if statuses:
        rows = [t for t in rows if t.status in statuses]
    if "side" in query:
        rows = [t for t in rows if t.side == query["side"]]
    if query.get("with_attachments") == "true":
        rows = [t for t in rows if t.attachments]
    if "settled_at_from" in query:
        since = datetime.fromisoformat(query["settled_at_from"])
        rows = [t for t in rows if datetime.fromisoformat(t.settled_at) >= since]
    rows.sort(key=lambda t: t.settled_at, reverse=query.get("sort_by") != "settled_at:asc")
    total_pages = max(1, math.ceil(len(rows) / per_page))
    chunk = rows[(page - 1) * per_page : page * per_page]
    meta = {
        "current_page": page,
        "next_page": page + 1 if page < total_pages else None,
        "prev_page": page - 1 if page > 1 else None,
        "total_pages": total_pages,
        "total_count": len(rows),
        "per_page": per_page,
    }
    return web.json_response({"transactions": [t.as_json() for t in chunk], "meta": meta})


def _signature(attachment_id: str, expires: int) -> str:
    return hmac.new(_LINK_KEY, f"{attachment_id}:{expires}".encode(), hashlib.sha256).hexdigest()


async def attachment(request: web.Request) -> web.Response:
    wanted = request.match_info["id"]
    known = {a for t in request.app[TRANSACTIONS] for a in t.attachments}
    if wanted not in known:
        return errors(404, "not_found", "Attachment not found")
    expires = int(time.time()) + 30 * 60
    url = (
        f"{request.scheme}://{request.host}/files/{wanted}"
        f"?X-Amz-Expires=1800&expires={expires}&X-Amz-Signature={_signature(wanted, expires)}"
    )
    pdf = wanted != PHOTO
    return web.json_response(
        {
            "attachment": {
                "id": wanted,
                "created_at": "2026-11-28T10:20:00.000Z",
                "file_name": f"recu-{wanted[:8]}.{'pdf' if pdf else 'jpg'}",
                "file_size": str(len(receipt_of(wanted))),
                "file_content_type": "application/pdf" if pdf else "image/jpeg",
                "url": url,
                "probative_attachment": {"status": "available"},
            }
        }
    )


async def file(request: web.Request) -> web.Response:
    wanted = request.match_info["id"]
    try:
        expires = int(request.query["expires"])
        good = hmac.compare_digest(request.query["X-Amz-Signature"], _signature(wanted, expires))
    except (KeyError, ValueError):
        good = False
    if not good or expires < time.time() or "Authorization" in request.headers:
        return web.Response(status=403, text="<Error><Code>AccessDenied</Code></Error>")
    if request.app[SWITCHES].fault is Fault.HTML_INSTEAD_OF_PDF:
        return html_page()
    pdf = wanted != PHOTO
    return web.Response(
        body=receipt_of(wanted), content_type="application/pdf" if pdf else "image/jpeg"
    )


def create_app(
    *,
    slug: str = SLUG,
    secret: str = SECRET,
    transactions_: Sequence[QontoTransaction] = SEEDED,
    switches: Switches | None = None,
) -> web.Application:
    app = new_app(switches)
    app.middlewares.append(authenticate)
    app[VALID] = (slug, secret)
    app[TRANSACTIONS] = tuple(transactions_)
    app.router.add_get("/v2/organization", organization)
    app.router.add_get("/v2/transactions", transactions)
    app.router.add_get("/v2/attachments/{id}", attachment)
    app.router.add_get("/files/{id}", file)
    return app
