"""One reading of HTTP's `Retry-After` (RFC 9110, 10.2.3), for every API Courier calls.

The header is a number of seconds or an HTTP date. Suppliers and accounting software
send both, and some send decimals ("0.35"), which are read too. A date already past means
"now" (0), and anything unreadable means the header said nothing (None): the caller's own
back-off then applies.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` value, or None when it gives none."""
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
