"""A stand-in for the AWS Invoicing API (JSON 1.0) and STS GetCallerIdentity (query/XML).

As the references describe them, on one origin: `POST /` signed with SigV4. A call with
`X-Amz-Target: Invoicing.<Operation>` is the Invoicing API (signing name `invoicing`);
a form `Action=GetCallerIdentity` is STS (signing name `sts`). The signature is checked
the way AWS does: botocore recomputes it from the request's signed headers, its body and
the secret of the access key named in the credential scope, and compares.

- `ListInvoiceSummaries` needs `Selector {ResourceType: ACCOUNT_ID, Value}` and filters on
  `Filter.TimeInterval` (epoch seconds, end exclusive, at most one month apart); pages by
  `MaxResults` (1..100) and an opaque `NextToken`.
- `GetInvoicePDF` answers `InvoicePDF.DocumentUrl`, a presigned link on this origin.
- Errors: `{"__type": "<namespace>#<Name>", "message"}` plus `x-amzn-ErrorType`:
  ThrottlingException 400, InternalServerException 500 (`retryAfterSeconds`),
  UnrecognizedClientException / InvalidSignatureException 403, ExpiredTokenException
  403, AccessDeniedException 403, ValidationException 400. STS answers its XML
  `ErrorResponse` with `InvalidClientTokenId` and `ExpiredToken`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.standins import SWITCHES, Fault, Switches, html_page, make_pdf, new_app, truncated_json

ACCOUNT_ID = "210987654321"
KEY_ID = "AKIAZ7COURIERTEST01"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzCourierKEY"
EXPIRED_KEY_ID = "AKIAZ7COURIEREXPIRED"
EXPIRED_SECRET = "expiredSecretAccessKey/0123456789abcdefghij"
REGION = "us-east-1"
KEYS = web.AppKey("keys", dict[str, str])
EXPIRED = web.AppKey("expired", frozenset[str])
SUMMARIES = web.AppKey("summaries", tuple["AwsInvoice", ...])
_LINK_KEY = b"stand-in presigning key"
_MAX_SKEW = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class AwsInvoice:
    invoice_id: str
    issued: datetime
    total: str
    currency: str = "EUR"
    invoice_type: str = "INVOICE"
    period: tuple[int, int] = (2026, 1)

    def summary(self) -> dict[str, object]:
        year, month = self.period
        return {
            "AccountId": ACCOUNT_ID,
            "InvoiceId": self.invoice_id,
            "IssuedDate": self.issued.timestamp(),
            "DueDate": (self.issued + timedelta(days=30)).timestamp(),
            "Entity": {"InvoicingEntity": "Amazon Web Services EMEA SARL"},
            "BillingPeriod": {"Month": month, "Year": year},
            "InvoiceType": self.invoice_type,
            "BaseCurrencyAmount": {
                "TotalAmount": self.total,
                "TotalAmountBeforeTax": self.total,
                "CurrencyCode": "USD",
            },
            "PaymentCurrencyAmount": {
                "TotalAmount": self.total,
                "TotalAmountBeforeTax": self.total,
                "CurrencyCode": self.currency,
            },
        }


def _at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


# Two invoices in October make a second page at one summary per page.
SEEDED = (
    AwsInvoice("EUINFR26-1200001", _at("2026-12-02T08:00:00"), "41.20", period=(2026, 11)),
    AwsInvoice(
        "EUINFR26-1100077", _at("2026-11-20T10:00:00"), "12.00", invoice_type="PAYMENT_RECEIPT"
    ),
    AwsInvoice("EUINFR26-1100001", _at("2026-11-02T08:00:00"), "38.75", period=(2026, 10)),
    AwsInvoice("EUINFR26-1000001", _at("2026-10-02T08:00:00"), "35.10", period=(2026, 9)),
    AwsInvoice(
        "EUCMFR26-1000042",
        _at("2026-10-15T08:00:00"),
        "-5.00",
        invoice_type="CREDIT_MEMO",
        period=(2026, 9),
    ),
    AwsInvoice("EUINFR26-0900001", _at("2026-09-02T08:00:00"), "33.00", period=(2026, 8)),
)


def pdf_of(invoice: AwsInvoice) -> bytes:
    return make_pdf("Amazon Web Services EMEA SARL", invoice.invoice_id, invoice.total)


def json_error(status: int, name: str, message: str, **extra: object) -> web.Response:
    namespace = "com.amazon.coral.service" if status == 403 else "com.amazonaws.invoicing"
    return web.json_response(
        {"__type": f"{namespace}#{name}", "message": message, **extra},
        status=status,
        content_type="application/x-amz-json-1.0",
        headers={"x-amzn-ErrorType": f"{name}:http://internal.amazon.com/coral/{namespace}/"},
    )


def sts_error(status: int, code: str, message: str) -> web.Response:
    body = (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        f"<Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
        "<RequestId>4f1c2b7e-0000-4000-8000-000000000000</RequestId></ErrorResponse>"
    )
    return web.Response(text=body, status=status, content_type="text/xml")


def _check_signature(request: web.Request, body: bytes, service: str) -> str | None:
    """None when botocore, recomputing with the key's secret, finds the same signature;
    else the AWS error name."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("AWS4-HMAC-SHA256 "):
        return "MissingAuthenticationTokenException"
    parts = dict(
        item.strip().split("=", 1) for item in header[len("AWS4-HMAC-SHA256 ") :].split(",")
    )
    try:
        key_id, day, region, scope_service, terminator = parts["Credential"].split("/")
        signed_names = parts["SignedHeaders"].split(";")
        signature = parts["Signature"]
    except (KeyError, ValueError):
        return "IncompleteSignatureException"
    secrets = request.app[KEYS]
    if key_id not in secrets:
        return "UnrecognizedClientException"
    stamp = request.headers.get("X-Amz-Date", "")
    try:
        when = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return "IncompleteSignatureException"
    if (region, scope_service, terminator) != (REGION, service, "aws4_request"):
        return "InvalidSignatureException"
    if day != stamp[:8] or abs(datetime.now(UTC) - when) > _MAX_SKEW:
        return "InvalidSignatureException"
    headers = {name: request.headers.get(name, "") for name in signed_names}
    url = f"{request.scheme}://{request.host}{request.raw_path}"
    rebuilt = AWSRequest(method=request.method, url=url, data=body, headers=headers)
    rebuilt.context["timestamp"] = stamp
    signer = SigV4Auth(Credentials(key_id, secrets[key_id]), service, REGION)
    expected = signer.signature(
        signer.string_to_sign(rebuilt, signer.canonical_request(rebuilt)), rebuilt
    )
    if not hmac.compare_digest(expected, signature):
        return "InvalidSignatureException"
    if key_id in request.app[EXPIRED]:
        return "ExpiredTokenException"
    return None


async def endpoint(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    target = request.headers.get("X-Amz-Target")
    if target is None:
        return await _sts(request, body)
    switches = request.app[SWITCHES]
    if switches.fault is Fault.RATE_LIMITED:
        return json_error(400, "ThrottlingException", "Rate exceeded")
    if switches.fault is Fault.SERVER_ERROR:
        return json_error(
            500, "InternalServerException", "Internal error", retryAfterSeconds=switches.retry_after
        )
    problem = _check_signature(request, body, "invoicing")
    if switches.fault is Fault.UNAUTHORIZED:
        problem = "UnrecognizedClientException"
    if problem == "ExpiredTokenException":
        return json_error(403, problem, "The security token included in the request is expired")
    if problem is not None:
        return json_error(403, problem, "The security token included in the request is invalid.")
    if switches.fault is Fault.FORBIDDEN:
        return json_error(403, "AccessDeniedException", "User is not authorized")
    if request.headers.get("Content-Type") != "application/x-amz-json-1.0":
        return json_error(400, "SerializationException", "Unexpected content type")
    try:
        payload = json.loads(body)
    except ValueError:
        return json_error(400, "SerializationException", "Body is not JSON")
    if target == "Invoicing.ListInvoiceSummaries":
        return _list(request, payload)
    if target == "Invoicing.GetInvoicePDF":
        return _pdf_link(request, payload)
    return json_error(400, "UnknownOperationException", "Unknown operation")


async def _sts(request: web.Request, body: bytes) -> web.Response:
    form = parse_qs(body.decode())
    if form.get("Action") != ["GetCallerIdentity"] or form.get("Version") != ["2011-06-15"]:
        return sts_error(400, "InvalidAction", "Could not find operation")
    problem = _check_signature(request, body, "sts")
    if request.app[SWITCHES].fault is Fault.UNAUTHORIZED:
        problem = "UnrecognizedClientException"
    if problem == "ExpiredTokenException":
        return sts_error(
            400, "ExpiredToken", "The security token included in the request is expired"
        )
    if problem is not None:
        return sts_error(
            403, "InvalidClientTokenId", "The security token included in the request is invalid."
        )
    xml = (
        '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        f"<GetCallerIdentityResult><Arn>arn:aws:iam::{ACCOUNT_ID}:user/courier</Arn>"
        f"<UserId>AIDAZ7COURIERUSER01</UserId><Account>{ACCOUNT_ID}</Account>"
        "</GetCallerIdentityResult><ResponseMetadata><RequestId>"
        "01234567-89ab-4cde-8f01-23456789abcd</RequestId></ResponseMetadata>"
        "</GetCallerIdentityResponse>"
    )
    return web.Response(text=xml, content_type="text/xml")


def _list(request: web.Request, payload: dict[str, object]) -> web.Response:
    if request.app[SWITCHES].fault is Fault.MALFORMED_JSON:
        return truncated_json()
    selector = payload.get("Selector")
    if selector != {"ResourceType": "ACCOUNT_ID", "Value": ACCOUNT_ID}:
        return json_error(400, "ValidationException", "Invalid selector")
    found = payload.get("Filter")
    interval = found.get("TimeInterval") if isinstance(found, dict) else None
    try:
        assert isinstance(interval, dict)
        start = datetime.fromtimestamp(float(interval["StartDate"]), UTC)
        end = datetime.fromtimestamp(float(interval["EndDate"]), UTC)
    except (AssertionError, TypeError, KeyError, ValueError):
        return json_error(400, "ValidationException", "TimeInterval is required")
    if not start < end or end - start > timedelta(days=31):
        return json_error(400, "ValidationException", "TimeInterval is limited to one month")
    size = payload.get("MaxResults", 100)
    if not isinstance(size, int) or not 1 <= size <= 100:
        return json_error(400, "ValidationException", "MaxResults must be 1 to 100")
    matching = [i for i in request.app[SUMMARIES] if start <= i.issued < end]
    offset = 0
    token = payload.get("NextToken")
    if token is not None:
        try:
            decoded = json.loads(base64.b64decode(str(token)))
            offset = int(decoded["offset"])
            assert decoded["start"] == start.timestamp()
        except (ValueError, KeyError, AssertionError):
            return json_error(400, "ValidationException", "Invalid NextToken")
    page = matching[offset : offset + size]
    answer: dict[str, object] = {"InvoiceSummaries": [i.summary() for i in page]}
    if offset + size < len(matching):
        state = {"offset": offset + size, "start": start.timestamp()}
        answer["NextToken"] = base64.b64encode(json.dumps(state).encode()).decode()
    return web.json_response(answer, content_type="application/x-amz-json-1.0")


def _link_signature(invoice_id: str, expires: int) -> str:
    return hmac.new(_LINK_KEY, f"{invoice_id}:{expires}".encode(), hashlib.sha256).hexdigest()


def _pdf_link(request: web.Request, payload: dict[str, object]) -> web.Response:
    wanted = payload.get("InvoiceId")
    invoice = next((i for i in request.app[SUMMARIES] if i.invoice_id == wanted), None)
    if invoice is None:
        return json_error(400, "ResourceNotFoundException", "Invoice not found")
    expires = int(datetime.now(UTC).timestamp()) + 3600
    url = (
        f"{request.scheme}://{request.host}/presigned/{invoice.invoice_id}.pdf"
        f"?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=3600&x-expires={expires}"
        f"&X-Amz-Signature={_link_signature(invoice.invoice_id, expires)}"
    )
    return web.json_response(
        {
            "InvoicePDF": {
                "InvoiceId": invoice.invoice_id,
                "DocumentUrl": url,
                "DocumentUrlExpirationDate": expires,
            }
        },
        content_type="application/x-amz-json-1.0",
    )


async def presigned(request: web.Request) -> web.Response:
    invoice_id = request.match_info["invoice_id"]
    try:
        expires = int(request.query["x-expires"])
        good = hmac.compare_digest(
            request.query["X-Amz-Signature"], _link_signature(invoice_id, expires)
        )
    except (KeyError, ValueError):
        good = False
    if not good or expires < datetime.now(UTC).timestamp():
        return web.Response(status=403, text="<Error><Code>AccessDenied</Code></Error>")
    if "Authorization" in request.headers:
        # S3 refuses a presigned URL sent with a second authorisation.
        return web.Response(status=400, text="<Error><Code>InvalidArgument</Code></Error>")
    invoice = next(i for i in request.app[SUMMARIES] if i.invoice_id == invoice_id)
    if request.app[SWITCHES].fault is Fault.HTML_INSTEAD_OF_PDF:
        return html_page()
    return web.Response(body=pdf_of(invoice), content_type="application/pdf")


def create_app(
    *,
    keys: dict[str, str] | None = None,
    expired: Sequence[str] = (EXPIRED_KEY_ID,),
    invoices: Sequence[AwsInvoice] = SEEDED,
    switches: Switches | None = None,
) -> web.Application:
    app = new_app(switches)
    app[KEYS] = keys or {KEY_ID: SECRET, EXPIRED_KEY_ID: EXPIRED_SECRET}
    app[EXPIRED] = frozenset(expired)
    app[SUMMARIES] = tuple(invoices)
    app.router.add_post("/", endpoint)
    app.router.add_get("/presigned/{invoice_id}.pdf", presigned)
    return app
