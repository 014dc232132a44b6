"""Signing a supplier connection in by the owner's consent (OAuth 2.0), and back.

- `start_consent`, in the step's transaction: a single-use state tied to the connection
  (core/services/oauth_states.py) and the supplier's consent address, for the chat to
  show instead of asking for a password.
- `complete_consent`, from the callback (`courier oauth`): the state is spent first, the
  code exchanged for a refresh token, which is sealed as the connection's password; the
  connection is then due at once, as after "Fetch now", so the first run (the scheduler's)
  checks it and tells the owner what it brought.

A refresh token that stops working (`invalid_grant`) ends a run in `auth_failed` with
`sign_in_expired`; "Update the credentials" starts a consent again for the same
connection, and the callback replaces the token: the same path as a first sign-in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import SecretStr
from sqlmodel.ext.asyncio.session import AsyncSession

from core.accounting.errors import AuthorizationStateInvalid
from core.db import Database
from core.models import AuthorizationPurpose, AuthorizationRequest, Connection, Supplier
from core.models.base import utcnow
from core.services.connections import SIGN_IN_NEEDED, read_credentials, replace_credentials
from core.services.fetch_claims import request_fetch
from core.services.oauth_states import new_state, spend_state, state_hash
from core.suppliers.oauth import OAuthSignIn, SignInExpired, SupplierSignIns
from core.vault import Vault

#: The errors of a connection waiting for its owner's consent, first or again: each has
#: its own help (connections.help_<error>), which says the way out is the consent link.
CONSENT_ERRORS = frozenset({SIGN_IN_NEEDED, SignInExpired.key})
#: How long a consent address works.
CONSENT_TTL = timedelta(minutes=30)
#: After the consent, the first run counts as someone being there (as "Fetch now").
INTERACTIVE_FOR = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class SignedIn:
    connection_id: int
    workspace_id: int
    supplier: str
    login: str


async def start_consent(
    *,
    session: AsyncSession,
    sign_in: OAuthSignIn,
    connection: Connection,
    member_id: int | None,
    redirect_uri: str,
    now: datetime | None = None,
    ttl: timedelta = CONSENT_TTL,
) -> str:
    """The consent address for `connection`; ConfigInvalid while the supplier's app is
    not registered (nothing is stored then)."""
    assert connection.id is not None
    state = new_state()
    url = await sign_in.consent_url(state=state, redirect_uri=redirect_uri)
    session.add(
        AuthorizationRequest(
            workspace_id=connection.workspace_id,
            member_id=member_id,
            provider=sign_in.supplier[:20],
            purpose=AuthorizationPurpose.SUPPLIER,
            connection_id=connection.id,
            state_hash=state_hash(state),
            expires_at=(now or utcnow()) + ttl,
        )
    )
    return url


async def complete_consent(
    *,
    db: Database,
    vault: Vault,
    sign_ins: SupplierSignIns,
    redirect_uri: str,
    params: Mapping[str, str],
) -> SignedIn:
    """The callback of a supplier's consent: one transaction spends the state, the code
    is exchanged outside any, and a second keeps the token and makes the run due."""
    async with db.transaction() as session:
        request = await spend_state(session=session, state=params.get("state", ""))
        if request.purpose != AuthorizationPurpose.SUPPLIER or request.connection_id is None:
            raise AuthorizationStateInvalid(reason="unknown_state")
        connection_id, provider = request.connection_id, request.provider
    if params.get("error"):
        # The owner declined at the supplier ("access_denied"), or the supplier refused.
        raise AuthorizationStateInvalid(reason=params["error"][:60])
    sign_in = sign_ins.get(provider)
    if sign_in is None or not params.get("code"):
        raise AuthorizationStateInvalid(reason="unknown_state")
    refresh = await sign_in.exchange(code=params["code"], redirect_uri=redirect_uri)
    async with db.transaction() as session:
        connection = await session.get(Connection, connection_id)
        if connection is None:  # removed while the owner was at the supplier
            raise AuthorizationStateInvalid(reason="unknown_state")
        keep_token(vault=vault, connection=connection, refresh_token=refresh)
        session.add(connection)
        supplier = await session.get(Supplier, connection.supplier_id)
        return SignedIn(
            connection_id=connection_id,
            workspace_id=connection.workspace_id,
            supplier=supplier.name if supplier is not None else provider,
            login=connection.login,
        )


def keep_token(*, vault: Vault, connection: Connection, refresh_token: SecretStr) -> None:
    """The refresh token, sealed as the connection's password; the first run due now."""
    login = read_credentials(vault=vault, connection=connection).login
    replace_credentials(vault=vault, connection=connection, login=login, password=refresh_token)
    connection.failure_count = 0
    request_fetch(connection, interactive_for=INTERACTIVE_FOR)
