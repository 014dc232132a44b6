"""When each software's grant is refreshed by the scheduler and when its owners are warned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.accounting.provider import Grant
from core.accounting.providers.oauth import OAuthEndpoints
from core.accounting.providers.pennylane import PennylaneProvider
from core.accounting.providers.quickbooks import QuickBooksProvider
from core.accounting.providers.xero import XeroProvider

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
ENDPOINTS = OAuthEndpoints("https://a.example", "https://t.example", "https://r.example", "id", "s")


def test_xero_is_kept_alive_weekly_and_warns_after_45_days_without_a_refresh() -> None:
    provider = XeroProvider(endpoints=ENDPOINTS, api_url="https://api.example")
    grant = Grant(
        access_token="a",
        refresh_token="r",
        access_expires_at=NOW + timedelta(minutes=30),
        refresh_expires_at=NOW + timedelta(days=60),
        extra={"refreshed_at": NOW.isoformat()},
    )
    assert provider.refresh_due_at(grant) == NOW + timedelta(days=7)
    assert provider.warning_starts_at(grant) == NOW + timedelta(days=45)


def test_quickbooks_warns_30_days_before_the_refresh_token_or_the_cap() -> None:
    provider = QuickBooksProvider(endpoints=ENDPOINTS, api_url="https://api.example")
    rolling = Grant(
        access_token="a",
        refresh_token="r",
        access_expires_at=NOW + timedelta(hours=1),
        refresh_expires_at=NOW + timedelta(days=100),
        extra={"cap_at": (NOW + timedelta(days=1800)).isoformat(), "refreshed_at": NOW.isoformat()},
    )
    assert provider.warning_starts_at(rolling) == NOW + timedelta(days=70)
    assert provider.refresh_due_at(rolling) == NOW + timedelta(days=30)
    capped = Grant(
        access_token="a",
        refresh_token="r",
        refresh_expires_at=NOW + timedelta(days=100),
        extra={"cap_at": (NOW + timedelta(days=40)).isoformat()},
    )
    assert provider.warning_starts_at(capped) == NOW + timedelta(days=10)


def test_pennylane_warns_14_days_before_the_tokens_date_and_never_refreshes() -> None:
    provider = PennylaneProvider(api_url="https://api.example")
    dated = Grant(access_token="t", access_expires_at=NOW + timedelta(days=100))
    assert provider.warning_starts_at(dated) == NOW + timedelta(days=86)
    assert provider.refresh_due_at(dated) is None
    assert provider.warning_starts_at(Grant(access_token="t")) is None
