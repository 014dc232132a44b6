"""A stand-in for QuickBooks Online: Intuit's OAuth2 server and the Accounting API v3 calls
Courier makes, as developer.intuit.com documents them.

- `GET /connect/oauth2` (consent is given at once) redirects to `redirect_uri` with `code`,
  `state` and `realmId`. `POST /oauth2/v1/tokens/bearer` (client's Basic credentials)
  takes the `authorization_code` and `refresh_token` grants and answers `{token_type,
  access_token, expires_in: 3600, refresh_token, x_refresh_token_expires_in}`; the refresh
  token lives 100 days from its issue, rolling, never past 5 years from the consent.
  `POST /v2/oauth2/tokens/revoke` takes `{"token": ...}` as JSON.
- `/v3/company/{realmId}/...` with the Bearer token: `GET companyinfo/{realmId}`,
  `GET query?query=select * from Account STARTPOSITION n MAXRESULTS m` (Account, Vendor,
  Customer, TaxCode, TaxRate), `POST bill?requestid=` and `POST vendorcredit?requestid=`
  (the same requestid replays the first answer), `POST upload` multipart with
  `file_metadata_01` (an Attachable whose AttachableRef names the bill or vendor credit)
  and `file_content_01`.
- `GET preferences` (CurrencyPrefs: home currency, multicurrency; TaxPrefs) and
  `CompanyInfo.Country`, set per realm: a French company by default.
- The body as QuickBooks checks it (quickbooks_checks.py): against Intuit's Finance.xsd
  and the fields the API reference requires; a line's TaxCodeRef must be one of the
  company's codes (2500 otherwise), one with purchase rates, and present on every line
  of a company that books tax; a currency other than the home one needs multicurrency;
  amounts are never negative (a refund is a VendorCredit). The tax is computed per rate
  unless `TxnTaxDetail` gives it, and `TotalAmt` includes it.
- Faults as Intuit sends them: 401 `fault.error[].code` 3200 (expired or revoked token),
  403 `Fault.Error[].code` 3100 (the app's keys), 400 `ValidationFault` (2020 required
  field, 2500 invalid reference, 6140 duplicate document number), 429 ThrottleExceeded.
- Limits per realm: 500 calls a minute, 10 a second.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import BodyPartReader, web

from tests.standins.accounting_limits import (
    AccessToken,
    Clock,
    Fault,
    Knobs,
    RefreshToken,
    SlidingWindow,
    TokenBook,
    bearer,
    delay,
    new_token,
    truncated_json,
)
from tests.standins.quickbooks_checks import body_fault, setup_fault, totals, validation

CLIENT_ID = "ABqbo" + "7" * 40
CLIENT_SECRET = "qbo-secret-" + "k3" * 12
ACCESS_SECONDS = 3600
REFRESH_SECONDS = 100 * 24 * 3600
CAP_SECONDS = 5 * 365 * 24 * 3600
QUERY = re.compile(
    r"^select \* from (\w+)(?: where (\w+) = '((?:\\'|[^'])*)')?"
    r"(?: startposition (\d+))?(?: maxresults (\d+))?$",
    re.IGNORECASE,
)


@dataclass
class Realm:
    realm_id: str
    name: str
    entities: dict[str, list[dict[str, Any]]]
    #: CompanyInfo.Country; "US" keeps no tax on bills.
    country: str = "FR"
    home_currency: str = "EUR"
    multicurrency: bool = False
    #: TaxPrefs.UsingSalesTax: VAT (GST, HST) is set up.
    using_sales_tax: bool = True

    @property
    def books_tax(self) -> bool:
        return self.country != "US" and self.using_sales_tax


def bakery(realm_id: str = "9341453172541726") -> Realm:
    accounts = [
        {"Id": str(n), "Name": name, "AcctNum": num, "AccountType": kind, "Active": True}
        for n, (num, name, kind) in enumerate(
            (
                ("6061", "Electricity", "Expense"),
                ("6262", "Telephone & Internet", "Expense"),
                ("6064", "Office Supplies", "Expense"),
                ("4010", "Accounts Payable (A/P)", "Accounts Payable"),
            ),
            start=30,
        )
    ]
    vendors = [
        {"Id": str(100 + n), "DisplayName": name, "Active": True}
        for n, name in enumerate(
            ("EDF Entreprises", "Orange Pro", *(f"Vendor {i:02d}" for i in range(1, 12)))
        )
    ]
    customers = [{"Id": "500", "DisplayName": "Café du Coin", "Active": True}]
    tax_rates = [
        {"Id": "7", "Name": "TVA 20% achats", "RateValue": 20, "Active": True},
        {"Id": "8", "Name": "TVA 5.5% achats", "RateValue": 5.5, "Active": True},
        {"Id": "10", "Name": "TVA 10% ventes", "RateValue": 10, "Active": True},
    ]

    def rates(*ids: str) -> dict[str, Any]:
        return {
            "TaxRateDetail": [
                {"TaxRateRef": {"value": i}, "TaxTypeApplicable": "TaxOnAmount", "TaxOrder": 0}
                for i in ids
            ]
        }

    tax_codes = [
        {"Id": "4", "Name": "TVA 20%", "Active": True, "PurchaseTaxRateList": rates("7")},
        {"Id": "5", "Name": "TVA 5.5%", "Active": True, "PurchaseTaxRateList": rates("8")},
        {"Id": "6", "Name": "TVA 10% (ventes)", "Active": True, "SalesTaxRateList": rates("10")},
    ]
    return Realm(
        realm_id,
        "Boulangerie Dupont",
        {
            "Account": accounts,
            "Vendor": vendors,
            "Customer": customers,
            "TaxCode": tax_codes,
            "TaxRate": tax_rates,
        },
    )


@dataclass
class StoredBill:
    id: str
    realm_id: str
    body: dict[str, Any]
    #: "Bill" or "VendorCredit".
    entity: str = "Bill"
    attachments: list[tuple[str, bytes]] = field(default_factory=list)


@dataclass
class QuickBooksStandin:
    realms: dict[str, Realm]
    time_scale: float = 1.0
    #: The rate windows' own scale, when a test runs them faster than the token lifetimes
    #: (a provider whose limits are scaled alike); `time_scale` otherwise.
    limit_scale: float | None = None
    clock: Clock = field(default_factory=Clock)
    knobs: Knobs = field(default_factory=Knobs)
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    consent_realm: str | None = None
    #: The app's keys were revoked at Intuit: every API call answers 403/3100.
    keys_revoked: bool = False
    tokens: TokenBook = field(default_factory=TokenBook)
    grant_realm: dict[str, str] = field(default_factory=dict)
    grant_cap: dict[str, float] = field(default_factory=dict)
    bills: dict[str, StoredBill] = field(default_factory=dict)
    replies: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    second: dict[str, SlidingWindow] = field(default_factory=dict)
    minute: dict[str, SlidingWindow] = field(default_factory=dict)

    def seconds(self, documented: float) -> float:
        return documented / self.time_scale

    def bills_of(self, realm_id: str) -> list[StoredBill]:
        return [bill for bill in self.bills.values() if bill.realm_id == realm_id]


STANDIN = web.AppKey[QuickBooksStandin]("quickbooks")


def _stamp() -> str:
    return datetime.now(UTC).isoformat()


def _fault(status: int, code: str, message: str, detail: str, kind: str) -> web.Response:
    error = {"Message": message, "Detail": detail, "code": code}
    return web.json_response(
        {"Fault": {"Error": [error], "type": kind}, "time": _stamp()}, status=status
    )


def _unauthorized() -> web.Response:
    # Intuit's 401 body is lower-cased, unlike its other faults.
    error = {
        "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
        "detail": "Token expired or revoked",
        "code": "3200",
    }
    body = {
        "warnings": None,
        "intuitObject": None,
        "fault": {"error": [error], "type": "AUTHENTICATION"},
        "time": _stamp(),
    }
    return web.json_response(body, status=401)


_validation = validation


# --- identity ------------------------------------------------------------------------------


async def authorize(request: web.Request) -> web.Response:
    standin = request.app[STANDIN]
    query = request.query
    if query.get("client_id") != standin.client_id or query.get("response_type") != "code":
        return web.Response(status=400, text="invalid_client")
    realm_id = standin.consent_realm or next(iter(standin.realms))
    grant = str(uuid.uuid4())
    code = new_token("AB11")
    standin.tokens.codes[code] = (grant, query.get("redirect_uri", ""))
    standin.grant_realm[grant] = realm_id
    standin.grant_cap[grant] = standin.clock.now() + standin.seconds(CAP_SECONDS)
    params = {"code": code, "state": query.get("state", ""), "realmId": realm_id}
    raise web.HTTPFound(f"{query.get('redirect_uri', '')}?{urlencode(params)}")


def _client_ok(standin: QuickBooksStandin, request: web.Request) -> bool:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return False
    try:
        client, _, secret = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return False
    return client == standin.client_id and secret == standin.client_secret


def _issue(standin: QuickBooksStandin, grant: str) -> dict[str, Any]:
    now = standin.clock.now()
    refresh_at = min(now + standin.seconds(REFRESH_SECONDS), standin.grant_cap[grant])
    access, refresh = new_token("eyJqbo"), new_token("AB11rt")
    standin.tokens.access[access] = AccessToken(grant, now + standin.seconds(ACCESS_SECONDS))
    standin.tokens.refresh[refresh] = RefreshToken(grant, refresh_at)
    return {
        "token_type": "bearer",
        "access_token": access,
        "expires_in": max(1, round(standin.seconds(ACCESS_SECONDS))),
        "refresh_token": refresh,
        "x_refresh_token_expires_in": max(0, round(refresh_at - now)),
    }


async def token(request: web.Request) -> web.Response:
    standin = request.app[STANDIN]
    if not _client_ok(standin, request):
        return web.json_response({"error": "invalid_client"}, status=401)
    form = {k: str(v) for k, v in (await request.post()).items()}
    if form.get("grant_type") == "authorization_code":
        entry = standin.tokens.codes.pop(form.get("code", ""), None)
        if entry is None or entry[1] != form.get("redirect_uri"):
            return web.json_response({"error": "invalid_grant"}, status=400)
        return web.json_response(_issue(standin, entry[0]))
    if form.get("grant_type") == "refresh_token":
        old = standin.tokens.refresh.pop(form.get("refresh_token", ""), None)
        now = standin.clock.now()
        if old is None or old.grant in standin.tokens.revoked or old.expires_at <= now:
            return web.json_response({"error": "invalid_grant"}, status=400)
        return web.json_response(_issue(standin, old.grant))
    return web.json_response({"error": "unsupported_grant_type"}, status=400)


async def revoke(request: web.Request) -> web.Response:
    standin = request.app[STANDIN]
    if not _client_ok(standin, request):
        return web.json_response({"error": "invalid_client"}, status=401)
    value = (await request.json()).get("token", "")
    entry = standin.tokens.refresh.get(value) or standin.tokens.access.get(value)
    if entry is not None:
        standin.tokens.revoke_grant(entry.grant)
    return web.Response(status=200)


# --- API -------------------------------------------------------------------------------


@web.middleware
async def api_gate(request: web.Request, handler: Any) -> web.StreamResponse:
    standin = request.app[STANDIN]
    standin.knobs.requests.append((request.method, request.raw_path))
    if not request.path.startswith("/v3/company/"):
        response: web.StreamResponse = await handler(request)
        return response
    if standin.keys_revoked:
        return _fault(
            403,
            "3100",
            "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403",
            "",
            "AUTHENTICATION",
        )
    value = bearer(request)
    now = standin.clock.now()
    grant = standin.tokens.grant_of_access(value, now) if value else None
    realm_id = request.match_info.get("realm", "")
    if grant is None or standin.grant_realm.get(grant) != realm_id:
        return _unauthorized()
    scale = standin.limit_scale or standin.time_scale
    second = standin.second.setdefault(realm_id, SlidingWindow(10, 1 / scale))
    minute = standin.minute.setdefault(realm_id, SlidingWindow(500, 60 / scale))
    fault = standin.knobs.take_fault()
    if (
        second.admit(now) is not None
        or minute.admit(now) is not None
        or (fault is Fault.RATE_LIMITED)
    ):
        standin.knobs.rate_limited += 1
        response = _fault(
            429,
            "003001",
            "message=ThrottleExceeded; errorCode=003001; statusCode=429",
            "The request limit was reached.",
            "SERVICE",
        )
        if fault is Fault.RATE_LIMITED:
            response.headers["Retry-After"] = f"{standin.knobs.retry_after:g}"
        return response
    if fault is Fault.SERVER_ERROR:
        return _fault(500, "10000", "An application error has occurred.", "", "SERVICE")
    await delay(standin.knobs)
    if fault is Fault.MALFORMED_JSON:
        return truncated_json()
    answer: web.StreamResponse = await handler(request)
    return answer


def _realm(request: web.Request) -> Realm:
    return request.app[STANDIN].realms[request.match_info["realm"]]


async def company_info(request: web.Request) -> web.Response:
    realm = _realm(request)
    info = {"Id": "1", "CompanyName": realm.name, "Country": realm.country}
    return web.json_response({"CompanyInfo": info, "time": _stamp()})


async def preferences(request: web.Request) -> web.Response:
    realm = _realm(request)
    prefs = {
        "Id": "1",
        "CurrencyPrefs": {
            "MultiCurrencyEnabled": realm.multicurrency,
            "HomeCurrency": {"value": realm.home_currency},
        },
        "TaxPrefs": {"UsingSalesTax": realm.using_sales_tax},
    }
    return web.json_response({"Preferences": prefs, "time": _stamp()})


async def query(request: web.Request) -> web.Response:
    realm = _realm(request)
    text = " ".join(request.query.get("query", "").split())
    match = QUERY.match(text)
    if match is None or match.group(1) not in realm.entities:
        return _validation("4000", "Error parsing query", f"QueryParserError: {text}")
    entity, where, value = match.group(1), match.group(2), match.group(3)
    start = int(match.group(4) or 1)
    size = min(int(match.group(5) or 100), 1000)
    rows = realm.entities[entity]
    if where:
        rows = [r for r in rows if str(r.get(where)) == value.replace("\\'", "'")]
    rows = rows[start - 1 : start - 1 + size]
    body: dict[str, Any] = {"startPosition": start, "maxResults": len(rows)}
    if rows:
        body[entity] = rows
    return web.json_response({"QueryResponse": body if rows else {}, "time": _stamp()})


ENTITY_OF_PATH = {"bill": "Bill", "vendorcredit": "VendorCredit"}


async def create_bill(request: web.Request) -> web.Response:
    standin = request.app[STANDIN]
    realm = _realm(request)
    entity = ENTITY_OF_PATH[request.path.rsplit("/", 1)[-1]]
    request_id = request.query.get("requestid")
    if request_id and (realm.realm_id, request_id) in standin.replies:
        return web.json_response(standin.replies[(realm.realm_id, request_id)])
    try:
        bill = await request.json()
    except json.JSONDecodeError:
        return _validation("2020", "Request has invalid or unsupported property", "")
    if not isinstance(bill, dict):
        return _validation("2010", "Request has invalid or unsupported property", "")
    fault = body_fault(entity, bill)
    if fault is not None:
        return fault
    vendor = bill["VendorRef"]["value"]
    if vendor not in {v["Id"] for v in realm.entities["Vendor"]}:
        return _validation(
            "2500",
            "Invalid Reference Id",
            f"Invalid Reference Id : Vendor "
            f"assigned to this transaction has been deleted: {vendor}",
        )
    accounts = {a["Id"] for a in realm.entities["Account"]}
    lines = bill["Line"]
    for line in lines:
        detail = line.get("AccountBasedExpenseLineDetail") or {}
        account = (detail.get("AccountRef") or {}).get("value")
        if account not in accounts:
            return _validation(
                "2500",
                "Invalid Reference Id",
                f"Invalid Reference Id : Accounts element id {account} not found",
            )
        if float(line.get("Amount", 0)) < 0:
            return _validation(
                "6480",
                "Invalid amount",
                "Transaction line amounts cannot be negative: enter a VendorCredit instead.",
            )
    tax_fault = setup_fault(realm, bill)
    if tax_fault is not None:
        return tax_fault
    number = bill.get("DocNumber")
    if number and any(
        b.body.get("DocNumber") == number
        and b.body["VendorRef"]["value"] == vendor
        and b.entity == entity
        for b in standin.bills_of(realm.realm_id)
    ):
        return _validation(
            "6140",
            "Duplicate Document Number Error",
            "Duplicate Document Number Error : You must specify a different "
            f"number. This number has already been used. DocNumber={number}",
        )
    bill_id = str(len(standin.bills) + 146)
    standin.bills[bill_id] = StoredBill(bill_id, realm.realm_id, bill, entity)
    total, tax_detail = totals(realm, bill)
    kept = bill | {"Id": bill_id, "SyncToken": "0", "TotalAmt": float(total)}
    if tax_detail is not None:
        kept["TxnTaxDetail"] = tax_detail
    standin.bills[bill_id].body = kept
    reply = {entity: kept, "time": _stamp()}
    if request_id:
        standin.replies[(realm.realm_id, request_id)] = reply
    return web.json_response(reply)


async def upload(request: web.Request) -> web.Response:
    standin = request.app[STANDIN]
    realm = _realm(request)
    metadata: dict[str, Any] | None = None
    content: bytes | None = None
    filename = ""
    request_id = request.query.get("requestid")
    if request_id and (realm.realm_id, request_id) in standin.replies:
        return web.json_response(standin.replies[(realm.realm_id, request_id)])
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            continue
        if part.name == "file_metadata_01":
            metadata = json.loads(await part.read(decode=True))
        elif part.name == "file_content_01":
            filename = part.filename or ""
            content = bytes(await part.read(decode=True))
    if metadata is None or content is None:
        return _validation(
            "2020",
            "Required param missing",
            "file_metadata_01 and file_content_01 are both required",
        )
    refs = metadata.get("AttachableRef") or []
    target, entity = next(
        (
            (r["EntityRef"]["value"], r["EntityRef"]["type"])
            for r in refs
            if r.get("EntityRef", {}).get("type") in ENTITY_OF_PATH.values()
        ),
        (None, None),
    )
    bill = standin.bills.get(str(target))
    if bill is None or bill.realm_id != realm.realm_id or bill.entity != entity:
        return _validation("2500", "Invalid Reference Id", f"Bill {target} not found")
    bill.attachments.append((metadata.get("FileName") or filename, content))
    attachable = metadata | {
        "Id": str(5000 + len(bill.attachments)),
        "Size": len(content),
        "SyncToken": "0",
    }
    reply = {"AttachableResponse": [{"Attachable": attachable}], "time": _stamp()}
    if request_id:
        standin.replies[(realm.realm_id, request_id)] = reply
    return web.json_response(reply)


def create_app(
    *,
    realms: Sequence[Realm] = (),
    time_scale: float = 1.0,
    clock: Clock | None = None,
    knobs: Knobs | None = None,
    limit_scale: float | None = None,
) -> web.Application:
    chosen = list(realms) or [bakery()]
    standin = QuickBooksStandin(
        realms={r.realm_id: r for r in chosen},
        time_scale=time_scale,
        limit_scale=limit_scale,
        clock=clock or Clock(),
        knobs=knobs or Knobs(),
    )
    app = web.Application(middlewares=[api_gate], client_max_size=100 * 1024 * 1024)
    app[STANDIN] = standin
    app.router.add_get("/connect/oauth2", authorize)
    app.router.add_post("/oauth2/v1/tokens/bearer", token)
    app.router.add_post("/v2/oauth2/tokens/revoke", revoke)
    app.router.add_get("/v3/company/{realm}/companyinfo/{id}", company_info)
    app.router.add_get("/v3/company/{realm}/preferences", preferences)
    app.router.add_get("/v3/company/{realm}/query", query)
    app.router.add_post("/v3/company/{realm}/bill", create_bill)
    app.router.add_post("/v3/company/{realm}/vendorcredit", create_bill)
    app.router.add_post("/v3/company/{realm}/upload", upload)
    return app
