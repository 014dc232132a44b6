"""How a bot receives its updates: getUpdates long polling, or a webhook the stand-in
posts to. Either confirms an update only once the bot has taken it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from courier.sandbox.call import Call
from courier.sandbox.params import ApiError, Params, Upload, bad_request
from courier.sandbox.world import BotWorld, Webhook, now_epoch

log = logging.getLogger(__name__)

SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
CONFLICT_POLL = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)


@dataclass(frozen=True, slots=True)
class Described:
    """A result Telegram sends with a `description` beside it."""

    result: Any
    description: str


def _allowed(value: Any) -> frozenset[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(kind, str) for kind in value):
        raise bad_request("can't parse allowed updates")
    return frozenset(value) or None


async def get_updates(call: Call, closing: asyncio.Event, poll_cap: float) -> list[dict[str, Any]]:
    world, params = call.world, call.params
    if world.webhook is not None:
        raise ApiError(409, CONFLICT_WEBHOOK)
    offset = params.integer("offset")
    limit = min(max(params.integer("limit") or 100, 1), 100)
    timeout = min(max(params.integer("timeout") or 0, 0), poll_cap)
    if "allowed_updates" in params.values:
        world.allowed_updates = _allowed(params.object("allowed_updates"))
    if offset is not None and offset < 0:
        while len(world.updates) > -offset:
            world.updates.popleft()
    elif offset is not None:
        world.confirm_below(offset)
    # A newer poll ends the one waiting, as Telegram does to a second bot instance.
    world.poll_generation += 1
    mine = world.poll_generation
    world.notify()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        changed = world.changed()
        if world.poll_generation != mine:
            raise ApiError(409, CONFLICT_POLL)
        remaining = deadline - loop.time()
        if world.updates or remaining <= 0 or closing.is_set():
            return [
                {"update_id": update_id, kind: payload}
                for update_id, kind, payload in list(world.updates)[:limit]
            ]
        waiters = {asyncio.ensure_future(changed.wait()), asyncio.ensure_future(closing.wait())}
        _, pending = await asyncio.wait(
            waiters, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
        )
        for task in pending:
            task.cancel()


Execute = Callable[[BotWorld, str, Params], Awaitable[Any]]


class WebhookSender:
    """Posts a bot's updates to its webhook, one at a time and in order, as Telegram does
    with max_connections=1; a refused or failed post is retried after a pause."""

    def __init__(self, world: BotWorld, closing: asyncio.Event, execute: Execute) -> None:
        self.world = world
        self.closing = closing
        self.execute = execute
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._run(), name=f"webhook-{self.world.username}")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.closing.wait(), timeout=seconds)

    async def _run(self) -> None:
        world = self.world
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            while world.webhook is not None and not self.closing.is_set():
                changed = world.changed()
                if not world.updates:
                    await asyncio.wait(
                        {
                            asyncio.ensure_future(changed.wait()),
                            asyncio.ensure_future(self.closing.wait()),
                        },
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                    continue
                if not await self._post(session, world.webhook, *world.updates[0]):
                    await self._pause(1.0)

    async def _post(
        self,
        session: aiohttp.ClientSession,
        hook: Webhook,
        update_id: int,
        kind: str,
        payload: dict[str, Any],
    ) -> bool:
        headers = (
            {"X-Telegram-Bot-Api-Secret-Token": hook.secret_token} if hook.secret_token else {}
        )
        try:
            async with session.post(
                hook.url, json={"update_id": update_id, kind: payload}, headers=headers
            ) as response:
                status = response.status
                reply = await _reply_of(response) if 200 <= status < 300 else None
        except (aiohttp.ClientError, TimeoutError) as err:
            hook.last_error_date, hook.last_error_message = now_epoch(), f"Connection failed: {err}"
            return False
        if not 200 <= status < 300:
            hook.last_error_date = now_epoch()
            hook.last_error_message = f"Wrong response from the webhook: {status}"
            return False
        if self.world.updates and self.world.updates[0][0] == update_id:
            self.world.updates.popleft()
        if reply is not None and isinstance(reply.values.get("method"), str):
            method = reply.values.pop("method")
            try:
                await self.execute(self.world, method, reply)
            except ApiError as err:
                log.info("webhook reply %s refused: %s", method, err.description)
        return True


async def _reply_of(response: aiohttp.ClientResponse) -> Params | None:
    """A webhook may answer with a method call in its body, as JSON or as a form."""
    if response.content_type == "application/json":
        try:
            body = json.loads(await response.read() or b"null")
        except ValueError:
            return None
        return Params(body, {}) if isinstance(body, dict) else None
    if response.content_type != "multipart/form-data":
        return None
    values: dict[str, Any] = {}
    files: dict[str, Upload] = {}
    reader = aiohttp.MultipartReader.from_response(response)
    while (part := await reader.next()) is not None:
        if not isinstance(part, aiohttp.BodyPartReader) or part.name is None:
            continue
        if part.filename:
            files[part.name] = Upload(
                await part.read(), part.filename, part.headers.get("Content-Type")
            )
        else:
            values[part.name] = await part.text()
    return Params(values, files)


def set_webhook(call: Call) -> Described:
    world, params = call.world, call.params
    url = params.text("url") or ""
    if not url:
        return delete_webhook(call)
    if not url.startswith(("http://", "https://")):
        raise bad_request("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
    secret = params.text("secret_token")
    if secret is not None and not SECRET_TOKEN.fullmatch(secret):
        raise bad_request("secret token contains unallowed characters")
    if params.boolean("drop_pending_updates"):
        world.updates.clear()
    allowed = params.object("allowed_updates")
    if allowed is not None:
        world.allowed_updates = _allowed(allowed)
    already = world.webhook is not None and world.webhook.url == url
    world.webhook = Webhook(url=url, secret_token=secret)
    world.poll_generation += 1
    world.notify()
    return Described(True, "Webhook is already set" if already else "Webhook was set")


def delete_webhook(call: Call) -> Described:
    world = call.world
    if call.params.boolean("drop_pending_updates"):
        world.updates.clear()
    was_set = world.webhook is not None
    world.webhook = None
    world.notify()
    return Described(True, "Webhook was deleted" if was_set else "Webhook is already deleted")


def webhook_info(call: Call) -> dict[str, Any]:
    world = call.world
    hook = world.webhook
    info: dict[str, Any] = {
        "url": hook.url if hook else "",
        "has_custom_certificate": False,
        "pending_update_count": len(world.updates),
    }
    if hook is not None:
        info["max_connections"] = 1
        if world.allowed_updates:
            info["allowed_updates"] = sorted(world.allowed_updates)
        if hook.last_error_date is not None:
            info["last_error_date"] = hook.last_error_date
            info["last_error_message"] = hook.last_error_message
    return info
