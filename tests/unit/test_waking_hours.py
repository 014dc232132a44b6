"""Weekly runs start when someone is awake to answer a code, in the workspace's time zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.services.fetch import FetchPolicy, within_waking_hours

POLICY = FetchPolicy()


@pytest.mark.parametrize(
    ("due", "zone", "expected"),
    [
        # 03:30 in Paris (winter, UTC+1) waits until 08:30 the same morning.
        (
            datetime(2026, 12, 1, 2, 30, tzinfo=UTC),
            "Europe/Paris",
            datetime(2026, 12, 1, 7, 30, tzinfo=UTC),
        ),
        # 21:15 in Paris moves to 08:15 the next morning.
        (
            datetime(2026, 12, 1, 20, 15, tzinfo=UTC),
            "Europe/Paris",
            datetime(2026, 12, 2, 7, 15, tzinfo=UTC),
        ),
        # 14:00 in Paris stays.
        (
            datetime(2026, 12, 1, 13, 0, tzinfo=UTC),
            "Europe/Paris",
            datetime(2026, 12, 1, 13, 0, tzinfo=UTC),
        ),
        # 05:00 in New York (UTC-5) moves to 08:05.
        (
            datetime(2026, 12, 1, 10, 5, tzinfo=UTC),
            "America/New_York",
            datetime(2026, 12, 1, 13, 5, tzinfo=UTC),
        ),
        # An unknown zone falls back to UTC rather than failing the run.
        (
            datetime(2026, 12, 1, 22, 0, tzinfo=UTC),
            "Mars/Olympus",
            datetime(2026, 12, 2, 8, 0, tzinfo=UTC),
        ),
    ],
)
def test_a_weekly_run_starts_in_waking_hours(due: datetime, zone: str, expected: datetime) -> None:
    assert within_waking_hours(due, zone, POLICY) == expected
