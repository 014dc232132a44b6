"""A stand-in for Microsoft Advertising's Customer Billing service (v13, REST) and the
Entra token endpoint that its OAuth grant goes through, on one origin.

- `POST /common/oauth2/v2.0/token`, form-encoded, `grant_type=refresh_token` for the
  registered public client and scope `https://ads.microsoft.com/msads.manage
  offline_access`: answers an access token and a new refresh token (the old one stays
  valid until it expires, as Entra's do), or `invalid_grant` with AADSTS700082 for an
  expired grant and AADSTS50173 for a revoked one.
- `POST /CustomerBilling/v13/BillingDocumentsInfo/Query` and `.../BillingDocuments/Query`
  need `Authorization: Bearer`, `DeveloperToken`, `CustomerId` and `CustomerAccountId`
  (116 RequestMissingHeaders without them), a JSON body, and answer the documents of the
  accounts asked for, between `StartDate` and `EndDate` (null when there are none).
- Faults are `{"TrackingId", "Type": "AdApiFaultDetail", "Errors": [{"Code", "ErrorCode",
  "Message", "Detail"}]}`: 105 InvalidCredentials (401), 106 UserIsNotAuthorized (403),
  109 AuthenticationTokenExpired (401), 117 CallRateExceeded (429, with Retry-After),
  0 InternalError (500).
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from tests.standins import SWITCHES, Fault, Switches, html_page, make_pdf, new_app, truncated_json

SCOPE = "https://ads.microsoft.com/msads.manage offline_access"
CLIENT_ID = "8d2f6a41-0c3b-4e7a-9b15-6f4e2d1c0b9a"
CUSTOMER_ID = "251789034"
ACCOUNT_ID = "180943527"
SECOND_ACCOUNT_ID = "180943528"
DEVELOPER_TOKEN = "BBD37VB98X2CRT"
REFRESH_TOKEN = "M.C521_BL2.0.U.-Cgf7!Qx1zS*Courier$RefreshToken$Seed0123456789"
EXPIRED_REFRESH_TOKEN = "M.C521_BL2.0.U.-Expired!Grant*Courier$000000000000"
REVOKED_REFRESH_TOKEN = "M.C521_BL2.0.U.-Revoked!Grant*Courier$111111111111"


@dataclass(frozen=True, slots=True)
class AdsDocument:
    document_id: str
    number: str
    issued: date
    amount: str
    account_id: str = ACCOUNT_ID
    currency: str = "EUR"

    def as_json(self) -> dict[str, Any]:
        return {
            "AccountId": self.account_id,
            "AccountName": "Boulangerie Dupont - Search",
            "AccountNumber": "F120PQ7K",
            # A JSON number, as the API writes a double.
            "Amount": float(self.amount),
            "CurrencyCode": self.currency,
            "DocumentDate": f"{self.issued.isoformat()}T00:00:00",
            "DocumentId": self.document_id,
            "CustomerId": int(CUSTOMER_ID),
            "CampaignId": None,
            "DocumentNumber": self.number,
        }


# Newest first; one of the second account, one from two years ago.
SEEDED = (
    AdsDocument("9001004", "G014000104", date(2026, 12, 1), "245.10"),
    AdsDocument("9001003", "G014000103", date(2026, 11, 1), "198.75"),
    AdsDocument("9001902", "G014000902", date(2026, 10, 15), "40.00", account_id=SECOND_ACCOUNT_ID),
    AdsDocument("9001002", "G014000102", date(2026, 10, 1), "233.40"),
    AdsDocument("9000001", "G013000001", date(2024, 12, 1), "120.00"),
)


def pdf_of(document: AdsDocument) -> bytes:
    return make_pdf(
        "Microsoft Ireland Operations Ltd - Advertising", document.number, document.amount
    )


@dataclass
class AdsState:
    documents: tuple[AdsDocument, ...]
    #: Every refresh token still valid (Entra keeps the old ones until they expire).
    refresh_tokens: set[str]
    access_tokens: set[str] = field(default_factory=set)
    expired: set[str] = field(default_factory=set)
    #: (StartDate, EndDate) of every BillingDocumentsInfo call.
    windows: list[tuple[str, str]] = field(default_factory=list)

    def expire_tokens(self) -> None:
        self.expired |= self.access_tokens


STATE = web.AppKey("state", AdsState)


def fault(status: int, code: int, error_code: str, message: str, **headers: str) -> web.Response:
    body = {
        "TrackingId": "5c1f2a9e-0000-4000-8000-000000000000",
        "Type": "AdApiFaultDetail",
        "Errors": [{"Code": code, "Detail": None, "ErrorCode": error_code, "Message": message}],
    }
    return web.json_response(body, status=status, headers=headers or None)


def entra_error(code: int, error: str, description: str) -> web.Response:
    return web.json_response(
        {
            "error": error,
            "error_description": f"AADSTS{code}: {description}",
            "error_codes": [code],
            "timestamp": "2026-12-06 10:00:00Z",
        },
        status=400,
    )


async def token(request: web.Request) -> web.Response:
    state = request.app[STATE]
    form = await request.post()
    if request.match_info["tenant"] != "common":
        return entra_error(90002, "invalid_request", "Tenant not found.")
    if form.get("client_id") != CLIENT_ID:
        return entra_error(700016, "unauthorized_client", "Application was not found.")
    if form.get("grant_type") != "refresh_token":
        return entra_error(70003, "unsupported_grant_type", "The grant type is not supported.")
    if form.get("scope") != SCOPE:
        return entra_error(70011, "invalid_scope", "The provided value for scope is not valid.")
    given = form.get("refresh_token")
    if given == EXPIRED_REFRESH_TOKEN:
        return entra_error(
            700082, "invalid_grant", "The refresh token has expired due to inactivity."
        )
    if given == REVOKED_REFRESH_TOKEN or given not in state.refresh_tokens:
        return entra_error(50173, "invalid_grant", "The provided grant has expired or was revoked.")
    access, refresh = "EwB4A8l6" + secrets.token_urlsafe(40), "M.C521_" + secrets.token_urlsafe(40)
    state.access_tokens.add(access)
    state.refresh_tokens.add(refresh)
    return web.json_response(
        {
            "token_type": "Bearer",
            "scope": "https://ads.microsoft.com/msads.manage",
            "expires_in": 3600,
            "ext_expires_in": 3600,
            "access_token": access,
            "refresh_token": refresh,
        }
    )


@web.middleware
async def customer_billing(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/CustomerBilling/"):
        return await handler(request)
    state, switches = request.app[STATE], request.app[SWITCHES]
    headers = request.headers
    missing = [
        name
        for name in ("Authorization", "DeveloperToken", "CustomerId", "CustomerAccountId")
        if not headers.get(name)
    ]
    if missing:
        return fault(400, 116, "RequestMissingHeaders", f"Missing headers: {', '.join(missing)}.")
    bearer = headers["Authorization"].removeprefix("Bearer ")
    if bearer in state.expired:
        return fault(401, 109, "AuthenticationTokenExpired", "The authentication token expired.")
    if (
        switches.fault is Fault.UNAUTHORIZED
        or bearer not in state.access_tokens
        or headers["DeveloperToken"] != DEVELOPER_TOKEN
    ):
        return fault(401, 105, "InvalidCredentials", "Authentication failed.")
    if headers["CustomerId"] != CUSTOMER_ID or switches.fault is Fault.FORBIDDEN:
        return fault(403, 106, "UserIsNotAuthorized", "The user is not authorized.")
    if switches.fault is Fault.RATE_LIMITED:
        return fault(
            429,
            117,
            "CallRateExceeded",
            "You have exceeded the number of calls allowed in a minute.",
            **{"Retry-After": str(switches.retry_after)},
        )
    if switches.fault is Fault.SERVER_ERROR:
        return fault(500, 0, "InternalError", "An internal error has occurred.")
    if request.content_type != "application/json":
        return fault(415, 100, "NullRequest", "The request message is null.")
    return await handler(request)


def _when(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=None)
    except ValueError:
        return None


async def documents_info(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if request.app[SWITCHES].fault is Fault.MALFORMED_JSON:
        return truncated_json()
    body = json.loads(await request.read())
    accounts, start, end = body.get("AccountIds"), _when(body.get("StartDate")), body.get("EndDate")
    end_at = datetime(2100, 1, 1) if end is None else _when(end)
    if not isinstance(accounts, list) or start is None or end_at is None or end_at < start:
        return fault(
            400, 113, "InvalidDateObject", "The date specified in the request is not valid."
        )
    if any(a not in (ACCOUNT_ID, SECOND_ACCOUNT_ID) for a in accounts):
        return fault(403, 106, "UserIsNotAuthorized", "The user is not authorized.")
    state.windows.append((body["StartDate"], str(end)))
    found = [
        d.as_json()
        for d in state.documents
        if d.account_id in accounts
        and start <= datetime.combine(d.issued, datetime.min.time()) <= end_at
    ]
    return web.json_response({"BillingDocumentsInfo": found or None})


async def documents(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = json.loads(await request.read())
    if body.get("Type") != "Pdf":
        return fault(400, 100, "NullRequest", "The document type is not valid.")
    asked = body.get("BillingDocumentsInfo")
    if not isinstance(asked, list) or not 0 < len(asked) <= 25:
        return fault(400, 100, "NullRequest", "The request message is null.")
    answers = []
    for item in asked:
        found = next((d for d in state.documents if d.document_id == item.get("DocumentId")), None)
        if found is None or item.get("CustomerId") != int(CUSTOMER_ID):
            return fault(
                400, 4504, "InvalidBillingDocumentId", "The billing document is not valid."
            )
        content = (
            html_page().body
            if request.app[SWITCHES].fault is Fault.HTML_INSTEAD_OF_PDF
            else pdf_of(found)
        )
        assert isinstance(content, bytes)
        answers.append(
            {
                "Data": base64.b64encode(content).decode(),
                "Id": found.document_id,
                "Type": "Pdf",
                "Number": found.number,
            }
        )
    return web.json_response({"BillingDocuments": answers})


def create_app(
    *,
    documents_seeded: Sequence[AdsDocument] = SEEDED,
    switches: Switches | None = None,
) -> web.Application:
    app = new_app(switches)
    app.middlewares.append(customer_billing)
    app[STATE] = AdsState(documents=tuple(documents_seeded), refresh_tokens={REFRESH_TOKEN})
    app.router.add_post("/{tenant}/oauth2/v2.0/token", token)
    app.router.add_post("/CustomerBilling/v13/BillingDocumentsInfo/Query", documents_info)
    app.router.add_post("/CustomerBilling/v13/BillingDocuments/Query", documents)
    return app
