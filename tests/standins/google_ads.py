"""A stand-in for Google's OAuth 2.0 server and the Google Ads API's invoices.

OAuth, as Google documents it: `GET /o/oauth2/v2/auth` (here the person always agrees,
and is sent back to `redirect_uri` with `code` and `state`; a refresh token is issued only
with `access_type=offline`), and `POST /token` for `authorization_code` and
`refresh_token` grants, the client authenticated by HTTP Basic or in the body; a revoked
refresh token is `{"error": "invalid_grant"}`.

The Ads API, strict like the real one: every call needs `developer-token` (Courier's) and
`Authorization: Bearer` with an access token this server issued; an account reached
through a manager needs `login-customer-id`. `POST /{v}/customers/{id}/googleAds:search`
answers the GAQL query on `billing_setup` a page at a time (`nextPageToken`);
`GET /{v}/customers/{id}/invoices?billingSetup=&issueYear=&issueMonth=` one month of one
billing setup. Errors are google.rpc Status bodies with a GoogleAdsFailure in `details`.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import urlencode

from aiohttp import web
from aiohttp.typedefs import Handler

from tests.standins import SWITCHES, Fault, Switches, html_page, make_pdf, new_app, truncated_json

VERSION = "v22"
CLIENT_ID = "1234567890-courier.apps.googleusercontent.com"
CLIENT_SECRET = "GOCSPX-" + "s3cr3t" * 4
DEVELOPER_TOKEN = "devTok" + "Q9x" * 6
SCOPE = "https://www.googleapis.com/auth/adwords"
CUSTOMER_ID = "1234567890"
MANAGER_ID = "9876543210"
#: An account the person reaches only through MANAGER_ID.
MANAGED_ID = "5556667777"
#: An account paid by card: it has no invoices.
CARD_PAID_ID = "1112223333"
ACCOUNT_NAME = "Boulangerie Dupont"
MONTHS = (
    "JANUARY",
    "FEBRUARY",
    "MARCH",
    "APRIL",
    "MAY",
    "JUNE",
    "JULY",
    "AUGUST",
    "SEPTEMBER",
    "OCTOBER",
    "NOVEMBER",
    "DECEMBER",
)
FAILURE = f"type.googleapis.com/google.ads.googleads.{VERSION}.errors.GoogleAdsFailure"


@dataclass(frozen=True, slots=True)
class AdsInvoice:
    invoice_id: str
    setup_id: str
    issued: date
    total: str  # in the currency, e.g. "312.40"
    kind: str = "INVOICE"
    currency: str = "EUR"

    def micros(self, share: str = "1") -> str:
        return str(round(float(self.total) * float(share) * 1_000_000))


# Newest first, across two approved billing setups (a third is pending: no invoices).
SETUPS = (("1111", "APPROVED"), ("2222", "APPROVED"), ("3333", "PENDING"))
SEEDED = (
    AdsInvoice("5403089678", "1111", date(2026, 12, 2), "312.40"),
    AdsInvoice("5401637906", "1111", date(2026, 11, 2), "287.15"),
    AdsInvoice("5401637999", "2222", date(2026, 11, 20), "-25.00", kind="CREDIT_MEMO"),
    AdsInvoice("5399000111", "2222", date(2026, 10, 2), "120.00"),
    AdsInvoice("5397000222", "1111", date(2026, 9, 2), "250.00"),
)


def pdf_of(invoice: AdsInvoice) -> bytes:
    return make_pdf("Google Ireland Ltd.", invoice.invoice_id, invoice.total)


@dataclass
class GoogleState:
    """What the server issued: codes, refresh and access tokens, and revocations."""

    invoices: tuple[AdsInvoice, ...] = SEEDED
    page_size: int = 1
    codes: dict[str, tuple[str, bool]] = field(default_factory=dict)  # code → (uri, offline)
    refresh_tokens: set[str] = field(default_factory=set)
    access_tokens: set[str] = field(default_factory=set)
    #: (grant type) of each token request, for assertions.
    grants: list[str] = field(default_factory=list)

    def issue_refresh(self) -> str:
        token = "1//0g" + secrets.token_urlsafe(40)
        self.refresh_tokens.add(token)
        return token

    def revoke(self, refresh_token: str) -> None:
        self.refresh_tokens.discard(refresh_token)


STATE = web.AppKey("google_ads", GoogleState)


def rpc_error(
    status: int,
    rpc_status: str,
    message: str,
    *,
    kind: str | None = None,
    code: str | None = None,
    details: dict[str, object] | None = None,
) -> web.Response:
    error: dict[str, object] = {"code": status, "message": message, "status": rpc_status}
    if kind and code:
        failure: dict[str, object] = {"errorCode": {kind: code}, "message": message}
        if details:
            failure["details"] = details
        error["details"] = [
            {
                "@type": FAILURE,
                "errors": [failure],
                "requestId": "Xy1AbC2dEf",
            }
        ]
    return web.json_response({"error": error}, status=status)


def oauth_error(status: int, error: str, description: str) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=status)


# --- OAuth ------------------------------------------------------------------------------


async def authorize(request: web.Request) -> web.StreamResponse:
    query = request.query
    if query.get("client_id") != CLIENT_ID or query.get("response_type") != "code":
        return web.Response(status=400, text="Error 401: invalid_client")
    if SCOPE not in query.get("scope", "").split() or not query.get("redirect_uri"):
        return web.Response(status=400, text="Error 400: invalid_scope")
    code = "4/0A" + secrets.token_urlsafe(30)
    offline = query.get("access_type") == "offline"
    request.app[STATE].codes[code] = (query["redirect_uri"], offline)
    back = {"state": query.get("state", ""), "code": code, "scope": SCOPE}
    raise web.HTTPFound(f"{query['redirect_uri']}?{urlencode(back)}")


def _client_ok(request: web.Request, form: dict[str, str]) -> bool:
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Basic "):
        decoded = base64.b64decode(auth[6:]).decode()
        client, _, secret = decoded.partition(":")
    else:
        client, secret = form.get("client_id", ""), form.get("client_secret", "")
    return client == CLIENT_ID and secret == CLIENT_SECRET


async def token(request: web.Request) -> web.Response:
    state = request.app[STATE]
    form = {k: str(v) for k, v in (await request.post()).items()}
    grant = form.get("grant_type", "")
    state.grants.append(grant)
    if not _client_ok(request, form):
        return oauth_error(401, "invalid_client", "The OAuth client was not found.")
    access = "ya29." + secrets.token_urlsafe(40)
    answer: dict[str, object] = {
        "access_token": access,
        "expires_in": 3599,
        "scope": SCOPE,
        "token_type": "Bearer",
    }
    if grant == "authorization_code":
        issued = state.codes.pop(form.get("code", ""), None)
        if issued is None or issued[0] != form.get("redirect_uri"):
            return oauth_error(400, "invalid_grant", "Malformed auth code.")
        if issued[1]:
            answer["refresh_token"] = state.issue_refresh()
    elif grant == "refresh_token":
        if form.get("refresh_token") not in state.refresh_tokens:
            return oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
    else:
        return oauth_error(400, "unsupported_grant_type", "Invalid grant_type.")
    state.access_tokens.add(access)
    return web.json_response(answer)


# --- the Ads API ------------------------------------------------------------------------


def _reachable(request: web.Request, customer: str) -> bool:
    if customer in (CUSTOMER_ID, CARD_PAID_ID):
        return True
    return customer == MANAGED_ID and request.headers.get("login-customer-id") == MANAGER_ID


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith(f"/{VERSION}/"):
        return await handler(request)
    switches = request.app[SWITCHES]
    if switches.fault is Fault.RATE_LIMITED:
        return rpc_error(
            429,
            "RESOURCE_EXHAUSTED",
            "Too many requests. Retry in 30 seconds.",
            kind="quotaError",
            code="RESOURCE_EXHAUSTED",
            details={
                "quotaErrorDetails": {
                    "rateScope": "DEVELOPER",
                    "rateName": "Number of operations for basic access",
                    "retryDelay": f"{switches.retry_after}s",
                }
            },
        )
    if switches.fault is Fault.SERVER_ERROR:
        return rpc_error(500, "INTERNAL", "Internal error encountered.")
    given = request.headers.get("developer-token")
    if not given:
        return rpc_error(
            401,
            "UNAUTHENTICATED",
            "The developer token is missing.",
            kind="authenticationError",
            code="DEVELOPER_TOKEN_NOT_PROVIDED",
        )
    if given != DEVELOPER_TOKEN:
        return rpc_error(
            403,
            "PERMISSION_DENIED",
            "The developer token is not valid.",
            kind="authorizationError",
            code="DEVELOPER_TOKEN_PROHIBITED",
        )
    bearer = request.headers.get("Authorization", "")
    if (
        switches.fault is Fault.UNAUTHORIZED
        or not bearer.startswith("Bearer ")
        or bearer[7:] not in request.app[STATE].access_tokens
    ):
        return rpc_error(
            401,
            "UNAUTHENTICATED",
            "Request is missing required authentication credential.",
            kind="authenticationError",
            code="OAUTH_TOKEN_INVALID",
        )
    customer = request.match_info.get("customer", "")
    if switches.fault is Fault.FORBIDDEN or (customer and not _reachable(request, customer)):
        return rpc_error(
            403,
            "PERMISSION_DENIED",
            "The caller does not have permission",
            kind="authorizationError",
            code="USER_PERMISSION_DENIED",
        )
    return await handler(request)


async def search(request: web.Request) -> web.Response:
    if request.app[SWITCHES].fault is Fault.MALFORMED_JSON:
        return truncated_json()
    body = await request.json()
    query = str(body.get("query", ""))
    if "FROM billing_setup" not in query or "billing_setup.id" not in query:
        return rpc_error(
            400, "INVALID_ARGUMENT", "Unrecognized query.", kind="queryError", code="BAD_QUERY"
        )
    customer = request.match_info["customer"]
    offset = int(body.get("pageToken") or 0)
    size = request.app[STATE].page_size
    chunk = SETUPS[offset : offset + size]
    results = [
        {
            "billingSetup": {
                "resourceName": f"customers/{customer}/billingSetups/{setup_id}",
                "id": setup_id,
                "status": status,
                "paymentsAccountInfo": {"paymentsAccountName": ACCOUNT_NAME},
            }
        }
        for setup_id, status in chunk
    ]
    answer: dict[str, object] = {
        "results": results,
        "fieldMask": "billingSetup.id,billingSetup.status",
    }
    if offset + size < len(SETUPS):
        answer["nextPageToken"] = str(offset + size)
    return web.json_response(answer)


async def list_invoices(request: web.Request) -> web.Response:
    if request.app[SWITCHES].fault is Fault.MALFORMED_JSON:
        return truncated_json()
    customer = request.match_info["customer"]
    query = request.query
    setup = query.get("billingSetup", "")
    prefix = f"customers/{customer}/billingSetups/"
    month = query.get("issueMonth", "")
    if not setup.startswith(prefix) or month not in MONTHS or not query.get("issueYear"):
        return rpc_error(
            400,
            "INVALID_ARGUMENT",
            "Request contains an invalid argument.",
            kind="requestError",
            code="REQUIRED_FIELD_MISSING",
        )
    year = int(query["issueYear"])
    if year < 2019:
        return rpc_error(
            400, "INVALID_ARGUMENT", "Too old.", kind="invoiceError", code="YEAR_MONTH_TOO_OLD"
        )
    if customer == CARD_PAID_ID:
        return rpc_error(
            400,
            "INVALID_ARGUMENT",
            "Cannot request invoices for customer who doesn't receive invoices.",
            kind="invoiceError",
            code="NOT_INVOICED_CUSTOMER",
        )
    setup_id = setup[len(prefix) :]
    if dict(SETUPS).get(setup_id) != "APPROVED":
        return rpc_error(
            400,
            "INVALID_ARGUMENT",
            "Cannot request invoices for a non approved billing setup.",
            kind="invoiceError",
            code="BILLING_SETUP_NOT_APPROVED",
        )
    number = MONTHS.index(month) + 1
    origin = f"{request.scheme}://{request.host}"
    rows = [
        i
        for i in request.app[STATE].invoices
        if i.setup_id == setup_id and (i.issued.year, i.issued.month) == (year, number)
    ]
    data = [
        {
            "resourceName": f"customers/{customer}/invoices/{i.invoice_id}",
            "id": i.invoice_id,
            "type": i.kind,
            "billingSetup": setup,
            "paymentsAccountId": "1234-5678-9012",
            "paymentsProfileId": "0126-0674-4388",
            "issueDate": i.issued.isoformat(),
            "dueDate": i.issued.replace(day=28).isoformat(),
            "currencyCode": i.currency,
            "subtotalAmountMicros": i.micros("0.8333333"),
            "taxAmountMicros": str(int(i.micros()) - int(i.micros("0.8333333"))),
            "totalAmountMicros": i.micros(),
            "pdfUrl": f"{origin}/{VERSION}/invoices/{i.invoice_id}/pdf?ek=AbCdEf",
        }
        for i in rows
    ]
    return web.json_response({"invoices": data} if data else {})


async def pdf(request: web.Request) -> web.Response:
    invoice = next(
        (i for i in request.app[STATE].invoices if i.invoice_id == request.match_info["invoice"]),
        None,
    )
    if invoice is None:
        return rpc_error(404, "NOT_FOUND", "Not found")
    if request.app[SWITCHES].fault is Fault.HTML_INSTEAD_OF_PDF:
        return html_page()
    return web.Response(body=pdf_of(invoice), content_type="application/pdf")


def create_app(
    *,
    invoices: Sequence[AdsInvoice] = SEEDED,
    page_size: int = 1,
    switches: Switches | None = None,
) -> web.Application:
    app = new_app(switches)
    app.middlewares.append(authenticate)
    app[STATE] = GoogleState(invoices=tuple(invoices), page_size=page_size)
    app.router.add_get("/o/oauth2/v2/auth", authorize)
    app.router.add_post("/token", token)
    app.router.add_post(f"/{VERSION}/customers/{{customer}}/googleAds:search", search)
    app.router.add_get(f"/{VERSION}/customers/{{customer}}/invoices", list_invoices)
    app.router.add_get(f"/{VERSION}/invoices/{{invoice}}/pdf", pdf)
    return app
