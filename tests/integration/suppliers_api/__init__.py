"""API connectors (AWS, Azure, DigitalOcean, Meta, Microsoft Advertising, Mollie, OVHcloud,
Qonto, Scaleway) against their stand-ins on loopback.

Also what the test modules share: draining `invoices()`, the faults every connector's
listing must turn into its typed error, and the check that a secret shows up nowhere a
person or a log could read it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

import pytest

from core.suppliers.connector import (
    ActionRequired,
    ConnectorError,
    Credentials,
    InvoiceRef,
    LayoutChanged,
    LoginRefused,
    SupplierConnector,
    SupplierUnavailable,
)
from tests.standins import Fault, Switches

#: Each fault of a stand-in's listing, and the typed error every API connector makes of it.
LISTING_FAULTS = [
    (Fault.UNAUTHORIZED, LoginRefused),
    (Fault.FORBIDDEN, ActionRequired),
    (Fault.RATE_LIMITED, SupplierUnavailable),
    (Fault.SERVER_ERROR, SupplierUnavailable),
    (Fault.MALFORMED_JSON, LayoutChanged),
]


async def collect(refs: AsyncIterator[InvoiceRef]) -> list[InvoiceRef]:
    return [ref async for ref in refs]


async def raised_while_listing(
    connector: SupplierConnector,
    switches: Switches,
    fault: Fault,
    error: type[ConnectorError],
    *,
    credentials: Credentials,
    retry_after: int | None = None,
) -> ConnectorError:
    """Log in, then list while the stand-in answers with `fault`: the `error` raised."""
    await connector.login(credentials)
    switches.fault = fault
    if retry_after is not None:
        switches.retry_after = retry_after
    with pytest.raises(error) as raised:
        await collect(connector.invoices(None))
    return raised.value


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
