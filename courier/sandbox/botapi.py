"""A local stand-in for the Telegram Bot API (core.telegram.org/bots/api), on loopback.

It speaks the real HTTP protocol: `/bot<token>/<method>` with the parameters in the query
string, a JSON body, a urlencoded or a multipart form; answers `{"ok": true, "result": …}`
or Telegram's error shapes (`error_code`, `description`, and `parameters.retry_after` on a
429); files are downloaded from `/file/bot<token>/<file_path>`. Updates come from the
simulated users (`courier.sandbox.chat`, or over HTTP: `courier.sandbox.user_routes`)
and reach the bot by getUpdates long polling or
by its webhook. The flood limits can be enforced with 429s, and switched off.

    api = BotApi(limits=RateLimits())
    world = api.add_bot("123456:" + "A" * 35, username="courier_bot")
    await api.start()                # api.url → http://127.0.0.1:<port>
    ...
    await api.close()
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from courier.sandbox import messages, profile, updates
from courier.sandbox.call import Call, Handler, Stats
from courier.sandbox.limits import RateLimiter, RateLimits
from courier.sandbox.params import ApiError, Params
from courier.sandbox.user_routes import UserRoutes
from courier.sandbox.world import BotWorld

log = logging.getLogger(__name__)

#: Telegram's limit for a bot's uploads, plus room for the form around the file.
MAX_REQUEST_BYTES = 51 * 1024 * 1024


class BotApi:
    def __init__(
        self,
        *,
        limits: RateLimits | None = None,
        poll_cap_seconds: float = 50,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.worlds: dict[str, BotWorld] = {}
        self.stats = Stats()
        #: Answer every call with 502, as Telegram's front does when its servers are away.
        self.outage = False
        self.poll_cap_seconds = poll_cap_seconds
        self.closing = asyncio.Event()
        self.url = ""
        self._limits = limits
        self._clock = clock
        self._limiters: dict[str, RateLimiter] = {}
        self._senders: dict[str, updates.WebhookSender] = {}
        self._runner: web.AppRunner | None = None
        self._handlers: dict[str, Handler] = {**messages.HANDLERS, **profile.HANDLERS}

    # -- set-up -------------------------------------------------------------------------

    def add_bot(self, token: str, *, username: str, first_name: str = "Courier") -> BotWorld:
        bot_id, _, secret = token.partition(":")
        if not bot_id.isdigit() or not secret:
            raise ValueError("a bot token looks like <digits>:<secret>")
        world = self.worlds[token] = BotWorld(token, username=username, first_name=first_name)
        return world

    def enforce_limits(self, limits: RateLimits | None) -> None:
        """Switch the flood limits on (with fresh buckets) or off (None)."""
        self._limits = limits
        self._limiters.clear()

    @property
    def limits(self) -> RateLimits | None:
        return self._limits

    def _limiter(self, token: str) -> RateLimiter | None:
        if self._limits is None:
            return None
        limiter = self._limiters.get(token)
        if limiter is None:
            limiter = self._limiters[token] = RateLimiter(self._limits, clock=self._clock)
        return limiter

    def application(self) -> web.Application:
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        app.router.add_route("*", r"/bot{token:[^/]+}/{method:[A-Za-z]+}", self._serve_call)
        app.router.add_get(r"/file/bot{token:[^/]+}/{path:.+}", self._serve_file)
        UserRoutes(self.worlds).register(app)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self.closing.clear()
        self._runner = web.AppRunner(self.application(), shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0][1]
        self.url = f"http://{host}:{bound}"
        return self.url

    async def close(self) -> None:
        """Stop serving: long polls return at once, webhook senders stop."""
        self.closing.set()
        for sender in self._senders.values():
            await sender.stop()
        self._senders.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- serving ------------------------------------------------------------------------

    async def execute(self, world: BotWorld, method: str, params: Params) -> Any:
        name = method.lower()
        self.stats.calls[name] += 1
        call = Call(
            world=world, params=params, stats=self.stats, limiter=self._limiter(world.token)
        )
        if name == "getupdates":
            return await updates.get_updates(call, self.closing, self.poll_cap_seconds)
        if name == "setwebhook":
            described = updates.set_webhook(call)
            await self._sync_webhook(world)
            return described
        if name == "deletewebhook":
            described = updates.delete_webhook(call)
            await self._sync_webhook(world)
            return described
        if name == "getwebhookinfo":
            return updates.webhook_info(call)
        handler = self._handlers.get(name)
        if handler is None:
            raise ApiError(404, "Not Found")
        return await handler(call)

    async def _sync_webhook(self, world: BotWorld) -> None:
        """A webhook set (again) is tried at once, without the pause after a failure."""
        sender = self._senders.pop(world.token, None)
        if sender is not None:
            await sender.stop()
        if world.webhook is not None:
            sender = self._senders[world.token] = updates.WebhookSender(
                world, self.closing, self.execute
            )
            sender.start()

    async def _serve_call(self, request: web.Request) -> web.Response:
        if self.outage:
            return web.json_response(
                {"ok": False, "error_code": 502, "description": "Bad Gateway"}, status=502
            )
        world = self.worlds.get(request.match_info["token"])
        if world is None:
            return web.json_response(ApiError(401, "Unauthorized").body(), status=401)
        try:
            params = await Params.read(request)
            result = await self.execute(world, request.match_info["method"], params)
        except ApiError as err:
            return web.json_response(err.body(), status=err.status)
        except web.HTTPRequestEntityTooLarge:
            return web.json_response(ApiError(413, "Request Entity Too Large").body(), status=413)
        if isinstance(result, updates.Described):
            body = {"ok": True, "result": result.result, "description": result.description}
            return web.json_response(body)
        return web.json_response({"ok": True, "result": result})

    async def _serve_file(self, request: web.Request) -> web.Response:
        world = self.worlds.get(request.match_info["token"])
        path = request.match_info["path"]
        stored = None
        if world is not None:
            stored = next((f for f in world.files.values() if f.file_path == path), None)
        if stored is None:
            return web.json_response(ApiError(404, "Not Found").body(), status=404)
        return web.Response(
            body=stored.data, content_type=stored.mime_type or "application/octet-stream"
        )
