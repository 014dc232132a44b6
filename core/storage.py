"""Content-addressed document storage.

Files are named by their sha256, so storing the same bytes twice is free and a file,
once written, never changes. A write goes to a temporary file, is fsynced, then renamed
into place: a reader sees the whole file or nothing. `DocumentStore` is the interface an
S3-compatible store would implement at scale.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from core.durable import fsync_dir
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

    async def get(self, sha256: str) -> bytes: ...

    async def exists(self, sha256: str) -> bool: ...

    async def delete(self, sha256: str) -> None: ...


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class LocalDocumentStore:
    """A folder: `<root>/ab/cd/abcd…` so no directory grows past a few thousand entries."""

    def __init__(self, root: Path) -> None:
        self.root = root

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
