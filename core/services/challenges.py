"""2FA challenges: opened by a fetch, answered from the chat or from mail, in any process.

An app approval ("approve in your app") is a challenge too, with channel APP: it awaits
no code, so it is never listed as awaiting one, and the fetch polls the site instead.

The database carries the code from the process that received it to the one whose fetch
is waiting; the code is sealed while it waits and erased once taken.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from core.domains import domain_matches
from core.errors import ChallengeClosed, NotFound
from core.jobs.wakeups import CHALLENGES, wake
from core.models import (
    Challenge,
    ChallengeChannel,
    ChallengeState,
    Connection,
    ConnectionState,
    Supplier,
)
from core.models.base import utcnow
from core.permissions import Action, Who, allows, require
from core.vault import Vault

DEFAULT_TTL = timedelta(minutes=10)

#: What a typed one-time code looks like: 4 to 10 letters and digits, at least one digit,
#: perhaps split by one dash ("123-456").
_CODE = re.compile(r"^\s*(?=[A-Za-z0-9-]*\d)([A-Za-z0-9]{2,5}-?[A-Za-z0-9]{2,5})\s*$")


def read_code(text: str | None) -> str | None:
    """The code in a typed message, without its dash; None when it does not look like one
    (a sentence, a date, a single digit)."""
    match = _CODE.match(text or "")
    return match.group(1).replace("-", "") if match else None


@dataclass(frozen=True, slots=True)
class ChallengeView:
    """An open challenge as a person is shown it: whose supplier account it is for."""

    id: int
    connection_id: int
    workspace_id: int
    owner_member_id: int
    supplier: str
    login: str
    state: ChallengeState


async def open_challenge(
    *,
    session: AsyncSession,
    connection: Connection,
    channel: ChallengeChannel,
    masked_destination: str | None = None,
    prompt: str | None = None,
    ttl: timedelta = DEFAULT_TTL,
    now: datetime | None = None,
) -> Challenge:
    """Open a challenge; an older open one for the same connection is cancelled."""
    assert connection.id is not None
    now = now or utcnow()
    await session.exec(
        update(Challenge)
        .where(col(Challenge.connection_id) == connection.id)
        .where(col(Challenge.state).in_([ChallengeState.OPEN, ChallengeState.ANSWERED]))
        .values(state=ChallengeState.CANCELLED, code_sealed=None)
    )
    challenge = Challenge(
        connection_id=connection.id,
        channel=channel,
        masked_destination=masked_destination,
        prompt=prompt,
        expires_at=now + ttl,
    )
    session.add(challenge)
    await session.flush()
    return challenge


async def cancel_open_challenges(*, session: AsyncSession, connection_id: int) -> int:
    """Give up the code a run of this connection waits for (the person asked for a new
    one): the waiting run stops at its next look. How many were open."""
    query = select(Challenge).where(
        Challenge.connection_id == connection_id, Challenge.state == ChallengeState.OPEN
    )
    cancelled = list((await session.exec(query)).all())
    for challenge in cancelled:
        challenge.state = ChallengeState.CANCELLED
        challenge.code_sealed = None
    if cancelled:
        wake(session, CHALLENGES)  # its fetch stops waiting
    await session.flush()
    return len(cancelled)


async def answer_code(
    *,
    session: AsyncSession,
    vault: Vault,
    by: Who,
    workspace_id: int,
    challenge_id: int,
    code: str,
    via: str,
    now: datetime | None = None,
) -> Challenge:
    """A person's code: theirs to give only for a challenge of a connection they own (its
    prompt was sent to them), or for any challenge when they manage the workspace."""
    challenge = await session.get(Challenge, challenge_id)
    connection = (
        await session.get(Connection, challenge.connection_id) if challenge is not None else None
    )
    if connection is None or connection.workspace_id != workspace_id:
        raise NotFound(kind="challenge", ident=challenge_id)
    require(
        by,
        Action.ANSWER_CODE,
        workspace_id=workspace_id,
        resource_owner_id=connection.owner_member_id,
    )
    return await submit_code(
        session=session, vault=vault, challenge_id=challenge_id, code=code, via=via, now=now
    )


async def submit_code(
    *,
    session: AsyncSession,
    vault: Vault,
    challenge_id: int,
    code: str,
    via: str,
    now: datetime | None = None,
) -> Challenge:
    """Hand a code to the waiting fetch. People go through `answer_code`, which checks
    who they are; this is for relays that established trust themselves (mail from the
    supplier's authenticated domain, mail/pipeline.py)."""
    now = now or utcnow()
    challenge = await session.get(Challenge, challenge_id, with_for_update=True)
    if challenge is None:
        raise NotFound(kind="challenge", ident=challenge_id)
    if (
        challenge.state != ChallengeState.OPEN
        or challenge.expires_at <= now
        or challenge.channel == ChallengeChannel.APP  # approved on the phone, never typed
    ):
        raise ChallengeClosed(challenge_id=challenge_id, state=str(challenge.state))
    challenge.code_sealed = vault.seal(code.strip())
    challenge.answered_via = via
    challenge.attempts += 1
    challenge.state = ChallengeState.ANSWERED
    wake(session, CHALLENGES)  # the fetch waiting for it, in whichever process, goes on
    await session.flush()
    return challenge


def take_code(*, vault: Vault, challenge: Challenge) -> str | None:
    """The waiting fetch takes the code; it is erased so it never outlives its use."""
    if challenge.state != ChallengeState.ANSWERED or challenge.code_sealed is None:
        return None
    code = vault.open(challenge.code_sealed)
    challenge.code_sealed = None
    return code


def settle_code(challenge: Challenge, *, accepted: bool) -> None:
    """After the supplier judged the code: done, or open again until attempts run out."""
    challenge.code_sealed = None
    if accepted:
        challenge.state = ChallengeState.ACCEPTED
    elif challenge.attempts >= challenge.max_attempts:
        challenge.state = ChallengeState.FAILED
    else:
        challenge.state = ChallengeState.OPEN


async def expire_challenges(
    *, session: AsyncSession, now: datetime | None = None
) -> list[Challenge]:
    now = now or utcnow()
    query = select(Challenge).where(
        col(Challenge.state).in_([ChallengeState.OPEN, ChallengeState.ANSWERED]),
        col(Challenge.expires_at) <= now,
    )
    expired = list((await session.exec(query)).all())
    for challenge in expired:
        challenge.state = ChallengeState.EXPIRED
        challenge.code_sealed = None
    if expired:
        wake(session, CHALLENGES)
    await session.flush()
    return expired


async def open_challenges(*, session: AsyncSession, workspace_id: int) -> list[Challenge]:
    """Every challenge of the workspace awaiting a typed code: what the system sees (the
    IMAP poller's pace). A person sees `answerable_challenges`."""
    return [c for c, _ in await _open_with_connections(session, workspace_id)]


async def answerable_challenges(
    *, session: AsyncSession, workspace_id: int, by: Who
) -> list[Challenge]:
    """The open challenges `by` may answer (core/permissions.py, ANSWER_CODE): a bare
    code typed in the chat goes only to those."""
    return [
        challenge
        for challenge, connection in await _open_with_connections(session, workspace_id)
        if allows(
            by,
            Action.ANSWER_CODE,
            workspace_id=workspace_id,
            resource_owner_id=connection.owner_member_id,
        )
    ]


async def answerable_views(
    *, session: AsyncSession, workspace_id: int, by: Who
) -> list[ChallengeView]:
    """`answerable_challenges` with the supplier and login each is for, to ask "which?"
    (two accounts at one supplier are told apart by their logins)."""
    query = (
        select(Challenge, Connection, Supplier)
        .join(Connection, col(Connection.id) == col(Challenge.connection_id))
        .join(Supplier, col(Supplier.id) == col(Connection.supplier_id))
        .where(Connection.workspace_id == workspace_id, Challenge.state == ChallengeState.OPEN)
        .where(Challenge.channel != ChallengeChannel.APP)
        .order_by(col(Challenge.id))
    )
    return [
        _view(challenge, connection, supplier)
        for challenge, connection, supplier in (await session.exec(query)).all()
        if allows(
            by,
            Action.ANSWER_CODE,
            workspace_id=workspace_id,
            resource_owner_id=connection.owner_member_id,
        )
    ]


async def challenge_view(
    *, session: AsyncSession, workspace_ids: tuple[int, ...], challenge_id: int
) -> ChallengeView | None:
    """The challenge, if it belongs to one of these workspaces (a person's, since a
    prompt may come from a workspace other than the active one); None otherwise."""
    query = (
        select(Challenge, Connection, Supplier)
        .join(Connection, col(Connection.id) == col(Challenge.connection_id))
        .join(Supplier, col(Supplier.id) == col(Connection.supplier_id))
        .where(Challenge.id == challenge_id)
    )
    row = (await session.exec(query)).first()
    if row is None or row[1].workspace_id not in workspace_ids:
        return None
    return _view(*row)


def _view(challenge: Challenge, connection: Connection, supplier: Supplier) -> ChallengeView:
    assert challenge.id is not None
    return ChallengeView(
        id=challenge.id,
        connection_id=challenge.connection_id,
        workspace_id=connection.workspace_id,
        owner_member_id=connection.owner_member_id,
        supplier=supplier.name,
        login=connection.login,
        state=ChallengeState(challenge.state),
    )


async def _open_with_connections(
    session: AsyncSession, workspace_id: int
) -> list[tuple[Challenge, Connection]]:
    query = (
        select(Challenge, Connection)
        .join(Connection, col(Connection.id) == col(Challenge.connection_id))
        .where(Connection.workspace_id == workspace_id, Challenge.state == ChallengeState.OPEN)
        .where(Challenge.channel != ChallengeChannel.APP)
        .order_by(col(Challenge.id))
    )
    return [(c, n) for c, n in (await session.exec(query)).all()]


async def challenges_for_sender(
    *, session: AsyncSession, workspace_id: int, sender_domain: str
) -> list[Challenge]:
    """Open challenges of the workspace whose supplier sends mail from this domain."""
    query = (
        select(Challenge, Supplier)
        .join(Connection, col(Connection.id) == col(Challenge.connection_id))
        .join(Supplier, col(Supplier.id) == col(Connection.supplier_id))
        .where(Connection.workspace_id == workspace_id, Challenge.state == ChallengeState.OPEN)
        .where(Challenge.channel != ChallengeChannel.APP)
        .order_by(col(Challenge.id))
    )
    rows = (await session.exec(query)).all()
    return [c for c, s in rows if domain_matches(sender_domain, s.domains)]


async def logging_in_for_sender(
    *, session: AsyncSession, workspace_id: int, sender_domain: str
) -> bool:
    """Whether a connection of the workspace whose supplier mails from this domain is
    logging in right now: its code may reach Courier before the site's answer does.

    A connection already awaiting its code counts too. On PostgreSQL each statement sees
    the latest commit, so the fetch may open its challenge (and move the connection to
    `awaiting_code`) between `challenges_for_sender` finding none and this check: the
    code then waits for its next look, which finds the challenge, instead of being filed
    as a mail without a document."""
    query = (
        select(Supplier)
        .join(Connection, col(Connection.supplier_id) == col(Supplier.id))
        .where(
            Connection.workspace_id == workspace_id,
            col(Connection.state).in_([ConnectionState.SYNCING, ConnectionState.AWAITING_CODE]),
        )
    )
    return any(domain_matches(sender_domain, s.domains) for s in (await session.exec(query)).all())
