"""Merchant connections: created with sealed credentials, moved through their states."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from pydantic import SecretStr
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.errors import ConnectionDuplicate, CredentialsMissing, DateInvalid, NotFound
from core.models import Challenge, Connection, ConnectionCreate, ConnectionState, Supplier
from core.models.base import utcnow
from core.permissions import Action, Who, require
from core.services.members import get_member
from core.statemachine import StateMachine
from core.suppliers.connector import Credentials
from core.vault import Vault

S = ConnectionState
_RETRYABLE = frozenset({S.SYNCING})
_AFTER_CODE = frozenset(
    {S.SYNCING, S.NEEDS_USER, S.AUTH_FAILED, S.ACTION_REQUIRED, S.TEMP_ERROR, S.BROKEN}
)

CONNECTION_STATES: StateMachine[ConnectionState] = StateMachine(
    name="connection",
    moves={
        S.NEW: _RETRYABLE,
        S.SYNCING: frozenset(
            {
                S.ACTIVE,
                S.AWAITING_CODE,
                S.AWAITING_APPROVAL,
                S.NEEDS_USER,
                S.AUTH_FAILED,
                S.ACTION_REQUIRED,
                S.TEMP_ERROR,
                S.BROKEN,
            }
        ),
        # A code or an approval resumes the same run (a wrong code asks again in place);
        # the site may also fail while the code is being checked.
        S.AWAITING_CODE: _AFTER_CODE,
        S.AWAITING_APPROVAL: _AFTER_CODE,
        S.ACTIVE: _RETRYABLE,
        S.NEEDS_USER: _RETRYABLE,
        S.AUTH_FAILED: _RETRYABLE,
        S.ACTION_REQUIRED: _RETRYABLE,
        S.TEMP_ERROR: _RETRYABLE,
        S.BROKEN: _RETRYABLE,
        S.DISABLED: _RETRYABLE,
    },
    from_any=frozenset({S.DISABLED}),
)


def account_key(login: str) -> str:
    """Logins differ by case and spaces only in typos: one account, one connection."""
    return login.strip().casefold()


#: The error of a connection whose owner has not yet given the supplier's consent.
SIGN_IN_NEEDED = "sign_in_needed"
#: The longest login a person may type (the column's size).
LOGIN_MAX = 200


def check_fetch_from(value: date | None, *, today: date) -> date | None:
    if value is not None and value > today:
        raise DateInvalid(value=value.isoformat(), reason="in_future")
    return value


async def create_connection(
    *,
    session: AsyncSession,
    vault: Vault,
    data: ConnectionCreate,
    by: Who,
    now: datetime | None = None,
    awaiting_consent: bool = False,
) -> Connection:
    """Connect a supplier account for `data.owner_member_id`; only managers connect one
    (NotAllowed), for themselves or for another member.

    `awaiting_consent`: the supplier signs in by the owner's consent (OAuth), which has
    not come back yet. The connection has no password; it waits, as one whose sign-in was
    refused (`auth_failed`, `sign_in_needed`), until the callback brings its token, and
    "Update the credentials" shows the consent address again."""
    require(by, Action.ADD_CONNECTION, workspace_id=data.workspace_id)
    now = now or utcnow()
    password = data.password.get_secret_value()
    if not data.login.strip() or not (password or awaiting_consent):
        raise CredentialsMissing()
    supplier = await session.get(Supplier, data.supplier_id)
    if supplier is None:
        raise NotFound(kind="supplier", ident=data.supplier_id)
    await get_member(
        session=session, workspace_id=data.workspace_id, member_id=data.owner_member_id
    )
    check_fetch_from(data.fetch_from, today=now.date())
    key = account_key(data.login)
    duplicate = await login_taken(
        session=session,
        workspace_id=data.workspace_id,
        supplier_id=data.supplier_id,
        login=data.login,
    )
    if duplicate is not None:
        raise ConnectionDuplicate(supplier=supplier.name, connection_id=duplicate)
    connection = Connection(
        workspace_id=data.workspace_id,
        supplier_id=data.supplier_id,
        owner_member_id=data.owner_member_id,
        fetch_from=data.fetch_from,
        login=data.login.strip(),
        account_key=key,
        credentials_sealed=vault.seal_json({"login": data.login.strip(), "password": password}),
        next_fetch_at=None if awaiting_consent else now,
    )
    if awaiting_consent:
        connection.state, connection.last_error = S.AUTH_FAILED, SIGN_IN_NEEDED
    session.add(connection)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as err:  # the same account, added by someone else meanwhile
        raise ConnectionDuplicate(supplier=supplier.name) from err
    return connection


async def login_taken(
    *,
    session: AsyncSession,
    workspace_id: int,
    supplier_id: int,
    login: str,
    other_than: int | None = None,
) -> int | None:
    """The connection of this workspace that already uses this supplier account (other
    than `other_than`), if any: asked as soon as a login is typed, so nobody types a
    password and picks a start date for an account that cannot be connected twice."""
    query = select(Connection.id).where(
        Connection.workspace_id == workspace_id,
        Connection.supplier_id == supplier_id,
        Connection.account_key == account_key(login),
    )
    if other_than is not None:
        query = query.where(Connection.id != other_than)
    found: int | None = await session.scalar(query)
    return found


def read_credentials(*, vault: Vault, connection: Connection) -> Credentials:
    values = vault.open_json(connection.credentials_sealed)
    return Credentials(login=str(values["login"]), password=SecretStr(str(values["password"])))


def replace_credentials(
    *, vault: Vault, connection: Connection, login: str, password: SecretStr
) -> None:
    """New credentials clear an auth failure's block: the next run may try them."""
    if not login.strip() or not password.get_secret_value():
        raise CredentialsMissing()
    connection.login = login.strip()
    connection.account_key = account_key(login)
    connection.credentials_sealed = vault.seal_json(
        {"login": connection.login, "password": password.get_secret_value()}
    )
    connection.failure_count = 0


def move_connection(
    connection: Connection,
    target: ConnectionState,
    *,
    error: str | None = None,
    now: datetime | None = None,
) -> None:
    """Move to `target` if the state machine allows it; refuse with IllegalTransition."""
    CONNECTION_STATES.check(ConnectionState(connection.state), target)
    connection.state = target
    connection.state_changed_at = now or utcnow()
    connection.last_error = error


async def get_connection(
    *, session: AsyncSession, workspace_id: int, connection_id: int
) -> Connection:
    connection = await session.get(Connection, connection_id)
    if connection is None or connection.workspace_id != workspace_id:
        raise NotFound(kind="connection", ident=connection_id)
    return connection


async def get_challenge(
    *, session: AsyncSession, workspace_id: int, challenge_id: int
) -> Challenge:
    """A code request on one of the workspace's connections; NotFound for another's."""
    challenge = await session.get(Challenge, challenge_id)
    connection = (
        await session.get(Connection, challenge.connection_id) if challenge is not None else None
    )
    if challenge is None or connection is None or connection.workspace_id != workspace_id:
        raise NotFound(kind="challenge", ident=challenge_id)
    return challenge


async def list_connections(
    *, session: AsyncSession, workspace_id: int
) -> list[tuple[Connection, Supplier]]:
    query = (
        select(Connection, Supplier)
        .join(Supplier, col(Supplier.id) == col(Connection.supplier_id))
        .where(Connection.workspace_id == workspace_id)
        .order_by(col(Connection.id))
    )
    return [(c, s) for c, s in (await session.exec(query)).all()]


@dataclass(frozen=True, slots=True)
class ConnectionView:
    """What a list or a step shows of a connection: names and states, never a secret."""

    id: int
    supplier_id: int
    supplier: str
    login: str
    state: ConnectionState
    owner_member_id: int
    last_attempt_at: datetime | None
    next_fetch_at: datetime | None
    #: Why it stopped, as a key (`sign_in_needed`...): never a message with a secret.
    last_error: str | None = None

    @classmethod
    def of(cls, connection: Connection, supplier: Supplier) -> ConnectionView:
        assert connection.id is not None
        return cls(
            id=connection.id,
            supplier_id=connection.supplier_id,
            supplier=supplier.name,
            login=connection.login,
            state=ConnectionState(connection.state),
            owner_member_id=connection.owner_member_id,
            last_attempt_at=connection.last_attempt_at,
            next_fetch_at=connection.next_fetch_at,
            last_error=connection.last_error,
        )


async def connection_views(*, session: AsyncSession, workspace_id: int) -> list[ConnectionView]:
    """The workspace's connections as a person sees them, oldest first."""
    pairs = await list_connections(session=session, workspace_id=workspace_id)
    return [ConnectionView.of(connection, supplier) for connection, supplier in pairs]


async def connection_view(
    *, session: AsyncSession, workspace_id: int, connection_id: int
) -> ConnectionView:
    """One connection of the workspace (NotFound when it is not the workspace's)."""
    connection = await get_connection(
        session=session, workspace_id=workspace_id, connection_id=connection_id
    )
    supplier = await session.get(Supplier, connection.supplier_id)
    if supplier is None:
        raise NotFound(kind="supplier", ident=connection.supplier_id)
    return ConnectionView.of(connection, supplier)


async def remove_connection(*, session: AsyncSession, connection: Connection) -> None:
    """Forget a connection, its runs and its challenges. The documents it brought stay in
    the inbox (their connection_id becomes NULL)."""
    await session.delete(connection)
    await session.flush()
