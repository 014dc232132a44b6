"""A bucket for the S3 document store (issue #19): moto's S3 in server mode on loopback.

Loaded as a plugin by tests/conftest.py, so integration and end-to-end tests alike ask for
`moto_s3`, `s3_location` or `s3_store`. The server starts with the first test that needs
it, once per test process, on a free port: the test command needs no manual step.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator

import httpx
import pytest
from obstore.store import S3Store
from pydantic import SecretStr

from core.storage_s3 import S3DocumentStore, S3Location

#: Credentials the tests hand the store, distinctive so a test can look for them anywhere.
S3_KEY_ID = "AKIACOURIERTESTKEY01"
S3_SECRET = "courier-test-secret-7Hq9vZ2mX4"


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1: its endpoint URL. The store talks real HTTP to it,
    signed requests and all, as it would to AWS or MinIO."""
    from moto.server import ThreadedMotoServer

    # Werkzeug logs each request at INFO; the store's own logging is what tests read.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_location(moto_s3: str) -> S3Location:
    """A new empty bucket, and where the store finds it."""
    bucket = f"courier-{uuid.uuid4().hex[:16]}"
    httpx.put(f"{moto_s3}/{bucket}").raise_for_status()
    return S3Location(
        bucket=bucket,
        endpoint_url=moto_s3,
        prefix="documents",
        access_key_id=SecretStr(S3_KEY_ID),
        secret_access_key=SecretStr(S3_SECRET),
        timeout_seconds=5.0,
        max_retries=1,
    )


@pytest.fixture
def s3_store(s3_location: S3Location) -> S3DocumentStore:
    return S3DocumentStore(s3_location)


def bucket_keys(location: S3Location) -> set[str]:
    """Every key in the bucket, read over S3's own listing."""
    listing = httpx.get(f"{location.endpoint_url}/{location.bucket}?list-type=2")
    listing.raise_for_status()
    return set(re.findall(r"<Key>([^<]+)</Key>", listing.text))


def other_host(location: S3Location) -> S3Store:
    """A client of the same bucket that is not the store: what another host sees of it."""
    return S3Store(
        location.bucket,
        prefix=location.prefix or None,
        config={
            "endpoint": location.endpoint_url or "",
            "region": location.region,
            "access_key_id": S3_KEY_ID,
            "secret_access_key": S3_SECRET,
        },
        client_options={"allow_http": True},
    )
