"""A supplier password, a token and a mailbox secret never appear in clear: not in the
database, not in a log line, not in a repr or an error."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

from core.db import Database
from core.models import ChallengeChannel, Connection, ConnectionCreate, MailboxCreate
from core.permissions import OPERATOR
from core.services.challenges import open_challenge, submit_code
from core.services.connections import create_connection, read_credentials
from core.services.integrations import start_integration, store_tokens
from core.services.mailboxes import add_mailbox
from core.services.secrets import reseal_all
from core.vault import Vault, generate_key
from tests.integration.conftest import World

PASSWORD = "Tr0ub4dor&3-never-in-clear"
TOKEN = "xero-refresh-7c0ffee-never-in-clear"
MAILBOX_SECRET = "imap-app-password-never-in-clear"
CODE = "918273"


async def _dump(db: Database) -> str:
    """Everything the database holds, as bytes on disk (SQLite) or rows as text (PostgreSQL)."""
    if db.backend == "sqlite":
        path = Path(str(db.engine.url.database))
        return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists()).decode(
            "latin-1"
        )
    parts: list[str] = []
    async with db.engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            rows = await connection.execute(text(f'SELECT CAST(t AS text) FROM "{table.name}" t'))
            parts.extend(str(row[0]) for row in rows)
    return "\n".join(parts)


async def test_secrets_are_sealed_in_the_database_and_absent_from_logs(
    db: Database, vault: Vault, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    # Log everything, SQL statements and their parameters included.
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")
    assert world.workspace.id
    assert world.supplier.id
    assert world.owner.id
    data = ConnectionCreate(
        workspace_id=world.workspace.id,
        supplier_id=world.supplier.id,
        owner_member_id=world.owner.id,
        login="compta@dupont.fr",
        password=SecretStr(PASSWORD),
    )
    async with db.transaction() as session:
        connection = await create_connection(session=session, vault=vault, data=data, by=OPERATOR)
        challenge = await open_challenge(
            session=session, connection=connection, channel=ChallengeChannel.SMS
        )
        assert challenge.id is not None
        await submit_code(
            session=session, vault=vault, challenge_id=challenge.id, code=CODE, via="chat"
        )
        integration = await start_integration(
            session=session, workspace_id=world.workspace.id, provider="xero"
        )
        store_tokens(
            vault=vault,
            integration=integration,
            tokens={"refresh_token": TOKEN},
            access_expires_at=None,
            refresh_expires_at=None,
        )
        mailbox = await add_mailbox(
            session=session,
            vault=vault,
            data=MailboxCreate(
                workspace_id=world.workspace.id,
                host="imap.example.com",
                username="factures@dupont.fr",
                secret=SecretStr(MAILBOX_SECRET),
            ),
            by=OPERATOR,
        )
        logging.getLogger("courier.test").info(
            "stored %r %r %r %r", connection, data, integration, mailbox
        )
    assert (
        read_credentials(vault=vault, connection=connection).password.get_secret_value() == PASSWORD
    )

    dump = await _dump(db)
    assert "compta@dupont.fr" in dump  # the dump is real: the login is there in clear
    shown = (
        repr(read_credentials(vault=vault, connection=connection)) + repr(data) + repr(connection)
    )
    for secret in (PASSWORD, TOKEN, MAILBOX_SECRET, CODE):
        assert secret not in dump
        assert secret not in caplog.text
        assert secret not in shown
    assert "INSERT INTO connection" in caplog.text  # SQL logging really was on


async def test_rotation_reseals_every_secret_under_the_new_key(
    db: Database, vault: Vault, world: World
) -> None:
    assert world.workspace.id
    assert world.supplier.id
    assert world.owner.id
    async with db.transaction() as session:
        connection = await create_connection(
            session=session,
            vault=vault,
            data=ConnectionCreate(
                workspace_id=world.workspace.id,
                supplier_id=world.supplier.id,
                owner_member_id=world.owner.id,
                login="a@b.fr",
                password=SecretStr(PASSWORD),
            ),
            by=OPERATOR,
        )
    new_key = generate_key()
    async with db.transaction() as session:
        assert await reseal_all(session=session, vault=vault.with_primary(new_key)) == 1
    async with db.transaction() as session:
        stored = await session.get(Connection, connection.id)
    assert stored is not None
    only_new = Vault([new_key])
    assert (
        read_credentials(vault=only_new, connection=stored).password.get_secret_value() == PASSWORD
    )


async def test_a_failed_insert_logs_no_sealed_credentials(
    db: Database, vault: Vault, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Two processes connect the same account at once: the second insert breaks the
    unique constraint, and the IntegrityError is logged. Its text named every parameter
    of the statement, the sealed credentials among them."""
    assert world.workspace.id
    assert world.supplier.id
    assert world.owner.id
    data = ConnectionCreate(
        workspace_id=world.workspace.id,
        supplier_id=world.supplier.id,
        owner_member_id=world.owner.id,
        login="compta@dupont.fr",
        password=SecretStr(PASSWORD),
    )
    async with db.transaction() as session:
        first = await create_connection(session=session, vault=vault, data=data, by=OPERATOR)
    racer = Connection(
        workspace_id=first.workspace_id,
        supplier_id=first.supplier_id,
        owner_member_id=first.owner_member_id,
        login=first.login,
        account_key=first.account_key,
        credentials_sealed=vault.seal(PASSWORD),
    )
    with pytest.raises(IntegrityError) as raised:
        async with db.transaction() as session:
            session.add(racer)
    logging.getLogger("courier.test").error("the insert failed", exc_info=raised.value)
    assert "UNIQUE" in caplog.text.upper()  # the failure itself is still told
    for sealed in (racer.credentials_sealed, first.credentials_sealed):
        assert sealed not in str(raised.value)
        assert sealed not in caplog.text
