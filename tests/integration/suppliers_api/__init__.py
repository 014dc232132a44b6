"""API connectors (AWS, Azure, DigitalOcean, Meta, Microsoft Advertising, Mollie, OVHcloud,
Qonto, Scaleway) against their stand-ins on loopback.

Also the helpers the test modules share: draining `invoices()` and the check that
a secret shows up nowhere a person or a log could read it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

import pytest

from core.suppliers.connector import InvoiceRef


async def collect(refs: AsyncIterator[InvoiceRef]) -> list[InvoiceRef]:
    return [ref async for ref in refs]


def assert_nowhere(
    secrets: Iterable[str],
    *,
    caplog: pytest.LogCaptureFixture,
    objects: Iterable[object],
) -> None:
    """No secret in the captured logs, nor in the str/repr of `objects` and their causes."""
    texts = [caplog.text]
    for item in objects:
        texts += [str(item), repr(item)]
        cause = item.__cause__ if isinstance(item, BaseException) else None
        while cause is not None:
            texts += [str(cause), repr(cause)]
            cause = cause.__cause__
    for secret in secrets:
        assert all(secret not in text for text in texts), "a secret leaked"
