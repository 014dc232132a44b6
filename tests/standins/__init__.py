"""Stand-in servers for the suppliers' APIs, and what they share.

Each module here builds an aiohttp application that answers like one supplier's published
API: same paths, auth headers, pagination and error bodies. Tests run it on a loopback
port with `running()` and flip a `Switches` object to make it fail in the ways the real
one does (401, 429 with Retry-After, 5xx, malformed JSON, an HTML page served as a PDF).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from enum import StrEnum

from aiohttp import web
from aiohttp.typedefs import Handler
from fpdf import FPDF


class Fault(StrEnum):
    UNAUTHORIZED = "unauthorized"  # the key is refused (401)
    FORBIDDEN = "forbidden"  # the key is valid but lacks the right (403)
    RATE_LIMITED = "rate_limited"  # 429 with Retry-After
    SERVER_ERROR = "server_error"  # 500
    MALFORMED_JSON = "malformed_json"  # a JSON answer cut in the middle
    HTML_INSTEAD_OF_PDF = "html_instead_of_pdf"  # a login page where the PDF should be


@dataclass
class Switches:
    """Mutable on purpose: a test flips `fault` between two calls of the connector."""

    fault: Fault | None = None
    retry_after: int = 7
    #: (method, path with query, request headers) of every request, for assertions.
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)


SWITCHES = web.AppKey("switches", Switches)

HTML_PAGE = b"<!DOCTYPE html><html><body><h1>Please sign in</h1></body></html>"
TRUNCATED_JSON = '{"invoices": [{"id": '


@functools.cache
def make_pdf(*lines: str) -> bytes:
    """A small valid one-page PDF showing `lines` (core font: Latin-1 text only)."""
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    for text in lines:
        pdf.cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


@web.middleware
async def record_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    request.app[SWITCHES].requests.append((request.method, request.raw_path, dict(request.headers)))
    return await handler(request)


def new_app(switches: Switches | None) -> web.Application:
    """An application that records its requests and carries its switches."""
    app = web.Application(middlewares=[record_requests])
    app[SWITCHES] = switches or Switches()
    return app


def html_page() -> web.Response:
    return web.Response(body=HTML_PAGE, content_type="text/html")


def truncated_json() -> web.Response:
    return web.Response(text=TRUNCATED_JSON, content_type="application/json")


@asynccontextmanager
async def running(app: web.Application) -> AsyncIterator[str]:
    """Serve `app` on 127.0.0.1 at a free port; yields the origin, "http://127.0.0.1:PORT"."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()
