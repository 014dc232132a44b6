"""Content-addressed document storage.

Files are named by their sha256, so storing the same bytes twice is free and a file,
once written, never changes. A write goes to a temporary file, is fsynced, then renamed
into place: a reader sees the whole file or nothing. `put_many` stores a batch the same
way with two syncs in all (one syncfs for the bytes, one for the names) instead of an
fsync per file and per folder. `DocumentStore` is the interface an S3-compatible store
would implement at scale.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
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


def _digests(items: Sequence[bytes]) -> list[str]:
    return [digest(data) for data in items]


async def batch_names(items: Sequence[bytes], sha256s: Sequence[str] | None) -> list[str]:
    """The name of each item of a `put_many` batch: the hashes given, one per item, or
    computed in a thread, so hashing a batch of mail never holds the event loop."""
    if sha256s is not None:
        if len(sha256s) != len(items):
            raise ValueError("one sha256 per item")
        return list(sha256s)
    return await asyncio.to_thread(_digests, items) if items else []


@dataclass(slots=True)
class _Staged:
    """A batch between its writes and its sync: what `_settle` renames and syncs."""

    fresh: list[tuple[Path, Path]] = field(default_factory=list)  # (temporary, final)
    present: list[Path] = field(default_factory=list)
    folders: set[Path] = field(default_factory=set)

    @classmethod
    def merge(cls, parts: Sequence[_Staged | BaseException]) -> _Staged:
        """One batch from its groups; if a group failed, the others' files are removed
        and its error raised."""
        failed = [part for part in parts if isinstance(part, BaseException)]
        whole = cls()
        for part in parts:
            if isinstance(part, _Staged):
                whole.fresh += part.fresh
                whole.present += part.present
                whole.folders |= part.folders
        if failed:
            whole.discard()
            raise failed[0]
        return whole

    def discard(self) -> None:
        for tmp, _ in self.fresh:
            tmp.unlink(missing_ok=True)
        self.fresh.clear()


class LocalDocumentStore:
    """A folder: `<root>/ab/cd/abcd…` so no directory grows past a few thousand entries."""

    def __init__(self, root: Path, *, syncfs: bool = True, writers: int = 4) -> None:
        self.root = root
        #: Threads that write one `put_many` batch side by side.
        self.writers = max(writers, 1)
        # Kept for the store's life: starting threads for each batch cost a fetch run's
        # batch of 3 files more CPU than writing them. Idle, they end with the store.
        self._writing = ThreadPoolExecutor(self.writers, thread_name_prefix="store")
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
        names = await batch_names(items, sha256s)
        if not items:
            return []
        # The same message twice in a batch is one file.
        unique = {self.path_of(name): data for name, data in zip(names, items, strict=True)}
        try:
            # One thread that runs to the end even if the caller is cancelled, as `put`'s.
            await asyncio.to_thread(self._write_many, list(unique.items()))
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
        groups = [items[i :: self.writers] for i in range(min(self.writers, len(items)))]
        if len(groups) == 1:
            staged = self._stage_all(groups[0])
        else:
            # Making folders and files waits on the filesystem's journal, mostly asleep:
            # a few threads side by side wait together.
            futures = [self._writing.submit(self._stage_all, group) for group in groups]
            wait(futures)
            staged = _Staged.merge([f.exception() or f.result() for f in futures])
        try:
            self._settle(staged)
        except BaseException:
            staged.discard()
            raise

    def _stage_all(self, items: Sequence[tuple[Path, bytes]]) -> _Staged:
        """Write each file under a temporary name beside its final one. A file already
        in place (same name, same size: same content) is only synced again with the
        batch, which costs nothing when it was: a run that crashed before its sync may
        have left it. On failure, what this call wrote is removed."""
        staged = _Staged()
        fsync_each = not (self.syncfs and has_syncfs())
        try:
            for path, data in items:
                if path.is_file() and path.stat().st_size == len(data):
                    staged.present.append(path)
                    staged.folders.add(path.parent)
                    continue
                created = [d for d in (path.parent.parent, path.parent) if not d.is_dir()]
                make_private_dir(path.parent)
                # A rename is durable once its folder is; a folder just made, once its
                # parent is.
                staged.folders.update({path.parent, *(d.parent for d in created)})
                fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
                staged.fresh.append((Path(tmp), path))
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    if fsync_each:
                        handle.flush()
                        os.fsync(handle.fileno())
            if fsync_each:
                for path in staged.present:
                    fsync_file(path)
        except BaseException:
            staged.discard()
            raise
        return staged

    def _settle(self, staged: _Staged) -> None:
        """All the batch's bytes durable, then its names in place, then durable.

        The bytes are durable before any name points at them, so a crash at any point
        leaves whole files under their names, or temporary files, never a short file
        under a hash; the caller records nothing before this returns. With syncfs(2)
        each "durable" is one call for the batch: an fsync costs a cache flush (about a
        millisecond here), and content addressing puts nearly every file of a batch in a
        folder of its own, so an fsync per file and per folder costs ~100 for 50 mails.
        Without syncfs, each file was fsynced as it was written."""
        use_syncfs = self.syncfs and has_syncfs()
        if use_syncfs:
            syncfs(self.root)
        while staged.fresh:
            tmp, path = staged.fresh[-1]
            os.replace(tmp, path)  # same name means same content: replacing changes nothing
            staged.fresh.pop()
        if not (use_syncfs and syncfs(self.root)):
            for folder in sorted(staged.folders):
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
