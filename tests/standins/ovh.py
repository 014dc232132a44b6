"""A stand-in for OVHcloud's /1.0 API: the clock, signed requests and the bills.

It checks what the real API checks: a known application key (403 `INVALID_KEY`), a known
consumer key (403 `INVALID_CREDENTIAL`, "This credential does not exist"), a timestamp
close to its own clock and the "$1$" SHA-1 signature over the full URL (400
`INVALID_SIGNATURE`, the answer OVHcloud gives for both). Its clock can be set apart from
the local one to prove the connector signs with the server's time.

`GET /1.0/me/bill?date.from=` lists bill ids, unpaginated; `GET /1.0/me/bill/{billId}`
gives the bill; its `pdfUrl` points at `/cgi-bin/order/facture.pdf?reference=&passwd=`,
which needs no signature, only the bill's password.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from aiohttp import web
from aiohttp.typedefs import Handler

from tests.standins import SWITCHES, Fault, Switches, html_page, make_pdf, new_app, truncated_json

APPLICATION_KEY = "7kbG7Bk7S9Nt7ZSV"
APPLICATION_SECRET = "EXEgWIz07P0HYwtQDs7cNIqCiQaWSuHF"
CONSUMER_KEY = "MtSwSrPpNjqfVSmJhLbPyr2i45lSwPU1"
PREFIX = "/1.0"
#: How far a request's timestamp may stray from the server's clock. OVHcloud does not
#: publish the figure; a few minutes is what clients tolerate in practice.
TIMESTAMP_WINDOW = 180


@dataclass(frozen=True, slots=True)
class OvhBill:
    bill_id: str
    issued_at: datetime
    price_with_tax: Decimal
    password: str
    currency: str = "EUR"


@dataclass(frozen=True, slots=True)
class Keys:
    application_key: str
    application_secret: str
    consumer_key: str
    clock_offset: int


BILLS = web.AppKey("bills", tuple[OvhBill, ...])
KEYS = web.AppKey("keys", Keys)


SEEDED = (
    OvhBill(
        "FR54081952",
        datetime.fromisoformat("2026-06-02T03:14:07+02:00"),
        Decimal("14.39"),
        "kQ3xw9",
    ),
    OvhBill(
        "FR55120477",
        datetime.fromisoformat("2026-07-02T03:11:52+02:00"),
        Decimal("14.39"),
        "pL8vz2",
    ),
    OvhBill(
        "FR56344019",
        datetime.fromisoformat("2026-08-02T03:09:31+02:00"),
        Decimal("21.59"),
        "mN4rt6",
    ),
    OvhBill(
        "FR57600238",
        datetime.fromisoformat("2026-09-02T03:15:44+02:00"),
        Decimal("14.39"),
        "bV7yh1",
    ),
    OvhBill(
        "FR58912645",
        datetime.fromisoformat("2026-10-02T03:12:18+02:00"),
        Decimal("1234.80"),
        "cX2qs5",
    ),
)


def pdf_of(bill: OvhBill) -> bytes:
    return make_pdf("OVH SAS - Facture", bill.bill_id, f"{bill.price_with_tax} {bill.currency}")


def ovh_error(status: int, code: str | None, message: str, **headers: str) -> web.Response:
    reason = web.Response(status=status).reason
    body: dict[str, str] = {"message": message}
    if code:
        body |= {"errorCode": code, "httpCode": f"{status} {reason}"}
    return web.json_response(body, status=status, headers=headers)


def sign(secret: str, consumer_key: str, method: str, url: str, body: str, ts: str) -> str:
    payload = "+".join([secret, consumer_key, method, url, body, ts])
    return "$1$" + hashlib.sha1(payload.encode()).hexdigest()


def server_time(app: web.Application) -> int:
    return int(time.time()) + app[KEYS].clock_offset


@web.middleware
async def faults_and_signature(request: web.Request, handler: Handler) -> web.StreamResponse:
    switches = request.app[SWITCHES]
    if switches.fault is Fault.RATE_LIMITED:
        retry = str(switches.retry_after)
        return ovh_error(429, None, "Too many requests", **{"Retry-After": retry})
    if switches.fault is Fault.SERVER_ERROR:
        return ovh_error(500, None, "Internal server error")
    path = request.path
    if not path.startswith(PREFIX) or path == f"{PREFIX}/auth/time":
        return await handler(request)
    refusal = await _refusal(request)
    if refusal is not None:
        return refusal
    if switches.fault is Fault.UNAUTHORIZED:
        return ovh_error(401, "INVALID_CREDENTIAL", "This credential does not exist")
    if switches.fault is Fault.FORBIDDEN:
        return ovh_error(403, "NOT_GRANTED_CALL", "This call has not been granted")
    if switches.fault is Fault.MALFORMED_JSON:
        return truncated_json()
    return await handler(request)


async def _refusal(request: web.Request) -> web.Response | None:
    keys = request.app[KEYS]
    headers = request.headers
    if headers.get("X-Ovh-Application") != keys.application_key:
        return ovh_error(403, "INVALID_KEY", "Invalid application key")
    consumer = headers.get("X-Ovh-Consumer")
    if not consumer:
        return ovh_error(401, None, "You must login first")
    if consumer != keys.consumer_key:
        return ovh_error(403, "INVALID_CREDENTIAL", "This credential does not exist")
    stamp = headers.get("X-Ovh-Timestamp", "")
    try:
        skew = abs(int(stamp) - server_time(request.app))
    except ValueError:
        skew = TIMESTAMP_WINDOW + 1
    url = f"{request.scheme}://{request.host}{request.raw_path}"
    body = await request.text()
    expected = sign(keys.application_secret, consumer, request.method, url, body, stamp)
    if skew > TIMESTAMP_WINDOW or headers.get("X-Ovh-Signature") != expected:
        return ovh_error(400, "INVALID_SIGNATURE", "Invalid signature")
    return None


async def auth_time(request: web.Request) -> web.Response:
    return web.json_response(server_time(request.app))


async def list_bills(request: web.Request) -> web.Response:
    bills = request.app[BILLS]
    since = request.query.get("date.from")
    if since:
        try:
            start = date.fromisoformat(since[:10])
        except ValueError:
            return ovh_error(400, None, "[date.from] Given data is not a valid datetime")
        bills = tuple(bill for bill in bills if bill.issued_at.date() >= start)
    return web.json_response(sorted(bill.bill_id for bill in bills))


def _bill_json(request: web.Request, bill: OvhBill) -> dict[str, object]:
    origin = f"{request.scheme}://{request.host}"
    query = f"reference={bill.bill_id}&passwd={bill.password}"
    without_tax = (bill.price_with_tax / Decimal("1.2")).quantize(Decimal("0.01"))

    def price(value: Decimal) -> dict[str, object]:
        return {"currencyCode": bill.currency, "text": f"{value} €", "value": float(value)}

    return {
        "billId": bill.bill_id,
        "category": "autorenew",
        "date": bill.issued_at.isoformat(),
        "orderId": int(bill.bill_id[2:]) // 7,
        "password": bill.password,
        "pdfUrl": f"{origin}/cgi-bin/order/facture.pdf?{query}",
        "url": f"{origin}/cgi-bin/order/facture.html?{query}",
        "priceWithTax": price(bill.price_with_tax),
        "priceWithoutTax": price(without_tax),
        "tax": price(bill.price_with_tax - without_tax),
    }


def _find(request: web.Request, bill_id: str) -> OvhBill | None:
    return next((bill for bill in request.app[BILLS] if bill.bill_id == bill_id), None)


async def get_bill(request: web.Request) -> web.Response:
    bill_id = request.match_info["bill_id"]
    bill = _find(request, bill_id)
    if bill is None:
        return ovh_error(404, None, f"The requested object (billId = {bill_id}) does not exist")
    return web.json_response(_bill_json(request, bill))


async def bill_pdf(request: web.Request) -> web.Response:
    bill = _find(request, request.query.get("reference", ""))
    if bill is None or request.query.get("passwd") != bill.password:
        return web.Response(status=404, text="Document introuvable")
    if request.app[SWITCHES].fault is Fault.HTML_INSTEAD_OF_PDF:
        return html_page()
    return web.Response(body=pdf_of(bill), content_type="application/pdf")


def create_app(
    *,
    application_key: str = APPLICATION_KEY,
    application_secret: str = APPLICATION_SECRET,
    consumer_key: str = CONSUMER_KEY,
    bills: Sequence[OvhBill] = SEEDED,
    clock_offset: int = 0,
    switches: Switches | None = None,
) -> web.Application:
    app = new_app(switches)
    app.middlewares.append(faults_and_signature)
    app[KEYS] = Keys(application_key, application_secret, consumer_key, clock_offset)
    app[BILLS] = tuple(bills)
    app.router.add_get(f"{PREFIX}/auth/time", auth_time)
    app.router.add_get(f"{PREFIX}/me/bill", list_bills)
    app.router.add_get(PREFIX + "/me/bill/{bill_id}", get_bill)
    app.router.add_get("/cgi-bin/order/facture.pdf", bill_pdf)
    return app
