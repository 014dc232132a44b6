"""The Pennylane stand-in's OAuth 2.0 server, as its partner guide describes it (a
Doorkeeper server under `app.pennylane.com/oauth`).

- `GET /oauth/authorize?client_id&redirect_uri&response_type=code&scope&state`: consent is
  given at once for the stand-in's one company, and the browser is sent to the
  `redirect_uri` (it must be the app's registered one) with `code` and `state`; a scope
  Pennylane does not have comes back as `error=invalid_scope`, an unknown app as a 401
  page.
- `POST /oauth/token` (the app's id and secret in the form or as Basic credentials):
  `authorization_code` (the code once, with the same `redirect_uri`) and `refresh_token`
  grants answer `{access_token, token_type, expires_in: 86400, refresh_token, scope,
  created_at}`. A refresh token is spent by its use (rotation) and dies after 90 days;
  a spent, expired or revoked one is `400 {"error": "invalid_grant"}`.
- `POST /oauth/revoke` ends the consent: its access and refresh tokens stop at once.
- An API call with an OAuth token needs that token alive (401 `invalid_token` otherwise)
  and the scope of its endpoint (403 otherwise); `GET /me` needs none.
"""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from tests.standins.accounting_limits import AccessToken, Clock, RefreshToken, TokenBook, new_token

CLIENT_ID = "courier-pennylane-partner"
CLIENT_SECRET = "pl_secret_" + "Qr7" * 10
ACCESS_SECONDS = 86_400
REFRESH_SECONDS = 90 * 86_400
#: The v2 scopes of the Company API (pennylane.readme.io, "Understand Scopes") that the
#: stand-in's endpoints use, and others Pennylane has; any other is invalid_scope.
KNOWN_SCOPES = frozenset(
    f"{resource}:{access}"
    for resource in (
        "supplier_invoices",
        "customer_invoices",
        "file_attachments",
        "ledger_accounts",
        "suppliers",
        "customers",
        "products",
        "categories",
        "journals",
        "ledger_entries",
        "transactions",
        "bank_accounts",
    )
    for access in ("readonly", "all")
)
#: (method, path after the API prefix) → the resource whose scope it needs.
SCOPED: dict[tuple[str, str], str] = {
    ("GET", "ledger_accounts"): "ledger_accounts",
    ("GET", "suppliers"): "suppliers",
    ("GET", "customers"): "customers",
    ("POST", "file_attachments"): "file_attachments",
    ("POST", "supplier_invoices/import"): "supplier_invoices",
    ("GET", "supplier_invoices"): "supplier_invoices",
}


@dataclass
class OAuthServer:
    """The partner app Pennylane registered, and what its consents gave."""

    clock: Clock
    time_scale: float = 1.0
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    #: The app's registered redirect URI (None: any, for stories that do not care).
    redirect_uri: str | None = None
    tokens: TokenBook = field(default_factory=TokenBook)
    #: grant → the scopes its consent gave.
    consents: dict[str, frozenset[str]] = field(default_factory=dict)
    #: Scopes the person's role cannot give: left out of the consent.
    withheld_scopes: frozenset[str] = frozenset()
    #: The person presses "Refuse" on the consent page.
    declines: bool = False


OAUTH = web.AppKey[OAuthServer]("pennylane_oauth")


def oauth_error(error: str, status: int = 400) -> web.Response:
    return web.json_response(
        {"error": error, "error_description": error.replace("_", " ")}, status=status
    )


def _client_ok(request: web.Request, form: dict[str, str], standin: OAuthServer) -> bool:
    header = request.headers.get("Authorization", "")
    if header.startswith("Basic "):
        try:
            client, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
    else:
        client, secret = form.get("client_id", ""), form.get("client_secret", "")
    return bool(client) and (client, secret) == (standin.client_id, standin.client_secret)


async def authorize(request: web.Request) -> web.Response:
    standin = request.app[OAUTH]
    query = request.query
    if query.get("client_id") != standin.client_id:
        return web.Response(status=401, text="Client authentication failed: unknown client.")
    redirect = query.get("redirect_uri", "")
    if standin.redirect_uri is not None and redirect != standin.redirect_uri:
        return web.Response(status=400, text="The redirect uri included is not valid.")
    state = query.get("state", "")
    if query.get("response_type") != "code":
        raise web.HTTPFound(
            f"{redirect}?{urlencode({'error': 'unsupported_response_type', 'state': state})}"
        )
    asked = frozenset(query.get("scope", "").split())
    if not asked or not asked <= KNOWN_SCOPES:
        raise web.HTTPFound(f"{redirect}?{urlencode({'error': 'invalid_scope', 'state': state})}")
    if standin.declines:
        raise web.HTTPFound(f"{redirect}?{urlencode({'error': 'access_denied', 'state': state})}")
    grant = str(uuid.uuid4())
    standin.consents[grant] = asked - standin.withheld_scopes
    code = new_token("plc_")
    standin.tokens.codes[code] = (grant, redirect)
    raise web.HTTPFound(f"{redirect}?{urlencode({'code': code, 'state': state})}")


def _issue(standin: OAuthServer, grant: str) -> dict[str, Any]:
    now = standin.clock.now()
    access, refresh = new_token("pla_"), new_token("plr_")
    standin.tokens.access[access] = AccessToken(grant, now + ACCESS_SECONDS / standin.time_scale)
    standin.tokens.refresh[refresh] = RefreshToken(
        grant, now + REFRESH_SECONDS / standin.time_scale
    )
    return {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": max(1, round(ACCESS_SECONDS / standin.time_scale)),
        "refresh_token": refresh,
        "scope": " ".join(sorted(standin.consents[grant])),
        "created_at": int(time.time()),
    }


async def token(request: web.Request) -> web.Response:
    standin = request.app[OAUTH]
    form = {k: str(v) for k, v in (await request.post()).items()}
    if not _client_ok(request, form, standin):
        return oauth_error("invalid_client", 401)
    now = standin.clock.now()
    if form.get("grant_type") == "authorization_code":
        entry = standin.tokens.codes.pop(form.get("code", ""), None)
        if entry is None or entry[1] != form.get("redirect_uri"):
            return oauth_error("invalid_grant")
        return web.json_response(_issue(standin, entry[0]))
    if form.get("grant_type") == "refresh_token":
        old = standin.tokens.refresh.get(form.get("refresh_token", ""))
        if (
            old is None
            or old.used_at is not None
            or old.expires_at <= now
            or old.grant in standin.tokens.revoked
        ):
            return oauth_error("invalid_grant")
        old.used_at = now  # spent: Pennylane's refresh tokens rotate
        issued = _issue(standin, old.grant)
        old.successor = issued["refresh_token"]
        return web.json_response(issued)
    return oauth_error("unsupported_grant_type")


async def revoke(request: web.Request) -> web.Response:
    standin = request.app[OAUTH]
    form = {k: str(v) for k, v in (await request.post()).items()}
    if not _client_ok(request, form, standin):
        return oauth_error("invalid_client", 401)
    value = form.get("token", "")
    entry = standin.tokens.refresh.get(value) or standin.tokens.access.get(value)
    if entry is not None:
        standin.tokens.revoke_grant(entry.grant)
    return web.json_response({})  # RFC 7009: the same answer for an unknown token


def refused(
    standin: OAuthServer, request: web.Request, token: str, prefix: str
) -> web.Response | None:
    """Why an OAuth access token may not make this call, or None when it may."""
    grant = standin.tokens.grant_of_access(token, standin.clock.now())
    if grant is None:
        response = web.json_response({"error": "invalid_token"}, status=401)
        response.headers["WWW-Authenticate"] = (
            'Bearer realm="Doorkeeper", error="invalid_token", '
            'error_description="The access token expired"'
        )
        return response
    resource = SCOPED.get((request.method, request.path.removeprefix(prefix + "/")))
    if resource is None:
        return None
    granted = standin.consents.get(grant, frozenset())
    # A read takes either scope of its resource; a write only `:all`.
    wanted = (
        {f"{resource}:all", f"{resource}:readonly"}
        if request.method == "GET"
        else {f"{resource}:all"}
    )
    if not wanted & granted:
        return web.json_response(
            {"error": f"Forbidden: the token lacks the scope {resource}"}, status=403
        )
    return None


def add_routes(app: web.Application, server: OAuthServer) -> None:
    app[OAUTH] = server
    app.router.add_get("/oauth/authorize", authorize)
    app.router.add_post("/oauth/token", token)
    app.router.add_post("/oauth/revoke", revoke)
