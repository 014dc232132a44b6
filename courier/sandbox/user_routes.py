"""The simulated users over HTTP, for a bot under test in another process: the same
actions as `TelegramUser`, under `/sandbox/bot<token>/users/…`.

    POST users                      {"first_name", "language_code"?, "username"?, "id"?}
    POST users/{id}/say             {"text", "reply_to"?}          → {"message_id"}
    POST users/{id}/press           {"label", "message_id"?}       → {"callback_query_id"}
    POST users/{id}/upload          multipart: file, caption?, photo=true?
    POST users/{id}/block | unblock
    GET  users/{id}/events?after=N&wait=S   what the user saw from event N on; waits up to S
                                            seconds (at most 30) for the first one
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import asdict
from typing import Any

from aiohttp import web

from courier.sandbox.chat import TelegramUser, snapshot
from courier.sandbox.world import BotWorld


def _message(user: TelegramUser, message_id: int) -> dict[str, Any] | None:
    stored = user.chat.messages.get(message_id)
    if stored is None:
        return None
    shown = asdict(snapshot(stored))
    for key in ("document", "photo"):
        if shown[key] is not None:
            shown[key] = {k: v for k, v in shown[key].items() if k != "data"}
    return shown


class UserRoutes:
    def __init__(self, worlds: dict[str, BotWorld]) -> None:
        self.worlds = worlds
        self.users: dict[tuple[str, int], TelegramUser] = {}

    def register(self, app: web.Application) -> None:
        base = r"/sandbox/bot{token:[^/]+}/users"
        app.router.add_post(base, self.create)
        app.router.add_post(base + r"/{id:\d+}/say", self.say)
        app.router.add_post(base + r"/{id:\d+}/press", self.press)
        app.router.add_post(base + r"/{id:\d+}/upload", self.upload)
        app.router.add_post(base + r"/{id:\d+}/{switch:block|unblock}", self.block)
        app.router.add_get(base + r"/{id:\d+}/events", self.events)

    def _world(self, request: web.Request) -> BotWorld:
        world = self.worlds.get(request.match_info["token"])
        if world is None:
            raise web.HTTPUnauthorized(text="unknown bot token")
        return world

    def _user(self, request: web.Request) -> TelegramUser:
        token = request.match_info["token"]
        self._world(request)
        user = self.users.get((token, int(request.match_info["id"])))
        if user is None:
            raise web.HTTPNotFound(text="no such user: create it first")
        return user

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError as err:
            raise web.HTTPBadRequest(text="the body must be a JSON object") from err
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="the body must be a JSON object")
        return body

    async def create(self, request: web.Request) -> web.Response:
        world = self._world(request)
        body = await self._body(request)
        user = TelegramUser.create(
            world,
            first_name=str(body.get("first_name") or "Marie"),
            username=body.get("username"),
            language_code=body.get("language_code", "en"),
            user_id=int(body["id"]) if body.get("id") is not None else None,
        )
        self.users[(world.token, user.id)] = user
        return web.json_response({"id": user.id})

    async def say(self, request: web.Request) -> web.Response:
        user = self._user(request)
        body = await self._body(request)
        if not isinstance(body.get("text"), str) or not body["text"]:
            raise web.HTTPBadRequest(text="text is required")
        reply_to = body.get("reply_to")
        message_id = await user.say(body["text"], reply_to=int(reply_to) if reply_to else None)
        return web.json_response({"message_id": message_id})

    async def press(self, request: web.Request) -> web.Response:
        user = self._user(request)
        body = await self._body(request)
        try:
            query_id = await user.press(str(body.get("label", "")), message=body.get("message_id"))
        except LookupError as err:
            raise web.HTTPBadRequest(text=str(err)) from err
        return web.json_response({"callback_query_id": query_id})

    async def upload(self, request: web.Request) -> web.Response:
        user = self._user(request)
        form = await request.post()
        part = form.get("file")
        if not isinstance(part, web.FileField):
            raise web.HTTPBadRequest(text="a multipart `file` part is required")
        data = part.file.read()
        caption = form.get("caption")
        caption_text = caption if isinstance(caption, str) and caption else None
        try:
            if form.get("photo") == "true":
                message_id = await user.send_photo(data, caption=caption_text)
            else:
                message_id = await user.upload(
                    data, filename=part.filename, mime_type=part.content_type, caption=caption_text
                )
        except ValueError as err:
            raise web.HTTPBadRequest(text=str(err)) from err
        return web.json_response({"message_id": message_id})

    async def block(self, request: web.Request) -> web.Response:
        user = self._user(request)
        if request.match_info["switch"] == "block":
            user.block()
        else:
            user.unblock()
        return web.json_response({"blocked": user.chat.user.blocked_bot})

    async def events(self, request: web.Request) -> web.Response:
        user = self._user(request)
        try:
            after = max(int(request.query.get("after", "0")), 0)
            wait = min(max(float(request.query.get("wait", "0")), 0.0), 30.0)
        except ValueError as err:
            raise web.HTTPBadRequest(text="after and wait are numbers") from err
        chat = user.chat
        if len(chat.events) <= after and wait > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(chat.changed().wait(), timeout=wait)
        events = [
            {
                "index": index,
                "kind": event.kind,
                "message_id": event.message_id,
                "text": event.text,
                "show_alert": event.show_alert,
                "message": _message(user, event.message_id) if event.message_id else None,
            }
            for index, event in enumerate(chat.events[after:], start=after)
        ]
        return web.json_response({"events": events, "next": len(chat.events)})
