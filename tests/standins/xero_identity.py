"""The Xero stand-in's identity server: consent, tokens, revocation and `/connections`.

- `GET /identity/connect/authorize` (consent is given at once) redirects to the app's
  `redirect_uri` with `code`, `state` and `scope`, or `error=invalid_scope` for a scope the
  app may not ask for (`accounting.transactions` for an app created from 2 March 2026).
- `POST /connect/token` takes the `authorization_code` and `refresh_token` grants with the
  client's Basic credentials and answers `{access_token, expires_in: 1800, token_type,
  refresh_token, scope}`; the access token is a JWT naming the consent's
  `authentication_event_id` and its scopes. Refresh tokens are single-use and rotate; the
  used one still answers for 30 minutes; an unused one dies after 60 days. Errors are
  `{"error": "invalid_grant"}` / `invalid_client`.
- `POST /connect/revocation` revokes the refresh token and with it its connections.
- `GET /connections[?authEventId=]` lists the person's connections (those of one consent
  with the filter); `DELETE /connections/{id}` removes one.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from tests.standins.accounting_limits import AccessToken, RefreshToken, bearer, new_token
from tests.standins.xero_spec import specs
from tests.standins.xero_state import (
    ACCESS_SECONDS,
    REFRESH_GRACE_SECONDS,
    REFRESH_UNUSED_SECONDS,
    STANDIN,
    Connection,
    Consent,
    XeroStandin,
    error_response,
    oauth_error,
)


async def authorize(request: web.Request) -> web.Response:
    standin = request.app[STANDIN]
    query = request.query
    if query.get("client_id") != standin.client_id or query.get("response_type") != "code":
        return web.Response(status=400, text="Sorry, something went wrong: unauthorized_client")
    redirect = query.get("redirect_uri", "")
    asked = frozenset(query.get("scope", "").split())
    known = _offered(standin)
    if not asked or not asked <= known:
        params = {"error": "invalid_scope", "state": query.get("state", "")}
        raise web.HTTPFound(f"{redirect}?{urlencode(params)}")
    tenant_id = standin.consent_tenant or next(iter(standin.tenants))
    grant, event = str(uuid.uuid4()), str(uuid.uuid4())
    standin.consents[grant] = Consent(asked - standin.withheld_scopes, event)
    code = new_token("xc_")
    standin.tokens.codes[code] = (grant, redirect)
    existing = next((c for c in standin.connections if c.tenant_id == tenant_id), None)
    stamp = datetime.now(UTC).isoformat()
    if existing is not None:
        existing.grant, existing.auth_event = grant, event
    else:
        standin.connections.append(Connection(str(uuid.uuid4()), tenant_id, grant, event, stamp))
    params = {"code": code, "scope": " ".join(sorted(asked)), "state": query.get("state", "")}
    raise web.HTTPFound(f"{redirect}?{urlencode(params)}")


def _offered(standin: XeroStandin) -> frozenset[str]:
    """The scopes the app may ask for: OpenID's, offline access and the API's."""
    scopes = {"openid", "profile", "email", "offline_access"}
    for op in specs().accounting.operations:
        scopes |= op.scopes
    if standin.granular_app:
        scopes -= {"accounting.transactions", "accounting.transactions.read"}
    return frozenset(scopes)


def _jwt(claims: dict[str, Any]) -> str:
    """A JWT as Xero's access tokens are; the signature is random (nobody checks it here)."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = part(json.dumps({"alg": "RS256", "kid": "standin", "typ": "JWT"}).encode())
    return f"{header}.{part(json.dumps(claims).encode())}.{new_token('')}"


def _client_ok(standin: XeroStandin, request: web.Request, form: dict[str, str]) -> bool:
    header = request.headers.get("Authorization", "")
    if header.startswith("Basic "):
        try:
            client, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
    else:
        client, secret = form.get("client_id", ""), form.get("client_secret", "")
    return client == standin.client_id and secret == standin.client_secret


def _issue(standin: XeroStandin, grant: str) -> dict[str, Any]:
    now = standin.clock.now()
    consent = standin.consents[grant]
    issued_at = int(datetime.now(UTC).timestamp())
    access = _jwt(
        {
            "nbf": issued_at,
            "exp": issued_at + ACCESS_SECONDS,
            "iss": "https://identity.xero.com",
            "aud": "https://identity.xero.com/resources",
            "client_id": standin.client_id,
            "jti": uuid.uuid4().hex,
            "authentication_event_id": consent.auth_event,
            "scope": sorted(consent.scopes),
        }
    )
    refresh = new_token("xr_")
    standin.tokens.access[access] = AccessToken(grant, now + standin.seconds(ACCESS_SECONDS))
    standin.tokens.refresh[refresh] = RefreshToken(
        grant, now + standin.seconds(REFRESH_UNUSED_SECONDS)
    )
    return {
        "id_token": new_token("xi_"),
        "access_token": access,
        "expires_in": max(1, round(standin.seconds(ACCESS_SECONDS))),
        "token_type": "Bearer",
        "refresh_token": refresh,
        "scope": " ".join(sorted(consent.scopes)),
    }


async def token(request: web.Request) -> web.Response:
    standin = request.app[STANDIN]
    form = {k: str(v) for k, v in (await request.post()).items()}
    if not _client_ok(standin, request, form):
        return oauth_error("invalid_client")
    now = standin.clock.now()
    if form.get("grant_type") == "authorization_code":
        entry = standin.tokens.codes.pop(form.get("code", ""), None)
        if entry is None or entry[1] != form.get("redirect_uri"):
            return oauth_error("invalid_grant")
        return web.json_response(_issue(standin, entry[0]))
    if form.get("grant_type") == "refresh_token":
        value = form.get("refresh_token", "")
        old = standin.tokens.refresh.get(value)
        if old is None or old.grant in standin.tokens.revoked or old.expires_at <= now:
            return oauth_error("invalid_grant")
        grace = standin.seconds(REFRESH_GRACE_SECONDS)
        if old.used_at is not None and now - old.used_at > grace:
            # Used already: Xero answers again for the grace period, then refuses.
            return oauth_error("invalid_grant")
        issued = _issue(standin, old.grant)
        old.used_at = old.used_at if old.used_at is not None else now
        old.successor = issued["refresh_token"]
        return web.json_response(issued)
    return oauth_error("unsupported_grant_type")


async def revoke(request: web.Request) -> web.Response:
    standin = request.app[STANDIN]
    form = {k: str(v) for k, v in (await request.post()).items()}
    if not _client_ok(standin, request, form):
        return oauth_error("invalid_client")
    entry = standin.tokens.refresh.get(form.get("token", ""))
    if entry is not None:
        standin.tokens.revoke_grant(entry.grant)
        standin.connections = [c for c in standin.connections if c.grant != entry.grant]
    return web.Response(status=200)


def grant_of(standin: XeroStandin, request: web.Request) -> str | web.Response:
    value = bearer(request)
    grant = standin.tokens.grant_of_access(value, standin.clock.now()) if value else None
    if grant is None:
        response = error_response(401, "Unauthorized", "TokenExpired: token expired")
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response
    return grant


async def connections(request: web.Request) -> web.Response:
    standin = request.app[STANDIN]
    grant = grant_of(standin, request)
    if isinstance(grant, web.Response):
        return grant
    event = request.query.get("authEventId")
    return web.json_response(
        [
            {
                "id": c.id,
                "authEventId": c.auth_event,
                "tenantId": c.tenant_id,
                "tenantType": "ORGANISATION",
                "tenantName": standin.tenants[c.tenant_id].name,
                "createdDateUtc": c.created,
                "updatedDateUtc": c.created,
            }
            for c in standin.connections
            if event is None or c.auth_event == event
        ]
    )


async def delete_connection(request: web.Request) -> web.Response:
    standin = request.app[STANDIN]
    grant = grant_of(standin, request)
    if isinstance(grant, web.Response):
        return grant
    wanted = request.match_info["id"]
    standin.connections = [c for c in standin.connections if c.id != wanted]
    return web.Response(status=204)
