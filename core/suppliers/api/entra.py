"""Microsoft Entra's v2.0 token endpoint, as Azure and Microsoft Advertising use it.

`POST https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token`, form-encoded, answers
`{"token_type": "Bearer", "expires_in", "access_token", "refresh_token"?}` or an error
`{"error", "error_description", "error_codes": [...]}`. The numbers in `error_codes` are
the AADSTS codes: 7000222 an expired client secret, 700082 and 70008 an expired refresh
token, 7000215 a wrong secret, 700016 an application unknown in the tenant, 90002 an
unknown tenant, 50173 a grant revoked by a password change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import httpx
from pydantic import SecretStr

from core.suppliers.api import (
    CredentialsExpired,
    json_body,
    object_field,
    optional_text,
    retry_after,
    text_field,
)
from core.suppliers.connector import LayoutChanged, LoginRefused, SupplierUnavailable

DEFAULT_LOGIN_URL = "https://login.microsoftonline.com"
#: The secret or refresh token was good once and has run out: a new one is needed.
EXPIRED_CODES = frozenset({7000222, 700082, 70008})
#: Errors that name what the owner gave (a secret, an app, a tenant, a grant).
REFUSED_ERRORS = frozenset(
    {"invalid_client", "unauthorized_client", "invalid_request", "invalid_grant"}
)


@dataclass(frozen=True, slots=True)
class EntraToken:
    access_token: SecretStr
    #: Only for the refresh token grant: the token that replaces the one just used.
    refresh_token: SecretStr | None
    expires_in: float


def token_url(login_url: str, tenant: str) -> str:
    return f"{login_url.rstrip('/')}/{quote(tenant, safe='')}/oauth2/v2.0/token"


def token_request(form: dict[str, str]) -> tuple[dict[str, str], bytes]:
    """Headers and body of a token request; the secrets travel in the body only."""
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    return headers, urlencode(form).encode()


def read_token(response: httpx.Response) -> EntraToken:
    """The token in Entra's answer, or the typed error it stands for."""
    status = response.status_code
    if status == 429 or status >= 500:
        raise SupplierUnavailable(
            f"Microsoft Entra answered HTTP {status}", retry_after=retry_after(response)
        )
    if status != 200:
        error, codes = _error(response)
        if codes & EXPIRED_CODES:
            raise CredentialsExpired("Microsoft Entra says the secret or grant has expired")
        if error in REFUSED_ERRORS or status == 401:
            raise LoginRefused("Microsoft Entra refused the credentials")
        raise LayoutChanged(f"Microsoft Entra answered HTTP {status} ({error or 'no error'})")
    body = object_field(json_body(response), "the token answer")
    lifetime = body.get("expires_in")
    try:
        seconds = float(lifetime) if isinstance(lifetime, int | str) else None
    except ValueError:
        seconds = None
    if seconds is None or isinstance(lifetime, bool):
        raise LayoutChanged("the token answer has no expires_in")
    refresh = optional_text(body, "refresh_token")
    return EntraToken(
        access_token=SecretStr(text_field(body, "access_token")),
        refresh_token=SecretStr(refresh) if refresh else None,
        expires_in=seconds,
    )


def _error(response: httpx.Response) -> tuple[str, frozenset[int]]:
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return "", frozenset()
    if not isinstance(body, dict):
        return "", frozenset()
    error = body.get("error")
    codes = body.get("error_codes")
    numbers = frozenset(c for c in (codes if isinstance(codes, list) else []) if isinstance(c, int))
    return (error if isinstance(error, str) else ""), numbers
