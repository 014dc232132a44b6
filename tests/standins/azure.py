"""A stand-in for Microsoft Entra's token endpoint and Azure's Billing API (2024-04-01).

As the references describe them, on one origin:

- `POST /{tenant}/oauth2/v2.0/token`, form-encoded, client credentials grant with
  `scope=https://management.azure.com/.default`; answers `token_type`, `expires_in`,
  `access_token`, or `{"error", "error_description", "error_codes", ...}`: AADSTS90002
  (unknown tenant), AADSTS700016 (application not in the tenant), AADSTS7000215 (wrong
  secret), AADSTS7000222 (expired secret), AADSTS70011 (bad scope).
- Resource Manager under `/providers/Microsoft.Billing/billingAccounts`: every call needs
  `api-version=2024-04-01` (400 MissingApiVersionParameter / InvalidApiVersionParameter)
  and `Authorization: Bearer <token>` (401 AuthenticationFailed without it,
  InvalidAuthenticationToken for an unknown one, ExpiredAuthenticationToken for one past
  its time, InvalidAuthenticationTokenTenant for a token of another tenant), with a
  `WWW-Authenticate` header as ARM sends. 403 AuthorizationFailed, 429 TooManyRequests
  with Retry-After, 500 InternalServerError.
- The invoice list filters on the billing period (`periodStartDate`, `periodEndDate`,
  YYYY-MM-DD) and pages with an absolute `nextLink` holding a `$skipToken`.
- `POST .../invoices/{name}/download?documentName=` answers 202 with `Location` and
  `Retry-After: 10`; the Location answers 202 until the document is ready, then 200
  `{"url", "expiryTime"}`: a link to "Azure Storage" on this origin signed with a SAS
  (`sig`), which refuses a request carrying an `Authorization` header, as Storage does
  for a Resource Manager token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from aiohttp import web
from aiohttp.typedefs import Handler

from tests.standins import SWITCHES, Fault, Switches, html_page, make_pdf, new_app, truncated_json

API_VERSION = "2024-04-01"
SCOPE = "https://management.azure.com/.default"
TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
TENANT_DOMAIN = "boulangerie-dupont.onmicrosoft.com"
#: A tenant where the same multi-tenant app is registered, but which owns no billing account.
OTHER_TENANT_ID = "0c9d8e7f-6a5b-4c3d-2e1f-0a9b8c7d6e5f"
CLIENT_ID = "4b2c7a1e-93d8-4f6b-a0c5-1e2d3f4a5b6c"
SECRET = "Xq8Q~courier.Stand-In_Secret~value0123456789"
EXPIRED_SECRET = "Zz9Q~expired.Stand-In_Secret~value9876543210"
ACCOUNT = "6f2d1c3b-5a4e-4f9d-8c7b-2a1e0d9c8b7a:3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7_2019-05-31"
ACCOUNT_NAME = "Boulangerie Dupont SAS"
SECOND_ACCOUNT = "87654321"
SECOND_NAME = "Dupont Pay-As-You-Go"
LOCATION_RETRY_AFTER = 10
_SAS_KEY = b"stand-in storage account key"
BILLING = "/providers/Microsoft.Billing/billingAccounts"


@dataclass(frozen=True, slots=True)
class AzureInvoice:
    name: str
    invoice_date: date
    total: str | None
    currency: str = "EUR"
    kind: str = "Invoice"
    account: str = ACCOUNT

    @property
    def document(self) -> str:
        return f"DRS_{self.name}"

    def as_json(self) -> dict[str, object]:
        # An invoice issued early in a month bills the month before.
        start = _previous_month(self.invoice_date)
        end = _month_end(start)

        def amount(value: str) -> dict[str, object]:
            return {"currency": self.currency, "value": float(value)}

        properties: dict[str, object] = {
            "amountDue": amount("0"),
            "billedAmount": amount(self.total or "100.00"),
            "billingProfileDisplayName": ACCOUNT_NAME,
            "documentType": self.kind,
            "documents": [
                {"name": self.document, "kind": self.kind, "source": "DRS"},
                {"name": f"TR_{self.name}", "kind": "TaxReceipt", "source": "DRS"},
            ],
            "dueDate": f"{self.invoice_date.isoformat()}T17:32:28.000Z",
            "invoiceDate": f"{self.invoice_date.isoformat()}T17:32:28.000Z",
            "invoicePeriodStartDate": f"{start.isoformat()}T00:00:00.000Z",
            "invoicePeriodEndDate": f"{end.isoformat()}T00:00:00.000Z",
            "isMonthlyInvoice": True,
            "status": "Paid",
        }
        if self.total is not None:
            # A JSON number, as Resource Manager writes it.
            properties["totalAmount"] = amount(self.total)
        return {
            "id": f"{BILLING}/{self.account}/invoices/{self.name}",
            "name": self.name,
            "type": "Microsoft.Billing/billingAccounts/invoices",
            "properties": properties,
        }


def _previous_month(day: date) -> date:
    return date(day.year - 1, 12, 1) if day.month == 1 else date(day.year, day.month - 1, 1)


def _month_end(start: date) -> date:
    following = (
        date(start.year + 1, 1, 1) if start.month == 12 else start.replace(month=start.month + 1)
    )
    return date.fromordinal(following.toordinal() - 1)


# Newest first: invoices, a credit note, a void note that is no invoice; one account.
SEEDED = (
    AzureInvoice("G045678901", date(2026, 12, 3), "412.80"),
    AzureInvoice("G044567890", date(2026, 11, 3), "398.15"),
    AzureInvoice("G044000001", date(2026, 10, 21), "-37.50", kind="CreditNote"),
    AzureInvoice("G043999999", date(2026, 10, 12), "12.00", kind="VoidNote"),
    AzureInvoice("G043456789", date(2026, 10, 3), "401.02"),
    AzureInvoice("G042345678", date(2026, 9, 3), "389.99"),
)


def pdf_of(invoice: AzureInvoice) -> bytes:
    return make_pdf("Microsoft Ireland Operations Ltd", invoice.name, invoice.total or "")


@dataclass
class AzureState:
    invoices: tuple[AzureInvoice, ...]
    accounts: dict[str, str]
    page_size: int
    #: Polls of a download's Location that answer 202 before the 200.
    polls_until_ready: int
    #: token -> tenant it was issued in; a token in `expired` is past its time.
    tokens: dict[str, str] = field(default_factory=dict)
    expired: set[str] = field(default_factory=set)
    operations: dict[str, tuple[AzureInvoice, int]] = field(default_factory=dict)
    counter: itertools.count[int] = field(default_factory=itertools.count)

    def expire_tokens(self) -> None:
        """Every token issued so far is past its hour, as after a long run."""
        self.expired |= set(self.tokens)


STATE = web.AppKey("state", AzureState)


def arm_error(
    status: int, code: str, message: str, *, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": message}}, status=status, headers=headers
    )


def entra_error(status: int, error: str, code: int, description: str) -> web.Response:
    return web.json_response(
        {
            "error": error,
            "error_description": f"AADSTS{code}: {description} Trace ID: 0000 Correlation ID: 0000",
            "error_codes": [code],
            "timestamp": "2026-12-06 10:00:00Z",
            "trace_id": "b5d6a4c2-0000-4000-8000-000000000000",
            "correlation_id": "c7e8f9a0-0000-4000-8000-000000000000",
            "error_uri": f"https://login.microsoftonline.com/error?code={code}",
        },
        status=status,
    )


async def token(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if request.content_type != "application/x-www-form-urlencoded":
        return entra_error(
            400, "invalid_request", 900144, "The request body must contain grant_type."
        )
    form = await request.post()
    tenant = request.match_info["tenant"]
    if tenant not in (TENANT_ID, TENANT_DOMAIN, OTHER_TENANT_ID):
        return entra_error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
    if form.get("grant_type") != "client_credentials":
        return entra_error(400, "unsupported_grant_type", 70003, "The grant type is not supported.")
    if form.get("scope") != SCOPE:
        return entra_error(
            400, "invalid_scope", 70011, "The provided value for scope is not valid."
        )
    if form.get("client_id") != CLIENT_ID:
        return entra_error(
            400, "unauthorized_client", 700016, "Application was not found in the directory."
        )
    secret = form.get("client_secret")
    if secret == EXPIRED_SECRET:
        return entra_error(
            401, "invalid_client", 7000222, "The provided client secret keys for app are expired."
        )
    if secret != SECRET:
        return entra_error(401, "invalid_client", 7000215, "Invalid client secret provided.")
    issued = "eyJ0eXAiOiJKV1Qi." + secrets.token_urlsafe(48)
    state.tokens[issued] = TENANT_ID if tenant == TENANT_DOMAIN else tenant
    return web.json_response(
        {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": issued}
    )


def _challenge(error: str = "invalid_token", description: str = "") -> dict[str, str]:
    value = (
        f'Bearer authorization_uri="https://login.windows.net/", error="{error}", '
        f'error_description="{description}"'
    )
    return {"WWW-Authenticate": value}


@web.middleware
async def resource_manager(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/providers/"):
        return await handler(request)
    state, switches = request.app[STATE], request.app[SWITCHES]
    version = request.query.get("api-version")
    if version is None:
        return arm_error(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )
    if version != API_VERSION:
        return arm_error(
            400,
            "InvalidApiVersionParameter",
            f"The api-version '{version}' is invalid. The supported versions are '{API_VERSION}'.",
        )
    given = request.headers.get("Authorization")
    if not given:
        return arm_error(
            401,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
            headers=_challenge("invalid_token", "The 'Authorization' header is missing."),
        )
    scheme, _, bearer = given.partition(" ")
    if switches.fault is Fault.UNAUTHORIZED or scheme != "Bearer" or bearer not in state.tokens:
        return arm_error(
            401,
            "InvalidAuthenticationToken",
            "The access token is invalid.",
            headers=_challenge("invalid_token", "The access token is invalid."),
        )
    if bearer in state.expired:
        return arm_error(
            401,
            "ExpiredAuthenticationToken",
            "The access token expiry UTC time '12/6/2026 9:00:00 AM' is earlier than"
            " current UTC time '12/6/2026 10:00:00 AM'.",
            headers=_challenge("invalid_token", "The access token has expired."),
        )
    if state.tokens[bearer] != TENANT_ID:
        return arm_error(
            401,
            "InvalidAuthenticationTokenTenant",
            "The access token is from the wrong issuer. It must match the tenant"
            " associated with this billing account.",
            headers=_challenge("invalid_token", "The access token is from the wrong issuer."),
        )
    if switches.fault is Fault.FORBIDDEN:
        return arm_error(
            403,
            "AuthorizationFailed",
            f"The client '{CLIENT_ID}' does not have authorization to perform action"
            " 'Microsoft.Billing/billingAccounts/invoices/read'.",
        )
    if switches.fault is Fault.RATE_LIMITED:
        return arm_error(
            429,
            "TooManyRequests",
            "The request is being throttled.",
            headers={"Retry-After": str(switches.retry_after)},
        )
    if switches.fault is Fault.SERVER_ERROR:
        return arm_error(500, "InternalServerError", "Encountered internal server error.")
    return await handler(request)


async def billing_accounts(request: web.Request) -> web.Response:
    accounts = request.app[STATE].accounts
    return web.json_response({"value": [_account(name, shown) for name, shown in accounts.items()]})


async def billing_account(request: web.Request) -> web.Response:
    name = request.match_info["account"]
    shown = request.app[STATE].accounts.get(name)
    if shown is None:
        return arm_error(404, "BillingAccountNotFound", f"Billing account '{name}' not found.")
    return web.json_response(_account(name, shown))


def _account(name: str, shown: str) -> dict[str, object]:
    agreement = "MicrosoftCustomerAgreement" if ":" in name else "MicrosoftOnlineServicesProgram"
    return {
        "id": f"/providers/Microsoft.Billing/billingAccounts/{name}",
        "name": name,
        "type": "Microsoft.Billing/billingAccounts",
        "properties": {
            "displayName": shown,
            "agreementType": agreement,
            "accountStatus": "Active",
            "accountType": "Business",
        },
    }


async def invoice_list(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if request.app[SWITCHES].fault is Fault.MALFORMED_JSON:
        return truncated_json()
    account = request.match_info["account"]
    if account not in state.accounts:
        return arm_error(404, "BillingAccountNotFound", f"Billing account '{account}' not found.")
    query = request.query
    try:
        start = date.fromisoformat(query.get("periodStartDate", "1970-01-01"))
        end = date.fromisoformat(query.get("periodEndDate", "2100-01-01"))
        offset = int(base64.b64decode(query["$skipToken"])) if "$skipToken" in query else 0
    except ValueError:
        return arm_error(400, "InvalidInput", "The query parameters are invalid.")
    rows = [
        i
        for i in state.invoices
        if i.account == account
        and _previous_month(i.invoice_date) <= end
        and _month_end(_previous_month(i.invoice_date)) >= start
    ]
    chunk = rows[offset : offset + state.page_size]
    answer: dict[str, object] = {"value": [i.as_json() for i in chunk]}
    if offset + len(chunk) < len(rows):
        token = base64.b64encode(str(offset + len(chunk)).encode()).decode()
        answer["nextLink"] = str(request.url.update_query({"$skipToken": token}))
    return web.json_response(answer)


def _invoice(state: AzureState, account: str, name: str) -> AzureInvoice | None:
    return next((i for i in state.invoices if i.account == account and i.name == name), None)


async def download(request: web.Request) -> web.Response:
    state = request.app[STATE]
    account, name = request.match_info["account"], request.match_info["invoice"]
    invoice = _invoice(state, account, name)
    if invoice is None:
        return arm_error(404, "InvoiceNotFound", f"Invoice '{name}' not found.")
    document = request.query.get("documentName")
    if document is not None and document not in (invoice.document, f"TR_{invoice.name}"):
        return arm_error(400, "InvalidDocumentName", "The document name is invalid.")
    operation = f"invoiceDownload_{next(state.counter)}"
    state.operations[operation] = (invoice, state.polls_until_ready)
    origin = f"{request.scheme}://{request.host}"
    location = (
        f"{origin}/providers/Microsoft.Billing/billingAccounts/{account}/invoices/{name}"
        f"/operationResults/{operation}?api-version={API_VERSION}"
    )
    return web.Response(
        status=202, headers={"Location": location, "Retry-After": str(LOCATION_RETRY_AFTER)}
    )


async def operation_result(request: web.Request) -> web.Response:
    state = request.app[STATE]
    operation = request.match_info["operation"]
    if operation not in state.operations:
        return arm_error(404, "OperationNotFound", "The operation was not found.")
    invoice, remaining = state.operations[operation]
    if remaining > 0:
        state.operations[operation] = (invoice, remaining - 1)
        return web.Response(
            status=202,
            headers={
                "Location": str(request.url),
                "Retry-After": str(LOCATION_RETRY_AFTER),
            },
        )
    origin = f"{request.scheme}://{request.host}"
    blob = f"/invoices/{invoice.name}.pdf"
    query = f"sv=2019-02-02&sr=b&sp=r&se=2026-12-06T11%3A00%3A00Z&sig={_sas(blob)}"
    return web.json_response(
        {"url": f"{origin}/blob{blob}?{query}", "expiryTime": "2026-12-06T11:00:00Z"}
    )


def _sas(blob: str) -> str:
    digest = hmac.new(_SAS_KEY, blob.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


async def blob(request: web.Request) -> web.Response:
    """Azure Storage: the SAS is the credential; a bearer token of Resource Manager's
    audience is refused (Storage would try to use it and fail)."""
    state = request.app[STATE]
    path = "/" + request.match_info["path"]
    if "Authorization" in request.headers:
        return web.Response(
            status=401,
            text="<Error><Code>InvalidAuthenticationInfo</Code></Error>",
            content_type="application/xml",
        )
    if not hmac.compare_digest(request.query.get("sig", ""), _sas(path)):
        return web.Response(
            status=403,
            text="<Error><Code>AuthenticationFailed</Code></Error>",
            content_type="application/xml",
        )
    name = path.removeprefix("/invoices/").removesuffix(".pdf")
    invoice = next((i for i in state.invoices if i.name == name), None)
    if invoice is None:
        return web.Response(status=404, text="<Error><Code>BlobNotFound</Code></Error>")
    if request.app[SWITCHES].fault is Fault.HTML_INSTEAD_OF_PDF:
        return html_page()
    return web.Response(body=pdf_of(invoice), content_type="application/pdf")


def create_app(
    *,
    invoices: Sequence[AzureInvoice] = SEEDED,
    accounts: dict[str, str] | None = None,
    page_size: int = 2,
    polls_until_ready: int = 1,
    switches: Switches | None = None,
) -> web.Application:
    app = new_app(switches)
    app.middlewares.append(resource_manager)
    app[STATE] = AzureState(
        invoices=tuple(invoices),
        accounts=dict(accounts if accounts is not None else {ACCOUNT: ACCOUNT_NAME}),
        page_size=page_size,
        polls_until_ready=polls_until_ready,
    )
    billing = BILLING
    app.router.add_post("/{tenant}/oauth2/v2.0/token", token)
    app.router.add_get(billing, billing_accounts)
    app.router.add_get(billing + "/{account}", billing_account)
    app.router.add_get(billing + "/{account}/invoices", invoice_list)
    app.router.add_post(billing + "/{account}/invoices/{invoice}/download", download)
    app.router.add_get(
        billing + "/{account}/invoices/{invoice}/operationResults/{operation}", operation_result
    )
    app.router.add_get("/blob/{path:.+}", blob)
    return app
