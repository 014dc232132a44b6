"""Content-addressed document storage.

Files are named by their sha256, so storing the same bytes twice is free and a file,
once written, never changes. A write goes to a temporary file, is fsynced, then renamed
into place: a reader sees the whole file or nothing. `put_many` stores a batch with one
sync for all its bytes and one fsync per folder, instead of two fsyncs per file.
`DocumentStore` is the interface an S3-compatible store would implement at scale.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from core.durable import fsync_dir, fsync_file, has_syncfs, syncfs
from core.errors import DocumentTooLarge, NotFound, StorageFailed
from core.file_modes import make_private_dir

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1024 * 1024
_MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class StoredFile:
    sha256: str
    size: int


class DocumentStore(Protocol):
    async def put(self, data: bytes, *, sha256: str | None = None) -> StoredFile:
        """Store `data`; `sha256`, when the caller already has it, saves hashing twice."""
        ...

    async def put_many(
        self, items: Sequence[bytes], *, sha256s: Sequence[str] | None = None
    ) -> list[StoredFile]:
        """Store a batch, in order: when it returns, every file is as durable as `put`
        leaves one; when it raises, no file of the batch may be relied on."""
        ...

    async def get(self, sha256: str) -> bytes: ...

    async def exists(self, sha256: str) -> bool: ...

    async def delete(self, sha256: str) -> None: ...


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class LocalDocumentStore:
    """A folder: `<root>/ab/cd/abcd…` so no directory grows past a few thousand entries."""

    def __init__(self, root: Path, *, syncfs: bool = True) -> None:
        self.root = root
        #: `put_many` makes a batch durable with syncfs(2) where there is one; off, with
        #: an fsync per file and per folder (a filesystem shared with busy neighbours,
        #: whose dirty pages syncfs would wait for too, may prefer it).
        self.syncfs = syncfs

    def __repr__(self) -> str:
        return f"LocalDocumentStore({str(self.root)!r})"

    def path_of(self, sha256: str) -> Path:
        if not _SHA256.match(sha256):
            raise NotFound(kind="file", ident=sha256[:80])
        return self.root / sha256[:2] / sha256[2:4] / sha256

    async def put(self, data: bytes, *, sha256: str | None = None) -> StoredFile:
        sha256 = sha256 or digest(data)
        try:
            await asyncio.to_thread(self._write, self.path_of(sha256), data)
        except OSError as err:
            raise StorageFailed(
                root=str(self.root), reason=err.strerror or type(err).__name__
            ) from err
        return StoredFile(sha256=sha256, size=len(data))

    async def put_many(
        self, items: Sequence[bytes], *, sha256s: Sequence[str] | None = None
    ) -> list[StoredFile]:
        if sha256s is not None and len(sha256s) != len(items):
            raise ValueError("one sha256 per item")
        if not items:
            return []

        def write() -> list[str]:
            names = list(sha256s) if sha256s is not None else [digest(data) for data in items]
            self._write_many([(self.path_of(n), d) for n, d in zip(names, items, strict=True)])
            return names

        try:
            names = await asyncio.to_thread(write)
        except OSError as err:
            raise StorageFailed(
                root=str(self.root), reason=err.strerror or type(err).__name__
            ) from err
        return [StoredFile(sha256=n, size=len(d)) for n, d in zip(names, items, strict=True)]

    async def put_file(self, source: BinaryIO, *, name: str, max_bytes: int) -> StoredFile:
        """Store an open file without holding it in memory: hashed while it is copied.

        A file over `max_bytes` is refused with DocumentTooLarge before a byte is read when
        its size says so, and as soon as the copy passes the limit when it does not (a file
        growing meanwhile, a pipe); either way nothing is left in the store.
        """
        try:
            return await asyncio.to_thread(self._copy, source, name, max_bytes)
        except OSError as err:
            raise StorageFailed(
                root=str(self.root), reason=err.strerror or type(err).__name__
            ) from err

    async def get(self, sha256: str) -> bytes:
        path = self.path_of(sha256)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError as err:
            raise NotFound(kind="file", ident=sha256) from err

    async def exists(self, sha256: str) -> bool:
        return await asyncio.to_thread(self.path_of(sha256).is_file)

    async def delete(self, sha256: str) -> None:
        """Remove a file no row refers to any more (a relayed 2FA code's message)."""
        await asyncio.to_thread(self.path_of(sha256).unlink, missing_ok=True)

    async def check(self) -> None:
        """Prove the folder can be written, read and cleaned, for `courier doctor`."""
        probe = b"courier storage probe"
        stored = await self.put(probe)
        if await self.get(stored.sha256) != probe:
            raise StorageFailed(root=str(self.root), reason="read back differs")

    def _copy(self, source: BinaryIO, name: str, max_bytes: int) -> StoredFile:
        def refuse() -> DocumentTooLarge:
            return DocumentTooLarge(name=name, limit_mb=round(max_bytes / _MB, 1))

        if os.fstat(source.fileno()).st_size > max_bytes:
            raise refuse()
        make_private_dir(self.root)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        try:
            hasher = hashlib.sha256()
            size = 0
            with os.fdopen(fd, "wb") as handle:
                while chunk := source.read(_CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise refuse()
                    hasher.update(chunk)
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            sha256 = hasher.hexdigest()
            path = self.path_of(sha256)
            created = [d for d in (path.parent.parent, path.parent) if not d.is_dir()]
            make_private_dir(path.parent)
            os.replace(tmp, path)  # same name means same content: replacing changes nothing
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        for folder in {path.parent, *(d.parent for d in created)}:
            fsync_dir(folder)
        return StoredFile(sha256=sha256, size=size)

    def _write_many(self, items: Sequence[tuple[Path, bytes]]) -> None:
        """Every file written to a temporary name, then all their bytes made durable, then
        renamed into place, then the names made durable.

        The bytes are durable before any name points at them, so a crash at any point
        leaves whole files under their names, or temporary files, never a short file
        under a hash; the caller records nothing before this returns. With syncfs(2)
        each "durable" is one call for the batch: an fsync costs a cache flush (about a
        millisecond here), and content addressing puts nearly every file of a batch in a
        folder of its own, so one fsync per file and per folder costs ~100 for 50 mails."""
        fresh: list[tuple[str, Path]] = []  # (temporary name, final path)
        present: list[Path] = []
        folders: set[Path] = set()
        planned: set[Path] = set()
        use_syncfs = self.syncfs and has_syncfs()
        try:
            for path, data in items:
                if path in planned:
                    continue  # the same message twice in one batch
                planned.add(path)
                if path.is_file() and path.stat().st_size == len(data):
                    # Same name, same content, perhaps from a run that crashed before its
                    # sync: synced again with the batch, which costs nothing when done.
                    present.append(path)
                    folders.add(path.parent)
                    continue
                created = [d for d in (path.parent.parent, path.parent) if not d.is_dir()]
                make_private_dir(path.parent)
                # A rename is durable once its folder is; a folder just made, once its
                # parent is.
                folders.update({path.parent, *(d.parent for d in created)})
                fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
                fresh.append((tmp, path))
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
            if not (use_syncfs and syncfs(self.root)):
                for name in [*(Path(tmp) for tmp, _ in fresh), *present]:
                    fsync_file(name)
            while fresh:
                tmp, path = fresh[-1]
                os.replace(tmp, path)  # same name means same content: replacing changes nothing
                fresh.pop()
        except BaseException:
            for tmp, _ in fresh:
                Path(tmp).unlink(missing_ok=True)
            raise
        if not (use_syncfs and syncfs(self.root)):
            for folder in sorted(folders):
                fsync_dir(folder)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        if path.is_file() and path.stat().st_size == len(data):
            return  # same name means same content: nothing to do
        created = [d for d in (path.parent.parent, path.parent) if not d.is_dir()]
        make_private_dir(path.parent)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        # The rename is durable once its folder is; a folder just made, once its parent is.
        for folder in {path.parent, *(d.parent for d in created)}:
            fsync_dir(folder)
