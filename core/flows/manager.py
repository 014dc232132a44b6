"""Starting, moving and stopping flows, inside the inbound event's transaction.

The interface (the bot) calls these with its session and a key of its own for the
conversation (its chat and person); it renders what they return. A step runs in a
savepoint: if it raises, what it did is rolled back, the flow stays at its last good
step, and that step comes back with the error's key, so a conversation never sticks in a
state nobody planned and no stack trace reaches a person. Nothing here commits.
"""

from __future__ import annotations

import copy
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from core.db import Database
from core.db.database import get_for_update
from core.db.rows import get_row
from core.errors import CourierError, NotAllowed
from core.flows.flow import Actor, Context, Flow, Input, Later, Services, step_method
from core.flows.steps import Abort, Done, Step, Text, Waiting, dump_step, load_step, with_error
from core.models import FlowState
from core.models.base import utcnow

log = logging.getLogger(__name__)

#: An option `start-<flow>` hands the conversation over to that flow, as if its command
#: were typed: the connect flow's "Watch a mailbox" button starts the mailbox flow. (No
#: colon: Telegram's callback data uses it as its separator.)
HANDOVER = "start-"

#: Said when a step failed for a reason Courier did not plan: it is logged in full.
INTERNAL = Text("errors.internal_step")


@dataclass(frozen=True, slots=True)
class Shown:
    """A step to show, with the nonce its buttons carry, and the work to start after the
    commit: each runs the step's work, and returns the step its outcome led to (to show
    in turn), or None."""

    step: Step
    nonce: str = ""
    later: tuple[FollowUp, ...] = field(default=())


FollowUp = Callable[[], Awaitable[Shown | None]]


class Flows:
    """The flows an interface offers, by name."""

    def __init__(self, flows: Mapping[str, type[Flow]], services: Services) -> None:
        self._flows = dict(flows)
        self._services = services

    def names(self) -> frozenset[str]:
        return frozenset(self._flows)

    async def current(self, *, session: AsyncSession, key: str) -> FlowState | None:
        return await get_row(session, FlowState, key)

    async def start(
        self,
        *,
        session: AsyncSession,
        key: str,
        name: str,
        actor: Actor,
        args: Input | None = None,
    ) -> Shown:
        """Start flow `name` for this conversation, replacing any flow in progress. Its
        first step is called with `args` (a shortcut: `/connect edf` starts at the search)."""
        cls = self._flows[name]
        await self.cancel(session=session, key=key)
        context = Context(session=session, actor=actor, services=self._services)
        flow = cls(context)
        if cls.requires is not None and not actor.may(cls.requires):
            return Shown(flow.abort(Text(f"permissions.{cls.requires.value}")))
        step = await self._run(flow, cls.first, args, last=None)
        return await self._keep(session, key, flow, step, actor, None)

    async def advance(
        self,
        *,
        session: AsyncSession,
        key: str,
        actor: Actor,
        user_input: Input,
        nonce: str | None = None,
    ) -> Shown | None:
        """Give the conversation's flow the person's input; None when no flow is in
        progress, or when `nonce` (a button's) is not the current step's: an old button."""
        row = await get_for_update(session, FlowState, key)
        if row is None or row.flow not in self._flows:
            return None
        if nonce is not None and nonce != row.nonce:
            return None
        if row.workspace_id != actor.workspace_id:
            # The person switched workspace meanwhile: the flow's data is the other's.
            await session.delete(row)
            await session.flush()
            return None
        last = load_step(row.shown)
        handover = _handover(user_input, last)
        if handover in self._flows:
            # The new flow checks its own role; the old one ends, as a command would end it.
            return await self.start(session=session, key=key, name=handover, actor=actor)
        context = Context(session=session, actor=actor, services=self._services)
        flow = self._flows[row.flow](context, copy.deepcopy(row.data))
        step = await self._run(flow, row.step, user_input, last=last)
        return await self._keep(session, key, flow, step, actor, row)

    async def cancel(self, *, session: AsyncSession, key: str) -> bool:
        row = await get_for_update(session, FlowState, key)
        if row is None:
            return False
        await session.delete(row)
        await session.flush()
        return True

    async def _run(
        self, flow: Flow, step_id: str, user_input: Input | None, *, last: Waiting | None
    ) -> Step:
        session = flow.context.session
        saved = copy.deepcopy(flow.data)
        try:
            async with session.begin_nested():
                result: Step = await step_method(flow, step_id)(user_input)
                _check_serialisable(flow.data)
        except NotAllowed as err:
            flow.data, flow.context.later[:] = saved, []
            return flow.abort(Text(f"errors.{err.key}", err.params))
        except CourierError as err:
            flow.data, flow.context.later[:] = saved, []
            error = Text(f"errors.{err.key}", err.params)
            return with_error(last, error) if last is not None else flow.abort(error)
        except Exception:
            flow.data, flow.context.later[:] = saved, []
            log.exception("flow %s failed at step %s; its work was rolled back", flow.name, step_id)
            return with_error(last, INTERNAL) if last is not None else flow.abort(INTERNAL)
        return result

    async def _keep(
        self,
        session: AsyncSession,
        key: str,
        flow: Flow,
        step: Step,
        actor: Actor,
        row: FlowState | None,
    ) -> Shown:
        works = tuple(flow.context.later)
        if isinstance(step, Done | Abort):
            if row is not None:
                await session.delete(row)
                await session.flush()
            later = tuple(self._follow_up(w, flow.name, key, actor, None) for w in works)
            return Shown(step, later=later)
        if row is None:
            row = FlowState(
                key=key,
                flow=flow.name,
                step=step.step_id,
                nonce="",
                workspace_id=actor.workspace_id,
                telegram_user_id=actor.telegram_user_id,
            )
        row.step, row.data, row.shown = step.step_id, flow.data, dump_step(step)
        row.nonce, row.updated_at = secrets.token_hex(4), utcnow()
        session.add(row)
        await session.flush()
        later = tuple(self._follow_up(w, flow.name, key, actor, row.nonce) for w in works)
        return Shown(step, nonce=row.nonce, later=later)

    def _follow_up(
        self, work: Later, name: str, key: str, actor: Actor, nonce: str | None
    ) -> FollowUp:
        """`work`, then its outcome given to the flow at the step that asked for it (the
        step's nonce: if the person moved on or cancelled meanwhile, it is dropped). Work
        that fails unplanned ends the flow with INTERNAL rather than leave it waiting."""

        async def run() -> Shown | None:
            try:
                outcome = await work()
            except Exception:
                log.exception("flow %s: work after the commit failed", name)
                if nonce is not None:
                    async with self._database().transaction() as session:
                        row = await session.get(FlowState, key, with_for_update=True)
                        if row is None or row.nonce != nonce:
                            return None
                        await session.delete(row)
                return Shown(Abort(name, INTERNAL))
            if outcome is None or nonce is None:
                return None
            async with self._database().transaction() as session:
                return await self.advance(
                    session=session, key=key, actor=actor, user_input=outcome, nonce=nonce
                )

        return run

    def _database(self) -> Database:
        """The interface's `Database` (service "db"): work after a commit opens its own
        transaction to give its outcome to the flow."""
        db = self._services.get("db")
        if not isinstance(db, Database):
            raise LookupError("this interface provides no 'db' to flows")
        return db


def _handover(user_input: Input, shown: Waiting) -> str:
    """The flow a pressed `start-<flow>` option names, if the shown step offers it."""
    option = user_input.get("option")
    if not isinstance(option, str) or not option.startswith(HANDOVER):
        return ""
    if option not in {offered.id for offered in shown.options}:
        return ""
    return option.removeprefix(HANDOVER)


def _check_serialisable(data: dict[str, Any]) -> None:
    """A flow keeps JSON only: a SecretStr (or anything else) kept by mistake fails the
    step here, rolled back, rather than reaching the database in clear."""
    json.dumps(data, allow_nan=False)
