"""A workspace's ledger folder, `<ledger root>/<workspace slug>/`: the only place from
which the chat picks, creates or receives a Beancount ledger.

Nothing a person types is opened as a path. What the chat names is a plain file name
ending in `.beancount` (no folder, no `..`); it is joined to the folder, resolved with
links followed, and must still be in the folder. New and uploaded ledgers never replace a
file (O_EXCL, no link followed) and are readable by Courier's user only.
"""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass
from pathlib import Path

from core.accounting.errors import (
    LedgerExists,
    LedgerNameInvalid,
    LedgerNotFound,
    LedgerOutsideFolder,
)

SUFFIX = ".beancount"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,70}\.beancount")
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
#: Accounts a new ledger opens with: where bills are owed, and where they are spent.
_NEW_LEDGER = """\
option "title" "{title}"

2000-01-01 open Liabilities:AccountsPayable
2000-01-01 open Expenses:Purchases
"""


def ledger_name(text: str) -> str:
    """A name as typed or uploaded (`main` or `main.beancount`), checked: a plain name."""
    name = text.strip()
    if not name.lower().endswith(SUFFIX):
        name += SUFFIX
    if not _NAME.fullmatch(name) or ".." in name:
        raise LedgerNameInvalid(name=text.strip())
    return name


@dataclass(frozen=True, slots=True)
class LedgerFolder:
    """One workspace's folder, resolved; made (0700) when first opened."""

    path: Path

    @classmethod
    async def open(cls, *, root: Path, slug: str) -> LedgerFolder:
        if not _SLUG.fullmatch(slug):
            raise ValueError(f"not a workspace slug: {slug!r}")
        return await asyncio.to_thread(cls._make, root, slug)

    @classmethod
    def _make(cls, root: Path, slug: str) -> LedgerFolder:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder = root / slug
        folder.mkdir(mode=0o700, exist_ok=True)
        resolved = folder.resolve()
        if not resolved.is_relative_to(root.resolve()):
            raise LedgerOutsideFolder(name=slug)
        return cls(path=resolved)

    async def names(self) -> list[str]:
        """The ledgers in the folder (links leading out of it left out), by name."""
        return await asyncio.to_thread(self._names)

    def _names(self) -> list[str]:
        found = []
        for entry in self.path.iterdir():
            if not _NAME.fullmatch(entry.name) or ".." in entry.name:
                continue
            target = entry.resolve()
            if target.is_relative_to(self.path) and target.is_file():
                found.append(entry.name)
        return sorted(found)

    async def locate(self, text: str) -> Path:
        """The resolved path of the ledger named `text`, which must be in the folder."""
        name = ledger_name(text)
        return await asyncio.to_thread(self._locate, name)

    def _locate(self, name: str) -> Path:
        target = (self.path / name).resolve()
        if not target.is_relative_to(self.path):
            raise LedgerOutsideFolder(name=name)
        if not target.is_file():
            raise LedgerNotFound(name=name)
        return target

    async def create(self, text: str, *, title: str) -> Path:
        """A new ledger with its title and the two accounts a bill needs."""
        name = ledger_name(text)
        clean = re.sub(r'["\\\n\r]', " ", title).strip() or name.removesuffix(SUFFIX)
        body = _NEW_LEDGER.format(title=clean).encode("utf-8")
        return await asyncio.to_thread(self._write, name, body)

    async def receive(self, filename: str, content: bytes) -> Path:
        """A ledger sent as a file, kept under its own name (never over another file)."""
        return await asyncio.to_thread(self._write, ledger_name(filename), content)

    def _write(self, name: str, content: bytes) -> Path:
        target = self.path / name
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        try:
            fd = os.open(target, flags, 0o600)
        except FileExistsError as err:
            raise LedgerExists(name=name) from err
        with os.fdopen(fd, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        return target
