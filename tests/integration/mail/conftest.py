"""Fixtures for the IMAP tests: one private Dovecot per session, a fresh folder per test,
and mailboxes of the test world that point at it."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterator

import pytest
from pydantic import SecretStr

from core.db import Database
from core.models import Mailbox, MailboxCreate
from core.models.mailbox import AfterProcessing
from core.permissions import OPERATOR
from core.services.mailboxes import History, add_mailbox
from core.vault import Vault
from mail.imap import ImapConnector
from tests.integration.conftest import World
from tests.integration.mail.dovecot import Dovecot, dovecot_for_tests

MakeMailbox = Callable[..., Awaitable[Mailbox]]
#: The test Dovecot listens on 127.0.0.1, refused unless the operator allows private hosts
#: (COURIER_MAILBOX_ALLOW_PRIVATE); these tests are that operator.
LOCAL = ImapConnector(allow_private=True)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """One Dovecot for the run; each test works in a folder of its own."""
    with dovecot_for_tests() as server:
        yield server


@pytest.fixture
def folder(dovecot: Dovecot) -> str:
    """A folder of alice's of its own, so tests (and both database runs) never meet."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    dovecot.create_folder("alice", name)
    return name


@pytest.fixture
def make_mailbox(
    db: Database, vault: Vault, world: World, dovecot: Dovecot, folder: str
) -> MakeMailbox:
    """Add a mailbox watching alice's test folder; keyword arguments override fields.

    Its history is "all" unless told: most tests put mail in the folder first, then
    check that the first poll takes it."""

    async def make(*, history: History = "all", **overrides: object) -> Mailbox:
        assert world.workspace.id is not None
        fields: dict[str, object] = {
            "workspace_id": world.workspace.id,
            "host": dovecot.host,
            "port": dovecot.port,
            "username": "alice",
            "folder": folder,
            "after": AfterProcessing.MARK_SEEN,
            "secret": SecretStr(dovecot.passwords["alice"]),
        } | overrides
        async with db.transaction() as session:
            return await add_mailbox(
                session=session,
                vault=vault,
                data=MailboxCreate.model_validate(fields),
                history=history,
                by=OPERATOR,
            )

    return make
