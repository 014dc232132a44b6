"""A supplier's portal as the connectors' client meets it: redirects carry their cookies,
a POST the site may have acted on is not sent twice, a certificate nobody vouches for is
refused, and no failure quotes a URL's query."""

from __future__ import annotations

import asyncio
import ssl
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from core.suppliers.connector import SupplierUnavailable
from core.suppliers.http import HttpLimits, build_client, request
from core.suppliers.pool import HttpPool
from tests.certificates import self_signed

LIMITS = HttpLimits(connect_timeout=1.0, read_timeout=1.0)


async def _serve(app: web.Application, tls: ssl.SSLContext | None = None) -> web.AppRunner:
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls).start()
    return runner


@pytest.fixture
async def portal() -> AsyncIterator[tuple[str, Counter[str]]]:
    """A supplier's portal: a login that sets a session and redirects, an account page
    that wants the session, and a POST it answers by hanging up."""
    seen: Counter[str] = Counter()

    async def login(request: web.Request) -> web.Response:
        seen["login"] += 1
        response = web.HTTPSeeOther("/account")
        response.set_cookie("session", "s3ss10n", httponly=True)
        raise response

    async def account(request: web.Request) -> web.Response:
        seen["account"] += 1
        if request.cookies.get("session") != "s3ss10n":
            return web.Response(status=401)
        return web.Response(body=b"%PDF-1.4 " + b"x" * 200_000, content_type="application/pdf")

    async def hang_up(request: web.Request) -> web.StreamResponse:
        seen[f"hang-up-{request.method}"] += 1
        await request.read()
        assert request.transport is not None
        request.transport.close()  # the site got the form, then the line dropped
        return web.Response()

    app = web.Application()
    app.router.add_post("/login", login)
    app.router.add_get("/account", account)
    app.router.add_route("*", "/hang-up", hang_up)
    runner = await _serve(app)
    yield f"http://127.0.0.1:{runner.addresses[0][1]}", seen
    await runner.cleanup()


async def test_a_login_redirect_carries_its_session_cookie_to_the_account(
    portal: tuple[str, Counter[str]], pool: HttpPool
) -> None:
    url, seen = portal
    async with build_client(limits=LIMITS, transport=pool.transport()) as client:
        response = await request(client, "POST", f"{url}/login", supplier="edf", data={"a": "b"})
    assert response.status_code == 200
    assert len(response.content) == 200_009
    assert seen == {"login": 1, "account": 1}
    assert response.history[0].status_code == 303


async def test_a_post_the_site_may_have_acted_on_is_sent_once(
    portal: tuple[str, Counter[str]], pool: HttpPool
) -> None:
    url, seen = portal
    async with build_client(limits=LIMITS, transport=pool.transport()) as client:
        with pytest.raises(SupplierUnavailable, match="connection failed"):
            await request(client, "POST", f"{url}/hang-up", supplier="edf", data={"pin": "1"})
        with pytest.raises(SupplierUnavailable, match="connection failed"):
            await request(client, "GET", f"{url}/hang-up", supplier="edf", backoff=0.01)
    assert seen["hang-up-POST"] == 1
    assert seen["hang-up-GET"] == 3  # a GET is safe to try again


async def test_a_certificate_nobody_vouches_for_is_refused_and_one_trusted_is_not(
    tmp_path: Path, pool: HttpPool
) -> None:
    cert, key = self_signed(tmp_path, ("localhost",))
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(cert, key)

    async def home(request: web.Request) -> web.Response:
        return web.Response(text="portal")

    app = web.Application()
    app.router.add_get("/", home)
    runner = await _serve(app, served)
    url = f"https://localhost:{runner.addresses[0][1]}/?token=s3cr3t"
    try:
        async with build_client(limits=LIMITS, transport=pool.transport()) as client:
            with pytest.raises(SupplierUnavailable, match="unreachable") as refused:
                await request(client, "GET", url, supplier="edf", retries=0)
        trusting = ssl.create_default_context(cafile=str(cert))
        async with httpx.AsyncClient(verify=trusting) as client:
            assert (await client.get(url)).text == "portal"
    finally:
        await runner.cleanup()
    assert "s3cr3t" not in _told(refused.value)


async def test_no_failure_quotes_the_query_it_was_sent_with(pool: HttpPool) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # nothing until the client gave up and hung up: a read timeout
        writer.close()

    timed_out = await _failure(pool, silent, "GET", "/x?key=s3cr3t", match="timeout")
    assert "s3cr3t" not in _told(timed_out)


async def test_a_reply_that_is_not_http_is_a_failed_connection_that_names_no_query(
    pool: HttpPool,
) -> None:
    async def garbled(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HELLO THERE\r\n\r\n")  # no status line a browser would take
        await writer.drain()
        writer.close()

    failed = await _failure(
        pool,
        garbled,
        "POST",
        "/login?key=s3cr3t",
        match="connection failed",
        data={"password": "hunter2"},
    )
    told = _told(failed)
    assert "s3cr3t" not in told
    assert "hunter2" not in told


async def _failure(
    pool: HttpPool,
    serve: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
    method: str,
    path: str,
    *,
    match: str,
    **kwargs: Any,
) -> SupplierUnavailable:
    """What a request to a server that does not speak HTTP properly raises, once."""
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}{path}"
    try:
        async with build_client(limits=LIMITS, transport=pool.transport()) as client:
            with pytest.raises(SupplierUnavailable, match=match) as failed:
                await request(client, method, url, supplier="edf", retries=0, **kwargs)
    finally:
        server.close()
        await server.wait_closed()
    return failed.value


def _told(error: BaseException) -> str:
    """Everything a log line with its traceback would print about the error."""
    told = []
    cause: BaseException | None = error
    while cause is not None:
        told += [str(cause), repr(cause)]
        cause = cause.__cause__ or cause.__context__
    return "\n".join(told)
