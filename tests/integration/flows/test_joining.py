"""Joining a workspace and choosing one (core/flows/joining.py), driven without the bot.
Paul, a stranger, joins the bakery with the code Marie gave him; a code that does not work
says what to do and waits for another; a member of two workspaces picks one."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.db import Database
from core.flows.flow import Actor, Input
from core.flows.joining import Joining
from core.flows.manager import Flows, Shown
from core.flows.steps import Abort, Choice, Done, Form, Text
from core.models import FlowState, Member, Role, Workspace, WorkspaceCreate
from core.services.conversations import active_workspace_id, set_active_workspace
from core.services.members import create_invite, find_member
from core.services.workspaces import create_workspace
from tests.integration.conftest import World

PAUL = 3003
KEY = f"tg:{PAUL}:{PAUL}"
STRANGER = Actor(telegram_user_id=PAUL, member=None, workspace_id=None)


@pytest.fixture
def flows() -> Flows:
    return Flows({"joining": Joining}, services={})


async def _invite(
    db: Database,
    workspace: Workspace,
    role: Role = Role.MEMBER,
    ttl: timedelta = timedelta(hours=1),
) -> str:
    async with db.transaction() as session:
        return (await create_invite(session=session, workspace=workspace, role=role, ttl=ttl)).code


async def _start(db: Database, flows: Flows, actor: Actor, args: Input) -> Shown:
    async with db.transaction() as session:
        return await flows.start(
            session=session, key=KEY, name="joining", actor=actor, args={"name": "Paul", **args}
        )


async def _say(db: Database, flows: Flows, actor: Actor, user_input: Input) -> Shown:
    async with db.transaction() as session:
        shown = await flows.advance(session=session, key=KEY, actor=actor, user_input=user_input)
    assert shown is not None
    return shown


def _asked_code(shown: Shown, error: str | None) -> None:
    assert isinstance(shown.step, Form)
    assert shown.step.step_id == "code"
    got = shown.step.error.key if shown.step.error is not None else None
    assert got == (f"flows.joining.error.{error}" if error else None)


async def _paul(db: Database, workspace: Workspace) -> Member | None:
    assert workspace.id is not None
    async with db.read() as session:
        return await find_member(session=session, workspace_id=workspace.id, telegram_user_id=PAUL)


async def _active(db: Database) -> int | None:
    async with db.read() as session:
        return await active_workspace_id(session=session, telegram_user_id=PAUL)


async def _row(db: Database) -> FlowState | None:
    async with db.read() as session:
        return await session.get(FlowState, KEY)


async def _second_workspace(db: Database) -> Workspace:
    async with db.transaction() as session:
        workspace, _ = await create_workspace(
            session=session, data=WorkspaceCreate(name="Bistro"), invite_ttl=timedelta(hours=1)
        )
    return workspace


async def test_a_stranger_joins_with_a_code_in_one_step_and_no_row_is_kept(
    db: Database, world: World, flows: Flows
) -> None:
    code = await _invite(db, world.workspace, Role.ADMIN)
    shown = await _start(db, flows, STRANGER, {"code": code, "language_code": "fr"})
    assert isinstance(shown.step, Done)
    assert shown.step.result == Text(
        "flows.joining.joined_admin", {"workspace": "Boulangerie Dupont"}
    )
    paul = await _paul(db, world.workspace)
    assert paul is not None
    assert (paul.role, paul.display_name, paul.language_code) == (Role.ADMIN, "Paul", "fr")
    assert await _active(db) == world.workspace.id
    assert await _row(db) is None


async def test_a_wrong_code_is_asked_again_and_the_right_one_then_joins(
    db: Database, world: World, flows: Flows
) -> None:
    _asked_code(await _start(db, flows, STRANGER, {"code": "nope-not-a-code"}), "unknown")
    # The flow waits with no workspace: the stranger has none.
    row = await _row(db)
    assert row is not None
    assert row.workspace_id is None
    _asked_code(await _say(db, flows, STRANGER, {"code": "x" * 500}), "unknown")
    shown = await _say(db, flows, STRANGER, {"code": await _invite(db, world.workspace)})
    assert isinstance(shown.step, Done)
    assert shown.step.result.key == "flows.joining.joined_member"
    assert await _paul(db, world.workspace) is not None
    assert await _row(db) is None


async def test_an_expired_code_says_when_and_a_spent_one_says_so(
    db: Database, world: World, flows: Flows
) -> None:
    expired = await _invite(db, world.workspace, ttl=timedelta(seconds=-1))
    shown = await _start(db, flows, STRANGER, {"code": expired})
    _asked_code(shown, "expired")
    assert isinstance(shown.step, Form)
    assert shown.step.error is not None
    assert "expired_at" in shown.step.error.params
    spent = await _invite(db, world.workspace)
    other = Actor(telegram_user_id=4004, member=None, workspace_id=None)
    async with db.transaction() as session:  # someone else was quicker
        await flows.start(
            session=session, key="tg:4004:4004", name="joining", actor=other, args={"code": spent}
        )
    _asked_code(await _say(db, flows, STRANGER, {"code": spent}), "used")
    assert await _paul(db, world.workspace) is None


async def test_a_member_sending_a_code_of_their_own_workspace_is_told_and_the_code_kept(
    db: Database, world: World, flows: Flows
) -> None:
    code = await _invite(db, world.workspace)
    await _start(db, flows, STRANGER, {"code": code})
    paul = await _paul(db, world.workspace)
    again = await _invite(db, world.workspace)
    actor = Actor(telegram_user_id=PAUL, member=paul, workspace_id=world.workspace.id)
    shown = await _start(db, flows, actor, {"code": again})
    assert isinstance(shown.step, Abort)
    assert shown.step.reason == Text(
        "flows.joining.abort.already_member", {"workspace": "Boulangerie Dupont"}
    )
    # Not spent: it still lets in the person it was meant for.
    other = Actor(telegram_user_id=4004, member=None, workspace_id=None)
    async with db.transaction() as session:
        joined = await flows.start(
            session=session, key="tg:4004:4004", name="joining", actor=other, args={"code": again}
        )
    assert isinstance(joined.step, Done)


async def test_a_member_joins_a_second_workspace_after_a_typo_and_works_in_it(
    db: Database, world: World, flows: Flows
) -> None:
    """The flow began in the first workspace; the step that joins the second ends it, so
    the manager's "same workspace" check never meets it afterwards."""
    await _start(db, flows, STRANGER, {"code": await _invite(db, world.workspace)})
    paul = await _paul(db, world.workspace)
    bistro = await _second_workspace(db)
    actor = Actor(telegram_user_id=PAUL, member=paul, workspace_id=world.workspace.id)
    _asked_code(await _start(db, flows, actor, {"code": "typo"}), "unknown")
    row = await _row(db)
    assert row is not None
    assert row.workspace_id == world.workspace.id
    shown = await _say(db, flows, actor, {"code": await _invite(db, bistro)})
    assert isinstance(shown.step, Done)
    assert shown.step.result == Text("flows.joining.joined_member", {"workspace": "Bistro"})
    assert await _active(db) == bistro.id
    assert await _row(db) is None


async def test_a_member_of_two_workspaces_picks_one(
    db: Database, world: World, flows: Flows
) -> None:
    await _start(db, flows, STRANGER, {"code": await _invite(db, world.workspace)})
    bistro = await _second_workspace(db)
    paul = await _paul(db, world.workspace)
    actor = Actor(telegram_user_id=PAUL, member=paul, workspace_id=world.workspace.id)
    shown = await _start(db, flows, actor, {"switch": True})
    assert isinstance(shown.step, Done)
    assert shown.step.result.key == "flows.joining.only_one"
    await _start(db, flows, actor, {"code": await _invite(db, bistro)})
    async with db.transaction() as session:  # back to the bakery, as /workspace would
        assert world.workspace.id is not None
        await set_active_workspace(
            session=session, telegram_user_id=PAUL, workspace_id=world.workspace.id
        )
    choice = await _start(db, flows, actor, {"switch": True})
    assert isinstance(choice.step, Choice)
    assert choice.step.step_id == "workspace"
    assert [(o.id, o.label.key) for o in choice.step.options] == [
        (f"w{world.workspace.id}", "flows.joining.option.current"),
        (f"w{bistro.id}", "flows.joining.option.other"),
    ]
    # A workspace the person is not in (a forged button) is not offered, and not taken.
    forged = await _say(db, flows, actor, {"option": "w999999"})
    assert isinstance(forged.step, Choice)
    assert forged.step.error == Text("flows.joining.error.gone", {})
    done = await _say(db, flows, actor, {"option": f"w{bistro.id}"})
    assert isinstance(done.step, Done)
    assert done.step.result == Text("flows.joining.switched", {"workspace": "Bistro"})
    assert await _active(db) == bistro.id


async def test_a_stranger_asking_for_workspaces_is_asked_for_a_code(
    db: Database, world: World, flows: Flows
) -> None:
    _asked_code(await _start(db, flows, STRANGER, {"switch": True}), None)
    _asked_code(await _start(db, flows, STRANGER, {}), None)
    shown = await _say(db, flows, STRANGER, {"code": await _invite(db, world.workspace)})
    assert isinstance(shown.step, Done)
