"""Documents in an S3-compatible bucket, for Courier on more than one host (issue #19).

The same contract as the local folder (core/storage.py): an object is named by its
sha256, under the same `ab/cd/abcd…` layout, below an optional prefix. The client is
obstore (MIT; Rust's object_store underneath); aiobotocore would pin an older botocore than
the one Courier already depends on.

- Durable before the row: S3 answers a PUT only once the object is stored durably, and
  `put`/`put_many` return only after every PUT they sent succeeded, so a caller commits the
  row that points at a document after the document exists.
- Never overwritten: by default each PUT is conditional (`If-None-Match: *`, AWS S3 since
  2024, MinIO, moto); a key already there answers 412 and is taken as stored, since the
  same name means the same bytes. For a server that ignores or refuses that header,
  `conditional_writes=False` asks first (HEAD, then PUT when absent): two writers racing
  past the HEAD can then both PUT, which only writes the same bytes under the same name
  again.
- Every failure is `StorageFailed` (a missing document `NotFound`), worded without the
  credentials: they are SecretStr in the settings, passed to the client only, and scrubbed
  from any server message quoted in an error.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, BinaryIO, TypeAlias

import obstore
from obstore.exceptions import AlreadyExistsError, BaseError, PreconditionError
from obstore.store import S3Store
from pydantic import SecretStr

from core.config import Settings
from core.errors import ConfigInvalid, DocumentTooLarge, NotFound, StorageFailed
from core.sniff import sniff_content_type, sniff_path
from core.storage import LocalDocumentStore, StoredFile, batch_names, digest

if TYPE_CHECKING:
    from obstore.store import ClientConfig, S3Config

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1024 * 1024
_MB = 1024 * 1024
#: How much of a server's message a StorageFailed quotes: its first line, this long at most.
_REASON_CHARS = 300


@dataclass(frozen=True, slots=True)
class S3Location:
    """Where the documents live and how to reach them. Credentials left unset come from
    the usual AWS chain (AWS_* variables, the instance's role)."""

    bucket: str
    endpoint_url: str | None = None
    region: str = "us-east-1"
    prefix: str = ""
    access_key_id: SecretStr | None = field(default=None, repr=False)
    secret_access_key: SecretStr | None = field(default=None, repr=False)
    conditional_writes: bool = True
    #: Per request; a dead endpoint fails within about `timeout_seconds * (max_retries + 1)`.
    timeout_seconds: float = 30.0
    max_retries: int = 3

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix.strip('/')}".rstrip("/")

    def secrets(self) -> list[str]:
        return [
            value.get_secret_value()
            for value in (self.access_key_id, self.secret_access_key)
            if value is not None and value.get_secret_value()
        ]


class S3DocumentStore:
    """A bucket: `<prefix>/ab/cd/abcd…`, as the local folder lays out its files."""

    def __init__(self, location: S3Location, *, writers: int = 8) -> None:
        self.location = location
        #: PUTs one `put_many` batch keeps in flight at once.
        self.writers = max(writers, 1)
        self._client = S3Store(
            location.bucket,
            prefix=location.prefix.strip("/") or None,
            config=_config(location),
            client_options=_client_options(location),
            retry_config={
                "max_retries": location.max_retries,
                "retry_timeout": timedelta(
                    seconds=location.timeout_seconds * (location.max_retries + 1)
                ),
            },
        )

    def __repr__(self) -> str:
        return f"S3DocumentStore({self.location.url!r})"

    def key_of(self, sha256: str) -> str:
        if not _SHA256.match(sha256):
            raise NotFound(kind="file", ident=sha256[:80])
        return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"

    async def put(self, data: bytes, *, sha256: str | None = None) -> StoredFile:
        sha256 = sha256 or digest(data)
        await self._put(self.key_of(sha256), data)
        return StoredFile(sha256=sha256, size=len(data))

    async def put_many(
        self, items: Sequence[bytes], *, sha256s: Sequence[str] | None = None
    ) -> list[StoredFile]:
        names = await batch_names(items, sha256s)
        if not items:
            return []
        # The same message twice in a batch is one object.
        unique = {self.key_of(name): data for name, data in zip(names, items, strict=True)}
        gate = asyncio.Semaphore(self.writers)

        async def one(key: str, data: bytes) -> None:
            async with gate:
                await self._put(key, data)

        # Every PUT runs to its end before the batch answers, so a failure never leaves a
        # PUT in flight behind the caller's back; the objects that did land are harmless
        # (named by their content) and the next try finds them there.
        results = await asyncio.gather(
            *(one(key, data) for key, data in unique.items()), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return [StoredFile(sha256=n, size=len(d)) for n, d in zip(names, items, strict=True)]

    async def put_file(self, source: BinaryIO, *, name: str, max_bytes: int) -> StoredFile:
        """Store an open file, refused past `max_bytes` as the local store refuses it.

        A conditional PUT is a single request, so the file is held in memory once it is
        read (at most `max_bytes`, the size mail may bring in)."""
        data, sha256 = await asyncio.to_thread(_read_bounded, source, name, max_bytes)
        return await self.put(data, sha256=sha256)

    async def get(self, sha256: str) -> bytes:
        key = self.key_of(sha256)
        try:
            result = await obstore.get_async(self._client, key)
            return bytes(await result.bytes_async())
        except FileNotFoundError as err:
            if _no_bucket(err):
                raise self._failed(err) from None
            raise NotFound(kind="file", ident=sha256) from err
        except (BaseError, OSError) as err:
            raise self._failed(err) from None

    async def exists(self, sha256: str) -> bool:
        try:
            await obstore.head_async(self._client, self.key_of(sha256))
        except FileNotFoundError:
            # A HEAD's 404 has no body to tell a missing bucket by: put, get and `check`
            # report that one.
            return False
        except (BaseError, OSError) as err:
            raise self._failed(err) from None
        return True

    async def delete(self, sha256: str) -> None:
        """Remove an object no row refers to any more; one already gone is no error."""
        try:
            await obstore.delete_async(self._client, self.key_of(sha256))
        except FileNotFoundError:
            return
        except (BaseError, OSError) as err:
            raise self._failed(err) from None

    async def check(self) -> None:
        """Prove the bucket can be written and read, for `courier doctor`."""
        probe = b"courier storage probe"
        stored = await self.put(probe)
        if await self.get(stored.sha256) != probe:
            raise StorageFailed(root=self.location.url, reason="read back differs")

    async def _put(self, key: str, data: bytes) -> None:
        try:
            if self.location.conditional_writes:
                await obstore.put_async(self._client, key, data, mode="create")
                return
            if not await self._present(key):
                await obstore.put_async(self._client, key, data, use_multipart=False)
        except (AlreadyExistsError, PreconditionError):
            return  # the same name holds the same bytes: already stored
        except (BaseError, OSError) as err:
            # OSError too: a missing bucket answers 404, which obstore raises as
            # FileNotFoundError; for a write that is the store failing, not a document.
            raise self._failed(err) from None

    async def _present(self, key: str) -> bool:
        try:
            await obstore.head_async(self._client, key)
        except FileNotFoundError:
            return False
        return True

    def _failed(self, err: BaseException) -> StorageFailed:
        """The error as Courier reports it. Not chained (`from None`): the client's
        message quotes the server's reply, which may name the access key."""
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        for secret in self.location.secrets():
            first = first.replace(secret, "***")
        return StorageFailed(root=self.location.url, reason=first[:_REASON_CHARS])


def _no_bucket(err: OSError) -> bool:
    """A 404 about the bucket, not the document: obstore raises both as FileNotFoundError,
    and S3 names the difference in its reply (`NoSuchBucket` against `NoSuchKey`)."""
    return "NoSuchBucket" in str(err)


def _config(location: S3Location) -> S3Config:
    config: S3Config = {
        "region": location.region,
        # The server checks each PUT's body against this before it stores it.
        "checksum_algorithm": "sha256",
    }
    if location.endpoint_url:
        config["endpoint"] = location.endpoint_url
    if location.access_key_id is not None:
        config["access_key_id"] = location.access_key_id.get_secret_value()
    if location.secret_access_key is not None:
        config["secret_access_key"] = location.secret_access_key.get_secret_value()
    return config


def _client_options(location: S3Location) -> ClientConfig:
    return {
        # Plain HTTP only when the endpoint says so: MinIO or moto on a private network.
        "allow_http": (location.endpoint_url or "").startswith("http://"),
        "timeout": timedelta(seconds=location.timeout_seconds),
        "connect_timeout": timedelta(seconds=min(location.timeout_seconds, 10.0)),
    }


def _read_bounded(source: BinaryIO, name: str, max_bytes: int) -> tuple[bytes, str]:
    def refuse() -> DocumentTooLarge:
        return DocumentTooLarge(name=name, limit_mb=round(max_bytes / _MB, 1))

    if os.fstat(source.fileno()).st_size > max_bytes:
        raise refuse()
    hasher, chunks, size = hashlib.sha256(), [], 0
    while chunk := source.read(_CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise refuse()
        hasher.update(chunk)
        chunks.append(chunk)
    return b"".join(chunks), hasher.hexdigest()


#: What the composition root holds: the folder, or the bucket.
ConfiguredStore: TypeAlias = LocalDocumentStore | S3DocumentStore


def s3_location(settings: Settings) -> S3Location:
    if not settings.s3_bucket:
        raise ConfigInvalid(
            setting="COURIER_S3_BUCKET", reason="required when COURIER_DOCUMENT_STORE=s3"
        )
    return S3Location(
        bucket=settings.s3_bucket,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        prefix=settings.s3_prefix,
        access_key_id=settings.s3_access_key_id,
        secret_access_key=settings.s3_secret_access_key,
        conditional_writes=settings.s3_conditional_writes,
    )


def build_store(settings: Settings) -> ConfiguredStore:
    """The document store the settings choose: the local folder unless told otherwise."""
    if settings.document_store == "s3":
        return S3DocumentStore(s3_location(settings))
    return LocalDocumentStore(settings.documents_dir)


def store_location(store: ConfiguredStore) -> str:
    """Where the documents are, for `courier doctor` and logs: never a credential."""
    if isinstance(store, S3DocumentStore):
        return store.location.url
    return str(store.root.resolve())


async def sniff_stored(store: ConfiguredStore, sha256: str, filename: str) -> str:
    """The content type of a stored document: from the file's head in a folder, from its
    bytes in a bucket."""
    if isinstance(store, LocalDocumentStore):
        return await asyncio.to_thread(sniff_path, store.path_of(sha256), filename)
    return await asyncio.to_thread(sniff_content_type, await store.get(sha256), filename)
