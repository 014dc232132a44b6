"""The OAuth2 callback: where Xero, Intuit and Pennylane send the person back after they
authorise, and Google after the owner of a Google Ads connection consented.

`GET /oauth/callback?code=…&state=…[&realmId=…]` completes the authorisation through the
service (which checks the single-use state) and sends the person back to the chat
(`https://t.me/<bot>?start=integration`) when the bot's username is set, or shows a short
plain page. Register `<COURIER_PUBLIC_URL>/oauth/callback` as the redirect URI. A supplier's consent
(the request's purpose says whose the state is) is finished by
core/services/supplier_sign_in.py, and sends the person back to the chat without a
deep link: the first run's outcome comes there as a message.

Its access log names the path, never the query: the code and state in it are what an
attacker needs to finish the authorisation in their own browser.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest

from core.accounting.errors import ProviderFailure
from core.errors import CourierError
from core.models import AuthorizationPurpose
from core.services.accounting import Accounting
from core.services.authorisations import complete_callback
from core.services.oauth_states import purpose_of
from core.services.supplier_sign_in import SignedIn, complete_consent
from core.suppliers.oauth import SupplierSignIns
from courier.texts import render_error

log = logging.getLogger(__name__)

CALLBACK_PATH = "/oauth/callback"
ACCOUNTING: web.AppKey[Accounting] = web.AppKey("accounting", Accounting)
BOT: web.AppKey[str] = web.AppKey("bot_username", str)
SIGN_INS: web.AppKey[SupplierSignIns] = web.AppKey("sign_ins", SupplierSignIns)


def create_app(
    acc: Accounting, *, bot_username: str | None = None, sign_ins: SupplierSignIns | None = None
) -> web.Application:
    app = web.Application()
    app[ACCOUNTING] = acc
    app[BOT] = bot_username or ""
    app[SIGN_INS] = sign_ins or SupplierSignIns()
    app.router.add_get(CALLBACK_PATH, callback)
    return app


async def callback(request: web.Request) -> web.StreamResponse:
    acc = request.app[ACCOUNTING]
    params = dict(request.query.items())
    try:
        async with acc.db.read() as session:
            purpose = await purpose_of(session=session, state=params.get("state", ""))
        if purpose == AuthorizationPurpose.SUPPLIER:
            signed = await complete_consent(
                db=acc.db,
                vault=acc.vault,
                sign_ins=request.app[SIGN_INS],
                redirect_uri=acc.callback_url,
                params=params,
            )
            return _signed_in(request, signed)
        outcome = await complete_callback(acc, params=params)
    except ProviderFailure as err:
        log.warning("OAuth callback: the software failed (%s)", err.key)
        return _page(502, "Not connected", render_error(err))
    except CourierError as err:
        return _page(400, "Not connected", render_error(err))
    connecting = outcome.connecting
    bot = request.app[BOT]
    if bot:
        raise web.HTTPFound(f"https://t.me/{bot}?start=integration_{connecting.integration_id}")
    return _page(
        200,
        "Connected",
        f"Courier is linked to {connecting.provider} ({connecting.state}). "
        "You can close this page.",
    )


def _signed_in(request: web.Request, signed: SignedIn) -> web.Response:
    bot = request.app[BOT]
    if bot:
        raise web.HTTPFound(f"https://t.me/{bot}")
    return _page(
        200,
        "Connected",
        f"Courier can now read the invoices of {signed.supplier} ({signed.login}). "
        "The first fetch starts in a moment; you can close this page.",
    )


def _page(status: int, title: str, text: str) -> web.Response:
    body = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>"
    )
    # Never cached: the page follows a one-time code in the URL.
    return web.Response(
        status=status,
        text=body,
        content_type="text/html",
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


class PathOnlyAccessLogger(AbstractAccessLogger):
    """aiohttp's access log without the query string, the Referer or the User-Agent.

    The default line holds the request line (`GET /oauth/callback?code=…&state=…`) and
    the Referer, which is the software's consent page with the state in its own query;
    the values also travel in the record's `extra`, so a format change alone would leave
    them for a structured log handler.
    """

    def log(self, request: BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            '%s "%s %s" %s %s %.3fs',
            request.remote,
            request.method,
            request.path,
            response.status,
            response.body_length,
            time,
        )


@dataclass(slots=True)
class RunningCallback:
    url: str
    runner: web.AppRunner

    async def close(self) -> None:
        await self.runner.cleanup()


async def start_callback_server(
    acc: Accounting,
    *,
    host: str,
    port: int,
    bot_username: str | None = None,
    sign_ins: SupplierSignIns | None = None,
) -> RunningCallback:
    runner = web.AppRunner(
        create_app(acc, bot_username=bot_username, sign_ins=sign_ins),
        shutdown_timeout=2.0,
        access_log_class=PathOnlyAccessLogger,
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    return RunningCallback(url=f"http://{host}:{bound}{CALLBACK_PATH}", runner=runner)
