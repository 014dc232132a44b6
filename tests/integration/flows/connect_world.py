"""What the connection flows' tests share: the flows with the parts they reach (a real
vault, search and settings; runs recorded rather than started), and a way to drive them
as an interface does, one inbound event (one transaction) per input."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlmodel import select

from core.config import Settings
from core.db import Database
from core.flows.flow import Actor, Input
from core.flows.manager import Flows, Shown
from core.flows.registry import FLOWS
from core.flows.steps import Abort, Choice, Done, Form, Progress, Step
from core.models import FlowState, Member, Supplier
from core.services.catalog import load_search
from core.vault import Vault
from tests.conftest import make_settings
from tests.integration.conftest import World


@dataclass
class RecordedRuns:
    """The bot's runs (bot/verification.py), as the flows ask for them."""

    started: list[tuple[int, bool]] = field(default_factory=list)
    restarted: list[int] = field(default_factory=list)

    def start(self, connection_id: int, *, announce: bool = False) -> None:
        self.started.append((connection_id, announce))

    def restart(self, connection_id: int) -> None:
        self.restarted.append(connection_id)


@dataclass
class Chat:
    """One person's conversation with the flows, keyed as the bot keys it."""

    db: Database
    flows: Flows
    actor: Actor
    runs: RecordedRuns
    key: str
    nonce: str = ""

    async def start(self, name: str, args: Input | None = None) -> Step:
        async with self.db.transaction() as session:
            shown = await self.flows.start(
                session=session, key=self.key, name=name, actor=self.actor, args=args
            )
        return await self._after(shown)

    async def send(self, user_input: Input) -> Step:
        async with self.db.transaction() as session:
            shown = await self.flows.advance(
                session=session, key=self.key, actor=self.actor, user_input=user_input
            )
        assert shown is not None, "no flow waits in this chat"
        return await self._after(shown)

    async def press(self, option: str) -> Step:
        async with self.db.transaction() as session:
            shown = await self.flows.advance(
                session=session,
                key=self.key,
                actor=self.actor,
                user_input={"option": option},
                nonce=self.nonce,
            )
        assert shown is not None, f"the button {option!r} has expired"
        return await self._after(shown)

    async def _after(self, shown: Shown) -> Step:
        self.nonce = shown.nonce
        for work in shown.later:  # what the interface starts once the event committed
            await work()
        return shown.step

    async def state(self) -> FlowState | None:
        async with self.db.read() as session:
            return await session.get(FlowState, self.key)


async def make_flows(db: Database, vault: Vault, tmp_path: Path) -> tuple[Flows, RecordedRuns]:
    settings: Settings = make_settings(tmp_path / "var", mail_domain="in.example.com")
    async with db.read() as session:
        search = await load_search(session=session)
    runs = RecordedRuns()
    services: dict[str, Any] = {
        "settings": settings,
        "vault": vault,
        "search": search,
        "runs": runs,
    }
    return Flows(FLOWS, services), runs


async def enable_connector(db: Database, world: World) -> None:
    """The bakery's first supplier has a connector (the fixture's catalog has none)."""
    async with db.transaction() as session:
        edf = (await session.exec(select(Supplier).where(Supplier.key == world.supplier.key))).one()
        edf.connector_available = True


def chat(db: Database, flows: Flows, runs: RecordedRuns, member: Member) -> Chat:
    assert member.telegram_user_id is not None
    actor = Actor(
        telegram_user_id=member.telegram_user_id,
        member=member,
        workspace_id=member.workspace_id,
    )
    return Chat(db, flows, actor, runs, key=f"tg:{member.telegram_user_id}:1")


def step_id(step: Step) -> str:
    assert isinstance(step, Form | Choice | Progress), step
    return step.step_id


def error_key(step: Step) -> str | None:
    assert isinstance(step, Form | Choice | Progress), step
    return step.error.key if step.error is not None else None


def result_key(step: Step) -> str:
    if isinstance(step, Done):
        return step.result.key
    assert isinstance(step, Abort), step
    return step.reason.key
