"""Documents are stored by content, atomically, and a broken disk is a clear error."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from core.errors import NotFound, StorageFailed
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
