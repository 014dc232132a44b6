"""Every API's Retry-After is read one way: seconds (decimals too) or an HTTP date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from core.retry_after import parse_retry_after

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120),
        (" 7 ", 7),
        ("0.35", 0.35),
        (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90),
        (format_datetime(NOW + timedelta(seconds=90)), 90),
        # A date already past, or a negative count, means now.
        (format_datetime(NOW - timedelta(hours=1)), 0),
        ("-5", 0),
    ],
)
def test_seconds_and_dates_are_read(value: str, seconds: float) -> None:
    assert parse_retry_after(value, now=NOW) == pytest.approx(seconds)


@pytest.mark.parametrize("value", [None, "", "  ", "soon", "Fri, 99 Foo 2026"])
def test_a_value_that_says_nothing_leaves_the_callers_back_off(value: str | None) -> None:
    assert parse_retry_after(value, now=NOW) is None


def test_without_a_clock_the_date_is_measured_from_now() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 28 <= (parse_retry_after(later) or 0) <= 30
