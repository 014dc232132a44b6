"""How any flow behaves, whatever its subject: a failed step leaves the conversation at
its last good step with an error key; old buttons do nothing; a secret is never kept."""

from __future__ import annotations

from typing import ClassVar

import pytest
from pydantic import SecretStr
from sqlmodel import select

from core.db import Database
from core.errors import NotFound
from core.flows.flow import Actor, Flow, Input
from core.flows.manager import INTERNAL, Flows
from core.flows.steps import Abort, Choice, Done, Form, Step, Text
from core.models import FlowState, Supplier
from core.permissions import Action
from tests.integration.conftest import World

KEY = "tg:1:1001"


class Nickname(Flow):
    """Name a new supplier: a login-like step that can clash, then a confirmation."""

    name = "nickname"
    first = "name"
    requires: ClassVar[Action | None] = Action.MANAGE_RULES

    async def step_name(self, user_input: Input | None = None) -> Step:
        if user_input is None:
            return self.form("name")
        name = str(user_input["name"])
        if name == "missing":
            raise NotFound()
        if name == "secret":
            self.data["kept"] = user_input["secret"]  # a bug a flow could have
            return await self.step_confirm()
        # Writes before it fails: the savepoint must take this row back.
        self.context.session.add(
            Supplier(key=name, name=name, portal="pro", portal_url="https://example.com")
        )
        await self.context.session.flush()
        self.data["name"] = name
        return await self.step_confirm()

    async def step_confirm(self, user_input: Input | None = None) -> Step:
        if user_input is None:
            return self.choice("confirm", (self.option("yes"), self.option("no")))
        if user_input.get("option") == "yes":
            return self.done("saved", name=self.data["name"])
        return self.abort("declined")


@pytest.fixture
def flows() -> Flows:
    return Flows({"nickname": Nickname}, services={})


def actor(world: World) -> Actor:
    return Actor(
        telegram_user_id=world.owner.telegram_user_id,
        member=world.owner,
        workspace_id=world.workspace.id,
    )


async def test_a_flow_walks_its_steps_and_keeps_them_between_events(
    db: Database, world: World, flows: Flows
) -> None:
    async with db.transaction() as session:
        started = await flows.start(session=session, key=KEY, name="nickname", actor=actor(world))
    assert isinstance(started.step, Form)
    assert started.step.step_id == "name"
    async with db.transaction() as session:
        shown = await flows.advance(
            session=session, key=KEY, actor=actor(world), user_input={"name": "acme"}
        )
    assert shown is not None
    assert getattr(shown.step, "step_id", None) == "confirm"
    nonce = shown.nonce
    async with db.transaction() as session:
        done = await flows.advance(
            session=session, key=KEY, actor=actor(world), user_input={"option": "yes"}, nonce=nonce
        )
    assert done is not None
    assert isinstance(done.step, Done)
    assert done.step.result == Text("flows.nickname.saved", {"name": "acme"})
    async with db.read() as session:
        assert await session.get(FlowState, KEY) is None


async def test_a_step_that_fails_rolls_back_and_stays_at_the_last_good_step(
    db: Database, world: World, flows: Flows
) -> None:
    async with db.transaction() as session:
        await flows.start(session=session, key=KEY, name="nickname", actor=actor(world))
        session.add(
            Supplier(key="taken", name="Taken", portal="pro", portal_url="https://example.com")
        )
    # "taken" clashes with a unique key: the database refuses the step's row.
    async with db.transaction() as session:
        shown = await flows.advance(
            session=session, key=KEY, actor=actor(world), user_input={"name": "taken"}
        )
    assert shown is not None
    assert isinstance(shown.step, Form)
    assert shown.step.step_id == "name"
    assert shown.step.error == INTERNAL
    # A typed failure comes back as its key, at the same step.
    async with db.transaction() as session:
        shown = await flows.advance(
            session=session, key=KEY, actor=actor(world), user_input={"name": "missing"}
        )
    assert shown is not None
    assert isinstance(shown.step, Form)
    assert shown.step.error == Text("errors.not_found", {})
    # And the conversation goes on from there.
    async with db.transaction() as session:
        shown = await flows.advance(
            session=session, key=KEY, actor=actor(world), user_input={"name": "fresh"}
        )
    assert shown is not None
    assert getattr(shown.step, "step_id", None) == "confirm"
    async with db.read() as session:
        names = (await session.exec(select(Supplier.key))).all()
    assert "fresh" in names
    assert names.count("taken") == 1


async def test_a_secret_kept_in_clear_fails_the_step_instead_of_reaching_the_database(
    db: Database, world: World, flows: Flows
) -> None:
    async with db.transaction() as session:
        await flows.start(session=session, key=KEY, name="nickname", actor=actor(world))
    async with db.transaction() as session:
        shown = await flows.advance(
            session=session,
            key=KEY,
            actor=actor(world),
            user_input={"name": "secret", "secret": SecretStr("hunter2")},
        )
    assert shown is not None
    assert isinstance(shown.step, Form)
    assert shown.step.error == INTERNAL
    async with db.read() as session:
        row = await session.get(FlowState, KEY)
    assert row is not None
    assert "hunter2" not in repr(row.data)
    assert row.step == "name"


async def test_an_old_button_does_nothing(db: Database, world: World, flows: Flows) -> None:
    async with db.transaction() as session:
        await flows.start(session=session, key=KEY, name="nickname", actor=actor(world))
        first = await flows.advance(
            session=session, key=KEY, actor=actor(world), user_input={"name": "acme"}
        )
    assert first is not None
    async with db.transaction() as session:
        stale = await flows.advance(
            session=session,
            key=KEY,
            actor=actor(world),
            user_input={"option": "yes"},
            nonce="0000beef",
        )
    assert stale is None
    async with db.transaction() as session:
        assert await flows.cancel(session=session, key=KEY)
    async with db.transaction() as session:
        after_cancel = await flows.advance(
            session=session,
            key=KEY,
            actor=actor(world),
            user_input={"option": "yes"},
            nonce=first.nonce,
        )
    assert after_cancel is None


async def test_a_member_without_the_right_is_refused_before_the_first_step(
    db: Database, world: World, flows: Flows
) -> None:
    from core.models import Role
    from tests.integration.conftest import join

    member = await join(db, world, role=Role.MEMBER, telegram_user_id=2002)
    someone = Actor(telegram_user_id=2002, member=member, workspace_id=world.workspace.id)
    async with db.transaction() as session:
        shown = await flows.start(session=session, key="tg:1:2002", name="nickname", actor=someone)
    assert isinstance(shown.step, Abort)
    assert shown.step.reason.key == "permissions.manage_rules"
    async with db.read() as session:
        assert await session.get(FlowState, "tg:1:2002") is None


async def test_start_replaces_a_flow_in_progress(db: Database, world: World, flows: Flows) -> None:
    async with db.transaction() as session:
        await flows.start(session=session, key=KEY, name="nickname", actor=actor(world))
        await flows.advance(
            session=session, key=KEY, actor=actor(world), user_input={"name": "acme"}
        )
        again = await flows.start(session=session, key=KEY, name="nickname", actor=actor(world))
    assert isinstance(again.step, Form)
    assert again.step.step_id == "name"


async def test_a_listing_shown_again_after_a_failure_keeps_its_lines(
    db: Database, world: World
) -> None:
    class Listing(Flow):
        name = "listing"
        first = "pick"

        async def step_pick(self, user_input: Input | None = None) -> Step:
            if user_input is not None:
                raise NotFound()
            lines = (self.text("line", name="EDF"), self.text("line", name="Orange"))
            return self.choice("pick", (self.option("first"),), details=lines)

    flows = Flows({"listing": Listing}, services={})
    async with db.transaction() as session:
        await flows.start(session=session, key=KEY, name="listing", actor=actor(world))
    async with db.transaction() as session:
        again = await flows.advance(
            session=session, key=KEY, actor=actor(world), user_input={"option": "first"}
        )
    assert again is not None
    assert isinstance(again.step, Choice)
    assert again.step.error == Text("errors.not_found", {})
    assert [line.params["name"] for line in again.step.details] == ["EDF", "Orange"]
