"""What every handler receives besides the event: the process's parts (`Deps`), the
person acting (`Actor`), and the work to start once the update's transaction commits."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from core.config import Settings
from core.db import Database
from core.models import Member, Workspace
from core.services.catalog import SupplierSearch
from core.storage import DocumentStore
from core.vault import Vault

#: Run after the update's transaction committed: background work must never see rows
#: that a rollback would take back.
AfterCommit = list[Callable[[], Awaitable[None]]]


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
    #: Largest file the bot fetches from Telegram (the Bot API serves at most 20 MB).
    max_file_bytes: int = 20 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Actor:
    """The person behind an update, and the workspace they act in (None: a stranger)."""

    telegram_user_id: int
    member: Member | None
    workspace: Workspace | None
    memberships: tuple[tuple[Member, Workspace], ...] = field(default=())

    @property
    def manages(self) -> bool:
        return self.member is not None and self.member.role in ("owner", "admin")

    @property
    def workspace_id(self) -> int | None:
        return self.workspace.id if self.workspace is not None else None
