"""One pool of connections for every run of a process: each run's client keeps its own
cookies, the sockets outlive the run, and no host gets more connections than allowed."""

from __future__ import annotations

import asyncio
import gzip
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from core.suppliers.http import HttpLimits, build_client, request
from core.suppliers.pool import HttpPool, lease

LIMITS = HttpLimits(connect_timeout=1.0, read_timeout=2.0)


@dataclass
class Portal:
    url: str
    sockets: Counter[int] = field(default_factory=Counter)  # requests by client port
    sessions: list[str | None] = field(default_factory=list)
    in_flight: int = 0
    most_at_once: int = 0
    #: The server's end of the last connection a request came in on.
    last: asyncio.BaseTransport | None = None


@pytest.fixture
async def portal() -> AsyncIterator[Portal]:
    portal = Portal("")

    async def sign_in(request: web.Request) -> web.Response:
        response = web.HTTPSeeOther("/account")
        response.set_cookie("session", request.query["who"])
        raise response

    async def account(request: web.Request) -> web.Response:
        assert request.transport is not None
        portal.sockets[request.transport.get_extra_info("peername")[1]] += 1
        portal.last = request.transport
        portal.sessions.append(request.cookies.get("session"))
        return web.Response(text=f"hello {request.cookies.get('session')}")

    async def slow(request: web.Request) -> web.Response:
        portal.in_flight += 1
        portal.most_at_once = max(portal.most_at_once, portal.in_flight)
        await asyncio.sleep(0.05)
        portal.in_flight -= 1
        return web.Response(text="done")

    async def packed(request: web.Request) -> web.Response:
        body = gzip.compress("facture n° 42 ".encode() * 100)
        return web.Response(body=body, headers={"Content-Encoding": "gzip"})

    app = web.Application()
    app.router.add_get("/sign-in", sign_in)
    app.router.add_get("/account", account)
    app.router.add_get("/slow", slow)
    app.router.add_get("/packed", packed)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    portal.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield portal
    await runner.cleanup()


async def test_two_accounts_on_one_pool_never_share_a_session(
    portal: Portal, pool: HttpPool
) -> None:
    # By name: a cookie jar may refuse cookies from an IP address, which would hide a leak.
    site = portal.url.replace("127.0.0.1", "localhost")
    async with (
        build_client(limits=LIMITS, transport=pool.transport()) as alice,
        build_client(limits=LIMITS, transport=pool.transport()) as bob,
    ):
        await request(alice, "GET", f"{site}/sign-in?who=alice", supplier="edf")
        await request(bob, "GET", f"{site}/sign-in?who=bob", supplier="edf")
        assert (await request(alice, "GET", f"{site}/account", supplier="edf")).text == (
            "hello alice"
        )
        assert (await request(bob, "GET", f"{site}/account", supplier="edf")).text == "hello bob"
    assert portal.sessions == ["alice", "bob", "alice", "bob"]


async def test_the_next_run_reuses_the_connection_the_last_one_left(
    portal: Portal, pool: HttpPool
) -> None:
    for _ in range(3):  # three runs, one after the other, each with its own client
        async with build_client(limits=LIMITS, transport=pool.transport()) as client:
            await request(client, "GET", f"{portal.url}/account", supplier="edf")
    assert list(portal.sockets.values()) == [3]


async def test_a_host_never_gets_more_connections_than_the_pool_allows(portal: Portal) -> None:
    pool = HttpPool(per_host=2)
    try:
        clients = [build_client(limits=LIMITS, transport=pool.transport()) for _ in range(6)]
        await asyncio.gather(
            *(request(c, "GET", f"{portal.url}/slow", supplier="edf") for c in clients)
        )
        for client in clients:
            await client.aclose()
    finally:
        await pool.aclose()
    assert portal.most_at_once == 2


async def test_a_compressed_page_is_read_as_the_site_wrote_it(
    portal: Portal, pool: HttpPool
) -> None:
    async with build_client(limits=LIMITS, transport=pool.transport()) as client:
        page = await request(client, "GET", f"{portal.url}/packed", supplier="edf")
    assert page.text == "facture n° 42 " * 100


async def test_a_closed_pool_opens_again_at_the_next_request(portal: Portal) -> None:
    pool = HttpPool()
    async with build_client(limits=LIMITS, transport=pool.transport()) as client:
        await request(client, "GET", f"{portal.url}/account", supplier="edf")
        await pool.aclose()
        await request(client, "GET", f"{portal.url}/account", supplier="edf")
    await pool.aclose()
    assert sum(portal.sockets.values()) == 2
    assert len(portal.sockets) == 2


async def test_a_client_without_the_process_pool_closes_its_connections_with_it(
    portal: Portal, pool: HttpPool
) -> None:
    """A connector built alone (a test's, a one-off check) leaves no socket behind; a run's
    client returns its connection to the process's pool, which keeps it open."""
    async with build_client(limits=LIMITS, transport=lease(None)) as alone:
        await request(alone, "GET", f"{portal.url}/account", supplier="edf")
    assert portal.last is not None
    alone_end = portal.last
    async with build_client(limits=LIMITS, transport=lease(pool)) as shared:
        await request(shared, "GET", f"{portal.url}/account", supplier="edf")
    assert portal.last is not None
    shared_end = portal.last
    await asyncio.sleep(0.1)  # the server hears of a close
    assert alone_end.is_closing()
    assert not shared_end.is_closing()
