"""The shared HTTP plumbing against a tiny aiohttp server on loopback (real sockets)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from aiohttp import web

from core.suppliers.connector import SupplierUnavailable
from core.suppliers.http import (
    USER_AGENT,
    HttpLimits,
    Throttle,
    build_client,
    export_cookies,
    import_cookies,
    request,
)
from core.suppliers.pool import HttpPool

LIMITS = HttpLimits(connect_timeout=1.0, read_timeout=2.0)


@dataclass
class Stats:
    hits: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    most_in_flight: int = 0
    user_agents: list[str] = field(default_factory=list)
    cookies: list[dict[str, str]] = field(default_factory=list)


STATS: web.AppKey[Stats] = web.AppKey("stats", Stats)


def _app() -> web.Application:
    app = web.Application()
    stats = app[STATS] = Stats()

    async def counted(name: str, request: web.Request) -> int:
        stats.hits[name] += 1
        stats.user_agents.append(request.headers.get("User-Agent", ""))
        stats.cookies.append(dict(request.cookies))
        return stats.hits[name]

    async def ok(request: web.Request) -> web.Response:
        await counted("ok", request)
        return web.Response(text="ok")

    async def flaky(request: web.Request) -> web.Response:
        hit = await counted(f"flaky-{request.method}", request)
        status = int(request.query.get("status", "500"))
        return (
            web.Response(text="ok")
            if hit > int(request.query["fail"])
            else web.Response(status=status)
        )

    async def limited(request: web.Request) -> web.Response:
        hit = await counted("limited", request)
        if hit > int(request.query["fail"]):
            return web.Response(text="ok")
        return web.Response(status=429, headers={"Retry-After": request.query["after"]})

    async def slow(request: web.Request) -> web.Response:
        await counted("slow", request)
        stats.in_flight += 1
        stats.most_in_flight = max(stats.most_in_flight, stats.in_flight)
        try:
            await asyncio.sleep(float(request.query.get("seconds", "0.5")))
        finally:
            stats.in_flight -= 1
        return web.Response(text="slow")

    async def set_cookie(request: web.Request) -> web.Response:
        response = web.Response(text="set")
        response.set_cookie("session", "abc", httponly=True)
        response.set_cookie("device", "xyz", max_age=3600)
        return response

    app.router.add_get("/ok", ok)
    app.router.add_route("*", "/flaky", flaky)
    app.router.add_get("/limited", limited)
    app.router.add_get("/slow", slow)
    app.router.add_get("/set-cookie", set_cookie)
    return app


@dataclass
class Server:
    url: str
    stats: Stats


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    app = _app()
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield Server(f"http://127.0.0.1:{runner.addresses[0][1]}", app[STATS])
    await runner.cleanup()


@pytest.fixture
async def client(pool: HttpPool) -> AsyncIterator[httpx.AsyncClient]:
    async with build_client(limits=LIMITS, transport=pool.transport()) as built:
        yield built


async def test_client_looks_like_a_browser(server: Server, client: httpx.AsyncClient) -> None:
    response = await request(client, "GET", f"{server.url}/ok", supplier="acme")
    assert response.text == "ok"
    assert server.stats.user_agents == [USER_AGENT]


async def test_server_errors_are_retried_until_the_page_answers(
    server: Server, client: httpx.AsyncClient
) -> None:
    url = f"{server.url}/flaky?fail=2"
    response = await request(client, "GET", url, supplier="acme", backoff=0.01)
    assert response.status_code == 200
    assert server.stats.hits["flaky-GET"] == 3


async def test_giving_up_raises_supplier_unavailable_without_the_query(
    server: Server, client: httpx.AsyncClient
) -> None:
    url = f"{server.url}/flaky?fail=99&token=s3cret"
    with pytest.raises(SupplierUnavailable) as caught:
        await request(client, "GET", url, supplier="acme", retries=1, backoff=0.01)
    message = str(caught.value)
    assert message == "acme: server error (500) on GET 127.0.0.1/flaky after 2 attempt(s)"
    assert "s3cret" not in message
    assert caught.value.retry_after is None


async def test_a_post_is_retried_only_when_the_site_did_not_act(
    server: Server, client: httpx.AsyncClient
) -> None:
    with pytest.raises(SupplierUnavailable):
        await request(client, "POST", f"{server.url}/flaky?fail=1", supplier="a", backoff=0.01)
    assert server.stats.hits["flaky-POST"] == 1  # a 500 may have done the work: no retry

    url = f"{server.url}/flaky?fail=2&status=503"
    response = await request(client, "POST", url, supplier="a", backoff=0.01)
    assert response.status_code == 200


async def test_retry_after_is_honoured(server: Server, client: httpx.AsyncClient) -> None:
    started = time.monotonic()
    url = f"{server.url}/limited?fail=1&after=1"
    response = await request(client, "GET", url, supplier="acme", backoff=0.01)
    assert response.status_code == 200
    assert time.monotonic() - started >= 1.0


async def test_a_long_retry_after_gives_up_at_once(
    server: Server, client: httpx.AsyncClient
) -> None:
    url = f"{server.url}/limited?fail=9&after=3600"
    with pytest.raises(SupplierUnavailable, match="rate limited") as caught:
        await request(client, "GET", url, supplier="acme", max_wait=30)
    assert caught.value.retry_after == 3600
    assert server.stats.hits["limited"] == 1


async def test_timeouts_and_refused_connections_are_unavailable(
    server: Server, client: httpx.AsyncClient
) -> None:
    with pytest.raises(SupplierUnavailable, match="timeout"):
        await request(
            client, "GET", f"{server.url}/slow?seconds=10", supplier="a", retries=1, backoff=0.01
        )
    assert server.stats.hits["slow"] == 2

    with pytest.raises(SupplierUnavailable, match="unreachable"):
        await request(client, "GET", "http://127.0.0.1:9/", supplier="a", retries=0)


async def test_cookies_survive_export_and_import(server: Server, pool: HttpPool) -> None:
    async with build_client(limits=LIMITS, transport=pool.transport()) as first:
        await request(first, "GET", f"{server.url}/set-cookie", supplier="a")
        saved = export_cookies(first.cookies)
    names = {c["name"] for c in saved["cookies"]}
    assert names == {"session", "device"}

    async with build_client(limits=LIMITS, transport=pool.transport(), cookies=saved) as second:
        await request(second, "GET", f"{server.url}/ok", supplier="a")
    assert server.stats.cookies[-1] == {"session": "abc", "device": "xyz"}


def test_expired_and_malformed_cookies_are_skipped() -> None:
    jar = httpx.Cookies()
    data = {
        "version": 1,
        "cookies": [
            {"name": "old", "value": "1", "domain": "a.test", "expires": time.time() - 10},
            {"value": "no name"},
            "junk",
            {"name": "ok", "value": "2", "domain": "a.test", "path": "/", "expires": None},
        ],
    }
    assert import_cookies(jar, data) == 1
    assert import_cookies(httpx.Cookies(), {"version": 99, "cookies": data["cookies"]}) == 0


async def test_throttle_limits_each_supplier_but_not_the_others(
    server: Server, client: httpx.AsyncClient
) -> None:
    throttle = Throttle(per_supplier=1, rate=100, burst=10)
    url = f"{server.url}/slow?seconds=0.1"

    async def get(supplier: str) -> None:
        await request(client, "GET", url, supplier=supplier, throttle=throttle)

    await asyncio.gather(get("acme"), get("acme"))
    assert server.stats.most_in_flight == 1
    await asyncio.gather(get("acme"), get("other"))
    assert server.stats.most_in_flight == 2


async def test_throttle_caps_requests_overall(server: Server, client: httpx.AsyncClient) -> None:
    throttle = Throttle(overall=2, per_supplier=5, rate=100, burst=10)
    url = f"{server.url}/slow?seconds=0.1"
    await asyncio.gather(
        *(request(client, "GET", url, supplier=f"s{n}", throttle=throttle) for n in range(5))
    )
    assert server.stats.most_in_flight == 2
