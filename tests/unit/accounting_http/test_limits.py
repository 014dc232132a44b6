"""The HTTP providers' shared plumbing: their limits, failures at the boundary and the
grant built from a token answer (no server: httpx's MockTransport). The limiter itself:
tests/unit/test_limits.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from core.accounting.errors import RateLimited, Unavailable
from core.accounting.providers.oauth import ApiClient, ApiLimits, grant_from_token
from core.accounting.providers.xero import LIMITS


def test_limits_scale_with_the_standins_time() -> None:
    scaled = LIMITS.scaled(100)
    assert scaled.windows == ((60, 0.6), (5000, 864.0))
    assert scaled.concurrent == 5


def _client(handler: httpx.MockTransport) -> ApiClient:
    return ApiClient(
        provider="xero",
        limits=ApiLimits(windows=(), concurrent=5, max_wait=1.0, attempts=3),
        http=httpx.AsyncClient(transport=handler),
    )


async def test_429s_are_retried_after_their_wait_then_given_up() -> None:
    answers = iter([429, 429, 200])
    client = _client(
        httpx.MockTransport(
            lambda _: httpx.Response(next(answers), headers={"Retry-After": "0.001"})
        )
    )
    assert (await client.send("GET", "https://api.example/x", key="t")).status_code == 200
    assert client.rate_limited == client.retried == 2

    too_long = _client(
        httpx.MockTransport(lambda _: httpx.Response(429, headers={"Retry-After": "60"}))
    )
    with pytest.raises(RateLimited) as caught:
        await too_long.send("GET", "https://api.example/x", key="t")
    assert caught.value.retry_after == 60


async def test_server_errors_and_timeouts_are_unavailable_without_the_query() -> None:
    broken = _client(httpx.MockTransport(lambda _: httpx.Response(503)))
    with pytest.raises(Unavailable) as caught:
        await broken.send("GET", "https://api.example/x?secret=s3cr3t", key="t")
    assert "s3cr3t" not in str(caught.value)

    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(Unavailable, match="timeout"):
        await _client(httpx.MockTransport(timeout)).send("GET", "https://api.example/x", key="t")


def test_the_newest_refresh_token_wins_and_the_old_one_stays_when_none_is_sent() -> None:
    now = datetime(2026, 11, 28, tzinfo=UTC)
    rotated = grant_from_token(
        {"access_token": "a2", "refresh_token": "r2", "expires_in": 1800},
        now=now,
        refresh_lifetime=timedelta(days=60),
        extra={},
        previous_refresh="r1",
    )
    assert rotated.refresh_token == "r2"
    assert rotated.access_expires_at == now + timedelta(minutes=30)
    assert rotated.refresh_expires_at == now + timedelta(days=60)
    kept = grant_from_token(
        {"access_token": "a3", "expires_in": 3600, "x_refresh_token_expires_in": 86400},
        now=now,
        refresh_lifetime=None,
        extra={},
        previous_refresh="r2",
    )
    assert kept.refresh_token == "r2"
    assert kept.refresh_expires_at == now + timedelta(days=1)
    assert "a3" not in repr(kept)
    assert "r2" not in repr(kept)
