"""The OAuth2 `state`: single-use, expiring, tied to a workspace and a member, stored
only as its hash. Shared by the accounting software's authorisations and the suppliers'
sign-in by consent: both come back through the one callback (`courier oauth`), which
reads the request's purpose to know whose it is.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.accounting.errors import AuthorizationStateInvalid
from core.models import AuthorizationPurpose, AuthorizationRequest
from core.models.base import utcnow


def new_state() -> str:
    return secrets.token_urlsafe(32)


def state_hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


async def purpose_of(*, session: AsyncSession, state: str) -> AuthorizationPurpose | None:
    """Whose authorisation `state` belongs to, without spending it; None when unknown."""
    if not state:
        return None
    purpose = (
        await session.exec(
            select(AuthorizationRequest.purpose).where(
                AuthorizationRequest.state_hash == state_hash(state)
            )
        )
    ).first()
    return AuthorizationPurpose(purpose) if purpose is not None else None


async def spend_state(*, session: AsyncSession, state: str) -> AuthorizationRequest:
    """The request `state` names, marked used: even if what follows fails, it cannot be
    replayed. Unknown, used or expired states are refused with their reason."""
    request = (
        await session.exec(
            select(AuthorizationRequest)
            .where(AuthorizationRequest.state_hash == state_hash(state))
            .with_for_update()
        )
    ).first()
    if request is None or not state:
        raise AuthorizationStateInvalid(reason="unknown_state")
    if request.used_at is not None:
        raise AuthorizationStateInvalid(reason="state_already_used")
    if request.expires_at <= utcnow():
        raise AuthorizationStateInvalid(reason="state_expired")
    request.used_at = utcnow()
    session.add(request)
    return request
