"""A woob module as a `SupplierConnector`: the bridge runs in woob's virtualenv, and this
side speaks JSON lines to it over a pipe.

woob's sign-in questions become Courier's steps: a code (`BrowserQuestion`,
`SentOTPQuestion`) is a `CodeRequest`, answered from the chat or relayed from mail; an
approval (`AppValidation`, `DecoupledValidation`) is an `ApprovalRequest`, polled through
woob's `resume`. A scheduled run leaves `request_information` unset, so a module raises
`NeedInteractiveFor2FA` instead of making the site send an SMS nobody reads; that comes
back as a code step, which the runner turns into `needs_user` when nobody is there.

The session (cookies, "remember this device") comes back from woob's storage interface as
one dict, which the runner seals like the credentials. Nothing woob says in words is
kept: a message may quote a page or a login; only the failure's kind crosses the pipe.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from core.models import ChallengeChannel
from core.suppliers.connector import (
    ActionRequired,
    ApprovalDenied,
    ApprovalRequest,
    CodeRejected,
    CodeRequest,
    ConnectorError,
    Credentials,
    Download,
    InvoiceRef,
    LayoutChanged,
    LoggedIn,
    LoginRefused,
    SignInStep,
    SupplierUnavailable,
)
from core.suppliers.registry import ConnectorMissing
from core.suppliers.woob.modules import WoobModule
from core.suppliers.woob.setup import BRIDGE

#: A PDF of several MB goes base64 in one line: far above asyncio's 64 KiB default.
LINE_LIMIT = 64 * 1024 * 1024
#: How long one request may take: a module's login can walk several pages.
REQUEST_TIMEOUT = 180.0
#: ActionRequired's reason for "do something on the site" (terms, captcha, password).
SITE_ACTION = "community_site"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class BridgeFailed(SupplierUnavailable):
    """The bridge stopped or answered something else than its protocol: woob's
    virtualenv is broken or being replaced. Retried later, like a site that is down."""

    key = "woob_bridge"


class _NeedsUser(ConnectorError):
    """NeedInteractiveFor2FA: the module would ask for a code or an app, and nobody is at
    the chat. A sign-in reads it as a code step, which the runner ends as `needs_user`."""

    key = "code_needed"


def _error(answer: dict[str, Any]) -> ConnectorError:
    kind, what = str(answer.get("error")), str(answer.get("what") or "")
    if kind == "incorrect_password":
        return LoginRefused(what)
    if kind == "code_rejected":
        return CodeRejected(what)
    if kind == "approval_denied":
        return ApprovalDenied(what)
    if kind == "action_needed":
        return ActionRequired(SITE_ACTION)
    if kind == "unavailable":
        return SupplierUnavailable(what)
    if kind == "no_module":
        return ConnectorMissing(what)
    if kind == "layout":
        return LayoutChanged(what)
    if kind == "needs_user":
        return _NeedsUser(what)
    if kind == "session_lost":
        # The saved session ended between the check and the list: the next run signs in.
        return SupplierUnavailable("the saved session ended")
    return BridgeFailed(f"{kind} {what}".strip())


def _expires_in(value: Any) -> timedelta | None:
    """How long the code or the approval holds, from woob's `expires_at`."""
    try:
        at = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    if at is None:
        return None
    left = (at if at.tzinfo else at.replace(tzinfo=UTC)) - datetime.now(UTC)
    return left if left > timedelta(0) else None


def _step(answer: dict[str, Any]) -> SignInStep | None:
    step = answer.get("step")
    destination = answer.get("destination") if isinstance(answer.get("destination"), str) else None
    expires_in = _expires_in(answer.get("expires_at"))
    if step == "logged_in":
        return LoggedIn()
    if step == "code":
        # A code by mail can be relayed from the workspace's mail; any other is typed.
        by_mail = answer.get("medium") == "email"
        channel = ChallengeChannel.EMAIL if by_mail else ChallengeChannel.SMS
        return CodeRequest(channel=channel, masked_destination=destination, expires_in=expires_in)
    if step == "approval":
        return ApprovalRequest(masked_destination=destination, expires_in=expires_in)
    if step == "pending":
        return None
    raise BridgeFailed(f"unknown step {step!r}")


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _amount(value: Any) -> Decimal | None:
    try:
        amount = Decimal(value) if isinstance(value, str) else None
    except InvalidOperation:
        return None
    return amount if amount is not None and amount.is_finite() else None


class WoobConnector:
    """One bridge process per run of one connection, started at the first request."""

    def __init__(
        self,
        module: WoobModule,
        *,
        python: Path,
        woob_dir: Path | None = None,
        modules_path: Path | None = None,
        timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        self._module = module
        self._python = python
        self._woob_dir = woob_dir
        #: A folder of modules to load instead of woob's repositories (the tests' own).
        self._modules_path = modules_path
        self._timeout = timeout
        self._interactive = False
        self._state: dict[str, Any] | None = None
        self._process: asyncio.subprocess.Process | None = None
        #: Documents the module listed in the last `invoices()`, whatever their date.
        self.listed: int | None = None

    def __repr__(self) -> str:
        # Spelled out so that the credentials never end up in a log line.
        return f"WoobConnector(module={self._module.name!r})"

    def attended(self, interactive: bool) -> None:
        """Whether someone is at the chat for this run: only then may a module ask for a
        code or an approval (woob's `request_information`)."""
        self._interactive = interactive

    async def restore(self, state: dict[str, Any]) -> bool:
        self._state = state
        answer = await self._request({"op": "restore"})
        return bool(answer.get("logged"))

    async def login(self, credentials: Credentials) -> SignInStep:
        # The password crosses the pipe here only, never in `open`: a restored session
        # needs none.
        return await self._sign_in(
            {
                "op": "login",
                "login": credentials.login,
                "password": credentials.password.get_secret_value(),
            }
        )

    async def submit_code(self, code: str) -> SignInStep:
        return await self._sign_in({"op": "answer", "code": code})

    async def poll_approval(self) -> SignInStep | None:
        return _step(await self._request({"op": "poll", "wait": 0.5}))

    async def invoices(self, since: date | None) -> AsyncIterator[InvoiceRef]:
        answer = await self._request({"op": "documents"})
        documents = answer.get("documents")
        if not isinstance(documents, list):
            raise BridgeFailed("documents is not a list")
        self.listed = len(documents)
        for document in documents:
            issued = _date(document.get("date"))
            reference = document.get("id")
            if issued is None or not isinstance(reference, str):
                continue  # a document woob cannot date is no invoice Courier can file
            if since is not None and issued < since:
                continue
            yield InvoiceRef(
                reference=reference,
                issued_on=issued,
                amount=_amount(document.get("amount")),
                currency=document.get("currency") or None,
                number=document.get("number") or None,
                subscription=document.get("subscription") or None,
                extra={"format": document.get("format") or "pdf"},
            )

    async def download(self, invoice: InvoiceRef) -> Download:
        answer = await self._request({"op": "download", "id": invoice.reference})
        try:
            content = base64.b64decode(str(answer.get("content")), validate=True)
        except (binascii.Error, ValueError) as err:
            raise BridgeFailed("download is not base64") from err
        extension = _SAFE_NAME.sub("", str(invoice.extra.get("format") or "pdf")) or "pdf"
        name = _SAFE_NAME.sub("_", invoice.reference).strip("_") or "document"
        return Download(content=content, filename=f"{name}.{extension}")

    async def save(self) -> dict[str, Any]:
        if self._process is None or self._process.returncode is not None:
            return self._state or {}
        state = (await self._request({"op": "save"})).get("state")
        return state if isinstance(state, dict) else {}

    async def close(self) -> None:
        await self._stop(say_close=True)

    # -- the pipe --------------------------------------------------------------------

    async def _sign_in(self, request: dict[str, Any]) -> SignInStep:
        try:
            answer = await self._request(request)
        except _NeedsUser:
            # Nobody is at the chat to read an SMS. As a code step, the runner stops with
            # `needs_user` and never waits for it.
            return CodeRequest(channel=ChallengeChannel.SMS)
        step = _step(answer)
        if step is None:
            raise BridgeFailed("a sign-in answered pending")
        return step

    async def _open(self) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            str(self._python),
            str(BRIDGE),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            # woob's messages may quote pages and logins: they are not kept.
            stderr=asyncio.subprocess.DEVNULL,
            limit=LINE_LIMIT,
        )
        self._process = process
        await self._exchange(
            {
                "op": "open",
                "module": self._module.name,
                "params": dict(self._module.params),
                "interactive": self._interactive,
                "state": self._state,
                "woob_dir": str(self._woob_dir) if self._woob_dir else None,
                "modules_path": str(self._modules_path) if self._modules_path else None,
            }
        )
        return process

    async def _request(self, request: dict[str, Any]) -> dict[str, Any]:
        if self._process is None or self._process.returncode is not None:
            await self._open()
        return await self._exchange(request)

    async def _exchange(self, request: dict[str, Any]) -> dict[str, Any]:
        process = self._process
        assert process is not None
        assert process.stdin is not None
        assert process.stdout is not None
        try:
            process.stdin.write(json.dumps(request).encode("utf-8") + b"\n")
            await process.stdin.drain()
            line = await asyncio.wait_for(process.stdout.readline(), self._timeout)
        except TimeoutError as err:
            await self._stop()
            raise SupplierUnavailable("the woob module took too long") from err
        except (OSError, ValueError) as err:  # a broken pipe, a line over the limit
            await self._stop()
            raise BridgeFailed(type(err).__name__) from err
        if not line:
            await self._stop()
            raise BridgeFailed("the bridge stopped")
        try:
            answer = json.loads(line)
        except ValueError as err:
            raise BridgeFailed("the bridge's answer is not JSON") from err
        if not isinstance(answer, dict):
            raise BridgeFailed("the bridge's answer is not an object")
        if answer.get("ok") is not True:
            raise _error(answer)
        return answer

    async def _stop(self, *, say_close: bool = False) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        try:
            if say_close and process.stdin is not None:
                process.stdin.write(b'{"op": "close"}\n')
                await process.stdin.drain()
                process.stdin.close()
                await asyncio.wait_for(process.wait(), 5)
                return
        except (OSError, TimeoutError):
            pass
        if process.returncode is None:
            process.kill()
            await process.wait()
