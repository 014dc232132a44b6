"""A unit of work reads each conversation and flow once, present or absent, and what it
then writes is what it reads next: by the ORM, past it (an upsert), or undone by a
savepoint's rollback."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event
from sqlmodel.ext.asyncio.session import AsyncSession

from core.db import Database
from core.db.database import get_for_update
from core.db.rows import get_row
from core.models import FlowState, Locale, Member, Role, Workspace
from core.services.conversations import chat_place, read_conversation, save_data, save_state

USER = 4242
STATE_KEY = "1:4242:4242:default"
FLOW_KEY = "tg:4242:4242"


@contextmanager
def selects(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


@pytest.fixture
async def member(db: Database) -> None:
    async with db.transaction() as session:
        workspace = Workspace(name="Bakery", slug="bakery", locale=Locale.EN)
        session.add(workspace)
        await session.flush()
        assert workspace.id is not None
        session.add(
            Member(
                workspace_id=workspace.id,
                telegram_user_id=USER,
                display_name="Ana",
                role=Role.ADMIN,
            )
        )


@pytest.mark.usefixtures("member")
async def test_an_update_with_no_conversation_reads_it_once_with_the_member(db: Database) -> None:
    with selects(db) as seen:
        async with db.transaction() as session:
            place = await chat_place(
                session=session,
                telegram_user_id=USER,
                conversation_key=STATE_KEY,
                flow_key=FLOW_KEY,
            )
            assert [m.display_name for m, _ in place.memberships] == ["Ana"]
            # What aiogram's FSM and the flows ask in a command's update:
            assert await read_conversation(session=session, key=STATE_KEY) is None
            await save_state(session=session, key=STATE_KEY, state=None)
            await save_data(session=session, key=STATE_KEY, data={})
            assert await read_conversation(session=session, key=STATE_KEY) is None
            assert await get_row(session, FlowState, FLOW_KEY) is None
            # A new flow first ends the one in progress: there is none.
            assert await get_for_update(session, FlowState, FLOW_KEY) is None
    # The member's, with the conversation and the flow. Nothing is locked again, on
    # either backend: SQLite's unit holds the write lock, and FOR UPDATE on PostgreSQL
    # would lock no missing row.
    assert len(seen) == 1


@pytest.mark.usefixtures("member")
async def test_a_conversation_started_in_the_unit_is_read_back(db: Database) -> None:
    async with db.transaction() as session:
        await chat_place(session=session, telegram_user_id=USER, conversation_key=STATE_KEY)
        # Written past the session (an upsert), then read: not the absence seen first.
        await save_state(session=session, key=STATE_KEY, state="Connect:login")
        row = await read_conversation(session=session, key=STATE_KEY)
        assert row is not None
        assert row.state == "Connect:login"
        await save_data(session=session, key=STATE_KEY, data={"supplier": "edf"})
        assert (await read_conversation(session=session, key=STATE_KEY)) is row
        assert row.data == {"supplier": "edf"}
        # Left empty, it is removed, and read as gone.
        await save_state(session=session, key=STATE_KEY, state=None)
        await save_data(session=session, key=STATE_KEY, data={})
        assert await read_conversation(session=session, key=STATE_KEY) is None
    async with db.read() as session:
        assert await read_conversation(session=session, key=STATE_KEY) is None


@pytest.mark.usefixtures("member")
async def test_a_flow_replaced_in_the_unit_is_the_new_one(db: Database) -> None:
    async with db.transaction() as session:
        await chat_place(session=session, telegram_user_id=USER, flow_key=FLOW_KEY)
        first = FlowState(key=FLOW_KEY, flow="connect", step="supplier", nonce="a")
        session.add(first)
        await session.flush()
        assert await get_row(session, FlowState, FLOW_KEY) is first
        await session.delete(first)
        await session.flush()
        assert await get_row(session, FlowState, FLOW_KEY) is None
        second = FlowState(key=FLOW_KEY, flow="mailbox", step="address", nonce="b")
        session.add(second)
        await session.flush()
        assert await get_row(session, FlowState, FLOW_KEY) is second
    async with db.read() as session:
        kept = await get_row(session, FlowState, FLOW_KEY)
        assert kept is not None
        assert kept.flow == "mailbox"


@pytest.mark.usefixtures("member")
async def test_a_flow_started_in_the_unit_is_found_after_its_object_is_let_go(
    db: Database,
) -> None:
    """The identity map holds a clean row weakly: nothing else here refers to the flow
    once it is flushed, and a collection would drop it from the map."""

    async def start_flow(session: AsyncSession) -> None:
        session.add(FlowState(key=FLOW_KEY, flow="connect", step="supplier", nonce="a"))
        await session.flush()

    async with db.transaction() as session:
        await chat_place(session=session, telegram_user_id=USER, flow_key=FLOW_KEY)
        assert await get_row(session, FlowState, FLOW_KEY) is None
        await start_flow(session)
        gc.collect()
        found = await get_row(session, FlowState, FLOW_KEY)
        assert found is not None
        assert found.step == "supplier"


@pytest.mark.usefixtures("member")
async def test_a_flow_added_and_not_yet_flushed_is_found(db: Database) -> None:
    async with db.transaction() as session:
        await chat_place(session=session, telegram_user_id=USER, flow_key=FLOW_KEY)
        pending = FlowState(key=FLOW_KEY, flow="connect", step="supplier", nonce="a")
        session.add(pending)
        assert await get_row(session, FlowState, FLOW_KEY) is pending


@pytest.mark.usefixtures("member")
async def test_a_step_rolled_back_to_its_savepoint_leaves_the_flow_as_it_was(db: Database) -> None:
    async with db.transaction() as session:
        session.add(FlowState(key=FLOW_KEY, flow="connect", step="supplier", nonce="a"))
    async with db.transaction() as session:
        await chat_place(session=session, telegram_user_id=USER, flow_key=FLOW_KEY)
        row = await get_row(session, FlowState, FLOW_KEY)
        assert row is not None

        async def failing_step() -> None:
            async with session.begin_nested():
                row.step = "login"
                await session.flush()
                raise RuntimeError("the step failed")

        with pytest.raises(RuntimeError):
            await failing_step()
        again = await get_row(session, FlowState, FLOW_KEY)
        assert again is not None
        assert again.step == "supplier"
