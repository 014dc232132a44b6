"""Adding a watched mailbox (core/flows/mailbox.py), driven without the bot: Marie, the
bakery's owner, adds the shop's mailbox on a real Dovecot. "I now watch" comes only once
the server accepted the login; each failure goes back to the step she can fix."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlmodel import select

from core.db import Database
from core.flows.flow import Actor, Input
from core.flows.mailbox import MailboxFlow
from core.flows.manager import Flows, Shown
from core.flows.steps import Abort, Done, Form, Progress, Text
from core.models import FlowState, Mailbox, Member, Role
from core.services.mailboxes import CheckOutcome, MailboxTarget
from core.vault import Vault
from mail.imap.check import ImapCheck
from tests.conftest import make_settings
from tests.integration.conftest import World, join
from tests.integration.mail.dovecot import USERS, Dovecot, dovecot_for_tests

KEY = "tg:1001:1001"


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    with dovecot_for_tests() as server:
        yield server


class Checks:
    """The real IMAP check, or an outcome a test chooses (one no loopback server gives)."""

    def __init__(self) -> None:
        self.real = ImapCheck(allow_private=True, socket_timeout=5)
        self.forced: CheckOutcome | None = None
        self.broken = False
        self.seen: list[MailboxTarget] = []

    async def __call__(self, target: MailboxTarget, secret: SecretStr) -> CheckOutcome:
        self.seen.append(target)
        if self.broken:
            raise RuntimeError("a bug in a check")
        if self.forced is not None:
            return self.forced
        return await self.real(target, secret)


@pytest.fixture
def checks() -> Checks:
    return Checks()


def _flows(
    db: Database, tmp_path: Path, vault: Vault, checks: Checks, *, allow_private: bool = True
) -> Flows:
    settings = make_settings(tmp_path / "var", mailbox_allow_private=allow_private)
    services = {"db": db, "settings": settings, "vault": vault, "mailbox_check": checks}
    return Flows({"mailbox": MailboxFlow}, services)


@pytest.fixture
def flows(db: Database, tmp_path: Path, vault: Vault, checks: Checks) -> Flows:
    return _flows(db, tmp_path, vault, checks)


def marie(world: World) -> Actor:
    return Actor(
        telegram_user_id=world.owner.telegram_user_id,
        member=world.owner,
        workspace_id=world.workspace.id,
    )


async def _start(db: Database, flows: Flows, actor: Actor) -> Shown:
    async with db.transaction() as session:
        return await flows.start(session=session, key=KEY, name="mailbox", actor=actor)


async def _say(db: Database, flows: Flows, actor: Actor, user_input: Input) -> Shown:
    async with db.transaction() as session:
        shown = await flows.advance(session=session, key=KEY, actor=actor, user_input=user_input)
    assert shown is not None
    return shown


async def _settle(db: Database, flows: Flows, actor: Actor, shown: Shown) -> Shown:
    """What the interface does with a Progress step once it committed, as the bot does
    (bot/flows.py): the check runs, and core gives its outcome to the flow in a
    transaction of its own, with the step's nonce."""
    assert isinstance(shown.step, Progress)
    [follow_up] = shown.later
    after = await follow_up()
    assert after is not None
    return after


def _at(shown: Shown, step_id: str, error: str | None = None) -> None:
    assert isinstance(shown.step, Form | Progress), shown.step
    assert shown.step.step_id == step_id
    got = shown.step.error.key if shown.step.error is not None else None
    assert got == (f"flows.mailbox.error.{error}" if error else None)


async def _mailboxes(db: Database) -> list[Mailbox]:
    async with db.read() as session:
        return list((await session.exec(select(Mailbox))).all())


async def _up_to_the_password(
    db: Database, flows: Flows, actor: Actor, host: str, user: str
) -> Shown:
    _at(await _start(db, flows, actor), "host")
    _at(await _say(db, flows, actor, {"host": host}), "user")
    shown = await _say(db, flows, actor, {"user": user})
    _at(shown, "secret")
    return shown


async def test_i_say_i_watch_a_mailbox_only_once_its_server_accepted_the_login(
    db: Database, world: World, flows: Flows, dovecot: Dovecot, vault: Vault
) -> None:
    actor = marie(world)
    await _up_to_the_password(db, flows, actor, f"{dovecot.host}:{dovecot.port}", "alice")
    checking = await _say(db, flows, actor, {"secret": SecretStr(USERS["alice"])})
    _at(checking, "checking")
    # While the server is asked, nothing is added, and no password is kept in clear.
    assert await _mailboxes(db) == []
    async with db.read() as session:
        row = await session.get(FlowState, KEY)
    assert row is not None
    assert USERS["alice"] not in repr(row.data)
    assert vault.open(row.data["secret_sealed"]) == USERS["alice"]
    done = await _settle(db, flows, actor, checking)
    assert isinstance(done.step, Done)
    assert done.step.result == Text("flows.mailbox.added", {"user": "alice", "host": dovecot.host})
    [mailbox] = await _mailboxes(db)
    assert (mailbox.host, mailbox.port, mailbox.username) == (dovecot.host, dovecot.port, "alice")
    assert vault.open(mailbox.secret_sealed) == USERS["alice"]
    async with db.read() as session:
        assert await session.get(FlowState, KEY) is None


async def test_a_wrong_password_asks_for_the_password_again(
    db: Database, world: World, flows: Flows, dovecot: Dovecot
) -> None:
    actor = marie(world)
    await _up_to_the_password(db, flows, actor, f"{dovecot.host}:{dovecot.port}", "bob")
    checking = await _say(db, flows, actor, {"secret": SecretStr("not-his-password")})
    refused = await _settle(db, flows, actor, checking)
    _at(refused, "secret", error="auth_failed")
    assert isinstance(refused.step, Form)
    assert [o.id for o in refused.step.options] == ["change_user"]
    assert await _mailboxes(db) == []
    async with db.read() as session:
        row = await session.get(FlowState, KEY)
    assert row is not None
    assert "secret_sealed" not in row.data
    # The right one, typed at the same step, adds the mailbox.
    checking = await _say(db, flows, actor, {"secret": SecretStr(USERS["bob"])})
    assert isinstance((await _settle(db, flows, actor, checking)).step, Done)
    assert [m.username for m in await _mailboxes(db)] == ["bob"]


async def test_the_user_name_can_be_changed_after_a_refused_password(
    db: Database, world: World, flows: Flows, dovecot: Dovecot
) -> None:
    actor = marie(world)
    await _up_to_the_password(db, flows, actor, f"{dovecot.host}:{dovecot.port}", "alicia")
    checking = await _say(db, flows, actor, {"secret": SecretStr(USERS["alice"])})
    _at(await _settle(db, flows, actor, checking), "secret", error="auth_failed")
    _at(await _say(db, flows, actor, {"option": "change_user"}), "user")
    _at(await _say(db, flows, actor, {"user": "alice"}), "secret")
    checking = await _say(db, flows, actor, {"secret": SecretStr(USERS["alice"])})
    assert isinstance((await _settle(db, flows, actor, checking)).step, Done)


async def test_a_server_that_does_not_answer_goes_back_to_the_server_step(
    db: Database, world: World, flows: Flows, dovecot: Dovecot
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    actor = marie(world)
    await _up_to_the_password(db, flows, actor, f"127.0.0.1:{closed}", "alice")
    checking = await _say(db, flows, actor, {"secret": SecretStr(USERS["alice"])})
    _at(await _settle(db, flows, actor, checking), "host", error="unreachable")
    assert await _mailboxes(db) == []
    # The right server is tried at once, with the user name and password typed before.
    checking = await _say(db, flows, actor, {"host": f"{dovecot.host}:{dovecot.port}"})
    _at(checking, "checking")
    assert isinstance((await _settle(db, flows, actor, checking)).step, Done)
    [mailbox] = await _mailboxes(db)
    assert (mailbox.port, mailbox.username) == (dovecot.port, "alice")


async def test_a_port_that_does_not_speak_tls_is_told_as_a_tls_problem(
    db: Database, world: World, flows: Flows, dovecot: Dovecot
) -> None:
    """ "127.1" is this machine too, but not a name Courier speaks in clear to: it asks
    for TLS, and the test Dovecot answers in plain IMAP."""
    actor = marie(world)
    await _up_to_the_password(db, flows, actor, f"127.1:{dovecot.port}", "alice")
    checking = await _say(db, flows, actor, {"secret": SecretStr(USERS["alice"])})
    refused = await _settle(db, flows, actor, checking)
    _at(refused, "host", error="tls")
    assert isinstance(refused.step, Form)
    assert refused.step.error is not None
    assert refused.step.error.params == {"host": "127.1", "port": dovecot.port, "user": "alice"}
    assert await _mailboxes(db) == []


@pytest.mark.parametrize(
    ("outcome", "step"),
    [
        (CheckOutcome.TLS, "host"),
        (CheckOutcome.HOST_REFUSED, "host"),
        (CheckOutcome.SERVER_ERROR, "host"),
        (CheckOutcome.TOKEN_EXPIRED, "secret"),
        (CheckOutcome.FOLDER_MISSING, "user"),
    ],
)
async def test_each_failure_of_the_check_stays_at_the_step_that_fixes_it(
    db: Database, world: World, flows: Flows, checks: Checks, outcome: CheckOutcome, step: str
) -> None:
    actor = marie(world)
    await _up_to_the_password(db, flows, actor, "imap.example.com", "compta@dupont.fr")
    checks.forced = outcome
    checking = await _say(db, flows, actor, {"secret": SecretStr("pw")})
    _at(await _settle(db, flows, actor, checking), step, error=outcome.value)
    assert checks.seen == [MailboxTarget("imap.example.com", 993, "compta@dupont.fr")]
    assert await _mailboxes(db) == []


async def test_a_check_that_breaks_asks_to_try_again(
    db: Database, world: World, flows: Flows, checks: Checks
) -> None:
    actor = marie(world)
    await _up_to_the_password(db, flows, actor, "imap.example.com", "compta@dupont.fr")
    checks.broken = True
    checking = await _say(db, flows, actor, {"secret": SecretStr("pw")})
    _at(await _settle(db, flows, actor, checking), "secret", error="check_failed")


async def test_an_outcome_overtaken_by_a_later_check_is_ignored(
    db: Database, world: World, flows: Flows, checks: Checks
) -> None:
    actor = marie(world)
    await _up_to_the_password(db, flows, actor, "imap.example.com", "compta@dupont.fr")
    checks.forced = CheckOutcome.AUTH_FAILED
    first = await _say(db, flows, actor, {"secret": SecretStr("pw")})
    # Typed while it checks (or after a restart lost the check): it checks again.
    again = await _say(db, flows, actor, {"text": "hello?"})
    _at(again, "checking")
    # The first check's step is gone: its outcome, with that step's nonce, finds nothing.
    [first_check] = first.later
    assert await first_check() is None
    assert await _mailboxes(db) == []
    checks.forced = CheckOutcome.OK
    last = await _say(db, flows, actor, {"text": "still there?"})
    assert isinstance((await _settle(db, flows, actor, last)).step, Done)


@pytest.mark.parametrize(
    "host", ["127.0.0.1:5432", "10.1.2.3", "169.254.169.254:80", "localhost.localdomain"]
)
async def test_a_private_host_is_refused_at_the_server_step(
    db: Database, world: World, tmp_path: Path, vault: Vault, checks: Checks, host: str
) -> None:
    flows = _flows(db, tmp_path, vault, checks, allow_private=False)
    actor = marie(world)
    await _start(db, flows, actor)
    _at(await _say(db, flows, actor, {"host": host}), "host", error="host_refused")
    _at(await _say(db, flows, actor, {"host": "not a host!"}), "host", error="host_bad")
    assert checks.seen == []


async def test_a_mailbox_already_watched_is_said_before_the_password(
    db: Database, world: World, flows: Flows, dovecot: Dovecot
) -> None:
    actor = marie(world)
    await _up_to_the_password(db, flows, actor, f"{dovecot.host}:{dovecot.port}", "alice")
    checking = await _say(db, flows, actor, {"secret": SecretStr(USERS["alice"])})
    await _settle(db, flows, actor, checking)
    _at(await _start(db, flows, actor), "host")
    _at(await _say(db, flows, actor, {"host": dovecot.host.upper()}), "user")
    _at(await _say(db, flows, actor, {"user": "alice"}), "user", error="already_watched")


async def test_a_plain_member_cannot_start_adding_a_mailbox(
    db: Database, world: World, flows: Flows
) -> None:
    paul = await join(db, world, role=Role.MEMBER, telegram_user_id=2002)
    actor = Actor(telegram_user_id=2002, member=paul, workspace_id=world.workspace.id)
    shown = await _start(db, flows, actor)
    assert isinstance(shown.step, Abort)
    assert shown.step.reason.key == "permissions.manage_mailboxes"


async def test_a_role_lost_while_the_server_is_asked_adds_nothing(
    db: Database, world: World, flows: Flows, dovecot: Dovecot
) -> None:
    admin = await join(db, world, role=Role.ADMIN, telegram_user_id=2002)
    actor = Actor(telegram_user_id=2002, member=admin, workspace_id=world.workspace.id)
    await _up_to_the_password(db, flows, actor, f"{dovecot.host}:{dovecot.port}", "alice")
    checking = await _say(db, flows, actor, {"secret": SecretStr(USERS["alice"])})
    async with db.transaction() as session:
        demoted = await session.get(Member, admin.id)
        assert demoted is not None
        demoted.role = Role.MEMBER
        session.add(demoted)
    refused = await _settle(db, flows, actor, checking)
    assert isinstance(refused.step, Abort)
    assert refused.step.reason.key == "errors.not_allowed"
    assert await _mailboxes(db) == []
