"""A stand-in for billing hosts (Stripe's invoice, receipt and file hosts) over HTTPS.

One loopback server answers for every name; a test's resolver maps the names to it and
its self-signed certificate, made for the run, names them all. Stripe's shapes: the
hosted invoice page's PDF, https://pay.stripe.com/invoice/<account>/<id>/pdf, redirects to
a signed file on files.stripe.com; a receipt page links its PDF, ending in /pdf.
`BillingSwitches.file` makes the file misbehave the ways an attacker's server would.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from aiohttp import web
from aiohttp.typedefs import Handler

from tests.certificates import self_signed
from tests.standins import HTML_PAGE, make_pdf

NAMES = ("invoice.stripe.com", "pay.stripe.com", "files.stripe.com", "my.paddle.com")
PDF = make_pdf("Stripe test invoice", "Invoice INV-0042", "Total 29.00 EUR")
FileMode = Literal["pdf", "html_as_pdf", "huge", "slow"]


@dataclass
class BillingSwitches:
    """Mutable on purpose: a test picks how the file host answers."""

    file: FileMode = "pdf"
    #: Where /invoice/.../pdf redirects to; {id} is the invoice's id.
    redirect_to: str = "https://files.stripe.com/links/{id}"
    #: (Host header, path) of every request, for assertions.
    requests: list[tuple[str, str]] = field(default_factory=list)


SWITCHES = web.AppKey("billing_switches", BillingSwitches)


async def _invoice_pdf(request: web.Request) -> web.StreamResponse:
    location = request.app[SWITCHES].redirect_to.format(id=request.match_info["id"])
    raise web.HTTPFound(location)


async def _file(request: web.Request) -> web.StreamResponse:
    mode = request.app[SWITCHES].file
    if mode == "html_as_pdf":
        return web.Response(body=HTML_PAGE, content_type="application/pdf")
    if mode in ("huge", "slow"):
        # Streamed without a Content-Length: only reading it tells its size.
        response = web.StreamResponse(headers={"Content-Type": "application/pdf"})
        await response.prepare(request)
        await response.write(PDF[:1024])
        while True:  # until the client goes away
            if mode == "slow":
                await asyncio.sleep(0.05)  # a trickle: each byte on time, the whole never
                await response.write(b" ")
            else:
                await response.write(b"\0" * 65536)
    return web.Response(body=PDF, content_type="application/pdf")


async def _receipt(request: web.Request) -> web.StreamResponse:
    tail = request.match_info["tail"]
    if tail.endswith("/pdf"):
        return await _file(request)
    page = (
        "<!DOCTYPE html><html><body><h1>Receipt from Acme SaaS</h1>"
        f'<a href="https://pay.stripe.com/receipts/{tail}/pdf?s=em">Download receipt</a>'
        "</body></html>"
    )
    return web.Response(text=page, content_type="text/html")


@web.middleware
async def _record(request: web.Request, handler: Handler) -> web.StreamResponse:
    request.app[SWITCHES].requests.append((request.host, request.path))
    return await handler(request)


def billing_app(switches: BillingSwitches) -> web.Application:
    app = web.Application(middlewares=[_record])
    app[SWITCHES] = switches
    app.router.add_get("/invoice/{account}/{id}/pdf", _invoice_pdf)
    app.router.add_get("/links/{id}", _file)
    app.router.add_get("/receipts/{tail:.+}", _receipt)
    return app


def tls_pair(folder: Path, names: tuple[str, ...] = NAMES) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A self-signed certificate for `names`: the server's context, and a client's that
    trusts only it (and checks the names, as the real fetcher does)."""
    cert_path, key_path = self_signed(folder, names, stem="billing")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_path, key_path)
    client = ssl.create_default_context(cafile=str(cert_path))
    return server, client


@asynccontextmanager
async def running_https(app: web.Application, tls: ssl.SSLContext) -> AsyncIterator[int]:
    """Serve `app` over TLS on 127.0.0.1 at a free port; yields the port."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    port = int(runner.addresses[0][1])
    try:
        yield port
    finally:
        await runner.cleanup()


@dataclass(frozen=True, slots=True)
class MapResolver:
    """A test's DNS: each name to the addresses given, all on the stand-in's port."""

    table: Mapping[str, tuple[str, ...]]
    port: int

    async def resolve(self, host: str, port: int) -> list[tuple[str, int]]:
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "unknown name")
        for address in self.table[host]:
            ipaddress.ip_address(address)
        return [(address, self.port) for address in self.table[host]]
