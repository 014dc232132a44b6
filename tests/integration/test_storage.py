"""Documents are stored by content, atomically, and a broken disk is a clear error."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
from pathlib import Path

import pytest

from core.errors import DocumentTooLarge, NotFound, StorageFailed
from core.storage import LocalDocumentStore, digest


async def test_a_file_is_stored_under_its_hash_and_read_back(tmp_path: Path) -> None:
    store = LocalDocumentStore(tmp_path / "docs")
    stored = await store.put(b"%PDF-1.7 invoice")
    assert stored.sha256 == digest(b"%PDF-1.7 invoice")
    assert store.path_of(stored.sha256).relative_to(tmp_path / "docs").parts[:2] == (
        stored.sha256[:2],
        stored.sha256[2:4],
    )
    assert await store.get(stored.sha256) == b"%PDF-1.7 invoice"
    assert await store.exists(stored.sha256)


async def test_concurrent_writes_of_one_file_leave_one_whole_file_and_no_temp(
    tmp_path: Path,
) -> None:
    store = LocalDocumentStore(tmp_path / "docs")
    data = b"x" * 1_000_000
    results = await asyncio.gather(*(store.put(data) for _ in range(8)))
    assert {r.sha256 for r in results} == {digest(data)}
    files = [p for p in (tmp_path / "docs").rglob("*") if p.is_file()]
    assert [p.name for p in files] == [digest(data)]
    assert files[0].read_bytes() == data


async def test_a_missing_or_malformed_name_is_not_found(tmp_path: Path) -> None:
    store = LocalDocumentStore(tmp_path / "docs")
    with pytest.raises(NotFound):
        await store.get("0" * 64)
    with pytest.raises(NotFound):
        await store.get("../../etc/passwd")


async def test_an_unwritable_store_is_a_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be")
    store = LocalDocumentStore(blocker)
    with pytest.raises(StorageFailed):
        await store.put(b"data")


class _Unreadable(io.RawIOBase):
    """A file whose size is known but whose bytes must not be touched."""

    def __init__(self, path: Path) -> None:
        self._handle = path.open("rb")

    def fileno(self) -> int:
        return self._handle.fileno()

    def read(self, size: int = -1) -> bytes:
        raise AssertionError("read a file already known to be too large")

    def close(self) -> None:
        self._handle.close()
        super().close()


async def test_a_file_over_the_limit_is_refused_from_its_size_before_any_read(
    tmp_path: Path,
) -> None:
    huge = tmp_path / "huge.pdf"
    with huge.open("wb") as handle:
        handle.truncate(200 * 1024 * 1024)  # sparse
    store = LocalDocumentStore(tmp_path / "docs")
    with _Unreadable(huge) as source, pytest.raises(DocumentTooLarge) as refused:
        await store.put_file(source, name="huge.pdf", max_bytes=25 * 1024 * 1024)  # type: ignore[arg-type]
    assert refused.value.params == {"name": "huge.pdf", "limit_mb": 25.0}
    assert not [p for p in tmp_path.joinpath("docs").rglob("*") if p.is_file()]


async def test_a_stream_that_runs_past_the_limit_is_cut_off_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    """A pipe (or a file still growing) does not tell its size: the copy counts."""
    read_end, write_end = os.pipe()
    store = LocalDocumentStore(tmp_path / "docs")

    def feed() -> None:
        with os.fdopen(write_end, "wb") as sink, contextlib.suppress(BrokenPipeError):
            for _ in range(8):
                sink.write(b"x" * 1024 * 1024)

    feeder = asyncio.create_task(asyncio.to_thread(feed))
    with os.fdopen(read_end, "rb") as source, pytest.raises(DocumentTooLarge):
        await store.put_file(source, name="stdin", max_bytes=3 * 1024 * 1024)
    await feeder
    assert not [p for p in tmp_path.joinpath("docs").rglob("*") if p.is_file()]


async def test_a_streamed_file_is_hashed_and_stored_like_put(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    source_path = tmp_path / "invoice.pdf"
    source_path.write_bytes(data)
    store = LocalDocumentStore(tmp_path / "docs")
    with source_path.open("rb") as source:
        stored = await store.put_file(source, name="invoice.pdf", max_bytes=len(data))
    assert (stored.sha256, stored.size) == (digest(data), len(data))
    assert await store.get(stored.sha256) == data
    assert [p.name for p in tmp_path.joinpath("docs").rglob("*") if p.is_file()] == [digest(data)]
