"""Merchant connections: created with sealed credentials, moved through their states."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import SecretStr
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.errors import ConnectionDuplicate, CredentialsMissing, DateInvalid, NotFound
from core.models import Connection, ConnectionCreate, ConnectionState, Supplier
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
) -> Connection:
    """Connect a supplier account for `data.owner_member_id`; only managers connect one
    (NotAllowed), for themselves or for another member."""
    require(by, Action.ADD_CONNECTION, workspace_id=data.workspace_id)
    now = now or utcnow()
    password = data.password.get_secret_value()
    if not data.login.strip() or not password:
        raise CredentialsMissing()
    supplier = await session.get(Supplier, data.supplier_id)
    if supplier is None:
        raise NotFound(kind="supplier", ident=data.supplier_id)
    await get_member(
        session=session, workspace_id=data.workspace_id, member_id=data.owner_member_id
    )
    check_fetch_from(data.fetch_from, today=now.date())
    key = account_key(data.login)
    duplicate = await session.scalar(
        select(Connection.id).where(
            Connection.workspace_id == data.workspace_id,
            Connection.supplier_id == data.supplier_id,
            Connection.account_key == key,
        )
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
        next_fetch_at=now,
    )
    session.add(connection)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as err:  # the same account, added by someone else meanwhile
        raise ConnectionDuplicate(supplier=supplier.name) from err
    return connection


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


async def remove_connection(*, session: AsyncSession, connection: Connection) -> None:
    """Forget a connection, its runs and its challenges. The documents it brought stay in
    the inbox (their connection_id becomes NULL)."""
    await session.delete(connection)
    await session.flush()
