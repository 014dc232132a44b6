"""Documents in a bucket that every host reaches (issue #19), against moto's S3 server.

The contract both stores share is in test_storage.py; these are what a bucket adds: its
key layout, a key already there left as it is, S3's failures as Courier's errors, and
credentials that appear nowhere but in the signed requests.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
from pathlib import Path

import obstore
import pytest

from core.config import Settings
from core.errors import ConfigInvalid, NotFound, StorageFailed
from core.storage import LocalDocumentStore, digest
from core.storage_s3 import (
    S3DocumentStore,
    S3Location,
    build_store,
    sniff_stored,
    store_location,
)
from tests.conftest import make_settings
from tests.s3_bucket import S3_KEY_ID, S3_SECRET, bucket_keys, other_host

PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


async def _read_elsewhere(location: S3Location, key: str) -> bytes:
    return bytes(await (await obstore.get_async(other_host(location), key)).bytes_async())


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_document_is_an_object_named_by_its_hash_that_another_host_reads_at_once(
    s3_store: S3DocumentStore, s3_location: S3Location
) -> None:
    stored = await s3_store.put(PDF)

    sha = digest(PDF)
    assert (stored.sha256, stored.size) == (sha, len(PDF))
    assert bucket_keys(s3_location) == {f"documents/{sha[:2]}/{sha[2:4]}/{sha}"}
    # `put` answered once S3 had stored it: a client that is not this store reads it now,
    # as the process that commits the row pointing at it will.
    assert await _read_elsewhere(s3_location, s3_store.key_of(sha)) == PDF
    assert await s3_store.exists(sha)
    assert not await s3_store.exists(digest(b"never stored"))


@pytest.mark.parametrize("conditional", [True, False], ids=["if-none-match", "head-then-put"])
async def test_an_object_already_under_a_name_is_never_overwritten(
    s3_location: S3Location, conditional: bool
) -> None:
    """Whatever is under a document's name stays: by If-None-Match, or by asking first."""
    store = S3DocumentStore(dataclasses.replace(s3_location, conditional_writes=conditional))
    name = digest(b"the invoice")
    await obstore.put_async(other_host(s3_location), store.key_of(name), b"planted earlier")

    assert (await store.put(b"the invoice")).sha256 == name
    assert [s.sha256 for s in await store.put_many([b"the invoice", b"other"])] == [
        name,
        digest(b"other"),
    ]

    assert await _read_elsewhere(s3_location, store.key_of(name)) == b"planted earlier"
    assert await store.get(digest(b"other")) == b"other"


async def test_a_missing_document_is_not_found_and_a_missing_bucket_a_storage_error(
    s3_store: S3DocumentStore, s3_location: S3Location
) -> None:
    with pytest.raises(NotFound) as missing:
        await s3_store.get(digest(b"never stored"))
    assert missing.value.params == {"kind": "file", "ident": digest(b"never stored")}

    gone = S3DocumentStore(dataclasses.replace(s3_location, bucket="no-such-bucket"))
    for attempt in (gone.put(PDF), gone.put_many([PDF, b"x"]), gone.get(digest(PDF))):
        with pytest.raises(StorageFailed) as failed:
            await attempt
        assert failed.value.params["root"] == "s3://no-such-bucket/documents"
        assert "not found" in str(failed.value.params["reason"])


async def test_an_unreachable_server_is_a_storage_error_soon(s3_location: S3Location) -> None:
    dead = S3DocumentStore(
        dataclasses.replace(
            s3_location, endpoint_url=f"http://127.0.0.1:{_closed_port()}", timeout_seconds=1.0
        )
    )
    for attempt in (dead.put(PDF), dead.get(digest(PDF)), dead.exists(digest(PDF)), dead.check()):
        with pytest.raises(StorageFailed) as failed:
            await attempt
        assert "error sending request" in str(failed.value.params["reason"])


async def test_credentials_are_in_no_repr_log_or_error(
    s3_location: S3Location, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = make_settings(
        tmp_path,
        document_store="s3",
        s3_bucket=s3_location.bucket,
        s3_access_key_id=S3_KEY_ID,
        s3_secret_access_key=S3_SECRET,
    )
    store = S3DocumentStore(s3_location)
    dead = S3DocumentStore(
        dataclasses.replace(s3_location, endpoint_url=f"http://127.0.0.1:{_closed_port()}")
    )
    gone = S3DocumentStore(dataclasses.replace(s3_location, bucket="no-such-bucket"))
    errors: list[BaseException] = []
    for attempt in (dead.put(PDF), gone.put(PDF), gone.get(digest(PDF)), store.get("0" * 64)):
        try:
            await attempt
        except (StorageFailed, NotFound) as err:
            errors.append(err)
    assert len(errors) == 4

    shown = [repr(store), repr(s3_location), str(s3_location), repr(settings), str(settings)]
    shown += [store_location(store), caplog.text]
    for error in errors:
        shown += [str(error), repr(error), repr(error.args)]
        # A failure of S3 is not chained to the client's error, which quotes the server.
        assert isinstance(error, NotFound) or error.__cause__ is None
    for text in shown:
        assert S3_SECRET not in text
        assert S3_KEY_ID not in text


async def test_the_settings_choose_the_store_and_the_folder_stays_the_default(
    tmp_path: Path, moto_s3: str, s3_location: S3Location, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = build_store(make_settings(tmp_path))
    assert isinstance(local, LocalDocumentStore)
    assert local.root == tmp_path / "documents"

    with pytest.raises(ConfigInvalid) as invalid:
        build_store(make_settings(tmp_path, document_store="s3"))
    assert invalid.value.params["setting"] == "COURIER_S3_BUCKET"

    for name, value in {
        "COURIER_DOCUMENT_STORE": "s3",
        "COURIER_S3_BUCKET": s3_location.bucket,
        "COURIER_S3_ENDPOINT_URL": moto_s3,
        "COURIER_S3_PREFIX": "shared/docs",
        "COURIER_S3_ACCESS_KEY_ID": S3_KEY_ID,
        "COURIER_S3_SECRET_ACCESS_KEY": S3_SECRET,
    }.items():
        monkeypatch.setenv(name, value)
    store = build_store(Settings(_env_file=None))
    assert isinstance(store, S3DocumentStore)
    assert store_location(store) == f"s3://{s3_location.bucket}/shared/docs"

    await store.check()  # what `courier doctor` runs
    stored = await store.put(PDF)
    assert await sniff_stored(store, stored.sha256, "invoice") == "application/pdf"
    assert f"shared/docs/{store.key_of(stored.sha256)}" in bucket_keys(s3_location)
