"""Supplier APIs signed in to with the person's own consent (OAuth 2.0), not a password.

A connector whose supplier signs in this way (Google Ads) is served by an `OAuthSignIn`:
the consent address the chat shows instead of asking for a password, the exchange of the
code the callback brings back for a refresh token (kept sealed as the connection's
password), and a fresh access token for each run. The OAuth itself is the accounting
software's (`core.accounting.providers.oauth.OAuthApp`, through Authlib); here its typed
failures become a connector's:

- `invalid_grant` (the person revoked Courier's access, or the token lapsed unused) is
  `SignInExpired`: the run ends in `auth_failed`, and "Update the credentials" shows the
  consent address again;
- a throttled or unreachable token server is `SupplierUnavailable`, retried later;
- any other refusal (a client the server no longer knows) is `LoginRefused`.

No message here holds a token, a code or the client's secret.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic import SecretStr

from core.accounting.errors import IntegrationExpired, RateLimited, Rejected, Unavailable
from core.accounting.providers.oauth import OAuthApp, OAuthEndpoints
from core.suppliers.api import CredentialsExpired
from core.suppliers.connector import LoginRefused, SupplierUnavailable


class SignInExpired(CredentialsExpired):
    """The refresh token is no longer accepted: the person signs in again (consent)."""

    key = "sign_in_expired"


class OAuthSignIn:
    """One supplier's OAuth app: consent, code exchange, access tokens."""

    def __init__(
        self,
        *,
        supplier: str,
        endpoints: OAuthEndpoints,
        scope: str,
        authorize_params: Mapping[str, str] | None = None,
    ) -> None:
        #: The catalog key of the supplier it signs in to.
        self.supplier = supplier
        #: Courier's app is registered with the supplier (its client id and secret set).
        self.registered = bool(endpoints.client_id and endpoints.client_secret)
        self._app = OAuthApp(
            provider=supplier.replace("-", "_"),
            endpoints=endpoints,
            scope=scope,
            authorize_params=authorize_params,
        )

    def __repr__(self) -> str:
        return f"OAuthSignIn({self.supplier!r})"

    async def consent_url(self, *, state: str, redirect_uri: str) -> str:
        """The address the person opens; ConfigInvalid while no app is registered."""
        return await self._app.authorization_url(state=state, redirect_uri=redirect_uri)

    async def exchange(self, *, code: str, redirect_uri: str) -> SecretStr:
        """The refresh token for a code; the accounting failures are raised as they are
        (the callback words them), and a grant without a refresh token is refused."""
        token = await self._app.exchange(code=code, redirect_uri=redirect_uri)
        refresh = token.get("refresh_token")
        if not isinstance(refresh, str) or not refresh:
            # Without it Courier could read the invoices for an hour, then never again.
            raise Rejected(provider=self._app.provider, reason="no_refresh_token")
        return SecretStr(refresh)

    async def access_token(self, refresh_token: SecretStr) -> SecretStr:
        """A fresh access token, or the connector's typed failure."""
        try:
            token = await self._app.refresh(refresh_token=refresh_token.get_secret_value())
        except IntegrationExpired as err:
            raise SignInExpired("the supplier no longer accepts Courier's access") from err
        except RateLimited as err:
            retry = err.params.get("retry_after")
            raise SupplierUnavailable(
                "the token server is rate limiting",
                retry_after=float(retry) if isinstance(retry, int | float) else None,
            ) from err
        except Unavailable as err:
            raise SupplierUnavailable("the token server is unavailable") from err
        except Rejected as err:
            raise LoginRefused("the token server refused Courier's app") from err
        return SecretStr(str(token["access_token"]))


class SupplierSignIns:
    """The suppliers that sign in by consent, by catalog key: built once by the
    composition root, read by the connect flow, the callback and the connectors."""

    def __init__(self, sign_ins: Iterable[OAuthSignIn] = ()) -> None:
        self._by_key = {sign_in.supplier: sign_in for sign_in in sign_ins}

    def __repr__(self) -> str:
        return f"SupplierSignIns({sorted(self._by_key)!r})"

    def get(self, key: str) -> OAuthSignIn | None:
        return self._by_key.get(key)

    def keys(self) -> frozenset[str]:
        return frozenset(self._by_key)
