"""Documents are stored by content, atomically, and a broken disk is a clear error.

The tests of the store's contract run on both stores Courier can be set to: the local
folder, and an S3 bucket (moto's server on loopback, see conftest.py)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import stat
from pathlib import Path

import pytest

from core import durable, storage
from core.durable import has_syncfs
from core.errors import DocumentTooLarge, NotFound, StorageFailed
from core.storage import LocalDocumentStore, digest
from core.storage_s3 import ConfiguredStore, S3DocumentStore
from tests.s3_bucket import bucket_keys


@pytest.fixture(params=["local", "s3"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> ConfiguredStore:
    if request.param == "s3":
        store: ConfiguredStore = request.getfixturevalue("s3_store")
        return store
    return LocalDocumentStore(tmp_path / "docs")


def _kept(store: ConfiguredStore) -> set[str]:
    """The name of everything the store holds: its files (temporaries too), its objects."""
    if isinstance(store, S3DocumentStore):
        return {key.rsplit("/", 1)[-1] for key in bucket_keys(store.location)}
    return {p.name for p in store.root.rglob("*") if p.is_file()}


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
    any_store: ConfiguredStore,
) -> None:
    store = any_store
    data = b"x" * 1_000_000
    results = await asyncio.gather(*(store.put(data) for _ in range(8)))
    assert {r.sha256 for r in results} == {digest(data)}
    assert _kept(store) == {digest(data)}
    assert await store.get(digest(data)) == data


async def test_a_missing_or_malformed_name_is_not_found(any_store: ConfiguredStore) -> None:
    store = any_store
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
    tmp_path: Path, any_store: ConfiguredStore
) -> None:
    huge = tmp_path / "huge.pdf"
    with huge.open("wb") as handle:
        handle.truncate(200 * 1024 * 1024)  # sparse
    store = any_store
    with _Unreadable(huge) as source, pytest.raises(DocumentTooLarge) as refused:
        await store.put_file(source, name="huge.pdf", max_bytes=25 * 1024 * 1024)  # type: ignore[arg-type]
    assert refused.value.params == {"name": "huge.pdf", "limit_mb": 25.0}
    assert not _kept(store)


async def test_a_stream_that_runs_past_the_limit_is_cut_off_and_leaves_nothing(
    any_store: ConfiguredStore,
) -> None:
    """A pipe (or a file still growing) does not tell its size: the copy counts."""
    read_end, write_end = os.pipe()
    store = any_store

    def feed() -> None:
        with os.fdopen(write_end, "wb") as sink, contextlib.suppress(BrokenPipeError):
            for _ in range(8):
                sink.write(b"x" * 1024 * 1024)

    feeder = asyncio.create_task(asyncio.to_thread(feed))
    with os.fdopen(read_end, "rb") as source, pytest.raises(DocumentTooLarge):
        await store.put_file(source, name="stdin", max_bytes=3 * 1024 * 1024)
    await feeder
    assert not _kept(store)


async def test_a_streamed_file_is_hashed_and_stored_like_put(
    tmp_path: Path, any_store: ConfiguredStore
) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    source_path = tmp_path / "invoice.pdf"
    source_path.write_bytes(data)
    store = any_store
    with source_path.open("rb") as source:
        stored = await store.put_file(source, name="invoice.pdf", max_bytes=len(data))
    assert (stored.sha256, stored.size) == (digest(data), len(data))
    assert await store.get(stored.sha256) == data
    assert _kept(store) == {digest(data)}


def _names(root: Path) -> set[str]:
    return {p.name for p in root.rglob("*") if p.is_file()}


async def test_a_batch_is_stored_in_order_each_file_once_and_read_back(
    any_store: ConfiguredStore,
) -> None:
    store = any_store
    kept = await store.put(b"already here")
    batch = [b"invoice 1", b"already here", b"invoice 2", b"invoice 1"]

    stored = await store.put_many(batch)

    assert [(s.sha256, s.size) for s in stored] == [(digest(d), len(d)) for d in batch]
    assert stored[1] == kept
    for data in batch:
        assert await store.get(digest(data)) == data
    # No temporary file is left, and a message seen twice in a batch is one file.
    assert _kept(store) == {digest(d) for d in batch}


async def test_a_batch_trusts_the_hashes_it_is_given(any_store: ConfiguredStore) -> None:
    store = any_store
    batch = [b"one", b"two"]
    stored = await store.put_many(batch, sha256s=[digest(d) for d in batch])
    assert [s.sha256 for s in stored] == [digest(d) for d in batch]
    with pytest.raises(ValueError, match="one sha256 per item"):
        await store.put_many(batch, sha256s=[digest(b"one")])
    assert await store.put_many([]) == []


@pytest.mark.parametrize(
    "syncfs",
    [
        pytest.param(True, marks=pytest.mark.skipif(not has_syncfs(), reason="no syncfs")),
        False,
    ],
)
async def test_a_batch_is_durable_bytes_first_then_names_before_put_many_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, syncfs: bool
) -> None:
    """What the IMAP poll relies on before it records a batch and moves its watermark:
    every file's bytes synced before any name points at them, every name synced after."""
    root = tmp_path / "docs"
    store = LocalDocumentStore(root, syncfs=syncfs)
    batch = [f"invoice {n}".encode() * 100 for n in range(20)]
    names = {digest(d) for d in batch}
    # Each sync as it happens: what it synced, the names then in place, the temporaries.
    events: list[tuple[str, frozenset[str], int]] = []

    def seen(call: str) -> None:
        files = [p for p in root.rglob("*") if p.is_file()]
        temps = sum(p.name.startswith(".incoming-") for p in files)
        events.append((call, frozenset(p.name for p in files) & names, temps))

    real_fsync, real_syncfs = os.fsync, durable.syncfs

    def fsync(fd: int) -> None:
        seen("folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    def syncfs_(folder: Path) -> bool:
        seen("filesystem")
        return real_syncfs(folder)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(storage, "syncfs", syncfs_)

    await store.put_many(batch)

    if syncfs:
        # One sync of the whole batch's bytes, all still under temporary names, then one
        # for the names, all in place.
        assert events == [
            ("filesystem", frozenset(), len(batch)),
            ("filesystem", frozenset(names), 0),
        ]
    else:
        # Each file fsynced while no name points at it yet, then its folders.
        files, folders = events[: len(batch)], events[len(batch) :]
        assert {(call, found) for call, found, _ in files} == {("file", frozenset())}
        assert {(call, found, temps) for call, found, temps in folders} == {
            ("folder", frozenset(names), 0)
        }
        # Each file's folder, and the parent of each folder made for it.
        made = {store.path_of(n).parent for n in names} | {
            store.path_of(n).parent.parent for n in names
        }
        assert len(folders) == len(made | {root})
    assert _names(root) == names


async def test_a_batch_that_fails_midway_is_an_error_and_leaves_no_temporary_file(
    tmp_path: Path,
) -> None:
    """A folder where a file's name should be: its rename fails after others of the batch
    are in place. The caller records nothing; the files already in place are whole."""
    root = tmp_path / "docs"
    store = LocalDocumentStore(root)
    batch = [b"first", b"second", b"third"]
    store.path_of(digest(b"second")).mkdir(parents=True)

    with pytest.raises(StorageFailed):
        await store.put_many(batch)

    files = [p for p in root.rglob("*") if p.is_file()]
    assert not [p for p in files if p.name.startswith(".incoming-")]
    for path in files:
        assert digest(path.read_bytes()) == path.name
