"""Connecting a supplier account: sealed credentials, one connection per account, legal
moves only."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from pydantic import SecretStr

from core.db import Database
from core.errors import (
    ConnectionDuplicate,
    CredentialsMissing,
    DateInvalid,
    IllegalTransition,
    MemberNotInWorkspace,
    NotAllowed,
)
from core.models import Connection, ConnectionCreate, ConnectionState, Role
from core.permissions import OPERATOR
from core.services.connections import (
    create_connection,
    list_connections,
    move_connection,
    read_credentials,
    replace_credentials,
)
from core.vault import Vault
from tests.integration.conftest import World, join


def _data(world: World, **changes: object) -> ConnectionCreate:
    assert world.workspace.id
    assert world.supplier.id
    assert world.owner.id
    values: dict[str, object] = {
        "workspace_id": world.workspace.id,
        "supplier_id": world.supplier.id,
        "owner_member_id": world.owner.id,
        "login": "compta@dupont.fr",
        "password": SecretStr("correct horse battery staple"),
    }
    return ConnectionCreate.model_validate(values | changes)


async def test_a_connection_is_created_new_due_now_with_sealed_credentials(
    db: Database, vault: Vault, world: World
) -> None:
    async with db.transaction() as session:
        connection = await create_connection(
            session=session, vault=vault, data=_data(world), by=OPERATOR
        )
    assert connection.state == ConnectionState.NEW
    assert connection.next_fetch_at is not None
    assert "correct horse" not in connection.credentials_sealed
    credentials = read_credentials(vault=vault, connection=connection)
    assert credentials.login == "compta@dupont.fr"
    assert credentials.password.get_secret_value() == "correct horse battery staple"
    async with db.transaction() as session:
        assert world.workspace.id is not None
        [(listed, supplier)] = await list_connections(
            session=session, workspace_id=world.workspace.id
        )
    assert (listed.id, supplier.name) == (connection.id, "EDF Entreprises")


async def test_the_same_account_twice_is_refused_even_typed_differently(
    db: Database, vault: Vault, world: World
) -> None:
    async with db.transaction() as session:
        await create_connection(session=session, vault=vault, data=_data(world), by=OPERATOR)
    with pytest.raises(ConnectionDuplicate):
        async with db.transaction() as session:
            await create_connection(
                session=session,
                vault=vault,
                data=_data(world, login=" Compta@Dupont.FR "),
                by=OPERATOR,
            )
    # The same login at another supplier is another account.
    assert world.other_supplier.id is not None
    async with db.transaction() as session:
        await create_connection(
            session=session,
            vault=vault,
            data=_data(world, supplier_id=world.other_supplier.id),
            by=OPERATOR,
        )


async def test_a_history_start_date_in_the_future_is_refused(
    db: Database, vault: Vault, world: World
) -> None:
    with pytest.raises(DateInvalid):
        async with db.transaction() as session:
            await create_connection(
                session=session,
                vault=vault,
                data=_data(world, fetch_from=date.today() + timedelta(days=3)),
                by=OPERATOR,
            )
    async with db.transaction() as session:
        connection = await create_connection(
            session=session,
            vault=vault,
            data=_data(world, fetch_from=date(2025, 1, 1)),
            by=OPERATOR,
        )
    assert connection.fetch_from == date(2025, 1, 1)


async def test_an_empty_password_or_a_stranger_owner_is_refused(
    db: Database, vault: Vault, world: World
) -> None:
    with pytest.raises(CredentialsMissing):
        async with db.transaction() as session:
            await create_connection(
                session=session, vault=vault, data=_data(world, password=SecretStr("")), by=OPERATOR
            )
    with pytest.raises(MemberNotInWorkspace):
        async with db.transaction() as session:
            await create_connection(
                session=session, vault=vault, data=_data(world, owner_member_id=999), by=OPERATOR
            )


async def test_states_follow_the_machine_and_illegal_moves_are_refused(
    db: Database, vault: Vault, world: World
) -> None:
    async with db.transaction() as session:
        connection = await create_connection(
            session=session, vault=vault, data=_data(world), by=OPERATOR
        )
    with pytest.raises(IllegalTransition):
        move_connection(connection, ConnectionState.ACTIVE)  # never verified
    for target in (
        ConnectionState.SYNCING,
        ConnectionState.AWAITING_CODE,
        ConnectionState.SYNCING,
        ConnectionState.ACTIVE,
        ConnectionState.SYNCING,
        ConnectionState.AUTH_FAILED,
    ):
        move_connection(
            connection,
            target,
            error="login_refused" if target == ConnectionState.AUTH_FAILED else None,
        )
    assert (connection.state, connection.last_error) == (
        ConnectionState.AUTH_FAILED,
        "login_refused",
    )
    with pytest.raises(IllegalTransition):
        move_connection(connection, ConnectionState.AWAITING_CODE)
    move_connection(connection, ConnectionState.DISABLED)  # from anywhere
    async with db.transaction() as session:
        session.add(connection)
    async with db.transaction() as session:
        stored = await session.get(Connection, connection.id)
        assert stored is not None
        assert stored.state == ConnectionState.DISABLED


async def test_new_credentials_replace_the_old_ones(
    db: Database, vault: Vault, world: World
) -> None:
    async with db.transaction() as session:
        connection = await create_connection(
            session=session, vault=vault, data=_data(world), by=OPERATOR
        )
        connection.failure_count = 3
        replace_credentials(
            vault=vault, connection=connection, login="new@dupont.fr", password=SecretStr("n3w")
        )
    assert read_credentials(vault=vault, connection=connection).password.get_secret_value() == "n3w"
    assert connection.failure_count == 0


async def test_a_plain_member_cannot_connect_a_supplier_account_from_any_interface(
    db: Database, vault: Vault, world: World
) -> None:
    clerk = await join(db, world, role=Role.MEMBER, telegram_user_id=2002)
    assert clerk.id is not None
    with pytest.raises(NotAllowed):
        async with db.transaction() as session:
            await create_connection(
                session=session, vault=vault, data=_data(world, owner_member_id=clerk.id), by=clerk
            )
    admin = await join(db, world, role=Role.ADMIN, telegram_user_id=2003)
    async with db.transaction() as session:  # a manager connects it for the clerk
        made = await create_connection(
            session=session, vault=vault, data=_data(world, owner_member_id=clerk.id), by=admin
        )
    assert made.owner_member_id == clerk.id
