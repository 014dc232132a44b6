"""What every handler receives besides the event: the process's parts (`Deps`), the
person acting (`Actor`), and the work to start once the update's transaction commits."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiogram.methods import TelegramMethod

from core.accounting.registry import ProviderRegistry
from core.config import Settings
from core.db import Database
from core.flows.manager import Flows
from core.models import Member, Workspace
from core.permissions import Action, allows
from core.services.catalog import SupplierSearch
from core.storage import DocumentStore
from core.vault import Vault


class Replies:
    """What a handler says and starts, done once its update's transaction committed.

    So a person is never told "added" about a row a rollback took back, background work
    never sees such rows, and no Bot API round trip holds the transaction (on SQLite, the
    single writer) open. `say(message.answer(...))` queues a Bot API call as built by
    aiogram (nothing is sent until it is awaited); `say.then(fn)` queues any coroutine.
    """

    __slots__ = ("_queue",)

    def __init__(self) -> None:
        self._queue: list[TelegramMethod[Any] | Callable[[], Awaitable[None]]] = []

    def __call__(self, method: TelegramMethod[Any]) -> None:
        self._queue.append(method)

    def then(self, work: Callable[[], Awaitable[None]]) -> None:
        self._queue.append(work)

    def drain(self) -> list[TelegramMethod[Any] | Callable[[], Awaitable[None]]]:
        queue, self._queue = self._queue, []
        return queue


class Runs(Protocol):
    """Starts a connection's run in the background (bot/verification.py)."""

    def start(self, connection_id: int, *, announce: bool = False) -> None: ...


@dataclass(frozen=True, slots=True)
class Deps:
    settings: Settings
    db: Database
    store: DocumentStore
    vault: Vault
    search: SupplierSearch
    runs: Runs
    #: The process's one provider registry (courier/runtime.py builds and closes it).
    providers: ProviderRegistry
    #: Core's conversations (core/flows), with the parts above as their services.
    flows: Flows
    #: Largest file the bot fetches from Telegram (the Bot API serves at most 20 MB).
    max_file_bytes: int = 20 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Actor:
    """The person behind an update, and the workspace they act in (None: a stranger)."""

    telegram_user_id: int
    member: Member | None
    workspace: Workspace | None
    memberships: tuple[tuple[Member, Workspace], ...] = field(default=())

    def may(self, action: Action, *, resource_owner_id: int | None = None) -> bool:
        """Whether core's permission table lets this person do `action` in the active
        workspace (on what `resource_owner_id` owns): the chat hides what core refuses."""
        return (
            self.member is not None
            and self.workspace_id is not None
            and allows(
                self.member,
                action,
                workspace_id=self.workspace_id,
                resource_owner_id=resource_owner_id,
            )
        )

    @property
    def workspace_id(self) -> int | None:
        return self.workspace.id if self.workspace is not None else None
